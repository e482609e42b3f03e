//! Address and host-port management: one JSON file under the networks'
//! flock, so that parallel `create`s never get the same address or host
//! port. An entry whose container no longer exists (a `create` killed
//! half-way, a state directory removed by hand) is reclaimed on the next
//! reservation.

use crate::{io_err, Error, Network, Networks, PortMapping, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// network name → address → container id.
    #[serde(default)]
    addresses: BTreeMap<String, BTreeMap<String, String>>,
    /// network name → the address handed out last (the next search starts
    /// after it, so a freed address is not reused at once).
    #[serde(default)]
    last: BTreeMap<String, String>,
    /// `proto/host_ip/port` → container id.
    #[serde(default)]
    ports: BTreeMap<String, String>,
}

/// What one container got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// One address per requested network, in order.
    pub ips: Vec<Ipv4Addr>,
}

fn port_key(p: &PortMapping) -> String {
    format!("{}/{}/{}", p.protocol, p.host_ip, p.host_port)
}

fn any_ip(ip: &str) -> bool {
    ip.is_empty() || ip == "0.0.0.0"
}

fn clash(key: &str, p: &PortMapping) -> bool {
    let mut parts = key.splitn(3, '/');
    let (Some(proto), Some(ip), Some(port)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    proto == p.protocol
        && port == p.host_port.to_string()
        && (ip == p.host_ip || any_ip(ip) || any_ip(&p.host_ip))
}

/// Whether the host lets us bind `p`'s address and port now (a host
/// process holding it would never see its traffic once DNAT is in place).
fn bindable(p: &PortMapping) -> std::io::Result<u16> {
    let ip: Ipv4Addr = if any_ip(&p.host_ip) {
        Ipv4Addr::UNSPECIFIED
    } else {
        p.host_ip
            .parse()
            .map_err(|_| std::io::ErrorKind::InvalidInput)?
    };
    let addr = SocketAddrV4::new(ip, p.host_port);
    if p.protocol == "udp" {
        UdpSocket::bind(addr)?.local_addr().map(|a| a.port())
    } else {
        TcpListener::bind(addr)?.local_addr().map(|a| a.port())
    }
}

impl Networks {
    fn state_path(&self) -> std::path::PathBuf {
        self.dir.join("ipam.json")
    }

    fn read_state(&self) -> Result<State> {
        match std::fs::read(self.state_path()) {
            Ok(d) => serde_json::from_slice(&d)
                .map_err(|e| Error::Invalid(format!("{}: {e}", self.state_path().display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(io_err("reading ipam.json")(e)),
        }
    }

    fn write_state(&self, s: &State) -> Result<()> {
        let tmp = self.dir.join(".ipam.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(s).expect("state serialises"))
            .and_then(|()| std::fs::rename(&tmp, self.state_path()))
            .map_err(io_err("writing ipam.json"))
    }

    /// Drops entries of containers that no longer exist.
    fn reclaim(&self, s: &mut State) {
        for m in s.addresses.values_mut() {
            m.retain(|_, id| self.container_exists(id));
        }
        s.ports.retain(|_, id| self.container_exists(id));
    }

    /// Reserves, all or nothing, an address for container `id` on each of
    /// `nets` (the one asked for, or the next free one) and each of its
    /// published ports (host port 0: a free ephemeral port, filled in).
    pub fn reserve(
        &self,
        id: &str,
        nets: &[(Network, Option<Ipv4Addr>)],
        ports: &mut [PortMapping],
    ) -> Result<Reservation> {
        let _lock = self.lock()?;
        let mut s = self.read_state()?;
        self.reclaim(&mut s);
        let mut ips = Vec::new();
        for (net, want) in nets {
            let (cidr, gw) = net.ipv4()?;
            let used = s.addresses.entry(net.name.clone()).or_default();
            let free = |ip: Ipv4Addr| {
                cidr.contains(ip)
                    && ip != cidr.network()
                    && ip != cidr.broadcast()
                    && ip != gw
                    && !used.contains_key(&ip.to_string())
            };
            let ip = match want {
                Some(ip) => {
                    if !cidr.contains(*ip) {
                        return Err(Error::Invalid(format!(
                            "--ip {ip} is not in network {}'s subnet {cidr}",
                            net.name
                        )));
                    }
                    if !free(*ip) {
                        return Err(Error::Conflict(format!(
                            "address {ip} is already in use on network {}",
                            net.name
                        )));
                    }
                    *ip
                }
                None => {
                    let first = u32::from(cidr.network()) + 1;
                    let last = u32::from(cidr.broadcast()) - 1;
                    let after = s
                        .last
                        .get(&net.name)
                        .and_then(|l| l.parse::<Ipv4Addr>().ok())
                        .map(u32::from)
                        .filter(|l| (first..=last).contains(l))
                        .unwrap_or(last);
                    let n = last - first + 1;
                    (1..=n)
                        .map(|k| Ipv4Addr::from(first + (after - first + k) % n))
                        .find(|ip| free(*ip))
                        .ok_or_else(|| {
                            Error::Conflict(format!(
                                "network {} has no free address left in {cidr}",
                                net.name
                            ))
                        })?
                }
            };
            used.insert(ip.to_string(), id.to_string());
            s.last.insert(net.name.clone(), ip.to_string());
            ips.push(ip);
        }
        for i in 0..ports.len() {
            let p = &mut ports[i];
            if p.host_port == 0 {
                let mut found = None;
                for _ in 0..50 {
                    let port = bindable(p).map_err(io_err("finding a free host port"))?;
                    let cand = PortMapping {
                        host_port: port,
                        ..p.clone()
                    };
                    if !s.ports.keys().any(|k| clash(k, &cand)) {
                        found = Some(port);
                        break;
                    }
                }
                p.host_port = found
                    .ok_or_else(|| Error::Conflict("no free ephemeral host port found".into()))?;
            } else {
                if let Some((_, other)) = s.ports.iter().find(|(k, _)| clash(k, p)) {
                    return Err(Error::Conflict(format!(
                        "port {} ({}) is already published by container {}",
                        p.host_port,
                        p.protocol,
                        &other[..12.min(other.len())]
                    )));
                }
                if let Err(e) = bindable(p) {
                    return Err(Error::Conflict(format!(
                        "cannot publish {}:{}/{}: {e}",
                        if any_ip(&p.host_ip) {
                            "0.0.0.0"
                        } else {
                            &p.host_ip
                        },
                        p.host_port,
                        p.protocol
                    )));
                }
            }
            let p = ports[i].clone();
            if ports[..i].iter().any(|q| clash(&port_key(q), &p)) {
                return Err(Error::Conflict(format!(
                    "port {} ({}) is published twice",
                    p.host_port, p.protocol
                )));
            }
        }
        for p in ports.iter() {
            s.ports.insert(port_key(p), id.to_string());
        }
        self.write_state(&s)?;
        Ok(Reservation { ips })
    }

    /// Frees everything container `id` holds (all networks and ports).
    pub fn release(&self, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut s = self.read_state()?;
        for m in s.addresses.values_mut() {
            m.retain(|_, owner| owner != id);
        }
        s.ports.retain(|_, owner| owner != id);
        self.write_state(&s)
    }

    /// Frees container `id`'s address on one network (`disconnect`).
    pub fn release_network(&self, id: &str, network: &str) -> Result<()> {
        let _lock = self.lock()?;
        let mut s = self.read_state()?;
        if let Some(m) = s.addresses.get_mut(network) {
            m.retain(|_, owner| owner != id);
        }
        self.write_state(&s)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Networks, PortMapping, DEFAULT_NETWORK, DEFAULT_SUBNET};

    #[test]
    fn addresses_are_unique_and_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let n = Networks::open(dir.path(), DEFAULT_SUBNET).unwrap();
        let net = n.get(DEFAULT_NETWORK).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..20 {
            let id = format!("{i:064}");
            std::fs::create_dir_all(dir.path().join("containers").join(&id)).unwrap();
            let r = n.reserve(&id, &[(net.clone(), None)], &mut []).unwrap();
            assert!(seen.insert(r.ips[0]), "{:?} twice", r.ips[0]);
            assert_ne!(r.ips[0].to_string(), "10.89.0.1");
        }
        // A container whose directory is gone gives its address back.
        let gone = format!("{:064}", 0);
        std::fs::remove_dir(dir.path().join("containers").join(&gone)).unwrap();
        let taken = "10.89.0.3".parse().unwrap();
        let id = format!("{:064}", 99);
        std::fs::create_dir_all(dir.path().join("containers").join(&id)).unwrap();
        let e = n.reserve(&id, &[(net.clone(), Some(taken))], &mut []);
        assert!(e.is_err());
        let r = n
            .reserve(
                &id,
                &[(net.clone(), Some("10.89.0.2".parse().unwrap()))],
                &mut [],
            )
            .unwrap();
        assert_eq!(r.ips[0].to_string(), "10.89.0.2");
    }

    #[test]
    fn ports_clash_across_containers() {
        let dir = tempfile::tempdir().unwrap();
        let n = Networks::open(dir.path(), DEFAULT_SUBNET).unwrap();
        for id in ["a", "b"] {
            std::fs::create_dir_all(dir.path().join("containers").join(id)).unwrap();
        }
        let p = |ip: &str, port| PortMapping {
            host_ip: ip.into(),
            container_port: 80,
            host_port: port,
            range: 1,
            protocol: "tcp".into(),
        };
        let mut a = vec![p("127.0.0.1", 0)];
        n.reserve("a", &[], &mut a).unwrap();
        assert_ne!(a[0].host_port, 0);
        let mut b = vec![p("", a[0].host_port)];
        let e = n.reserve("b", &[], &mut b).unwrap_err().to_string();
        assert!(e.contains("already published"), "{e}");
        n.release("a").unwrap();
        n.reserve("b", &[], &mut b).unwrap();
    }
}
