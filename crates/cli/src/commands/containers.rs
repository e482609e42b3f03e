//! Container verbs: run, create, start, ps, top, logs, stop, kill, rm,
//! wait, exec.

use crate::args::*;
use crate::template::Listing;
use crate::terminal::RawMode;
use crate::units::{human_duration, since};
use crate::{for_each, table};
use anyhow::{bail, Context, Result};
use isola_engine::{
    parse_signal, Attach, Container, CreateOptions, Engine, ExecOptions, HealthOptions, LogOptions,
    NetworkOptions, Status, Streams,
};
use std::os::fd::AsFd;
use std::time::Duration;

/// `-e KEY` takes KEY from our environment (dropped when unset), as Docker does.
fn expand_env(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

fn read_env_files(files: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading env file {}: check the path", f.display()))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        env.extend(expand_env(&lines));
    }
    Ok(env)
}

fn create_options(f: &ContainerFlags) -> Result<CreateOptions> {
    let mut env = read_env_files(&f.env_file)?;
    env.extend(expand_env(&f.env));
    Ok(CreateOptions {
        image: f.image.clone(),
        name: f.name.clone(),
        command: f.command.clone(),
        entrypoint: f.entrypoint.clone(),
        env,
        workdir: f.workdir.clone(),
        user: f.user.clone(),
        hostname: f.hostname.clone(),
        tty: f.tty,
        open_stdin: f.interactive,
        read_only: f.read_only,
        memory: f.memory,
        nano_cpus: f.cpus,
        pids_limit: f.pids_limit,
        network: NetworkOptions {
            network: f.network.clone(),
            aliases: f.network_alias.clone(),
            ip: f.ip.clone(),
            publish: f.publish.clone(),
            publish_all: f.publish_all,
            add_hosts: f.add_host.clone(),
            dns: f.dns.clone(),
            dns_search: f.dns_search.clone(),
        },
        isolation: f.isolation.map(|i| i.as_str().to_string()),
        auto_remove: f.rm,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        privileged: f.privileged,
        security_opt: f.security_opt.clone(),
        labels: read_label_files(&f.label_file)?
            .into_iter()
            .chain(f.label.iter().cloned())
            .collect(),
        stop_signal: f.stop_signal.clone(),
        stop_timeout: f.stop_timeout,
        devices: f.device.clone(),
        sysctls: f.sysctl.clone(),
        shm_size: f.shm_size,
        ulimits: f.ulimit.clone(),
        group_add: f.group_add.clone(),
        init: f.init,
        volumes: f.volume.clone(),
        mounts: f.mount.clone(),
        tmpfs: f.tmpfs.clone(),
        restart: f.restart,
        health: HealthOptions {
            cmd: f.health_cmd.clone(),
            interval: f.health_interval,
            timeout: f.health_timeout,
            start_period: f.health_start_period,
            retries: f.health_retries,
            disable: f.no_healthcheck,
        },
        pid_mode: f.pid.clone(),
        ipc_mode: f.ipc.clone(),
        uts_mode: f.uts.clone(),
        memory_swap: f.memory_swap,
        cpu_shares: f.cpu_shares,
        cpuset_cpus: f.cpuset_cpus.clone(),
        oom_kill_disable: f.oom_kill_disable,
        expose: f.expose.clone(),
    })
}

/// `--label-file`: KEY=VALUE lines; blank lines and # comments skipped.
fn read_label_files(files: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut labels = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--label-file {}", f.display()))?;
        labels.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(labels)
}

/// Creates the container, honouring `--cidfile` (which Docker refuses to
/// overwrite: a stale file usually means a script ran twice).
fn create_container(engine: &Engine, f: &ContainerFlags) -> Result<isola_engine::Container> {
    if let Some(p) = &f.cidfile {
        if p.exists() {
            bail!(
                "--cidfile {}: the file exists: remove it or choose another",
                p.display()
            );
        }
    }
    crate::commands::registry::pull_for_container(
        engine,
        &f.image,
        f.pull,
        f.platform.as_ref(),
        f.quiet,
    )?;
    let c = engine.create(create_options(f)?)?;
    if let Some(p) = &f.cidfile {
        if let Err(e) = std::fs::write(p, c.id()) {
            let _ = engine.remove(&c, true, true);
            bail!("--cidfile {}: {e}", p.display());
        }
    }
    Ok(c)
}

pub fn create(engine: &Engine, a: &CreateArgs) -> Result<i32> {
    let c = create_container(engine, &a.flags)?;
    println!("{}", c.id());
    Ok(0)
}

pub fn run(engine: &Engine, a: &RunArgs) -> Result<i32> {
    let c = create_container(engine, &a.flags)?;
    if a.detach {
        // As Docker: the id first (the container exists), then whatever
        // kept it from starting.
        let started = engine.start(&c, Attach::default(), Streams::default());
        println!("{}", c.id());
        started?;
        return Ok(0);
    }
    let attach = if a.attach.is_empty() {
        Attach {
            stdin: a.flags.interactive,
            stdout: true,
            stderr: true,
            sig_proxy: a.sig_proxy,
        }
    } else {
        Attach {
            stdin: a.flags.interactive && a.attach.contains(&StreamArg::Stdin),
            stdout: a.attach.contains(&StreamArg::Stdout),
            stderr: a.attach.contains(&StreamArg::Stderr),
            sig_proxy: a.sig_proxy,
        }
    };
    attach_and_wait(engine, &c, attach)
}

fn attach_and_wait(engine: &Engine, c: &Container, attach: Attach) -> Result<i32> {
    let _raw = (attach.stdin && c.config.config.tty)
        .then(RawMode::enable)
        .flatten();
    // This CLI's own terminal or pipes are the client's streams.
    let streams = Streams::own(attach.stdin, attach.stdout, attach.stderr)?;
    match engine.start(c, attach, streams)? {
        Some(started) => Ok(started.wait(engine)?),
        None => bail!("container {} is already running", c.name()),
    }
}

pub fn start(engine: &Engine, a: &StartArgs) -> Result<i32> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let c = engine.lookup(&a.containers[0])?;
        let attach = Attach {
            stdin: a.interactive,
            stdout: true,
            stderr: true,
            sig_proxy: true,
        };
        return attach_and_wait(engine, &c, attach);
    }
    if a.all_restartable {
        let names: Vec<String> = engine
            .list()?
            .into_iter()
            .filter(|c| c.restarts_at_boot())
            .map(|c| c.name().to_string())
            .collect();
        return for_each(&names, |name| {
            engine.start(&engine.lookup(name)?, Attach::default(), Streams::default())?;
            println!("{name}");
            Ok(())
        });
    }
    for_each(&a.containers, |name| {
        engine.start(&engine.lookup(name)?, Attach::default(), Streams::default())?;
        println!("{name}");
        Ok(())
    })
}

fn status_text(c: &Container) -> String {
    c.status_text()
}

/// Docker's COMMAND cell: the command line cut to 20 characters with an
/// ellipsis (unless --no-trunc), then quoted as Go's `strconv.Quote` does.
fn command_text(c: &Container, no_trunc: bool) -> String {
    // Arguments with spaces in single quotes, as Docker's daemon lists them.
    let quote = |a: &String| {
        if a.contains(' ') {
            format!("'{a}'")
        } else {
            a.clone()
        }
    };
    let mut cmd = std::iter::once(c.config.path.clone())
        .chain(c.config.args.iter().map(quote))
        .collect::<Vec<_>>()
        .join(" ");
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    serde_json::to_string(&cmd).unwrap_or(cmd)
}

const PS: Listing = Listing {
    default: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    headers: &[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
    ],
};

/// Bytes of the files under `dir` (not following links): a container's
/// writable layer for `ps -s`.
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `ps -s`'s SIZE: the writable layer, and with the image's ("virtual").
fn size_text(c: &Container, images: &[isola_image::ImageSummary]) -> String {
    let rw = dir_size(&c.dir.join("upper"));
    let image = images
        .iter()
        .find(|i| i.id == c.config.image_id)
        .map_or(0, |i| i.size);
    format!(
        "{} (virtual {})",
        crate::units::human_size(rw),
        crate::units::human_size(rw + image)
    )
}

/// One `ps` row: Docker's container fields, as strings.
fn ps_row(c: &Container, no_trunc: bool) -> serde_json::Value {
    let cfg = &c.config;
    let id = if no_trunc { c.id() } else { &c.id()[..12] };
    let labels: Vec<String> = cfg
        .config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mounts: Vec<String> = cfg
        .mounts
        .iter()
        .map(|m| {
            if m.name.is_empty() {
                m.source.display().to_string()
            } else {
                m.name.clone()
            }
        })
        .collect();
    let networks = if cfg.host_config.networks.is_empty() {
        cfg.host_config.network_mode.clone()
    } else {
        cfg.host_config
            .networks
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    };
    let created = humantime::parse_rfc3339_weak(&cfg.created).ok();
    serde_json::json!({
        "Command": command_text(c, no_trunc),
        "CreatedAt": created.map(crate::commands::images::go_time).unwrap_or_default(),
        "ID": id,
        "Image": cfg.config.image,
        "Labels": labels.join(","),
        "LocalVolumes": cfg.mounts.iter().filter(|m| m.kind == isola_engine::MountType::Volume).count().to_string(),
        "Mounts": mounts.join(","),
        "Names": c.name(),
        "Networks": networks,
        "Ports": if c.state.status == Status::Running {
            isola_engine::ports_text(&cfg.host_config.port_bindings)
        } else {
            String::new()
        },
        "RunningFor": format!("{} ago", human_duration(since(&cfg.created))),
        "Size": "0B",
        "State": c.status_name(),
        "Status": status_text(c),
    })
}

pub fn ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    let mut filters = isola_engine::Filters::parse(&a.filter)?;
    let mut all = engine.list()?;
    filters.resolve(&all)?;
    // Newest first, as Docker lists them.
    all.sort_by(|x, y| y.config.created.cmp(&x.config.created));
    let every_state = a.all || a.latest || a.last.is_some_and(|n| n > 0);
    let mut containers: Vec<Container> = all
        .into_iter()
        .filter(|c| every_state || c.state.status == Status::Running)
        .filter(|c| filters.matches(c))
        .collect();
    let keep = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n > 0).map(|n| n as usize)
    };
    if let Some(n) = keep {
        containers.truncate(n);
    }
    if a.quiet {
        for c in &containers {
            println!("{}", if a.no_trunc { c.id() } else { &c.id()[..12] });
        }
        return Ok(0);
    }
    let images = if a.size {
        engine.images().list()?
    } else {
        Vec::new()
    };
    let rows: Vec<serde_json::Value> = containers
        .iter()
        .map(|c| {
            let mut row = ps_row(c, a.no_trunc);
            if a.size {
                row["Size"] = size_text(c, &images).into();
            }
            row
        })
        .collect();
    let sized = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";
    // `{{.Label "k"}}` is a method call in Docker; here it is the `label` function.
    let format = a
        .format
        .as_deref()
        .map(|f| f.replace(".Label \"", "label . \""));
    let format = match format.as_deref() {
        None | Some("table") if a.size => Some(sized),
        f => f,
    };
    PS.print(format, &rows)?;
    Ok(0)
}

pub fn top(engine: &Engine, a: &TopArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    let top = engine.top(&c, &a.ps_args)?;
    let titles: Vec<&str> = top.titles.iter().map(String::as_str).collect();
    print!("{}", table::render(&titles, &top.processes));
    Ok(0)
}

pub fn logs(engine: &Engine, a: &LogsArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    let tail =
        match a.tail.as_str() {
            "all" => None,
            n => Some(n.parse().with_context(|| {
                format!("invalid --tail {n:?}: use a number of lines or \"all\"")
            })?),
        };
    let opts = LogOptions {
        follow: a.follow,
        tail,
        timestamps: a.timestamps,
        details: a.details,
        since: a.since.as_deref().map(log_time).transpose()?,
        until: a.until.as_deref().map(log_time).transpose()?,
    };
    engine.logs(&c, &opts, &mut std::io::stdout(), &mut std::io::stderr())?;
    Ok(0)
}

/// `--since`/`--until` as Docker takes them: an RFC 3339 time, Unix
/// seconds, or a duration back from now (`42m`).
fn log_time(s: &str) -> Result<std::time::SystemTime> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(std::time::UNIX_EPOCH + Duration::from_secs_f64(secs.max(0.0)));
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(std::time::SystemTime::now() - d),
        Err(_) => bail!(
            "invalid time {s:?}: use an RFC 3339 time (2013-01-02T13:23:37Z), Unix seconds or a duration (42m)"
        ),
    }
}

pub fn stop(engine: &Engine, a: &StopArgs) -> Result<i32> {
    for_each(&a.containers, |name| {
        engine.stop(&engine.lookup(name)?, a.time.map(Duration::from_secs))?;
        println!("{name}");
        Ok(())
    })
}

pub fn kill(engine: &Engine, a: &KillArgs) -> Result<i32> {
    let sig = parse_signal(&a.signal)?;
    for_each(&a.containers, |name| {
        engine.kill(&engine.lookup(name)?, sig)?;
        println!("{name}");
        Ok(())
    })
}

pub fn rm(engine: &Engine, a: &RmArgs) -> Result<i32> {
    for_each(&a.containers, |name| {
        let c = match engine.lookup(name) {
            // As Docker: `rm -f` of what is already gone says so but does
            // not fail, so teardown scripts can run it unconditionally.
            Err(e @ isola_engine::Error::NoSuchContainer(_)) if a.force => {
                eprintln!("isola: {e}");
                return Ok(());
            }
            other => other?,
        };
        engine.remove(&c, a.force, a.volumes)?;
        println!("{name}");
        Ok(())
    })
}

pub fn wait(engine: &Engine, a: &ContainersArgs) -> Result<i32> {
    for_each(&a.containers, |name| {
        let code = engine.wait(&engine.lookup(name)?)?;
        println!("{code}");
        Ok(())
    })
}

pub fn exec(engine: &Engine, a: &ExecArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    if a.detach {
        return exec_detached(engine, &c, a);
    }
    let _raw = (a.interactive && a.tty).then(RawMode::enable).flatten();
    let opts = ExecOptions {
        command: a.command.clone(),
        interactive: a.interactive,
        tty: a.tty,
        env: expand_env(&a.env),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
    };
    let streams = Streams::own(a.interactive, true, true)?;
    Ok(engine.exec(&c, &opts, streams)?)
}

/// `exec -d`: the same `exec` without -d, run by a child in its own
/// process group with no terminal or pipes of ours (a daemonless engine
/// has no daemon to leave it with); returns once it started.
fn exec_detached(engine: &Engine, c: &Container, a: &ExecArgs) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    if c.state.status != Status::Running {
        bail!("container {} is not running", c.id());
    }
    let mut args: Vec<String> = vec![
        "--root".into(),
        engine.root().display().to_string(),
        "exec".into(),
    ];
    for e in expand_env(&a.env) {
        args.extend(["-e".into(), e]);
    }
    if let Some(w) = &a.workdir {
        args.extend(["-w".into(), w.clone()]);
    }
    if let Some(u) = &a.user {
        args.extend(["-u".into(), u.clone()]);
    }
    args.push(c.id().to_string());
    args.extend(a.command.iter().cloned());
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // Its own process group: the caller's Ctrl-C does not reach it.
    cmd.process_group(0);
    cmd.spawn().context("starting the detached exec")?;
    Ok(0)
}

/// Docker's reading of a `cp` operand: `NAME:PATH` is in a container,
/// unless it starts like a host path (`/`, `.`); `-` is stdin/stdout.
fn cp_operand(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

fn host_end(p: &str) -> isola_engine::HostEnd {
    if p == "-" {
        isola_engine::HostEnd::Stdio
    } else {
        isola_engine::HostEnd::Path(p.into())
    }
}

pub fn cp(engine: &Engine, a: &CpArgs) -> Result<i32> {
    match (cp_operand(&a.source), cp_operand(&a.destination)) {
        ((Some(c), src), (None, dest)) => {
            let c = engine.lookup(c)?;
            engine.copy_from(&c, src, &host_end(dest), a.archive)?;
        }
        ((None, src), (Some(c), dest)) => {
            let c = engine.lookup(c)?;
            engine.copy_to(&c, &host_end(src), dest, a.archive)?;
        }
        ((Some(_), _), (Some(_), _)) => {
            bail!("cp: copying between containers is not supported: copy to the host first")
        }
        _ => bail!("cp: one of SOURCE and DESTINATION must be CONTAINER:PATH"),
    }
    Ok(0)
}

pub fn export(engine: &Engine, a: &ExportArgs) -> Result<i32> {
    let c = engine.lookup(&a.container)?;
    let out: std::os::fd::OwnedFd = match &a.output {
        Some(p) => std::fs::File::create(p)
            .with_context(|| format!("--output {}", p.display()))?
            .into(),
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!(
                    "export: refusing to write a tar to a terminal: use -o FILE or redirect stdout"
                );
            }
            std::io::stdout().as_fd().try_clone_to_owned()?
        }
    };
    engine.export(&c, out)?;
    Ok(0)
}
