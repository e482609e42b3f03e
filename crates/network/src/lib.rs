//! Container networks: their definitions (`ROOT/networks/<name>.json`, in
//! netavark's JSON network format), address and published-port management
//! (one locked file, `ROOT/networks/ipam.json`), the containers' network
//! namespaces (`ROOT/netns/<id>`), and podman's network stack driven for
//! everything that touches the kernel.
//!
//! ## Why netavark and aardvark-dns rather than a native implementation
//!
//! Bridges, veth pairs, addresses, routes, NAT, published ports (DNAT,
//! including from 127.0.0.1 with `route_localnet` and the masquerade mark
//! that makes hairpin traffic work) and the per-network DNS server are
//! done by `netavark` and `aardvark-dns`, podman's Rust network stack as
//! Debian 12 packages it (`/usr/lib/podman/`). isola does what podman
//! does around them: it allocates the addresses itself, keeps the network
//! definitions, creates the namespace, and runs
//! `netavark --config ROOT/networks/netavark setup|teardown <netns>` with
//! the request as JSON on stdin (containers/common `libnetwork/netavark`).
//!
//! - Robustness: netavark's rules, chain naming, teardown order and
//!   aardvark's lifecycle (started with the first DNS-enabled container,
//!   reloaded by SIGHUP, stopped with the last) are years of podman's bug
//!   reports; a native rtnetlink + nftables rewrite would start without
//!   them, and the crates for it (rtnetlink, nftables, hickory) are tokio
//!   programs, a poor fit for a daemonless sync engine.
//! - Start latency: netavark setup plus teardown add ~125 ms to a
//!   container's life here (`isola run --rm busybox true`, median of 20
//!   on a loaded 2-core machine: 209 ms on the default bridge, 83 ms with
//!   `--network none`; a bare `netavark setup` of a DNS-enabled network
//!   with a port took 0.4 s wall, most of it aardvark-dns's first start).
//!   A native implementation could cut that to a few ms; it is paid only by
//!   containers on a bridge.
//! - On a pure-nftables host: Debian's netavark 1.4 only has its iptables
//!   backend, which on Debian 12 is `iptables-nft`, so its rules land in
//!   nftables tables named `ip filter`/`ip nat` that coexist with native
//!   nftables rulesets (checked here with `iptables-save` after setup and
//!   teardown). Newer netavark has a native nftables backend; nothing here
//!   depends on which one runs.
//!
//! What is isola's own: the namespace lifetime (a bind-mounted namespace
//! that outlives a `kill -9`ed monitor or hypervisor, so `rm` can always
//! tear down), IPAM under one flock (no address or host port is handed out
//! twice, also by parallel `run -d`; entries of containers that no longer
//! exist are reclaimed), and the tap + tc redirect that joins a VM's NIC to
//! the container's veth (see [`tap`]).

mod ipam;
pub mod netavark;
pub mod netns;
mod ports;
pub mod tap;

pub use ipam::Reservation;
pub use netavark::{exec as netavark_exec, Attachment, Request};
pub use ports::{parse_publish, PortMapping};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The name of the default network (Docker's), whose bridge is `isola0`.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default bridge's interface.
pub const DEFAULT_INTERFACE: &str = "isola0";
/// The default bridge's subnet: clear of Docker's 172.17.0.0/16 and
/// podman's 10.88.0.0/16 (`default_subnet` in config.toml changes it).
pub const DEFAULT_SUBNET: &str = "10.89.0.0/24";
/// Where Debian's podman packages put the two binaries.
pub const NETAVARK: &str = "/usr/lib/podman/netavark";
pub const AARDVARK: &str = "/usr/lib/podman/aardvark-dns";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("network {0} not found: list networks with 'isola network ls'")]
    NoSuchNetwork(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("netavark {action}: {message}")]
    Netavark {
        action: &'static str,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A network as netavark reads it (podman's `types.Network`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub network_interface: String,
    pub created: String,
    pub subnets: Vec<Subnet>,
    pub ipv6_enabled: bool,
    pub internal: bool,
    pub dns_enabled: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub ipam_options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub subnet: String,
    pub gateway: String,
}

impl Network {
    /// The (first) IPv4 subnet and its gateway.
    pub fn ipv4(&self) -> Result<(Cidr, Ipv4Addr)> {
        let s = self
            .subnets
            .first()
            .ok_or_else(|| Error::Invalid(format!("network {} has no subnet", self.name)))?;
        let cidr = Cidr::parse(&s.subnet)?;
        let gw = s
            .gateway
            .parse()
            .map_err(|_| Error::Invalid(format!("bad gateway {:?}", s.gateway)))?;
        Ok((cidr, gw))
    }
}

/// An IPv4 subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr> {
        let bad = || {
            Error::Invalid(format!(
                "invalid subnet {s:?}: use an IPv4 CIDR such as 10.90.0.0/24"
            ))
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(Error::Invalid(format!(
                "invalid subnet {s:?}: the prefix length must be between 8 and 30"
            )));
        }
        let c = Cidr { addr, prefix };
        if c.network() != addr {
            return Err(Error::Invalid(format!(
                "invalid subnet {s:?}: host bits are set (did you mean {}/{prefix}?)",
                c.network()
            )));
        }
        Ok(c)
    }
    fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }
    /// The first usable address: the gateway by convention.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    /// RFC 3339 creation time.
    pub created: String,
}

/// The networks of one isola root.
pub struct Networks {
    dir: PathBuf,
    containers: PathBuf,
    default: Network,
}

impl Networks {
    /// The networks under `root` (`root/networks`); `default_subnet` is the
    /// default bridge's.
    pub fn open(root: &Path, default_subnet: &str) -> Result<Networks> {
        let dir = root.join("networks");
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let cidr = Cidr::parse(default_subnet)?;
        let default = Network {
            name: DEFAULT_NETWORK.into(),
            id: hex_id(DEFAULT_NETWORK),
            driver: "bridge".into(),
            network_interface: DEFAULT_INTERFACE.into(),
            created: "1970-01-01T00:00:00Z".into(),
            subnets: vec![Subnet {
                subnet: cidr.to_string(),
                gateway: cidr.first_host().to_string(),
            }],
            ipv6_enabled: false,
            internal: false,
            // As Docker's default bridge: no embedded DNS.
            dns_enabled: false,
            labels: BTreeMap::new(),
            ipam_options: [("driver".to_string(), "host-local".to_string())].into(),
        };
        Ok(Networks {
            dir,
            containers: root.join("containers"),
            default,
        })
    }

    /// netavark's own state directory (aardvark's configuration and pid).
    pub fn netavark_config(&self) -> PathBuf {
        self.dir.join("netavark")
    }

    pub(crate) fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join(".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
            context: format!("locking {}", path.display()),
            source: e.into(),
        })
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Every network, the default bridge first, then by name.
    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = vec![self.default.clone()];
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(io_err(format!("reading {}", self.dir.display())))?
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".json")
                    .filter(|n| *n != "ipam")
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        for n in names {
            if let Ok(net) = self.read(&n) {
                out.push(net);
            }
        }
        Ok(out)
    }

    fn read(&self, name: &str) -> Result<Network> {
        let path = self.path_of(name);
        let data = std::fs::read(&path).map_err(io_err(format!("reading {}", path.display())))?;
        serde_json::from_slice(&data)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// A network by name, full id or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Network> {
        if name_or_id == DEFAULT_NETWORK {
            return Ok(self.default.clone());
        }
        if valid_name(name_or_id) && self.path_of(name_or_id).is_file() {
            return self.read(name_or_id);
        }
        let all = self.list()?;
        let hits: Vec<&Network> = all
            .iter()
            .filter(|n| name_or_id.len() >= 3 && n.id.starts_with(name_or_id))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            _ => Err(Error::NoSuchNetwork(name_or_id.to_string())),
        }
    }

    /// `network create`: a bridge with its own interface `isolaN`; the
    /// subnet is checked against every other network's.
    pub fn create(&self, req: NewNetwork) -> Result<Network> {
        if !valid_name(&req.name) || matches!(req.name.as_str(), "none" | "host" | "default") {
            return Err(Error::Invalid(format!(
                "invalid network name {:?}: use letters, digits, '_', '.', '-' (not none, host or default)",
                req.name
            )));
        }
        let _lock = self.lock()?;
        let all = self.list()?;
        if all.iter().any(|n| n.name == req.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let taken: Vec<Cidr> = all
            .iter()
            .filter_map(|n| n.ipv4().ok().map(|x| x.0))
            .collect();
        let cidr = match &req.subnet {
            Some(s) => {
                let c = Cidr::parse(s)?;
                if let Some(o) = all
                    .iter()
                    .find(|n| n.ipv4().is_ok_and(|(t, _)| t.overlaps(&c)))
                {
                    return Err(Error::Conflict(format!(
                        "subnet {c} overlaps with network {} ({}): choose another --subnet",
                        o.name, o.subnets[0].subnet
                    )));
                }
                c
            }
            None => (1..=255u32)
                .map(|n| Cidr {
                    addr: Ipv4Addr::new(10, 89, n as u8, 0),
                    prefix: 24,
                })
                .find(|c| !taken.iter().any(|t| t.overlaps(c)))
                .ok_or_else(|| {
                    Error::Conflict("no free subnet left in 10.89.0.0/16: give --subnet".into())
                })?,
        };
        let gateway = match &req.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g.parse().map_err(|_| {
                    Error::Invalid(format!("invalid gateway {g:?}: use an IPv4 address"))
                })?;
                if !cidr.contains(ip) || ip == cidr.network() || ip == cidr.broadcast() {
                    return Err(Error::Invalid(format!(
                        "gateway {ip} is not a host address of subnet {cidr}"
                    )));
                }
                ip
            }
            None => cidr.first_host(),
        };
        let used: Vec<&str> = all.iter().map(|n| n.network_interface.as_str()).collect();
        let iface = (1..)
            .map(|n| format!("isola{n}"))
            .find(|i| !used.contains(&i.as_str()))
            .expect("an unused interface name");
        let mut id = [0u8; 32];
        getrandom::getrandom(&mut id)
            .map_err(|e| Error::Invalid(format!("random network id: {e}")))?;
        let net = Network {
            name: req.name.clone(),
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            driver: "bridge".into(),
            network_interface: iface,
            created: req.created.clone(),
            subnets: vec![Subnet {
                subnet: cidr.to_string(),
                gateway: gateway.to_string(),
            }],
            ipv6_enabled: false,
            internal: req.internal,
            dns_enabled: true,
            labels: req.labels.clone(),
            ipam_options: [("driver".to_string(), "host-local".to_string())].into(),
        };
        let path = self.path_of(&net.name);
        let tmp = self.dir.join(format!(".{}.tmp", net.name));
        let data = serde_json::to_vec_pretty(&net).expect("a network serialises");
        std::fs::write(&tmp, data)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(io_err(format!("writing {}", path.display())))?;
        Ok(net)
    }

    /// Removes a user-defined network's definition. The caller has checked
    /// that no container uses it (the engine knows the containers).
    pub fn remove(&self, name: &str) -> Result<()> {
        if name == DEFAULT_NETWORK {
            return Err(Error::Conflict(
                "the default network bridge cannot be removed".into(),
            ));
        }
        let _lock = self.lock()?;
        let path = self.path_of(name);
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NoSuchNetwork(name.to_string()),
            _ => io_err(format!("removing {}", path.display()))(e),
        })
    }

    /// Whether a container still exists (also while being created), so
    /// that what a crashed `create` reserved is reclaimed.
    pub(crate) fn container_exists(&self, id: &str) -> bool {
        self.containers.join(id).exists() || self.containers.join(format!(".new-{id}")).exists()
    }
}

/// Docker's rule for network names.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A stable 64-hex-digit id for the default network.
fn hex_id(name: &str) -> String {
    let mut out = String::new();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    while out.len() < 64 {
        for b in name.bytes().chain(out.clone().bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out.truncate(64);
    out
}

/// A locally administered MAC address derived from the IP, as Docker does
/// (`02:42:` + the address), so it is known before the container starts
/// (VM mode gives the guest's NIC the same one).
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_math() {
        let c = Cidr::parse("10.89.0.0/24").unwrap();
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 89, 0, 1));
        assert_eq!(c.broadcast(), Ipv4Addr::new(10, 89, 0, 255));
        assert!(c.overlaps(&Cidr::parse("10.89.0.0/16").unwrap()));
        assert!(!c.overlaps(&Cidr::parse("10.89.1.0/24").unwrap()));
        assert!(Cidr::parse("10.89.0.1/24").is_err());
        assert!(Cidr::parse("10.89.0.0").is_err());
    }

    #[test]
    fn create_refuses_overlaps_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let n = Networks::open(dir.path(), DEFAULT_SUBNET).unwrap();
        let a = n
            .create(NewNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(a.subnets[0].subnet, "10.89.1.0/24");
        assert_eq!(a.network_interface, "isola1");
        let e = n
            .create(NewNetwork {
                name: "b".into(),
                subnet: Some("10.89.0.0/16".into()),
                ..Default::default()
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps"), "{e}");
        assert!(n
            .create(NewNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .is_err());
        assert_eq!(n.get(&a.id[..12]).unwrap().name, "a");
        assert_eq!(n.list().unwrap().len(), 2);
        n.remove("a").unwrap();
        assert!(n.get("a").is_err());
    }
}
