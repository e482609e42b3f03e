//! `--filter KEY=VALUE` of the list verbs the CLI filters itself (images,
//! networks, volumes), with Docker's rules: values of one key are
//! alternatives, different keys must all match, unknown keys are refused.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    pub fn parse(values: &[String], keys: &[&str]) -> Result<Filters> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in values {
            match f.split_once('=') {
                Some((k, v)) if keys.contains(&k) => {
                    by_key.entry(k.to_string()).or_default().push(v.to_string())
                }
                _ => bail!(
                    "invalid filter '{f}': use KEY=VALUE with KEY one of {}",
                    keys.join(", ")
                ),
            }
        }
        Ok(Filters(by_key))
    }

    /// Whether an object passes: `test(key, value)` says if it matches one value.
    pub fn matches(&self, mut test: impl FnMut(&str, &str) -> Result<bool>) -> Result<bool> {
        for (key, values) in &self.0 {
            let mut any = false;
            for v in values {
                any = any || test(key, v)?;
            }
            if !any {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `label=KEY` or `label=KEY=VALUE` against an object's labels.
pub fn label_matches(labels: &BTreeMap<String, String>, v: &str) -> bool {
    match v.split_once('=') {
        Some((k, want)) => labels.get(k).is_some_and(|have| have == want),
        None => labels.contains_key(v),
    }
}
