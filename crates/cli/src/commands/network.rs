//! `isola network ...` and `isola port`.

use crate::args::*;
use crate::for_each;
use crate::template::Listing;
use anyhow::{bail, Result};
use isola_engine::{Engine, NewNetwork, Status};

pub fn create(engine: &Engine, a: &NetworkCreateArgs) -> Result<i32> {
    if a.driver != "bridge" {
        bail!("network driver {:?} is not supported: use bridge", a.driver);
    }
    let labels = a
        .label
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let n = engine.network_create(NewNetwork {
        name: a.name.clone(),
        subnet: a.subnet.clone(),
        gateway: a.gateway.clone(),
        internal: a.internal,
        labels,
        created: String::new(),
    })?;
    println!("{}", n.id);
    Ok(0)
}

const NETWORKS: Listing = Listing {
    default: "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    headers: &[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
        ("Subnet", "SUBNET"),
        ("Interface", "INTERFACE"),
    ],
};

pub fn ls(engine: &Engine, a: &NetworkLsArgs) -> Result<i32> {
    let filters = crate::filter::Filters::parse(
        &a.filter,
        &["name", "id", "driver", "label", "scope", "type"],
    )?;
    let id = |s: &str| {
        if a.no_trunc {
            s.to_string()
        } else {
            s[..12.min(s.len())].to_string()
        }
    };
    let mut rows = Vec::new();
    // Docker lists its two built-in modes as networks too.
    let builtin = [("host", "host"), ("none", "null")].map(|(name, driver)| {
        // A fixed id per built-in (Docker makes one per daemon).
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        let digest = hex.repeat(64 / hex.len() + 1)[..64].to_string();
        (
            name.to_string(),
            digest,
            driver.to_string(),
            Default::default(),
            String::new(),
            String::new(),
            false,
            false,
        )
    });
    let nets = engine.networks().list()?.into_iter().map(|n| {
        let subnet = n
            .subnets
            .first()
            .map(|s| s.subnet.clone())
            .unwrap_or_default();
        (
            n.name,
            n.id,
            n.driver,
            n.labels,
            subnet,
            n.network_interface,
            n.ipv6_enabled,
            n.internal,
        )
    });
    let mut all: Vec<_> = nets.chain(builtin).collect();
    all.sort_by(|x, y| x.0.cmp(&y.0));
    for (name, nid, driver, labels, subnet, interface, ipv6, internal) in all {
        let labels: std::collections::BTreeMap<String, String> = labels;
        let keep = filters.matches(|k, v| {
            Ok(match k {
                "name" => name.contains(v),
                "id" => nid.starts_with(v),
                "driver" => driver == v,
                "label" => crate::filter::label_matches(&labels, v),
                "scope" => v == "local",
                _ => matches!(
                    (v, name.as_str()),
                    ("builtin", "host" | "none") | ("custom", _)
                ),
            })
        })?;
        if !keep {
            continue;
        }
        if a.quiet {
            println!("{}", id(&nid));
            continue;
        }
        let label_text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(serde_json::json!({
            "ID": id(&nid), "Name": name, "Driver": driver, "Scope": "local",
            "IPv6": ipv6.to_string(), "Internal": internal.to_string(),
            "Labels": label_text.join(","), "CreatedAt": "", "Subnet": subnet, "Interface": interface,
        }));
    }
    if !a.quiet {
        NETWORKS.print(a.format.as_deref(), &rows)?;
    }
    Ok(0)
}

pub fn inspect(engine: &Engine, a: &NetworkInspectArgs) -> Result<i32> {
    let args = InspectArgs {
        format: a.format.clone(),
        kind: None,
        targets: a.networks.clone(),
    };
    crate::inspect_targets(&args, |t| Ok(engine.network_inspect(t)?))
}

pub fn rm(engine: &Engine, a: &NetworkNamesArgs) -> Result<i32> {
    for_each(&a.networks, |n| {
        engine.network_remove(n)?;
        println!("{n}");
        Ok(())
    })
}

pub fn prune(engine: &Engine, _a: &NetworkPruneArgs) -> Result<i32> {
    let removed = engine.network_prune()?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in removed {
            println!("{n}");
        }
    }
    Ok(0)
}

pub fn connect(engine: &Engine, a: &NetworkConnectArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    engine.network_connect(&c, &a.network, a.ip.as_deref(), &a.alias)?;
    Ok(0)
}

pub fn disconnect(engine: &Engine, a: &NetworkDisconnectArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    engine.network_disconnect(&c, &a.network)?;
    Ok(0)
}

/// `isola port CONTAINER [PORT[/PROTO]]`, in Docker's format.
pub fn port(engine: &Engine, a: &PortArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    if c.state.status != Status::Running {
        return Ok(0);
    }
    let want = a.port.as_deref().map(|p| {
        if p.contains('/') {
            p.to_string()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    for p in &c.config.host_config.port_bindings {
        if want.as_deref().is_some_and(|w| w != p.key()) {
            continue;
        }
        found = true;
        let ip = if p.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &p.host_ip
        };
        if want.is_some() {
            println!("{ip}:{}", p.host_port);
        } else {
            println!("{} -> {ip}:{}", p.key(), p.host_port);
        }
    }
    if let (Some(w), false) = (want, found) {
        bail!("no public port '{w}' published for {}", c.name());
    }
    Ok(0)
}
