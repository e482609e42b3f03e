//! Container verbs: run, create, start, ps, top, logs, stop, kill, rm,
//! wait, exec.

use crate::args::*;
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
    crate::commands::registry::pull_for_container(engine, &f.image, f.pull, f.platform.as_ref())?;
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
        engine.start(&c, Attach::default(), Streams::default())?;
        println!("{}", c.id());
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

fn command_text(c: &Container, no_trunc: bool) -> String {
    let mut cmd = std::iter::once(c.config.path.as_str())
        .chain(c.config.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = cmd.chars().take(19).collect::<String>() + "…";
    }
    format!("\"{cmd}\"")
}

pub fn ps(engine: &Engine, a: &PsArgs) -> Result<i32> {
    let filters = isola_engine::Filters::parse(&a.filter)?;
    let containers: Vec<Container> = engine
        .list()?
        .into_iter()
        .filter(|c| a.all || c.state.status == Status::Running)
        .filter(|c| filters.matches(c))
        .collect();
    let id = |c: &Container| {
        if a.no_trunc {
            c.id().to_string()
        } else {
            c.id()[..12].to_string()
        }
    };
    if a.quiet {
        for c in &containers {
            println!("{}", id(c));
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = containers
        .iter()
        .map(|c| {
            vec![
                id(c),
                c.config.config.image.clone(),
                command_text(c, a.no_trunc),
                format!("{} ago", human_duration(since(&c.config.created))),
                status_text(c),
                if c.state.status == Status::Running {
                    isola_engine::ports_text(&c.config.host_config.port_bindings)
                } else {
                    String::new()
                },
                c.name().to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table::render(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES"
            ],
            &rows
        )
    );
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
    };
    engine.logs(&c, &opts, &mut std::io::stdout(), &mut std::io::stderr())?;
    Ok(0)
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
