//! Restart policies: what Docker's `--restart` says (data, chosen by the
//! engine) and the back-off that decides when a supervisor starts the
//! container's process again (mechanism, shared by the host's monitor in
//! process mode and the guest agent in VM mode, so both behave alike).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The first back-off delay, as Docker's restart manager.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest back-off delay.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A process that ran at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// `--restart`'s policy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RestartName {
    #[default]
    #[serde(rename = "no", alias = "")]
    No,
    #[serde(rename = "always")]
    Always,
    #[serde(rename = "unless-stopped")]
    UnlessStopped,
    #[serde(rename = "on-failure")]
    OnFailure,
}

impl RestartName {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartName::No => "no",
            RestartName::Always => "always",
            RestartName::UnlessStopped => "unless-stopped",
            RestartName::OnFailure => "on-failure",
        }
    }
}

/// Docker's `HostConfig.RestartPolicy`, in its JSON shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: RestartName,
    /// `on-failure:N`: at most N restarts (0: no limit).
    #[serde(default)]
    pub maximum_retry_count: u32,
}

impl RestartPolicy {
    /// Parses `no`, `always`, `unless-stopped`, `on-failure` or
    /// `on-failure:N`; the error says what is accepted.
    pub fn parse(s: &str) -> Result<RestartPolicy, String> {
        let usage = "use no, always, unless-stopped, on-failure or on-failure:N (N >= 0)";
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let name = match name {
            "no" => RestartName::No,
            "always" => RestartName::Always,
            "unless-stopped" => RestartName::UnlessStopped,
            "on-failure" => RestartName::OnFailure,
            _ => return Err(format!("invalid restart policy {s:?}: {usage}")),
        };
        let maximum_retry_count = match count {
            None => 0,
            Some(_) if name != RestartName::OnFailure => {
                return Err(format!(
                    "invalid restart policy {s:?}: a maximum retry count is only valid with on-failure"
                ))
            }
            Some(c) => c.parse::<u32>().map_err(|_| {
                format!("invalid restart policy {s:?}: the maximum retry count must be a number >= 0: {usage}")
            })?,
        };
        Ok(RestartPolicy {
            name,
            maximum_retry_count,
        })
    }

    pub fn is_none(&self) -> bool {
        self.name == RestartName::No
    }

    /// As the user writes it (`on-failure:3`).
    pub fn to_flag(&self) -> String {
        match (self.name, self.maximum_retry_count) {
            (RestartName::OnFailure, n) if n > 0 => format!("on-failure:{n}"),
            (name, _) => name.as_str().to_string(),
        }
    }
}

/// Docker's restart manager: counts restarts and spaces them out, 100 ms
/// doubling up to a minute, back to 100 ms after a run of 10 s or more.
#[derive(Debug, Clone)]
pub struct Restarter {
    policy: RestartPolicy,
    /// Restarts decided so far (Docker's `RestartCount`).
    pub count: u32,
    delay: Duration,
}

impl Restarter {
    pub fn new(policy: RestartPolicy) -> Restarter {
        Restarter {
            policy,
            count: 0,
            delay: Duration::ZERO,
        }
    }

    pub fn policy(&self) -> RestartPolicy {
        self.policy
    }

    /// Replaces the policy (`isola update --restart` on a running
    /// container); the count and back-off go on.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    /// The process ended with `code` after running `ran_for`; `stopped`
    /// says the user stopped or killed it. Returns how long to wait before
    /// starting it again, or `None` when it stays stopped.
    pub fn next(&mut self, code: i32, stopped: bool, ran_for: Duration) -> Option<Duration> {
        if self.policy.is_none() || stopped {
            return None;
        }
        if ran_for >= RESET_AFTER {
            self.delay = Duration::ZERO;
        }
        self.delay = if self.delay.is_zero() {
            FIRST_DELAY
        } else {
            (self.delay * 2).min(MAX_DELAY)
        };
        let restart = match self.policy.name {
            RestartName::No => false,
            RestartName::Always | RestartName::UnlessStopped => true,
            RestartName::OnFailure => {
                let max = self.policy.maximum_retry_count;
                code != 0 && (max == 0 || self.count < max)
            }
        };
        if !restart {
            return None;
        }
        self.count += 1;
        Some(self.delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_policies() {
        assert_eq!(
            RestartPolicy::parse("no").unwrap(),
            RestartPolicy::default()
        );
        let p = RestartPolicy::parse("on-failure:3").unwrap();
        assert_eq!((p.name, p.maximum_retry_count), (RestartName::OnFailure, 3));
        assert_eq!(p.to_flag(), "on-failure:3");
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap().name,
            RestartName::UnlessStopped
        );
        for bad in ["bogus", "on-failure:-1", "on-failure:x", "always:2", ""] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"Name":"on-failure","MaximumRetryCount":3}"#);
    }

    #[test]
    fn on_failure_retries_n_times_with_doubling_delays() {
        let mut r = Restarter::new(RestartPolicy::parse("on-failure:3").unwrap());
        let quick = Duration::from_millis(5);
        let delays: Vec<_> = (0..5).map(|_| r.next(1, false, quick)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(400)),
                None,
                None
            ]
        );
        assert_eq!(r.count, 3);
        let mut ok = Restarter::new(RestartPolicy::parse("on-failure").unwrap());
        assert_eq!(ok.next(0, false, quick), None);
    }

    #[test]
    fn always_backs_off_to_a_minute_and_resets_after_ten_seconds() {
        let mut r = Restarter::new(RestartPolicy::parse("always").unwrap());
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            last = r.next(0, false, Duration::ZERO).unwrap();
        }
        assert_eq!(last, MAX_DELAY);
        assert_eq!(r.next(0, false, RESET_AFTER), Some(FIRST_DELAY));
        assert_eq!(r.next(0, true, Duration::ZERO), None, "a stop ends it");
    }
}
