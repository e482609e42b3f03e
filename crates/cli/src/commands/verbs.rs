//! Issue 13's everyday verbs: rename, restart, pause, unpause, update,
//! stats and events. They fail with exit 1, as Docker's do (125 is only
//! for run/create and for bad flags).

use crate::args::*;
use crate::one_line;
use crate::template::Listing;
use anyhow::Result;
use isola_engine::{Engine, EventFilter, Stats, UpdateOptions};
use std::io::Write;
use std::time::Duration;

/// Runs `f` for each name, printing each error on its own line; exit 1 if
/// any failed, as Docker's multi-container verbs.
fn each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = false;
    for name in names {
        if let Err(e) = f(name) {
            eprintln!("isola: {}", one_line(&e));
            failed = true;
        }
    }
    Ok(i32::from(failed))
}

/// One operation that fails with exit 1.
fn once(f: impl FnOnce() -> Result<()>) -> Result<i32> {
    match f() {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            Ok(1)
        }
    }
}

pub fn rename(engine: &Engine, a: &RenameArgs) -> Result<i32> {
    once(|| Ok(engine.rename(&engine.lookup(&a.container)?, &a.new_name)?))
}

pub fn restart(engine: &Engine, a: &RestartArgs) -> Result<i32> {
    let signal = a
        .signal
        .as_deref()
        .map(isola_engine::parse_signal)
        .transpose()?;
    each(&a.containers, |name| {
        let c = engine.lookup(name)?;
        engine.restart(&c, a.time.map(Duration::from_secs), signal)?;
        println!("{name}");
        Ok(())
    })
}

pub fn pause(engine: &Engine, a: &ContainersArgs) -> Result<i32> {
    each(&a.containers, |name| {
        engine.pause(&engine.lookup(name)?)?;
        println!("{name}");
        Ok(())
    })
}

pub fn unpause(engine: &Engine, a: &ContainersArgs) -> Result<i32> {
    each(&a.containers, |name| {
        engine.unpause(&engine.lookup(name)?)?;
        println!("{name}");
        Ok(())
    })
}

pub fn update(engine: &Engine, a: &UpdateArgs) -> Result<i32> {
    let u = UpdateOptions {
        memory: a.memory,
        memory_swap: a.memory_swap,
        nano_cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        restart: a.restart,
    };
    if u.memory.is_none()
        && u.memory_swap.is_none()
        && u.nano_cpus.is_none()
        && u.cpu_shares.is_none()
        && u.cpuset_cpus.is_none()
        && u.pids_limit.is_none()
        && u.restart.is_none()
    {
        eprintln!("isola: you must provide one or more flags when using this command: see isola update --help");
        return Ok(1);
    }
    each(&a.containers, |name| {
        engine.update(&engine.lookup(name)?, &u)?;
        println!("{name}");
        Ok(())
    })
}

/// Go's `%.Ng`: `n` significant digits, trailing zeros dropped.
fn sig(v: f64, n: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let decimals = (n - 1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `units.HumanSizeWithPrecision(v, 3)`: decimal units.
fn decimal_size(bytes: u64) -> String {
    scaled(
        bytes as f64,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB"],
        3,
    )
}

/// Docker's `units.BytesSize`: binary units, four significant digits.
fn binary_size(bytes: u64) -> String {
    scaled(
        bytes as f64,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB"],
        4,
    )
}

fn scaled(mut v: f64, base: f64, units: &[&str], digits: i32) -> String {
    let mut i = 0;
    while v >= base && i < units.len() - 1 {
        v /= base;
        i += 1;
    }
    format!("{}{}", sig(v, digits), units[i])
}

/// A stats row with Docker CLI's field names (`--format` placeholders).
fn stats_row(s: &Stats, no_trunc: bool) -> serde_json::Value {
    let (rx, tx) = s.net_io();
    let (r, w) = s.block_io();
    let id = if no_trunc {
        s.id.clone()
    } else {
        s.id[..12].to_string()
    };
    serde_json::json!({
        "ID": id,
        "Container": id,
        "Name": s.name.trim_start_matches('/'),
        "CPUPerc": format!("{:.2}%", s.cpu_percent()),
        "MemUsage": format!("{} / {}", binary_size(s.memory_used()), binary_size(s.memory_stats.limit)),
        "MemPerc": format!("{:.2}%", s.memory_percent()),
        "NetIO": format!("{} / {}", decimal_size(rx), decimal_size(tx)),
        "BlockIO": format!("{} / {}", decimal_size(r), decimal_size(w)),
        "PIDs": s.pids_stats.current.to_string(),
    })
}

/// `stats`: Docker's columns.
const STATS: Listing = Listing {
    default: "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
    headers: &[
        ("ID", "CONTAINER ID"),
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ],
};

/// `history`: Docker's columns.
const HISTORY: Listing = Listing {
    default: "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    headers: &[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ],
};

/// `system df`: Docker's columns.
const DF: Listing = Listing {
    default: "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    headers: &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ],
};

pub fn stats(engine: &Engine, a: &StatsArgs) -> Result<i32> {
    let pick = || -> Result<Vec<isola_engine::Container>> {
        if a.containers.is_empty() {
            Ok(engine
                .list()?
                .into_iter()
                .filter(|c| a.all || c.state.status == isola_engine::Status::Running)
                .collect())
        } else {
            a.containers.iter().map(|n| Ok(engine.lookup(n)?)).collect()
        }
    };
    let containers = match pick() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            return Ok(1);
        }
    };
    let sample = |cs: &[isola_engine::Container]| -> Result<Vec<Stats>> {
        cs.iter().map(|c| Ok(engine.stats(c)?)).collect()
    };
    let mut previous = match sample(&containers) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            return Ok(1);
        }
    };
    loop {
        // Docker's CPU % is the share between two samples.
        std::thread::sleep(Duration::from_millis(if a.no_stream { 500 } else { 1000 }));
        let mut now = match sample(&containers) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("isola: {}", one_line(&e));
                return Ok(1);
            }
        };
        for (n, p) in now.iter_mut().zip(&previous) {
            n.follows(p);
        }
        let rows: Vec<serde_json::Value> = now.iter().map(|s| stats_row(s, a.no_trunc)).collect();
        let text = STATS.render(a.format.as_deref(), &rows)?;
        let mut out = std::io::stdout().lock();
        if !a.no_stream {
            // Docker redraws the screen for each sample.
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        let _ = write!(out, "{text}");
        let _ = out.flush();
        if a.no_stream {
            return Ok(0);
        }
        previous = now;
    }
}

/// Docker's default event line: time, type, action, actor id and the
/// attributes in parentheses.
fn event_line(e: &isola_engine::Event) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_nanos(e.time_nano.max(0) as u64);
    let attrs: Vec<String> = e
        .actor
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut line = format!(
        "{} {} {} {}",
        humantime::format_rfc3339_nanos(t),
        e.kind,
        e.action,
        e.actor.id
    );
    if !attrs.is_empty() {
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}

pub fn events(engine: &Engine, a: &EventsArgs) -> Result<i32> {
    let parsed = (|| -> Result<_> {
        let since = a
            .since
            .as_deref()
            .map(isola_engine::parse_time)
            .transpose()?;
        let until = a
            .until
            .as_deref()
            .map(isola_engine::parse_time)
            .transpose()?;
        Ok((since, until, EventFilter::parse(&a.filter)?))
    })();
    let (since, until, filter) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            return Ok(1);
        }
    };
    // Without --since, only what happens from now on, as Docker.
    let since = since.or_else(|| Some(isola_engine::now_nanos()));
    let mut failed = None;
    engine.events(since, until, true, &mut |e| {
        if !filter.matches(e) {
            return true;
        }
        let line = match a.format.as_deref() {
            None => Ok(event_line(e)),
            Some("json") => Ok(serde_json::to_string(e).unwrap_or_default()),
            Some(f) => crate::template::render(f, &serde_json::to_value(e).unwrap_or_default()),
        };
        match line {
            Ok(l) => {
                let mut out = std::io::stdout().lock();
                // A reader that went away ends the stream.
                writeln!(out, "{l}").and_then(|()| out.flush()).is_ok()
            }
            Err(err) => {
                failed = Some(err);
                false
            }
        }
    })?;
    if let Some(e) = failed {
        eprintln!("isola: {}", one_line(&e));
        return Ok(1);
    }
    Ok(0)
}

pub fn attach(engine: &Engine, a: &AttachArgs) -> Result<i32> {
    use std::io::IsTerminal;
    let keys = a
        .detach_keys
        .as_deref()
        .unwrap_or(isola_engine::DEFAULT_DETACH_KEYS);
    let prepared = (|| -> Result<_> {
        let c = engine.lookup(&a.container)?;
        let keys = isola_engine::parse_detach_keys(keys)?;
        Ok((c, keys))
    })();
    let (c, detach_keys) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            return Ok(1);
        }
    };
    let stdin = !a.no_stdin;
    // A terminal container's keys arrive one by one, as Docker's -it.
    let raw = if stdin && c.config.config.tty && std::io::stdin().is_terminal() {
        crate::terminal::RawMode::enable()
    } else {
        None
    };
    if stdin && c.config.config.open_stdin && std::io::stdin().is_terminal() {
        eprintln!("isola: note: input typed here is not passed to the container (only the detach keys {keys} are read)");
    }
    let streams = isola_engine::Streams::own(stdin, true, true)?;
    let opts = isola_engine::AttachOptions {
        detach_keys,
        stdin,
        sig_proxy: a.sig_proxy,
    };
    match engine.attach(&c, &opts, streams) {
        Ok(isola_engine::AttachEnd::Exited(code)) => Ok(code),
        Ok(isola_engine::AttachEnd::Detached) => {
            drop(raw);
            eprintln!("read escape sequence");
            Ok(0)
        }
        Err(e) => {
            eprintln!("isola: {e}");
            Ok(1)
        }
    }
}

/// Docker's "CREATED" column: "2 weeks ago".
fn ago(secs: i64) -> String {
    if secs <= 0 {
        return "N/A".into();
    }
    let t = std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    let d = std::time::SystemTime::now()
        .duration_since(t)
        .unwrap_or_default();
    format!("{} ago", crate::units::human_duration(d))
}

/// Docker's `stringutils.Ellipsis`: at most `n` characters, the last one `…`.
fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

pub fn history(engine: &Engine, a: &HistoryArgs) -> Result<i32> {
    let items = match engine.history(&a.image) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("isola: {e}");
            return Ok(1);
        }
    };
    if a.quiet {
        for i in &items {
            let id = if a.no_trunc || i.id == "<missing>" {
                i.id.clone()
            } else {
                i.id.trim_start_matches("sha256:")[..12].to_string()
            };
            println!("{id}");
        }
        return Ok(0);
    }
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let id = if a.no_trunc || i.id == "<missing>" {
                i.id.clone()
            } else {
                i.id.trim_start_matches("sha256:")[..12].to_string()
            };
            let created_by = i.created_by.replace('\t', " ");
            serde_json::json!({
                "ID": id,
                "CreatedSince": if a.human { ago(i.created) } else { i.created.to_string() },
                "CreatedAt": humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(i.created.max(0) as u64)).to_string(),
                "CreatedBy": if a.no_trunc { created_by } else { ellipsis(&created_by, 45) },
                "Size": if a.human { decimal_size(i.size) } else { i.size.to_string() },
                "Comment": i.comment,
            })
        })
        .collect();
    HISTORY.print(a.format.as_deref(), &rows)?;
    Ok(0)
}

/// Docker asks before pruning unless `-f`; isola has no prompt of its own
/// on a non-terminal, so it asks only on one and refuses otherwise.
fn confirm(what: &str, force: bool) -> bool {
    use std::io::IsTerminal;
    if force {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("isola: {what}: not a terminal to confirm on: add -f to prune without asking");
        return false;
    }
    eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

fn prune_filter(items: &[String]) -> Result<isola_engine::PruneFilter, i32> {
    isola_engine::PruneFilter::parse(items).map_err(|e| {
        eprintln!("isola: {e}");
        1
    })
}

/// A prune's list of what it removed, as Docker prints it.
fn print_removed(title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    println!("{title}");
    for l in lines {
        // Docker's image prune lower-cases rmi's "Untagged:"/"Deleted:".
        println!(
            "{}",
            l.replacen("Untagged: ", "untagged: ", 1)
                .replacen("Deleted: ", "deleted: ", 1)
        );
    }
    println!();
}

pub fn container_prune(engine: &Engine, a: &ContainerPruneArgs) -> Result<i32> {
    let filter = match prune_filter(&a.filter) {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    if !confirm("all stopped containers", a.force) {
        return Ok(1);
    }
    let p = engine.container_prune(&filter)?;
    print_removed("Deleted Containers:", &p.removed);
    println!("Total reclaimed space: {}", decimal_size(p.reclaimed));
    Ok(0)
}

pub fn image_prune(engine: &Engine, a: &ImagePruneArgs) -> Result<i32> {
    let filter = match prune_filter(&a.filter) {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let what = if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !confirm(what, a.force) {
        return Ok(1);
    }
    let p = engine.image_prune(a.all, &filter)?;
    print_removed("Deleted Images:", &p.removed);
    println!("Total reclaimed space: {}", decimal_size(p.reclaimed));
    Ok(0)
}

pub fn system_prune(engine: &Engine, a: &SystemPruneArgs) -> Result<i32> {
    let filter = match prune_filter(&a.filter) {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let mut what = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if a.volumes {
        what.push("all anonymous volumes not used by at least one container");
    }
    what.push(if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    if !confirm(&what.join(", "), a.force) {
        return Ok(1);
    }
    let mut total = 0;
    let c = engine.container_prune(&filter)?;
    print_removed("Deleted Containers:", &c.removed);
    total += c.reclaimed;
    let nets = engine.network_prune()?;
    print_removed("Deleted Networks:", &nets);
    if a.volumes {
        let v = engine.volume_prune_sized(false)?;
        print_removed("Deleted Volumes:", &v.removed);
        total += v.reclaimed;
    }
    let i = engine.image_prune(a.all, &filter)?;
    print_removed("Deleted Images:", &i.removed);
    total += i.reclaimed;
    println!("Total reclaimed space: {}", decimal_size(total));
    Ok(0)
}

pub fn system_df(engine: &Engine, a: &DfArgs) -> Result<i32> {
    let du = match engine.disk_usage() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("isola: {e}");
            return Ok(1);
        }
    };
    let pct = |r: &isola_engine::DiskUsageRow| match (r.reclaimable * 100).checked_div(r.size) {
        Some(p) => format!("{} ({p}%)", decimal_size(r.reclaimable)),
        None => decimal_size(r.reclaimable),
    };
    let row = |kind: &str, r: &isola_engine::DiskUsageRow| {
        serde_json::json!({
            "Type": kind,
            "TotalCount": r.total.to_string(),
            "Active": r.active.to_string(),
            "Size": decimal_size(r.size),
            "Reclaimable": pct(r),
        })
    };
    if a.verbose {
        println!("Images space usage:\n");
        let rows: Vec<Vec<String>> = du
            .image_rows
            .iter()
            .map(|(name, id, size, users)| {
                let (repo, tag) = name
                    .split(", ")
                    .next()
                    .unwrap_or("")
                    .rsplit_once(':')
                    .unwrap_or(("<none>", "<none>"));
                vec![
                    repo.to_string(),
                    tag.to_string(),
                    id.trim_start_matches("sha256:")[..12].to_string(),
                    decimal_size(*size),
                    users.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            crate::table::render(
                &["REPOSITORY", "TAG", "IMAGE ID", "SIZE", "CONTAINERS"],
                &rows
            )
        );
        println!("\nContainers space usage:\n");
        let rows: Vec<Vec<String>> = du
            .container_rows
            .iter()
            .map(|(name, id, image, size, status)| {
                vec![
                    id[..12].to_string(),
                    image.clone(),
                    decimal_size(*size),
                    status.clone(),
                    name.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            crate::table::render(&["CONTAINER ID", "IMAGE", "SIZE", "STATUS", "NAMES"], &rows)
        );
        println!("\nLocal Volumes space usage:\n");
        let rows: Vec<Vec<String>> = du
            .volume_rows
            .iter()
            .map(|(name, users, size)| vec![name.clone(), users.to_string(), decimal_size(*size)])
            .collect();
        print!(
            "{}",
            crate::table::render(&["VOLUME NAME", "LINKS", "SIZE"], &rows)
        );
        println!("\nBuild cache usage: 0B");
        return Ok(0);
    }
    let rows = vec![
        row("Images", &du.images),
        row("Containers", &du.containers),
        row("Local Volumes", &du.volumes),
        row("Build Cache", &isola_engine::DiskUsageRow::default()),
    ];
    DF.print(a.format.as_deref(), &rows)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn docker_units() {
        assert_eq!(super::decimal_size(0), "0B");
        assert_eq!(super::decimal_size(1234), "1.23kB");
        assert_eq!(super::decimal_size(766), "766B");
        assert_eq!(super::binary_size(1_597_440), "1.523MiB");
        assert_eq!(super::binary_size(25_165_824_000), "23.44GiB");
    }
}
