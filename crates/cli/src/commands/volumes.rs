//! `isola volume create|ls|inspect|rm|prune`.

use crate::args::{VolumeCommand, VolumeLsArgs};
use crate::for_each;
use crate::template::Listing;
use anyhow::{bail, Result};
use isola_engine::Engine;

pub fn volume(engine: &Engine, cmd: &VolumeCommand) -> Result<i32> {
    match cmd {
        VolumeCommand::Create(a) => {
            if a.driver != "local" {
                bail!(
                    "volume driver {:?} is not available: isola has the \"local\" driver only",
                    a.driver
                );
            }
            let v = engine.volume_create(a.name.as_deref(), &a.label)?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCommand::Ls(a) => ls(engine, a),
        VolumeCommand::Inspect(a) => {
            let mut out = Vec::new();
            let mut missing = None;
            for n in &a.names {
                match engine.volume_inspect(n) {
                    Ok(v) => out.push(v),
                    Err(e) => missing = Some(e),
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            match missing {
                Some(e) => Err(e.into()),
                None => Ok(0),
            }
        }
        VolumeCommand::Rm(a) => for_each(&a.names, |n| {
            engine.volume_remove(n)?;
            println!("{n}");
            Ok(())
        }),
        VolumeCommand::Prune(a) => {
            let removed = engine.volume_prune(a.all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for n in &removed {
                    println!("{n}");
                }
                println!();
            }
            println!("Total reclaimed space: {} volumes", removed.len());
            Ok(0)
        }
    }
}

const VOLUMES: Listing = Listing {
    default: "table {{.Driver}}\t{{.Name}}",
    headers: &[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ],
};

fn ls(engine: &Engine, a: &VolumeLsArgs) -> Result<i32> {
    let filters =
        crate::filter::Filters::parse(&a.filter, &["name", "driver", "label", "dangling"])?;
    let in_use: Vec<String> = engine
        .list()?
        .iter()
        .flat_map(|c| c.config.mounts.iter().map(|m| m.name.clone()))
        .collect();
    let mut rows = Vec::new();
    for v in engine.volume_list() {
        let keep = filters.matches(|k, val| {
            Ok(match k {
                "name" => v.name.contains(val),
                "driver" => v.driver == val,
                "label" => crate::filter::label_matches(&v.labels, val),
                _ => matches!(val, "true" | "1") != in_use.contains(&v.name),
            })
        })?;
        if !keep {
            continue;
        }
        if a.quiet {
            println!("{}", v.name);
            continue;
        }
        let labels: Vec<String> = v.labels.iter().map(|(k, l)| format!("{k}={l}")).collect();
        rows.push(serde_json::json!({
            "Name": v.name, "Driver": v.driver, "Scope": v.scope,
            "Mountpoint": v.mountpoint.display().to_string(), "Labels": labels.join(","),
            "Links": "N/A", "Size": "N/A",
        }));
    }
    if !a.quiet {
        VOLUMES.print(a.format.as_deref(), &rows)?;
    }
    Ok(0)
}
