//! `--filter KEY=VALUE` on container lists, as Docker applies it: values of
//! one key are alternatives (OR), different keys must all match (AND).

use crate::store::Container;
use crate::{Error, Result};
use std::collections::BTreeMap;

const KEYS: &[&str] = &[
    "id",
    "name",
    "label",
    "status",
    "isolation",
    "health",
    "restart-policy",
];

/// Parsed filters, by key.
#[derive(Debug, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses `KEY=VALUE` filters; unknown keys are refused by name.
    pub fn parse(values: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for v in values {
            let Some((k, val)) = v.split_once('=') else {
                return Err(Error::Invalid(format!(
                    "invalid filter {v:?}: use KEY=VALUE with KEY one of {}",
                    KEYS.join(", ")
                )));
            };
            if !KEYS.contains(&k) {
                return Err(Error::Invalid(format!(
                    "invalid filter key {k:?}: use one of {}",
                    KEYS.join(", ")
                )));
            }
            f.0.entry(k.to_string()).or_default().push(val.to_string());
        }
        Ok(f)
    }

    /// Whether `c` passes every filter.
    pub fn matches(&self, c: &Container) -> bool {
        self.0.iter().all(|(key, values)| {
            values.iter().any(|v| match key.as_str() {
                "id" => c.id().starts_with(v.as_str()),
                "name" => c.name().contains(v.as_str()),
                "status" => c.status_name() == v,
                "health" => match &c.state.health {
                    Some(h) => h.status.as_str() == v,
                    None => v == "none",
                },
                "restart-policy" => c.config.host_config.restart_policy.name.as_str() == v,
                "isolation" => {
                    c.config.host_config.isolation.as_str() == v
                        || (v == "hyperv" && c.config.host_config.isolation.as_str() == "vm")
                }
                "label" => {
                    let labels = &c.config.config.labels;
                    match v.split_once('=') {
                        Some((k, want)) => labels.get(k).is_some_and(|have| have == want),
                        None => labels.contains_key(v.as_str()),
                    }
                }
                _ => false,
            })
        })
    }
}
