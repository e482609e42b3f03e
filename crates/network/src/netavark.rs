//! Runs netavark as podman does (containers/common
//! `libnetwork/netavark/exec.go`, `run.go`): the request as JSON on stdin,
//! `--config` a directory of its own under the isola root, aardvark-dns
//! as the DNS server for networks with `dns_enabled`.

use crate::{io_err, Error, Network, Networks, PortMapping, Result, AARDVARK, NETAVARK};
use serde_json::{json, Value};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

/// A container's place on one network.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub network: Network,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// DNS names besides the container's name (`--network-alias`).
    pub aliases: Vec<String>,
    /// `eth0`, `eth1`, ...
    pub interface: String,
}

/// One setup or teardown.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub ports: &'a [PortMapping],
    pub attachments: &'a [Attachment],
}

impl Request<'_> {
    /// The request as netavark reads it on stdin.
    pub fn to_json(&self) -> Value {
        let mut networks = serde_json::Map::new();
        let mut info = serde_json::Map::new();
        for a in self.attachments {
            // The container's name answers on every DNS-enabled network,
            // as with Docker and podman.
            let mut aliases = vec![self.container_name.to_string()];
            aliases.extend(a.aliases.iter().cloned());
            networks.insert(
                a.network.name.clone(),
                json!({
                    "static_ips": [a.ip.to_string()],
                    "static_mac": a.mac,
                    "aliases": aliases,
                    "interface_name": a.interface,
                }),
            );
            info.insert(
                a.network.name.clone(),
                serde_json::to_value(&a.network).expect("a network serialises"),
            );
        }
        json!({
            "container_id": self.container_id,
            "container_name": self.container_name,
            "port_mappings": if self.ports.is_empty() { Value::Null } else { json!(self.ports) },
            "networks": networks,
            "network_info": info,
        })
    }
}

impl Networks {
    /// Creates the bridge(s) if needed, the container's veths in `netns`
    /// with their addresses and routes, NAT, port forwarding and DNS.
    pub fn setup(&self, netns: &Path, req: &Request) -> Result<()> {
        exec(&self.netavark_config(), "setup", netns, &req.to_json()).map(|_| ())
    }
}

/// Runs `netavark --config CONFIG ACTION NETNS` with `input` (a
/// [`Request::to_json`], possibly stored since setup: a teardown replays
/// exactly what was set up, whatever happened to the networks since).
pub fn exec(config: &Path, action: &'static str, netns: &Path, input: &Value) -> Result<Value> {
    if !matches!(input["networks"].as_object(), Some(m) if !m.is_empty()) {
        return Ok(Value::Null);
    }
    if !Path::new(NETAVARK).is_file() {
        return Err(Error::Invalid(format!(
            "{NETAVARK} not found: apt-get install netavark aardvark-dns (scripts/deps.sh does)"
        )));
    }
    std::fs::create_dir_all(config).map_err(io_err(format!("creating {}", config.display())))?;
    // One netavark at a time, as podman runs it (libnetwork's network
    // lock): concurrent runs race on the shared chains ("Chain already
    // exists") and a teardown can miss rules a parallel setup re-adds.
    let lock_path = config.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(format!("opening {}", lock_path.display())))?;
    let _lock =
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
            Error::Io {
                context: format!("locking {}", lock_path.display()),
                source: e.into(),
            }
        })?;
    let mut child = Command::new(NETAVARK)
        .arg("--config")
        .arg(config)
        .arg("--aardvark-binary")
        .arg(AARDVARK)
        .arg(action)
        .arg(netns)
        // netavark writes its errors as JSON on stdout; its log goes
        // to stderr (and it complains there when there is no syslog).
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("running {NETAVARK}")))?;
    let data = serde_json::to_vec(input).expect("request serialises");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&data);
    }
    let out = child
        .wait_with_output()
        .map_err(io_err(format!("running {NETAVARK}")))?;
    let stdout: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if out.status.success() {
        return Ok(stdout);
    }
    let message = stdout["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| !l.contains("syslog"))
                .collect::<Vec<_>>()
                .join(" ")
        });
    Err(Error::Netavark {
        action,
        message: message.trim().to_string(),
    })
}
