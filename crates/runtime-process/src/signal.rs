//! Signal names as Docker's and runc's command lines take them, shared by
//! the engine and the OCI runtime front end.

use nix::sys::signal::Signal;
use std::str::FromStr;

/// Parses `KILL`, `SIGKILL`, `kill` or `9`; `None` when no such signal
/// exists (each caller words its own error).
pub fn parse_signal(s: &str) -> Option<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_unknowns() {
        for s in ["KILL", "SIGKILL", "kill", "9"] {
            assert_eq!(parse_signal(s), Some(Signal::SIGKILL), "{s}");
        }
        assert_eq!(parse_signal("SIGRTMAX+1"), None);
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("999"), None);
    }
}
