//! `isola inspect`: a container as JSON in the shape of Docker's
//! `ContainerJSON`, so scripts written for `docker inspect` keep working.

use crate::store::{Container, Status};
use crate::Engine;
use serde_json::{json, Value};

/// Docker's zero time, used for times that have not happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Engine {
    pub fn inspect(&self, c: &Container) -> Value {
        let s = &c.state;
        let cfg = &c.config;
        let running = s.status == Status::Running;
        let status = c.status_name();
        let h = &cfg.host_config;
        let mut ports = serde_json::Map::new();
        for p in &h.port_bindings {
            let entry = ports.entry(p.key()).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(json!({"HostIp": if p.host_ip.is_empty() { "0.0.0.0" } else { &p.host_ip }, "HostPort": p.host_port.to_string()}));
            }
        }
        let first = h.networks.values().next();
        let networks: serde_json::Map<String, Value> = h
            .networks
            .iter()
            .map(|(n, e)| (n.clone(), serde_json::to_value(e).unwrap_or_default()))
            .collect();
        let network_settings = json!({
            "SandboxKey": if running && !h.networks.is_empty() { c.netns_path().display().to_string() } else { String::new() },
            "Ports": if running { Value::Object(ports.clone()) } else { json!({}) },
            "IPAddress": first.map(|e| e.ip_address.as_str()).unwrap_or(""),
            "IPPrefixLen": first.map_or(0, |e| e.ip_prefix_len),
            "Gateway": first.map(|e| e.gateway.as_str()).unwrap_or(""),
            "MacAddress": first.map(|e| e.mac_address.as_str()).unwrap_or(""),
            "Networks": networks,
        });
        let mut v = json!({
            "Id": cfg.id,
            "Created": cfg.created,
            "Path": cfg.path,
            "Args": cfg.args,
            "State": {
                "Status": status,
                "Running": running,
                "Paused": c.is_paused(),
                "Restarting": running && s.restarting,
                "OOMKilled": s.oom_killed,
                "Dead": false,
                "Pid": if running && !s.restarting { s.pid } else { 0 },
                "ExitCode": s.exit_code,
                "Error": s.error,
                "StartedAt": s.started_at.as_deref().unwrap_or(ZERO_TIME),
                "FinishedAt": s.finished_at.as_deref().unwrap_or(ZERO_TIME),
                "MonitorPid": if running { s.monitor_pid } else { 0 },
                "VM": s.vm,
            },
            "RestartCount": s.restart_count,
            "Image": cfg.image_id,
            "Name": format!("/{}", cfg.name),
            "LogPath": c.log_path(),
            "HostnamePath": c.dir.join("hostname"),
            "HostsPath": c.dir.join("hosts"),
            "ResolvConfPath": c.dir.join("resolv.conf"),
            "Driver": "overlay",
            "Platform": "linux",
            "Config": cfg.config,
            "HostConfig": {
                "Isolation": cfg.host_config.isolation.as_str(),
                "IsolationSource": cfg.host_config.isolation_source,
                "CapAdd": cfg.host_config.cap_add,
                "CapDrop": cfg.host_config.cap_drop,
                "Privileged": cfg.host_config.privileged,
                "SecurityOpt": cfg.host_config.security_opt.iter().map(|o| if o.starts_with("seccomp={") { "seccomp=<profile>".to_string() } else { o.clone() }).collect::<Vec<_>>(),
                "Init": cfg.host_config.init,
                "Memory": cfg.host_config.memory,
                "NanoCpus": cfg.host_config.nano_cpus,
                "PidsLimit": cfg.host_config.pids_limit,
                "MemorySwap": cfg.host_config.memory_swap,
                "CpuShares": cfg.host_config.cpu_shares,
                "CpusetCpus": cfg.host_config.cpuset_cpus,
                "NetworkMode": cfg.host_config.network_mode,
                "PortBindings": ports,
                "ReadonlyRootfs": cfg.host_config.readonly_rootfs,
                "AutoRemove": cfg.host_config.auto_remove,
                "Binds": cfg.mounts.iter().filter(|m| !m.spec.is_empty() && m.kind != crate::MountType::Tmpfs).map(|m| m.spec.clone()).collect::<Vec<_>>(),
                "Tmpfs": cfg.mounts.iter().filter(|m| m.kind == crate::MountType::Tmpfs && !m.spec.is_empty())
                    .map(|m| (m.destination.clone(), m.spec.split_once(':').map_or("", |(_, o)| o).to_string()))
                    .collect::<std::collections::BTreeMap<_, _>>(),
                "RestartPolicy": cfg.host_config.restart_policy,
            },
            "Mounts": cfg.mounts.iter().map(|m| serde_json::json!({
                "Type": m.kind,
                "Name": if m.kind == crate::MountType::Volume { Some(&m.name) } else { None },
                "Source": m.source,
                "Destination": m.destination,
                "Driver": if m.kind == crate::MountType::Volume { "local" } else { "" },
                "Mode": if m.read_only { "ro" } else { "" },
                "RW": !m.read_only,
                "Propagation": m.propagation,
            })).collect::<Vec<_>>(),
            "NetworkSettings": network_settings,
            "GraphDriver": {
                "Name": "overlay",
                "Data": {
                    "LowerDir": cfg.layers.iter().rev().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
                    "UpperDir": c.dir.join("upper"),
                    "WorkDir": c.dir.join("work"),
                },
            },
        });
        // As Docker: `State.Health` only for containers with a check.
        if let Some(h) = &s.health {
            v["State"]["Health"] = json!(h);
        }
        v
    }
}
