//! `isola volume create|ls|inspect|rm|prune`.

use crate::args::{VolumeCommand, VolumeLsArgs};
use crate::{for_each, table};
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

fn ls(engine: &Engine, a: &VolumeLsArgs) -> Result<i32> {
    let list = engine.volume_list();
    if a.quiet {
        for v in &list {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| vec![v.driver.clone(), v.name.clone()])
        .collect();
    print!("{}", table::render(&["DRIVER", "VOLUME NAME"], &rows));
    Ok(0)
}
