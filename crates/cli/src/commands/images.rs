//! Image verbs: images, rmi, tag, import, load, save, image inspect.

use crate::args::*;
use crate::units::{human_duration, human_size};
use crate::{for_each, table};
use anyhow::{bail, Context, Result};
use isola_engine::Engine;
use std::io::IsTerminal;

pub fn images(engine: &Engine, a: &ImagesArgs) -> Result<i32> {
    let list = engine.images().list()?;
    let short = |id: &str| {
        let hex = id.trim_start_matches("sha256:");
        if a.no_trunc {
            id.to_string()
        } else {
            hex[..12.min(hex.len())].to_string()
        }
    };
    if a.quiet {
        let mut seen = Vec::new();
        for i in &list {
            if !seen.contains(&i.id) {
                println!("{}", short(&i.id));
                seen.push(i.id.clone());
            }
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            let created = i
                .created
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .map_or("N/A".to_string(), |d| format!("{} ago", human_duration(d)));
            let mut row = vec![i.repository.clone(), i.tag.clone()];
            if a.digests {
                let prefix = format!("{}@", i.repository);
                row.push(
                    i.digests
                        .iter()
                        .find_map(|d| d.strip_prefix(&prefix))
                        .unwrap_or("<none>")
                        .to_string(),
                );
            }
            row.extend([short(&i.id), created, human_size(i.size)]);
            row
        })
        .collect();
    let mut header = vec!["REPOSITORY", "TAG"];
    if a.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    print!("{}", table::render(&header, &rows));
    Ok(0)
}

pub fn rmi(engine: &Engine, a: &RmiArgs) -> Result<i32> {
    let containers = engine.list()?;
    let in_use = |id: &str| containers.iter().any(|c| c.config.image_id == id);
    for_each(&a.images, |name| {
        for line in engine.images().remove(name, a.force, &in_use)? {
            println!("{line}");
            image_event(engine, &line);
        }
        Ok(())
    })
}

pub fn tag(engine: &Engine, a: &TagArgs) -> Result<i32> {
    engine.images().tag(&a.source, &a.target)?;
    let id = engine
        .images()
        .resolve(&a.target)
        .map(|i| i.id)
        .unwrap_or_default();
    engine.object_event("image", "tag", &id, &a.target);
    Ok(0)
}

/// The event of one line of `rmi`'s output ("Untagged: x", "Deleted: id").
pub(crate) fn image_event(engine: &Engine, line: &str) {
    match line.split_once(": ") {
        Some(("Untagged", r)) => engine.object_event("image", "untag", r, r),
        Some(("Deleted", id)) => engine.object_event("image", "delete", id, id),
        _ => {}
    }
}

pub fn import(engine: &Engine, a: &ImportArgs) -> Result<i32> {
    let src = if a.source.as_os_str() == "-" {
        std::path::PathBuf::from("/dev/stdin")
    } else {
        a.source.clone()
    };
    let id = engine.images().import(&src, &a.reference, &a.change)?;
    engine.object_event("image", "import", &id, &a.reference);
    println!("{id}");
    Ok(0)
}

pub fn load(engine: &Engine, a: &LoadArgs) -> Result<i32> {
    let loaded = match &a.input {
        Some(path) => {
            let mut f = std::fs::File::open(path).with_context(|| {
                format!("opening {}: check the path given to -i", path.display())
            })?;
            engine.images().load(&mut f)?
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!(
                    "requested load from stdin, but stdin is a terminal: use -i FILE or redirect"
                );
            }
            engine.images().load(&mut std::io::stdin().lock())?
        }
    };
    for r in &loaded {
        engine.object_event("image", "load", r, r);
    }
    if !a.quiet {
        for r in loaded {
            if r.starts_with("sha256:") {
                println!("Loaded image ID: {r}");
            } else {
                println!("Loaded image: {r}");
            }
        }
    }
    Ok(0)
}

pub fn save(engine: &Engine, a: &SaveArgs) -> Result<i32> {
    match &a.output {
        Some(path) => {
            // Write beside the target and rename, so a failed save never
            // leaves a truncated archive under the requested name.
            let tmp = path.with_extension("isola-partial");
            let result = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}: check the directory", tmp.display()))
                .and_then(|mut f| Ok(engine.images().save(&a.images, &mut f)?))
                .map(|()| {
                    for i in &a.images {
                        engine.object_event("image", "save", i, i);
                    }
                })
                .and_then(|()| {
                    std::fs::rename(&tmp, path)
                        .with_context(|| format!("renaming to {}", path.display()))
                });
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to write an image archive to a terminal: use -o FILE or redirect");
            }
            engine
                .images()
                .save(&a.images, &mut std::io::stdout().lock())?;
        }
    }
    Ok(0)
}

pub fn inspect(engine: &Engine, a: &InspectArgs) -> Result<i32> {
    crate::inspect_targets(a, |t| Ok(engine.images().inspect(t)?))
}
