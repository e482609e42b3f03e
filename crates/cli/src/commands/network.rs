//! `isola network ...` and `isola port`.

use crate::args::*;
use crate::{for_each, table};
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

pub fn ls(engine: &Engine, a: &NetworkLsArgs) -> Result<i32> {
    let nets = engine.networks().list()?;
    let id = |s: &str| {
        if a.no_trunc {
            s.to_string()
        } else {
            s[..12.min(s.len())].to_string()
        }
    };
    if a.quiet {
        for n in &nets {
            println!("{}", id(&n.id));
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = nets
        .iter()
        .map(|n| {
            vec![
                id(&n.id),
                n.name.clone(),
                n.driver.clone(),
                n.subnets
                    .first()
                    .map(|s| s.subnet.clone())
                    .unwrap_or_default(),
                n.network_interface.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &["NETWORK ID", "NAME", "DRIVER", "SUBNET", "INTERFACE"],
            &rows
        )
    );
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
