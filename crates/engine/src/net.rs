//! Container networking, the engine's side: what `--network`, `-p`, `--ip`
//! and friends mean, reserving addresses and host ports at create (so bad
//! input fails before anything exists), bringing the container's network
//! namespace up when it starts and down when it ends or is removed, and
//! the /etc/hosts and /etc/resolv.conf it gets. The mechanism lives in
//! `isola-network` (netavark, aardvark-dns, IPAM, namespaces).
//!
//! Both isolation modes share all of it: the namespace is set up before
//! the backend starts anything. Process mode runs the container in it; VM
//! mode runs the hypervisor in it and joins the guest's NIC to its veth
//! (the VM backend).

use crate::store::Container;
use crate::{Engine, Error, Result};
use isola_network::{mac_for, netns, Attachment, Network, PortMapping, Request};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// `--network`: what the container's network stack is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// Loopback only.
    #[default]
    None,
    /// The host's network stack (process isolation only).
    Host,
    /// A bridge network, by name (`bridge`: the default one).
    Bridge(String),
    /// Another container's network namespace (its id once created).
    Container(String),
}

impl NetworkMode {
    /// Parses a `--network` value (or a stored `NetworkMode`).
    pub fn parse(v: &str) -> NetworkMode {
        match v {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "" | "default" | "bridge" => NetworkMode::Bridge(isola_network::DEFAULT_NETWORK.into()),
            s => match s.strip_prefix("container:") {
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Bridge(s.to_string()),
            },
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge(n) => n.clone(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }
}

/// A container's place on one network, as Docker's `EndpointSettings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
    pub aliases: Vec<String>,
    /// The interface in the container (`eth0`, ...).
    pub interface: String,
}

/// The networking flags of `create`/`run`.
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// `--network`; `None`: the host's default (`default_network`).
    pub network: Option<String>,
    pub aliases: Vec<String>,
    pub ip: Option<String>,
    /// `-p` values.
    pub publish: Vec<String>,
    /// `-P`: every port the image EXPOSEs, on an ephemeral host port.
    pub publish_all: bool,
    /// `--add-host NAME:IP`.
    pub add_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
}

/// What `create` decided, before anything exists.
pub(crate) struct Plan {
    pub mode: NetworkMode,
    network: Option<(Network, Option<Ipv4Addr>)>,
    aliases: Vec<String>,
    ports: Vec<PortMapping>,
    pub extra_hosts: Vec<(String, String)>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

impl From<isola_network::Error> for Error {
    fn from(e: isola_network::Error) -> Error {
        match e {
            isola_network::Error::Conflict(m) => Error::Conflict(m),
            isola_network::Error::Io { context, source } => Error::Io { context, source },
            e @ isola_network::Error::NoSuchNetwork(_) => Error::NotFound(e.to_string()),
            other => Error::Invalid(other.to_string()),
        }
    }
}

/// `ROOT/netns`: the containers' network namespaces and setup records.
pub(crate) fn netns_dir(root: &Path) -> PathBuf {
    root.join("netns")
}

impl Container {
    /// The state directory this container lives in (`ROOT`).
    pub(crate) fn root(&self) -> &Path {
        self.dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.dir)
    }

    /// Where the container's network namespace is bound while it runs.
    pub(crate) fn netns_path(&self) -> PathBuf {
        netns_dir(self.root()).join(self.id())
    }

    pub(crate) fn network_mode(&self) -> NetworkMode {
        NetworkMode::parse(&self.config.host_config.network_mode)
    }
}

impl Engine {
    pub fn networks(&self) -> &isola_network::Networks {
        &self.networks
    }

    /// Checks the networking flags and resolves names; creates nothing.
    pub(crate) fn plan_network(&self, o: &NetworkOptions, exposed: &[String]) -> Result<Plan> {
        let requested = o
            .network
            .clone()
            .unwrap_or_else(|| self.config.default_network.clone());
        let mut mode = NetworkMode::parse(&requested);
        let mut network = None;
        match &mode {
            NetworkMode::Bridge(name) => {
                let net = self.networks.get(name)?;
                let ip =
                    o.ip.as_deref()
                        .map(|s| {
                            s.parse::<Ipv4Addr>().map_err(|_| {
                                invalid(format!("invalid --ip {s:?}: use an IPv4 address"))
                            })
                        })
                        .transpose()?;
                if net.name == isola_network::DEFAULT_NETWORK {
                    if ip.is_some() {
                        return Err(invalid("--ip is supported on user-defined networks only: create one with 'isola network create'"));
                    }
                    if !o.aliases.is_empty() {
                        return Err(invalid("--network-alias is supported on user-defined networks only: create one with 'isola network create'"));
                    }
                }
                mode = NetworkMode::Bridge(net.name.clone());
                network = Some((net, ip));
            }
            other => {
                let what = if !o.publish.is_empty() || o.publish_all {
                    Some("publishing ports (-p, -P)")
                } else if o.ip.is_some() {
                    Some("--ip")
                } else if !o.aliases.is_empty() {
                    Some("--network-alias")
                } else {
                    None
                };
                if let Some(what) = what {
                    return Err(invalid(format!(
                        "{what} needs a bridge network, not --network {}",
                        other.as_string()
                    )));
                }
                if let NetworkMode::Container(target) = other {
                    let t = self.lookup(target)?;
                    if t.config.host_config.isolation != crate::Isolation::Process {
                        return Err(invalid(format!(
                            "cannot join the network of container {}: its network stack is inside its VM",
                            t.name()
                        )));
                    }
                    mode = NetworkMode::Container(t.id().to_string());
                }
            }
        }
        for a in &o.aliases {
            if !valid_dns_name(a) {
                return Err(invalid(format!(
                    "invalid --network-alias {a:?}: use a DNS name"
                )));
            }
        }
        let mut ports = o
            .publish
            .iter()
            .map(|p| isola_network::parse_publish(p).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        if o.publish_all {
            for e in exposed {
                let (port, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
                let p = isola_network::parse_publish(&format!("{port}/{proto}"))?;
                if !ports.iter().any(|q| q.key() == p.key()) {
                    ports.push(p);
                }
            }
        }
        let extra_hosts = o
            .add_hosts
            .iter()
            .map(|h| {
                let (name, ip) = h
                    .split_once(':')
                    .filter(|(n, ip)| valid_dns_name(n) && ip.parse::<std::net::IpAddr>().is_ok())
                    .ok_or_else(|| invalid(format!("invalid --add-host {h:?}: use NAME:IP")))?;
                Ok((name.to_string(), ip.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        for d in &o.dns {
            if d.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid(format!("invalid --dns {d:?}: use an IP address")));
            }
        }
        for s in &o.dns_search {
            if s != "." && !valid_dns_name(s) {
                return Err(invalid(format!(
                    "invalid --dns-search {s:?}: use a domain name"
                )));
            }
        }
        Ok(Plan {
            mode,
            network,
            aliases: o.aliases.clone(),
            ports,
            extra_hosts,
            dns: o.dns.clone(),
            dns_search: o.dns_search.clone(),
        })
    }

    /// In `create`, once the container's (staging) directory exists:
    /// reserves its address and host ports and records them in its config.
    pub(crate) fn reserve_network(&self, c: &mut Container, plan: &Plan) -> Result<()> {
        let Some((net, ip)) = &plan.network else {
            return Ok(());
        };
        let mut ports = plan.ports.clone();
        let r = self
            .networks
            .reserve(c.id(), &[(net.clone(), *ip)], &mut ports)?;
        let (cidr, gw) = net.ipv4()?;
        let ip = r.ips[0];
        let h = &mut c.config.host_config;
        h.networks.insert(
            net.name.clone(),
            Endpoint {
                network_id: net.id.clone(),
                ip_address: ip.to_string(),
                ip_prefix_len: cidr.prefix,
                gateway: gw.to_string(),
                mac_address: mac_for(ip),
                aliases: plan.aliases.clone(),
                interface: "eth0".into(),
            },
        );
        h.port_bindings = ports;
        Ok(())
    }

    /// The netavark request for `c`'s networks (`only`: just that one;
    /// `ports`: with the published ports, which netavark forwards on
    /// every network it sets up with them and removes with a teardown
    /// that names them).
    fn request_json(
        &self,
        c: &Container,
        only: Option<&str>,
        ports: bool,
    ) -> Result<serde_json::Value> {
        let h = &c.config.host_config;
        let mut attachments = Vec::new();
        for (name, e) in &h.networks {
            if only.is_some_and(|o| o != name) {
                continue;
            }
            attachments.push(Attachment {
                network: self.networks.get(name)?,
                ip: e
                    .ip_address
                    .parse()
                    .map_err(|_| invalid(format!("bad address {:?}", e.ip_address)))?,
                mac: e.mac_address.clone(),
                aliases: e.aliases.clone(),
                interface: e.interface.clone(),
            });
        }
        let ports = if ports { &h.port_bindings[..] } else { &[][..] };
        Ok(Request {
            container_id: c.id(),
            container_name: c.name(),
            ports,
            attachments: &attachments,
        }
        .to_json())
    }

    /// Before the container starts (in its monitor): its network namespace
    /// with veth, address, routes, NAT, published ports and DNS record.
    /// The requests are kept beside the namespace (`ROOT/netns/<id>.json`,
    /// a list: this one, then one per `network connect`), so that teardown
    /// replays exactly them, whoever does it and whenever.
    pub(crate) fn network_up(&self, c: &Container) -> Result<()> {
        if !matches!(c.network_mode(), NetworkMode::Bridge(_)) {
            return Ok(());
        }
        let dir = netns_dir(&self.root);
        crate::store::secure_dir(&dir, crate::store::PRIVATE_DIR)?;
        // A previous run that was not torn down (a crash): undo it first.
        network_down(c);
        let path = c.netns_path();
        let json = self.request_json(c, None, true)?;
        let _lock = crate::store::lock_file(&dir.join(format!("{}.lock", c.id())))?;
        netns::create(&path)?;
        let record = dir.join(format!("{}.json", c.id()));
        crate::store::write_json_atomic(&record, &serde_json::json!([json]))?;
        if let Err(e) =
            isola_network::netavark_exec(&self.networks.netavark_config(), "setup", &path, &json)
        {
            drop(_lock);
            network_down(c);
            return Err(e.into());
        }
        Ok(())
    }

    /// `network connect`: a created or stopped container gets the network
    /// at its next start; a running one at once (process mode: a new
    /// interface `ethN`; VM mode refuses, the guest has no NIC hot-plug).
    pub fn network_connect(
        &self,
        c: &Container,
        network: &str,
        ip: Option<&str>,
        aliases: &[String],
    ) -> Result<()> {
        if !matches!(c.network_mode(), NetworkMode::Bridge(_)) {
            return Err(invalid(format!(
                "container {} uses --network {}: only containers on bridge networks can be connected",
                c.name(),
                c.config.host_config.network_mode
            )));
        }
        let net = self.networks.get(network)?;
        if c.config.host_config.networks.contains_key(&net.name) {
            return Err(Error::Conflict(format!(
                "container {} is already connected to network {}",
                c.name(),
                net.name
            )));
        }
        let running = c.state.status == crate::Status::Running;
        let backend = self.backend(c);
        if running {
            backend.check_hotplug()?;
        }
        if c.config.host_config.networks.len() >= backend.max_networks() {
            return Err(Error::Conflict(format!(
                "container {} is already on {} network(s), the most its isolation mode offers: disconnect it first",
                c.name(),
                c.config.host_config.networks.len()
            )));
        }
        let ip = ip
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| invalid(format!("invalid --ip {s:?}: use an IPv4 address")))
            })
            .transpose()?;
        let plan = Plan {
            mode: c.network_mode(),
            network: Some((net.clone(), ip)),
            aliases: aliases.to_vec(),
            ports: Vec::new(),
            extra_hosts: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
        };
        let mut c = c.clone();
        let _lock = c.lock()?;
        let ports = c.config.host_config.port_bindings.clone();
        let before = c.config.host_config.networks.clone();
        c.config.host_config.networks.clear();
        self.reserve_network(&mut c, &plan)?;
        let mut endpoint = c
            .config
            .host_config
            .networks
            .remove(&net.name)
            .expect("reserved");
        endpoint.interface = format!(
            "eth{}",
            (0..)
                .find(|n| !before.values().any(|e| e.interface == format!("eth{n}")))
                .unwrap_or(0)
        );
        c.config.host_config.networks = before;
        c.config
            .host_config
            .networks
            .insert(net.name.clone(), endpoint);
        c.config.host_config.port_bindings = ports;
        if running && netns::is_bound(&c.netns_path()) {
            // A connected network gets no published ports: they stay on the
            // network(s) the container started with.
            let one = self.request_json(&c, Some(&net.name), false)?;
            if let Err(e) = isola_network::netavark_exec(
                &self.networks.netavark_config(),
                "setup",
                &c.netns_path(),
                &one,
            ) {
                let _ = self.networks.release_network(c.id(), &net.name);
                return Err(e.into());
            }
            update_record(&c, |reqs| reqs.push(one))?;
        }
        crate::store::write_json_atomic(&c.dir.join("config.json"), &c.config)
    }

    /// `network disconnect`.
    pub fn network_disconnect(&self, c: &Container, network: &str) -> Result<()> {
        let name = self
            .networks
            .get(network)
            .map(|n| n.name)
            .unwrap_or_else(|_| network.to_string());
        if !c.config.host_config.networks.contains_key(&name) {
            return Err(Error::Conflict(format!(
                "container {} is not connected to network {name}",
                c.name()
            )));
        }
        let mut c = c.clone();
        let _lock = c.lock()?;
        if c.state.status == crate::Status::Running && netns::is_bound(&c.netns_path()) {
            self.backend(&c).check_hotplug()?;
            // Tear the network down as it was set up: with the published
            // ports if its request had them (its forwarding goes with it,
            // until the next start), without if it was connected later.
            let config = self.networks.netavark_config();
            let path = c.netns_path();
            update_record(&c, |reqs| -> Result<()> {
                for req in reqs.iter_mut() {
                    if req["networks"].get(&name).is_none() {
                        continue;
                    }
                    let mut one = req.clone();
                    for key in ["networks", "network_info"] {
                        if let Some(m) = one[key].as_object_mut() {
                            m.retain(|k, _| *k == name);
                        }
                        if let Some(m) = req[key].as_object_mut() {
                            m.remove(&name);
                        }
                    }
                    isola_network::netavark_exec(&config, "teardown", &path, &one)?;
                }
                reqs.retain(|r| r["networks"].as_object().is_some_and(|m| !m.is_empty()));
                Ok(())
            })??;
        }
        c.config.host_config.networks.remove(&name);
        crate::store::write_json_atomic(&c.dir.join("config.json"), &c.config)?;
        let _ = self.networks.release_network(c.id(), &name);
        Ok(())
    }

    /// `network create`.
    pub fn network_create(&self, mut req: isola_network::NewNetwork) -> Result<Network> {
        req.created = crate::ids::now_rfc3339();
        let n = self.networks.create(req)?;
        self.object_event("network", "create", &n.id, &n.name);
        Ok(n)
    }

    /// `network rm`: refused while a container (running or not) is on it.
    pub fn network_remove(&self, name: &str) -> Result<()> {
        let net = self.networks.get(name)?;
        let users: Vec<String> = self
            .list()?
            .iter()
            .filter(|c| c.config.host_config.networks.contains_key(&net.name))
            .map(|c| c.name().to_string())
            .collect();
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "network {} is in use by container(s) {}: remove them or disconnect them first",
                net.name,
                users.join(", ")
            )));
        }
        self.networks.remove(&net.name)?;
        self.object_event("network", "destroy", &net.id, &net.name);
        Ok(())
    }

    /// `network prune`: removes user-defined networks no container uses.
    pub fn network_prune(&self) -> Result<Vec<String>> {
        let all = self.list()?;
        let mut removed = Vec::new();
        for n in self.networks.list()? {
            if n.name == isola_network::DEFAULT_NETWORK
                || all
                    .iter()
                    .any(|c| c.config.host_config.networks.contains_key(&n.name))
            {
                continue;
            }
            self.networks.remove(&n.name)?;
            removed.push(n.name);
        }
        Ok(removed)
    }

    /// The containers on network `name` (`network inspect`).
    pub fn network_containers(&self, name: &str) -> Result<BTreeMap<String, (String, Endpoint)>> {
        let mut out = BTreeMap::new();
        for c in self.list()? {
            if let Some(e) = c.config.host_config.networks.get(name) {
                out.insert(c.id().to_string(), (c.name().to_string(), e.clone()));
            }
        }
        Ok(out)
    }
}

/// Tears down what [`Engine::network_up`] set up for `c`: netavark
/// teardown (veth, addresses, rules, DNS record, and the bridge and
/// aardvark-dns once unused), then the namespace. Idempotent, and works
/// from the stored request alone, so also after a `kill -9` of the
/// monitor or hypervisor. Errors are reported by what is left behind,
/// which the next call retries.
pub(crate) fn network_down(c: &Container) {
    let root = c.root().to_path_buf();
    let dir = netns_dir(&root);
    if !dir.is_dir() {
        return;
    }
    let lock_path = dir.join(format!("{}.lock", c.id()));
    let Ok(_lock) = crate::store::lock_file(&lock_path) else {
        return;
    };
    let path = c.netns_path();
    let record = dir.join(format!("{}.json", c.id()));
    let mut torn_down = true;
    if let Ok(data) = std::fs::read(&record) {
        if let Ok(serde_json::Value::Array(reqs)) = serde_json::from_slice(&data) {
            if netns::is_bound(&path) {
                let config = root.join("networks").join("netavark");
                // The connected networks first, the start's last.
                for req in reqs.iter().rev() {
                    torn_down &=
                        isola_network::netavark_exec(&config, "teardown", &path, req).is_ok();
                }
            }
        }
        if torn_down {
            let _ = std::fs::remove_file(&record);
        }
    }
    if torn_down {
        let _ = netns::remove(&path);
        let _ = std::fs::remove_file(&lock_path);
    }
}

/// Changes the list of netavark requests recorded for running container
/// `c`, under its network lock.
fn update_record<T>(c: &Container, f: impl FnOnce(&mut Vec<serde_json::Value>) -> T) -> Result<T> {
    let dir = netns_dir(c.root());
    let _lock = crate::store::lock_file(&dir.join(format!("{}.lock", c.id())))?;
    let record = dir.join(format!("{}.json", c.id()));
    let mut reqs: Vec<serde_json::Value> = std::fs::read(&record)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let out = f(&mut reqs);
    crate::store::write_json_atomic(&record, &reqs)?;
    Ok(out)
}

/// The /etc/hosts of a container on a bridge network.
pub(crate) fn hosts_file(c: &Container, extra: &[(String, String)]) -> String {
    let mut s = isola_runtime_process::net::LOOPBACK_HOSTS.to_string();
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some(e) = c.config.host_config.networks.values().next() {
        s.push_str(&format!("{}\t{}\n", e.ip_address, c.config.config.hostname));
    }
    s
}

/// The /etc/resolv.conf of a container on a bridge network: `--dns`, else
/// aardvark-dns on the gateway for user-defined networks, else the host's
/// non-loopback name servers (as Docker's default bridge).
pub(crate) fn resolv_file(engine: &Engine, c: &Container, plan: &Plan) -> Result<String> {
    let host = host_resolv_conf();
    let mut servers: Vec<String> = plan.dns.clone();
    if servers.is_empty() {
        for (name, e) in &c.config.host_config.networks {
            if engine.networks.get(name).is_ok_and(|n| n.dns_enabled) {
                servers.push(e.gateway.clone());
            }
        }
    }
    if servers.is_empty() {
        servers = host
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.starts_with("127.") && s != "::1")
            .collect();
    }
    let search: Vec<String> = if plan.dns_search.is_empty() {
        host.lines()
            .filter_map(|l| l.trim().strip_prefix("search"))
            .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    } else {
        plan.dns_search
            .iter()
            .filter(|s| *s != ".")
            .cloned()
            .collect()
    };
    let mut out = String::new();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    Ok(out)
}

/// The host's resolver configuration as a container can use it: with only
/// loopback name servers (systemd-resolved's 127.0.0.53 stub, which a
/// container cannot reach), the upstream list systemd-resolved keeps, as
/// Docker does.
fn host_resolv_conf() -> String {
    let main = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let loopback_only = main
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .all(|s| s.trim().starts_with("127.") || s.trim() == "::1");
    if loopback_only {
        if let Ok(upstream) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            return upstream;
        }
    }
    main
}

/// The runtime's path of the network namespace of container `id` (for
/// `--network container:<id>`): its bound namespace, else its init's.
pub(crate) fn container_netns(root: &Path, id: &str) -> Result<PathBuf> {
    let bound = netns_dir(root).join(id);
    if netns::is_bound(&bound) {
        return Ok(bound);
    }
    container_ns(root, id, "net")
}

/// `/proc/PID/ns/KIND` of running container `id` (`--pid container:`, ...).
pub(crate) fn container_ns(root: &Path, id: &str, kind: &str) -> Result<PathBuf> {
    let state = root.join("containers").join(id).join("state.json");
    let pid = std::fs::read(&state)
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v["pid"].as_i64())
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            Error::Conflict(format!(
                "cannot join the {kind} namespace of container {}: it is not running",
                &id[..12.min(id.len())]
            ))
        })?;
    Ok(PathBuf::from(format!("/proc/{pid}/ns/{kind}")))
}

fn valid_dns_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Docker's `ps` PORTS text: `127.0.0.1:18080->80/tcp, ...`.
pub fn ports_text(ports: &[PortMapping]) -> String {
    ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            format!("{ip}:{}->{}", p.host_port, p.key())
        })
        .collect::<Vec<_>>()
        .join(", ")
}
