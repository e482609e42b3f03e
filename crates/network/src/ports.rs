//! Published ports: `-p [ip:][hostPort:]containerPort[/tcp|udp]`, stored
//! and handed to netavark in its `port_mappings` shape.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// One published port as netavark takes it (`host_port` 0 until an
/// ephemeral port is chosen; `host_ip` empty: every host address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub range: u16,
    pub protocol: String,
}

impl PortMapping {
    /// Docker's key: `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
}

fn port(s: &str, what: &str, spec: &str) -> Result<u16> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::Invalid(format!(
            "invalid -p {spec:?}: {what} {s:?} is not a port number (1-65535); use [ip:]hostPort:containerPort[/tcp|udp]"
        ))),
    }
}

/// Parses one `-p` value.
pub fn parse_publish(spec: &str) -> Result<PortMapping> {
    let bad = |why: &str| {
        Error::Invalid(format!(
            "invalid -p {spec:?}: {why}; use [ip:]hostPort:containerPort[/tcp|udp]"
        ))
    };
    let (addr, proto) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p),
        None => (spec, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp") {
        return Err(bad(&format!("protocol {proto:?} is not tcp or udp")));
    }
    if addr.contains('-') {
        return Err(bad("port ranges are not supported"));
    }
    if addr.starts_with('[') {
        return Err(bad("IPv6 host addresses are not supported"));
    }
    let parts: Vec<&str> = addr.split(':').collect();
    let (host_ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(bad("too many ':'")),
    };
    if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
        return Err(bad(&format!("{host_ip:?} is not an IPv4 address")));
    }
    let container_port = port(container, "container port", spec)?;
    let host_port = if host.is_empty() {
        0
    } else {
        port(host, "host port", spec)?
    };
    Ok(PortMapping {
        host_ip: if host_ip == "0.0.0.0" {
            String::new()
        } else {
            host_ip.to_string()
        },
        container_port,
        host_port,
        range: 1,
        protocol: proto.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        let p = parse_publish("127.0.0.1:18080:80").unwrap();
        assert_eq!(
            (
                p.host_ip.as_str(),
                p.host_port,
                p.container_port,
                p.protocol.as_str()
            ),
            ("127.0.0.1", 18080, 80, "tcp")
        );
        let p = parse_publish("53/udp").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.protocol.as_str()),
            (0, 53, "udp")
        );
        let p = parse_publish("8080:80").unwrap();
        assert_eq!((p.host_ip.as_str(), p.host_port), ("", 8080));
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(p.host_port, 0);
        for bad in [
            "",
            "x",
            "80/sctp",
            "0",
            "70000",
            "1:2:3:4",
            "a.b:1:2",
            "8000-8001:80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }
}
