//! What a container uses right now (`isola stats`): its cgroup's counters
//! plus the host-wide CPU time they are compared against and the traffic
//! of its network namespace. The same code runs on the host (process mode)
//! and in the guest agent (VM mode), so both report alike.

use crate::cgroups::{Cgroup, CgroupStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Counters of one network interface, as /proc/net/dev has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One sample of a container's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub cgroup: CgroupStats,
    /// CPU time of the whole machine (host or guest) in nanoseconds, all
    /// CPUs summed: Docker's `system_cpu_usage`.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// Interfaces of the container's network namespace, loopback left out.
    pub networks: BTreeMap<String, NetCounters>,
}

impl Usage {
    /// Samples `cgroup`, and the network namespace of process `pid` (0:
    /// none).
    pub fn sample(cgroup: &Cgroup, pid: i32) -> Usage {
        Usage {
            cgroup: cgroup.stats(),
            system_cpu_ns: system_cpu_ns(),
            online_cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            networks: if pid > 0 {
                net_dev(
                    &std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default(),
                )
            } else {
                BTreeMap::new()
            },
        }
    }
}

/// The machine's CPU time from /proc/stat (ticks of 1/100 s) in ns.
fn system_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7) // user nice system idle iowait irq softirq, as Docker
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks * 10_000_000
}

/// Parses /proc/net/dev, leaving out the loopback interface.
pub fn net_dev(text: &str) -> BTreeMap<String, NetCounters> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetCounters {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn net_dev_skips_loopback() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo:  100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 2000 20 1 2 0 0 0 0 3000 30 3 4 0 0 0 0\n";
        let m = super::net_dev(text);
        assert_eq!(m.len(), 1);
        assert_eq!(m["eth0"].rx_bytes, 2000);
        assert_eq!(m["eth0"].tx_packets, 30);
        assert_eq!(m["eth0"].tx_dropped, 4);
    }
}
