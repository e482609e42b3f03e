//! Image verbs: images, rmi, tag, import, load, save, image inspect.

use crate::args::*;
use crate::for_each;
use crate::template::Listing;
use crate::units::{human_duration, human_size};
use anyhow::{bail, Context, Result};
use isola_engine::Engine;
use std::io::IsTerminal;

const IMAGES: Listing = Listing {
    default: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    headers: &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("VirtualSize", "VIRTUAL SIZE"),
    ],
};

const IMAGE_FILTERS: &[&str] = &["dangling", "reference", "label", "before", "since"];

/// One `images --filter KEY=VALUE`.
fn image_matches(
    engine: &Engine,
    key: &str,
    v: &str,
    i: &isola_image::ImageSummary,
) -> Result<bool> {
    Ok(match key {
        "dangling" => {
            let dangling = i.repository == "<none>" && i.tag == "<none>";
            matches!(v, "true" | "1") == dangling
        }
        "reference" => {
            glob_match(v, &i.repository) || glob_match(v, &format!("{}:{}", i.repository, i.tag))
        }
        "label" => crate::filter::label_matches(&i.labels, v),
        _ => {
            // before / since: another image's creation time.
            let other = engine.images().list()?.into_iter().find(|o| {
                o.id.trim_start_matches("sha256:")
                    .starts_with(v.trim_start_matches("sha256:"))
                    || format!("{}:{}", o.repository, o.tag) == v
                    || (o.repository == v && o.tag == "latest")
            });
            let Some(other) = other else {
                bail!("no such image: {v}");
            };
            match (i.created, other.created) {
                (Some(a), Some(b)) if key == "before" => a < b,
                (Some(a), Some(b)) => a > b,
                _ => false,
            }
        }
    })
}

/// Go's `path.Match` for `*` and `?` (what Docker's reference filter uses),
/// written out because these two wildcards are all it needs.
fn glob_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len())
                .take_while(|&n| !s[..n].contains(&'/'))
                .any(|n| go(rest, &s[n..])),
            Some(('?', rest)) => s.first().is_some_and(|c| *c != '/') && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    go(&p, &s)
}

/// Go's `time.Time.String()` in UTC, as Docker prints `CreatedAt`.
pub(crate) fn go_time(t: std::time::SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
}

pub fn images(engine: &Engine, a: &ImagesArgs) -> Result<i32> {
    let filters = crate::filter::Filters::parse(&a.filter, IMAGE_FILTERS)?;
    let mut list = Vec::new();
    for i in engine.images().list()? {
        let wanted = match a.reference.as_deref() {
            None => true,
            Some(r) => {
                let (repo, tag) = match r.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                    Some((repo, tag)) => (repo, Some(tag)),
                    None => (r, None),
                };
                (glob_match(repo, &i.repository)
                    || glob_match(&format!("docker.io/library/{repo}"), &i.repository))
                    && tag.is_none_or(|t| glob_match(t, &i.tag))
            }
        };
        if wanted && filters.matches(|k, v| image_matches(engine, k, v, &i))? {
            list.push(i);
        }
    }
    // Newest first, as Docker lists them.
    list.sort_by_key(|i| std::cmp::Reverse(i.created));
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
    let rows: Vec<serde_json::Value> = list
        .iter()
        .map(|i| {
            let since = i
                .created
                .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
                .map_or("N/A".to_string(), |d| format!("{} ago", human_duration(d)));
            let prefix = format!("{}@", i.repository);
            let digest = i
                .digests
                .iter()
                .find_map(|d| d.strip_prefix(&prefix))
                .unwrap_or("<none>");
            serde_json::json!({
                "Containers": "N/A",
                "CreatedAt": i.created.map(go_time).unwrap_or_default(),
                "CreatedSince": since,
                "Digest": digest,
                "ID": short(&i.id),
                "Repository": i.repository,
                "SharedSize": "N/A",
                "Size": human_size(i.size),
                "Tag": i.tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(i.size),
            })
        })
        .collect();
    let digests_table =
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
    let format = match a.format.as_deref() {
        None | Some("table") if a.digests => Some(digests_table),
        f => f,
    };
    IMAGES.print(format, &rows)?;
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
