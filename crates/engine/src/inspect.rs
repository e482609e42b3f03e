//! The Docker-shaped views of containers and images, in one place for the
//! CLI (`isola inspect`, `isola image inspect`) and the Engine API
//! (`GET /containers/{id}/json`, `/containers/json`, `/images/json`), so
//! that `isola inspect` and `docker inspect` through the API print the same
//! document. The shapes are bollard-stubs' models of the Docker Engine API
//! (1.47), not hand-written: every key Docker has, with Docker's types.
//!
//! isola's additions are extra keys merged after serialisation:
//! `State.MonitorPid`, `State.VM`, `HostConfig.IsolationSource`, and
//! `HostConfig.Isolation` carries isola's resolved mode (`process`/`vm`),
//! which Docker's clients read as a plain string.

use crate::store::{Container, Status};
use crate::Engine;
use bollard_stubs::models as m;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Docker's zero time, used for times that have not happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
/// Docker's default /dev/shm size.
const DEFAULT_SHM: i64 = 64 << 20;

/// Converts between two serde shapes of the same document (isola's own
/// records serialise with Docker's key names and values).
fn conv<T: DeserializeOwned>(v: impl Serialize) -> Option<T> {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
}

fn string_map<'a>(
    it: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HashMap<String, String> {
    it.into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn port_map(c: &Container) -> m::PortMap {
    let mut ports: m::PortMap = HashMap::new();
    for p in &c.config.host_config.port_bindings {
        let host_ip = if p.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &p.host_ip
        };
        ports
            .entry(p.key())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(m::PortBinding {
                host_ip: Some(host_ip.to_string()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    ports
}

fn endpoints(c: &Container) -> HashMap<String, m::EndpointSettings> {
    c.config
        .host_config
        .networks
        .iter()
        .map(|(n, e)| {
            (
                n.clone(),
                m::EndpointSettings {
                    network_id: Some(e.network_id.clone()),
                    endpoint_id: Some(String::new()),
                    gateway: Some(e.gateway.clone()),
                    ip_address: Some(e.ip_address.clone()),
                    ip_prefix_len: Some(e.ip_prefix_len.into()),
                    mac_address: Some(e.mac_address.clone()),
                    aliases: Some(e.aliases.clone()),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn mount_points(c: &Container) -> Vec<m::MountPoint> {
    use crate::MountType;
    c.config
        .mounts
        .iter()
        .map(|mp| m::MountPoint {
            typ: conv(mp.kind),
            name: (mp.kind == MountType::Volume).then(|| mp.name.clone()),
            source: Some(mp.source.display().to_string()),
            destination: Some(mp.destination.clone()),
            driver: Some(
                if mp.kind == MountType::Volume {
                    "local"
                } else {
                    ""
                }
                .into(),
            ),
            mode: Some(if mp.read_only { "ro" } else { "" }.into()),
            rw: Some(!mp.read_only),
            propagation: Some(mp.propagation.clone()),
        })
        .collect()
}

impl Engine {
    /// `docker inspect` of a container: Docker's `ContainerInspectResponse`
    /// plus isola's keys (see the module comment).
    pub fn inspect(&self, c: &Container) -> Value {
        let s = &c.state;
        let cfg = &c.config;
        let h = &cfg.host_config;
        let running = s.status == Status::Running;
        let ports = port_map(c);
        let first = h.networks.values().next();
        let network_settings = m::NetworkSettings {
            bridge: Some(String::new()),
            sandbox_id: Some(String::new()),
            hairpin_mode: Some(false),
            link_local_ipv6_address: Some(String::new()),
            link_local_ipv6_prefix_len: Some(0),
            ports: Some(if running {
                ports.clone()
            } else {
                HashMap::new()
            }),
            sandbox_key: Some(if running && !h.networks.is_empty() {
                c.netns_path().display().to_string()
            } else {
                String::new()
            }),
            secondary_ip_addresses: None,
            secondary_ipv6_addresses: None,
            endpoint_id: Some(String::new()),
            gateway: Some(first.map(|e| e.gateway.clone()).unwrap_or_default()),
            global_ipv6_address: Some(String::new()),
            global_ipv6_prefix_len: Some(0),
            ip_address: Some(first.map(|e| e.ip_address.clone()).unwrap_or_default()),
            ip_prefix_len: Some(first.map_or(0, |e| e.ip_prefix_len.into())),
            ipv6_gateway: Some(String::new()),
            mac_address: Some(first.map(|e| e.mac_address.clone()).unwrap_or_default()),
            networks: Some(endpoints(c)),
        };
        let binds: Vec<String> = cfg
            .mounts
            .iter()
            .filter(|mp| !mp.spec.is_empty() && mp.kind != crate::MountType::Tmpfs)
            .map(|mp| mp.spec.clone())
            .collect();
        let tmpfs: HashMap<String, String> = cfg
            .mounts
            .iter()
            .filter(|mp| mp.kind == crate::MountType::Tmpfs && !mp.spec.is_empty())
            .map(|mp| {
                (
                    mp.destination.clone(),
                    mp.spec.split_once(':').map_or("", |(_, o)| o).to_string(),
                )
            })
            .collect();
        let host_config = m::HostConfig {
            cpu_shares: Some(h.cpu_shares as i64),
            memory: Some(h.memory as i64),
            cgroup_parent: Some(String::new()),
            blkio_weight: Some(0),
            blkio_weight_device: Some(vec![]),
            blkio_device_read_bps: Some(vec![]),
            blkio_device_write_bps: Some(vec![]),
            blkio_device_read_iops: Some(vec![]),
            blkio_device_write_iops: Some(vec![]),
            cpu_period: Some(0),
            cpu_quota: Some(0),
            cpu_realtime_period: Some(0),
            cpu_realtime_runtime: Some(0),
            cpuset_cpus: Some(h.cpuset_cpus.clone()),
            cpuset_mems: Some(String::new()),
            devices: Some(
                h.devices
                    .iter()
                    .map(|d| m::DeviceMapping {
                        path_on_host: Some(d.path.clone()),
                        path_in_container: Some(d.path.clone()),
                        cgroup_permissions: Some("rwm".into()),
                    })
                    .collect(),
            ),
            memory_reservation: Some(0),
            memory_swap: Some(h.memory_swap),
            nano_cpus: Some(h.nano_cpus as i64),
            init: Some(h.init),
            pids_limit: Some(h.pids_limit),
            ulimits: Some(conv(&h.ulimits).unwrap_or_default()),
            cpu_count: Some(0),
            cpu_percent: Some(0),
            io_maximum_iops: Some(0),
            io_maximum_bandwidth: Some(0),
            binds: Some(binds),
            container_id_file: Some(String::new()),
            log_config: Some(m::HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::new()),
            }),
            network_mode: Some(h.network_mode.clone()),
            port_bindings: Some(ports),
            restart_policy: conv(h.restart_policy),
            auto_remove: Some(h.auto_remove),
            volume_driver: Some(String::new()),
            volumes_from: Some(vec![]),
            console_size: Some(vec![0, 0]),
            cap_add: Some(h.cap_add.clone()),
            cap_drop: Some(h.cap_drop.clone()),
            dns: Some(vec![]),
            dns_options: Some(vec![]),
            dns_search: Some(vec![]),
            extra_hosts: Some(vec![]),
            group_add: Some(h.group_add.clone()),
            ipc_mode: Some(if h.ipc_mode.is_empty() {
                "private".into()
            } else {
                h.ipc_mode.clone()
            }),
            cgroup: Some(String::new()),
            links: Some(vec![]),
            oom_score_adj: Some(0),
            pid_mode: Some(h.pid_mode.clone()),
            privileged: Some(h.privileged),
            publish_all_ports: Some(false),
            readonly_rootfs: Some(h.readonly_rootfs),
            security_opt: Some(
                h.security_opt
                    .iter()
                    .map(|o| {
                        if o.starts_with("seccomp={") {
                            "seccomp=<profile>".to_string()
                        } else {
                            o.clone()
                        }
                    })
                    .collect(),
            ),
            tmpfs: Some(tmpfs),
            uts_mode: Some(h.uts_mode.clone()),
            userns_mode: Some(String::new()),
            shm_size: Some(h.shm_size.map_or(DEFAULT_SHM, |v| v as i64)),
            sysctls: Some(string_map(&h.sysctls)),
            runtime: Some("isola".into()),
            ..Default::default()
        };
        let rc = &cfg.config;
        let config = m::ContainerConfig {
            hostname: Some(rc.hostname.clone()),
            domainname: Some(String::new()),
            user: Some(rc.user.clone()),
            attach_stdin: Some(false),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            tty: Some(rc.tty),
            open_stdin: Some(rc.open_stdin),
            stdin_once: Some(false),
            env: Some(rc.env.clone()),
            cmd: Some(rc.cmd.clone()),
            healthcheck: rc.healthcheck.as_ref().and_then(conv),
            image: Some(rc.image.clone()),
            volumes: None,
            working_dir: Some(rc.working_dir.clone()),
            entrypoint: Some(rc.entrypoint.clone()),
            on_build: None,
            labels: Some(string_map(&rc.labels)),
            stop_signal: rc.stop_signal.clone(),
            stop_timeout: rc.stop_timeout,
            ..Default::default()
        };
        let state = m::ContainerState {
            status: conv(c.status_name()),
            running: Some(running),
            paused: Some(c.is_paused()),
            restarting: Some(running && s.restarting),
            oom_killed: Some(s.oom_killed),
            dead: Some(s.status == Status::Dead),
            pid: Some(if running && !s.restarting {
                s.pid.into()
            } else {
                0
            }),
            exit_code: Some(s.exit_code.into()),
            error: Some(s.error.clone()),
            started_at: Some(s.started_at.clone().unwrap_or_else(|| ZERO_TIME.into())),
            finished_at: Some(s.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into())),
            // As Docker: `State.Health` only for containers with a check.
            health: s.health.as_ref().and_then(conv),
        };
        let lower = cfg
            .layers
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let doc = m::ContainerInspectResponse {
            id: Some(cfg.id.clone()),
            created: Some(cfg.created.clone()),
            path: Some(cfg.path.clone()),
            args: Some(cfg.args.clone()),
            state: Some(state),
            image: Some(cfg.image_id.clone()),
            resolv_conf_path: Some(c.dir.join("resolv.conf").display().to_string()),
            hostname_path: Some(c.dir.join("hostname").display().to_string()),
            hosts_path: Some(c.dir.join("hosts").display().to_string()),
            log_path: Some(c.log_path().display().to_string()),
            name: Some(format!("/{}", cfg.name)),
            restart_count: Some(s.restart_count as i64),
            driver: Some("overlay".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            exec_ids: None,
            host_config: Some(host_config),
            graph_driver: Some(m::DriverData {
                name: "overlay".into(),
                data: HashMap::from([
                    ("LowerDir".to_string(), lower),
                    (
                        "UpperDir".to_string(),
                        c.dir.join("upper").display().to_string(),
                    ),
                    (
                        "WorkDir".to_string(),
                        c.dir.join("work").display().to_string(),
                    ),
                ]),
            }),
            size_rw: None,
            size_root_fs: None,
            mounts: Some(mount_points(c)),
            config: Some(config),
            network_settings: Some(network_settings),
        };
        let mut v = serde_json::to_value(doc).unwrap_or_default();
        // Docker prints these as null when empty.
        v["ExecIDs"] = Value::Null;
        v["Config"]["Volumes"] = Value::Null;
        v["Config"]["OnBuild"] = Value::Null;
        // The image's and `--expose`d ports; Docker leaves the key out
        // when there are none.
        if !rc.exposed_ports.is_empty() {
            v["Config"]["ExposedPorts"] = json!(rc.exposed_ports);
        }
        v["State"]["MonitorPid"] = json!(if running { s.monitor_pid } else { 0 });
        v["State"]["VM"] = json!(s.vm);
        v["HostConfig"]["Isolation"] = json!(h.isolation.as_str());
        v["HostConfig"]["IsolationSource"] = json!(h.isolation_source);
        v
    }

    /// One row of `docker ps` (`GET /containers/json`): Docker's
    /// `ContainerSummary`.
    pub fn summary(&self, c: &Container) -> m::ContainerSummary {
        let s = &c.state;
        let running = s.status == Status::Running;
        let command = std::iter::once(c.config.path.as_str())
            .chain(c.config.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        let ports = if running {
            c.config
                .host_config
                .port_bindings
                .iter()
                .map(|p| m::Port {
                    ip: Some(if p.host_ip.is_empty() {
                        "0.0.0.0".into()
                    } else {
                        p.host_ip.clone()
                    }),
                    private_port: p.container_port,
                    public_port: Some(p.host_port),
                    typ: conv(&p.protocol),
                })
                .collect()
        } else {
            vec![]
        };
        m::ContainerSummary {
            id: Some(c.id().to_string()),
            names: Some(vec![format!("/{}", c.name())]),
            image: Some(c.config.config.image.clone()),
            image_id: Some(c.config.image_id.clone()),
            command: Some(command),
            created: Some(crate::ids::rfc3339_to_unix(&c.config.created)),
            ports: Some(ports),
            size_rw: None,
            size_root_fs: None,
            labels: Some(string_map(&c.config.config.labels)),
            state: Some(c.status_name().to_string()),
            status: Some(c.status_text()),
            host_config: Some(m::ContainerSummaryHostConfig {
                network_mode: Some(c.config.host_config.network_mode.clone()),
                annotations: None,
            }),
            network_settings: Some(m::ContainerSummaryNetworkSettings {
                networks: Some(endpoints(c)),
            }),
            mounts: Some(mount_points(c)),
        }
    }

    /// `docker network inspect` (`GET /networks/{id}`): Docker's shape,
    /// with the containers attached to it.
    pub fn network_inspect(&self, name: &str) -> crate::Result<Value> {
        let n = self.networks.get(name)?;
        let containers: serde_json::Map<String, Value> = self
            .network_containers(&n.name)?
            .into_iter()
            .map(|(id, (name, e))| {
                (
                    id,
                    json!({"Name": name, "EndpointID": "", "IPv4Address": format!("{}/{}", e.ip_address, e.ip_prefix_len),
                           "IPv6Address": "", "MacAddress": e.mac_address, "Aliases": e.aliases}),
                )
            })
            .collect();
        Ok(json!({
            "Name": n.name,
            "Id": n.id,
            "Created": n.created,
            "Scope": "local",
            "Driver": n.driver,
            "Internal": n.internal,
            "Attachable": false,
            "Ingress": false,
            "EnableIPv6": n.ipv6_enabled,
            "DNSEnabled": n.dns_enabled,
            "NetworkInterface": n.network_interface,
            "IPAM": {"Driver": "default", "Options": {}, "Config": n.subnets.iter().map(|s| json!({"Subnet": s.subnet, "Gateway": s.gateway})).collect::<Vec<_>>()},
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Options": {},
            "Labels": n.labels,
            "Containers": containers,
        }))
    }

    /// `docker images` (`GET /images/json`): one Docker `ImageSummary` per
    /// image id, with all its tags and digests.
    pub fn image_summaries(&self) -> crate::Result<Vec<m::ImageSummary>> {
        let mut out: Vec<m::ImageSummary> = Vec::new();
        for i in self.images.list()? {
            let tag = (i.repository != "<none>").then(|| format!("{}:{}", i.repository, i.tag));
            let created = i
                .created
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            if let Some(row) = out.iter_mut().find(|r| r.id == i.id) {
                row.repo_tags.extend(tag);
                for d in i.digests {
                    if !row.repo_digests.contains(&d) {
                        row.repo_digests.push(d);
                    }
                }
                continue;
            }
            out.push(m::ImageSummary {
                id: i.id.clone(),
                parent_id: String::new(),
                repo_tags: tag.into_iter().collect(),
                repo_digests: i.digests.clone(),
                created,
                size: i.size as i64,
                shared_size: -1,
                virtual_size: Some(i.size as i64),
                labels: HashMap::new(),
                containers: -1,
                manifests: None,
            });
        }
        Ok(out)
    }
}
