//! `isola stats`: a container's usage in the shape of Docker's stats JSON
//! (`GET /containers/{id}/stats`), so the API server can serve it as is
//! and the CLI computes its columns the way Docker's CLI does.

use crate::store::{Container, Status};
use crate::{Engine, Result};
use isola_runtime_process::usage::{NetCounters, Usage};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    pub total_usage: u64,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    pub system_cpu_usage: u64,
    pub online_cpus: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryStats {
    pub usage: u64,
    pub limit: u64,
    /// The memory controller's counters (memory.stat).
    pub stats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PidsStats {
    pub current: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
}

/// One stats sample, as Docker's `StatsJSON`: `precpu_stats` is the
/// previous sample's `cpu_stats` (empty in a single sample; see
/// [`Stats::follows`]).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub name: String,
    pub id: String,
    /// When it was sampled (RFC 3339).
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    pub num_procs: u32,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    pub networks: BTreeMap<String, NetCounters>,
}

impl Stats {
    /// Makes `self` the sample after `previous`, as Docker's stream does.
    pub fn follows(&mut self, previous: &Stats) {
        self.precpu_stats = previous.cpu_stats.clone();
        self.preread = previous.read.clone();
    }

    /// Docker CLI's CPU %: the container's share of the machine's CPU
    /// time between the two samples, times its CPUs.
    pub fn cpu_percent(&self) -> f64 {
        let cpu = self.cpu_stats.cpu_usage.total_usage as f64
            - self.precpu_stats.cpu_usage.total_usage as f64;
        let system =
            self.cpu_stats.system_cpu_usage as f64 - self.precpu_stats.system_cpu_usage as f64;
        if cpu > 0.0 && system > 0.0 && self.precpu_stats.system_cpu_usage > 0 {
            cpu / system * self.cpu_stats.online_cpus.max(1) as f64 * 100.0
        } else {
            0.0
        }
    }

    /// Docker CLI's memory use: the usage less the inactive page cache
    /// (`total_inactive_file` on cgroup v1, `inactive_file` on v2).
    pub fn memory_used(&self) -> u64 {
        let m = &self.memory_stats;
        let cache = m
            .stats
            .get("total_inactive_file")
            .or(m.stats.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        m.usage.saturating_sub(cache)
    }

    pub fn memory_percent(&self) -> f64 {
        if self.memory_stats.limit == 0 {
            0.0
        } else {
            self.memory_used() as f64 / self.memory_stats.limit as f64 * 100.0
        }
    }

    /// Received and sent bytes over all interfaces.
    pub fn net_io(&self) -> (u64, u64) {
        self.networks
            .values()
            .fold((0, 0), |(r, t), n| (r + n.rx_bytes, t + n.tx_bytes))
    }

    /// Read and written bytes.
    pub fn block_io(&self) -> (u64, u64) {
        self.blkio_stats
            .io_service_bytes_recursive
            .iter()
            .fold((0, 0), |(r, w), e| match e.op.as_str() {
                "read" | "Read" => (r + e.value, w),
                "write" | "Write" => (r, w + e.value),
                _ => (r, w),
            })
    }
}

impl Engine {
    /// One sample of what container `c` uses; a container that does not
    /// run has zeros, as in Docker.
    pub fn stats(&self, c: &Container) -> Result<Stats> {
        let mut s = Stats {
            name: format!("/{}", c.name()),
            id: c.id().to_string(),
            read: crate::ids::now_rfc3339(),
            ..Stats::default()
        };
        let running = c.state.status == Status::Running && !c.state.restarting;
        if !running || !c.state.init_alive() {
            return Ok(s);
        }
        let u: Usage = self.backend(c).usage(c)?;
        let g = &u.cgroup;
        s.cpu_stats = CpuStats {
            cpu_usage: CpuUsage {
                total_usage: g.cpu_total_ns,
                usage_in_kernelmode: g.cpu_system_ns,
                usage_in_usermode: g.cpu_user_ns,
            },
            system_cpu_usage: u.system_cpu_ns,
            online_cpus: u.online_cpus,
        };
        s.memory_stats = MemoryStats {
            usage: g.memory_usage,
            limit: g.memory_limit,
            stats: g.memory_stat.clone(),
        };
        s.pids_stats = PidsStats {
            current: g.pids_current,
            limit: (g.pids_limit > 0).then_some(g.pids_limit),
        };
        s.num_procs = 0;
        s.blkio_stats.io_service_bytes_recursive = vec![
            BlkioEntry {
                op: "read".into(),
                value: g.io_read_bytes,
                ..BlkioEntry::default()
            },
            BlkioEntry {
                op: "write".into(),
                value: g.io_write_bytes,
                ..BlkioEntry::default()
            },
        ];
        s.networks = u.networks;
        Ok(s)
    }
}
