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
    "ancestor",
    "exited",
    "before",
    "since",
];

/// Parsed filters, by key.
#[derive(Debug, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>, Refs);

/// `before=`/`since=` name containers; their creation times, looked up once
/// by [`Filters::resolve`].
#[derive(Debug, Default)]
struct Refs {
    before: Vec<String>,
    since: Vec<String>,
}

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

    /// Looks up the containers `before=` and `since=` name among `all`
    /// (by name, id or id prefix), as Docker does before filtering.
    pub fn resolve(&mut self, all: &[Container]) -> Result<()> {
        for (key, refs) in [("before", &mut self.1.before), ("since", &mut self.1.since)] {
            for v in self.0.get(key).into_iter().flatten() {
                let c = all
                    .iter()
                    .find(|c| c.name() == v.trim_start_matches('/'))
                    .or_else(|| all.iter().find(|c| c.id().starts_with(v.as_str())))
                    .ok_or_else(|| Error::NoSuchContainer(v.clone()))?;
                refs.push(c.config.created.clone());
            }
        }
        Ok(())
    }

    /// Whether `c` passes every filter.
    pub fn matches(&self, c: &Container) -> bool {
        let created = |c: &Container| humantime::parse_rfc3339_weak(&c.config.created).ok();
        let before = |t: &String| {
            let t = humantime::parse_rfc3339_weak(t).ok();
            created(c).zip(t).is_some_and(|(a, b)| a < b)
        };
        let since = |t: &String| {
            let t = humantime::parse_rfc3339_weak(t).ok();
            created(c).zip(t).is_some_and(|(a, b)| a > b)
        };
        if !self.1.before.iter().all(before) || !self.1.since.iter().all(since) {
            return false;
        }
        self.0.iter().all(|(key, values)| {
            values.iter().any(|v| match key.as_str() {
                "before" | "since" => true,
                "exited" => {
                    c.state.status == crate::Status::Exited
                        && v.parse::<i64>()
                            .is_ok_and(|n| n == i64::from(c.state.exit_code))
                }
                "ancestor" => {
                    let image = &c.config.config.image;
                    let bare = |s: &str| s.strip_suffix(":latest").unwrap_or(s).to_string();
                    bare(image) == bare(v)
                        || image.starts_with(&format!("{}:", v))
                        || c.config
                            .image_id
                            .trim_start_matches("sha256:")
                            .starts_with(v.trim_start_matches("sha256:"))
                }
                "id" => c.id().starts_with(v.as_str()),
                "name" => c.name().contains(v.as_str()),
                "status" => c.status_name() == v,
                "health" => match &c.state.health {
                    Some(h) => h.status.as_str() == v,
                    None => v == "none",
                },
                "restart-policy" => c.config.host_config.restart_policy.name.as_str() == v,
                "isolation" => {
                    // `default`: the host's choice, as Docker's only value on Linux.
                    (v == "default" && c.config.host_config.isolation_source.starts_with("default"))
                        || c.config.host_config.isolation.as_str() == v
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
