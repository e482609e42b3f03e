//! Docker's units: memory sizes in, human sizes and durations out.

use anyhow::{bail, Result};

/// Parses `--memory` like Docker: a number with an optional b/k/m/g suffix
/// (and optional trailing "b"), binary multiples. Docker's minimum is 6 MB.
pub fn parse_memory(s: &str) -> Result<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let mult: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => bail!("invalid memory size {s:?}: use a number with b, k, m or g (e.g. 64m)"),
    };
    let Ok(n) = num.parse::<f64>() else {
        bail!("invalid memory size {s:?}: use a number with b, k, m or g (e.g. 64m)")
    };
    let bytes = (n * mult as f64) as u64;
    if bytes < 6 << 20 {
        bail!("memory limit {s:?} is too small: the minimum is 6m");
    }
    Ok(bytes)
}

/// Parses `--cpus` into billionths of a CPU, within what the host has.
pub fn parse_cpus(s: &str) -> Result<u64> {
    let host = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(n) = s.parse::<f64>() else {
        bail!("invalid --cpus {s:?}: use a number such as 0.5 or 2")
    };
    if !(0.01..=host as f64).contains(&n) {
        bail!("--cpus {s} is out of range: use 0.01 to {host}.00, as there are {host} CPUs");
    }
    Ok((n * 1e9) as u64)
}

pub use isola_engine::human_duration;

/// Docker's `HumanSize`: decimal units, three significant digits.
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.3}");
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{:.*}", digits, s.parse::<f64>().unwrap_or(v));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[i])
}

pub use isola_engine::since;

/// A signal as `kill -s` and `--stop-signal` take it (TERM, SIGTERM, 15),
/// checked while parsing so a bad one is refused before anything happens.
pub fn signal_name(s: &str) -> Result<String> {
    isola_engine::parse_signal(s)?;
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_memory("10485760").unwrap(), 10 << 20);
        assert!(parse_memory("1k")
            .unwrap_err()
            .to_string()
            .contains("minimum"));
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn cpus_and_human_units() {
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("x").is_err());
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(12_300_000), "12.3MB");
    }
}
