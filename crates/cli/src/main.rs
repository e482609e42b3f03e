//! `isola`: the command-line front end. Parsing and output live here; all
//! behaviour lives in `isola-engine`. Errors become one line on stderr and
//! Docker's exit codes (see [`FAILURE_CODES`]): 125 for a bad command line
//! and for `run`/`create`'s engine errors, 1 for every other verb's,
//! 126/127 when the container's command cannot run, otherwise the
//! container's own exit status.

mod args;
mod commands;
mod filter;
mod table;
mod template;
mod terminal;
mod units;

use anyhow::{bail, Result};
use args::{
    Cli, Command, ContainerCommand, ImageCommand, InspectArgs, NetworkCommand, SystemCommand,
};
use clap::{CommandFactory, FromArgMatches};
use commands::{containers, images, network, registry, verbs, volumes};
use isola_engine::{Engine, MonitorOptions};

fn main() {
    // Whatever the caller left open without CLOEXEC (a shell's `exec 9<dir`)
    // must not reach a monitor, a container or QEMU (CVE-2024-21626);
    // descriptors meant for a child are passed explicitly.
    isola_engine::close_inherited_fds();
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Ok((leaf_verb(&m), Cli::from_arg_matches(&m)?)));
    let (verb, mut cli) = match parsed {
        Ok(v) => v,
        Err(e) if e.use_stderr() => {
            // One line, as every other isola error: clap's own rendering
            // spreads a bad value over several.
            let text = e.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .collect();
            eprintln!("isola: {}", line.join(" ").trim_start_matches("error: "));
            std::process::exit(125);
        }
        Err(e) => {
            let _ = e.print();
            std::process::exit(0);
        }
    };
    // `container ls`, `image rm`, ...: the top-level verb under its group.
    cli.command = match cli.command {
        Command::Container(c) => c.into_command(),
        Command::Image(i) => i.into_command(),
        other => other,
    };
    match cli.command {
        // The monitor handles broken pipes itself (a detached reader must
        // not kill the container's owner).
        Command::Monitor(_) => {}
        // The API service writes to clients that may have gone: a broken
        // pipe is an error for that connection, never the end of the service.
        Command::System(SystemCommand::Service(_)) => {}
        // `exec` joins a running container: run it from a sealed copy of
        // the binary (CVE-2019-5736; see isola_runtime_process::exe).
        // (`exec -d` only starts a child `exec`, which seals itself.)
        Command::Exec(ref a) if !a.detach => {
            if let Err(e) = isola_engine::run_from_sealed_binary() {
                eprintln!("isola: {e}");
                std::process::exit(125);
            }
            restore_sigpipe();
        }
        _ => restore_sigpipe(),
    }
    if let Command::System(SystemCommand::Service(a)) = &cli.command {
        // Before anything else: the service is multi-threaded, and the
        // socket is created under a (process-wide) umask.
        let opts = isola_api::ServeOptions {
            root: cli.root.clone(),
            socket: a.uri.clone(),
            idle_timeout: (a.timeout > 0).then(|| std::time::Duration::from_secs(a.timeout)),
        };
        if let Err(e) = isola_api::serve(opts) {
            eprintln!("isola: {e}");
            std::process::exit(125);
        }
        std::process::exit(0);
    }
    let code = match dispatch(&cli) {
        Ok(code) => code,
        // Already reported, one line per failed object.
        Err(e) if e.is::<Reported>() => failure_code(&verb),
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            exit_code(&e, &verb)
        }
    };
    std::process::exit(code);
}

/// Docker's exit code for a verb's failure, by verb: 125 (the engine could
/// not do it) only where Docker uses it, `run` and `create`, whose other
/// codes are the container's; every other verb exits 1, as Docker's CLI
/// does for any failed request. Verbs not listed exit 1.
const FAILURE_CODES: &[(&str, i32)] = &[("run", 125), ("create", 125)];

fn failure_code(verb: &str) -> i32 {
    FAILURE_CODES
        .iter()
        .find(|(v, _)| *v == verb)
        .map_or(1, |(_, code)| *code)
}

/// The verb that runs: `container ls` is `ls`, `image rm` is `rm`.
fn leaf_verb(m: &clap::ArgMatches) -> String {
    match m.subcommand() {
        Some((name @ ("container" | "image"), sub)) => match sub.subcommand_name() {
            Some("create") => "create".into(),
            Some("run") => "run".into(),
            Some(other) => other.into(),
            None => name.into(),
        },
        Some((name, _)) => name.into(),
        None => String::new(),
    }
}

/// A failure already printed (for each of several objects); main exits
/// with the verb's failure code.
#[derive(Debug)]
pub(crate) struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Reported {}

/// Output into a closed pipe (`isola ps | head -1`) ends the command
/// quietly, as it does for other Unix tools, instead of a panic in
/// `println!` (Rust ignores SIGPIPE by default).
fn restore_sigpipe() {
    // SAFETY: installing SIG_DFL runs no handler code.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
}

/// The error and its causes on one line.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// The container's command could not run (126/127) wins over the verb's code.
fn exit_code(e: &anyhow::Error, verb: &str) -> i32 {
    if e.is::<template::ParseError>() {
        return 64;
    }
    match e
        .downcast_ref::<isola_engine::Error>()
        .map(isola_engine::Error::exit_code)
    {
        Some(code @ (126 | 127)) => code,
        _ => failure_code(verb),
    }
}

fn dispatch(cli: &Cli) -> Result<i32> {
    let engine = Engine::open(&cli.root)?;
    match &cli.command {
        Command::Run(a) => containers::run(&engine, a),
        Command::Create(a) => containers::create(&engine, a),
        Command::Start(a) => containers::start(&engine, a),
        Command::Ps(a) => containers::ps(&engine, a),
        Command::Top(a) => containers::top(&engine, a),
        Command::Logs(a) => containers::logs(&engine, a),
        Command::Stop(a) => containers::stop(&engine, a),
        Command::Kill(a) => containers::kill(&engine, a),
        Command::Rm(a) => containers::rm(&engine, a),
        Command::Wait(a) => containers::wait(&engine, a),
        Command::Exec(a) => containers::exec(&engine, a),
        Command::Inspect(a) => inspect(&engine, a),
        Command::Info(a) => info(&engine, a.format.as_deref()),
        Command::Version(a) => version(&engine, a.format.as_deref()),
        Command::Images(a) => images::images(&engine, a),
        Command::Rmi(a) => images::rmi(&engine, a),
        Command::Tag(a) => images::tag(&engine, a),
        Command::Import(a) => images::import(&engine, a),
        Command::Load(a) => images::load(&engine, a),
        Command::Save(a) => images::save(&engine, a),
        Command::Pull(a) => registry::pull(&engine, a),
        Command::Push(a) => registry::push(&engine, a),
        Command::Login(a) => registry::login(&engine, a),
        Command::Logout(a) => registry::logout(a),
        Command::Volume(v) => volumes::volume(&engine, v),
        Command::Cp(a) => containers::cp(&engine, a),
        Command::Export(a) => containers::export(&engine, a),
        Command::Diff(a) => {
            let c = engine.lookup(&a.container)?;
            for (kind, path) in engine.diff(&c)? {
                println!("{kind} {path}");
            }
            Ok(0)
        }
        Command::Commit(a) => {
            let c = engine.lookup(&a.container)?;
            let id = engine.commit(
                &c,
                isola_engine::CommitRequest {
                    reference: a.reference.clone(),
                    changes: a.change.clone(),
                    message: a.message.clone().unwrap_or_default(),
                    author: a.author.clone().unwrap_or_default(),
                },
            )?;
            println!("{id}");
            Ok(0)
        }
        Command::Network(NetworkCommand::Create(a)) => network::create(&engine, a),
        Command::Network(NetworkCommand::Ls(a)) => network::ls(&engine, a),
        Command::Network(NetworkCommand::Inspect(a)) => network::inspect(&engine, a),
        Command::Network(NetworkCommand::Rm(a)) => network::rm(&engine, a),
        Command::Network(NetworkCommand::Prune(a)) => network::prune(&engine, a),
        Command::Network(NetworkCommand::Connect(a)) => network::connect(&engine, a),
        Command::Network(NetworkCommand::Disconnect(a)) => network::disconnect(&engine, a),
        Command::Port(a) => network::port(&engine, a),
        // --- issue 13's everyday verbs ---
        Command::Rename(a) => verbs::rename(&engine, a),
        Command::Restart(a) => verbs::restart(&engine, a),
        Command::Pause(a) => verbs::pause(&engine, a),
        Command::Unpause(a) => verbs::unpause(&engine, a),
        Command::Update(a) => verbs::update(&engine, a),
        Command::Stats(a) => verbs::stats(&engine, a),
        Command::Events(a) => verbs::events(&engine, a),
        Command::Attach(a) => verbs::attach(&engine, a),
        Command::History(a) => verbs::history(&engine, a),
        Command::Image(ImageCommand::Prune(a)) => verbs::image_prune(&engine, a),
        Command::System(SystemCommand::Df(a)) => verbs::system_df(&engine, a),
        Command::System(SystemCommand::Prune(a)) => verbs::system_prune(&engine, a),
        Command::Container(ContainerCommand::Prune(a)) => verbs::container_prune(&engine, a),
        // The others were flattened into their top-level verbs in main.
        Command::Container(_) | Command::Image(_) => unreachable!("command groups are flattened"),
        // --- end of issue 13's verbs ---
        Command::System(SystemCommand::Service(_)) => unreachable!("served before dispatch"),
        Command::Monitor(a) => Ok(engine.run_monitor(
            &a.id,
            MonitorOptions {
                ready_fd: a.ready_fd,
                attach_output: a.attach_output,
                attach_stdin: a.attach_stdin,
            },
        )),
    }
}

/// Runs `f` for each name; errors are printed one per line and the command
/// fails at the end (with the verb's failure code), like Docker's
/// multi-container verbs.
pub(crate) fn for_each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = 0;
    for name in names {
        if let Err(e) = f(name) {
            eprintln!("isola: {}", one_line(&e));
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(Reported.into());
    }
    Ok(0)
}

/// Prints objects as a JSON array, or each through `--format`.
pub(crate) fn inspect_targets(
    a: &InspectArgs,
    mut find: impl FnMut(&str) -> Result<serde_json::Value>,
) -> Result<i32> {
    let mut found = Vec::new();
    let mut failed = false;
    for t in &a.targets {
        match find(t) {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("isola: {}", one_line(&e));
                failed = true;
            }
        }
    }
    match a.format.as_deref() {
        Some(f) if f != "json" => {
            let t = template::Compiled::new(f)?;
            for v in &found {
                // Docker ends the line before reporting a failed template.
                let line = t.render(v);
                println!("{}", line.as_deref().unwrap_or_default());
                line?;
            }
        }
        _ => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    if failed {
        return Err(Reported.into());
    }
    Ok(0)
}

fn inspect(engine: &Engine, a: &InspectArgs) -> Result<i32> {
    let kind = a.kind.as_deref();
    if let Some(k) = kind.filter(|k| !matches!(*k, "container" | "image")) {
        bail!("invalid --type {k:?}: use container or image");
    }
    inspect_targets(a, |t| {
        if kind != Some("image") {
            match engine.lookup(t) {
                Ok(c) => return Ok(engine.inspect(&c)),
                Err(e) if kind == Some("container") => return Err(e.into()),
                Err(_) => {}
            }
        }
        match engine.images().inspect(t) {
            Ok(v) => Ok(v),
            Err(_) if kind.is_none() => {
                bail!("no such object: {t}: list them with 'isola ps -a' or 'isola images'")
            }
            Err(e) => Err(e.into()),
        }
    })
}

/// `info`'s fields under Docker's names where Docker has them, so
/// `info --format '{{.OSType}}'` scripts work.
fn info_document(i: &isola_engine::Info) -> serde_json::Value {
    serde_json::json!({
        "ID": "",
        "Containers": i.containers,
        "ContainersRunning": i.containers_running,
        "ContainersPaused": 0,
        "ContainersStopped": i.containers - i.containers_running,
        "Images": i.images,
        "Driver": "overlay",
        "CgroupVersion": i.cgroup_version,
        "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system,
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "Name": nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
        "DockerRootDir": i.root_dir,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Isolation": i.default_isolation,
        "IsolationSource": i.default_isolation_source,
        "IsolationModes": i.isolation_modes.iter().map(|m| serde_json::json!({
            "Name": m.name, "Available": m.available, "Reason": m.reason,
        })).collect::<Vec<_>>(),
    })
}

fn info(engine: &Engine, format: Option<&str>) -> Result<i32> {
    let i = engine.info()?;
    if let Some(f) = format {
        let doc = info_document(&i);
        match f {
            "json" => println!("{doc}"),
            f => println!("{}", template::render_strict(f, &doc)?),
        }
        return Ok(0);
    }
    println!("Containers: {}", i.containers);
    println!(" Running: {}", i.containers_running);
    println!("Images: {}", i.images);
    println!(
        "Default Isolation: {} (from {})",
        i.default_isolation, i.default_isolation_source
    );
    if !i.isolation_rules.is_empty() {
        println!("Isolation Rules:");
        for (n, r) in i.isolation_rules.iter().enumerate() {
            println!(" {}: image {} -> {}", n + 1, r.image, r.isolation);
        }
    }
    println!("Isolation Modes:");
    for m in &i.isolation_modes {
        if m.available {
            println!(" {}: available ({})", m.name, m.reason);
        } else {
            println!(" {}: unavailable ({})", m.name, m.reason);
        }
    }
    println!("Cgroup Version: {}", i.cgroup_version);
    println!("Kernel Version: {}", i.kernel_version);
    println!("Operating System: {}", i.operating_system);
    println!("Isola Root Dir: {}", i.root_dir);
    Ok(0)
}

/// `version`: Docker's document shape (Client and Server), both isola
/// (daemonless: the CLI is the engine).
fn version(engine: &Engine, format: Option<&str>) -> Result<i32> {
    let i = engine.info()?;
    let part = |name: &str| {
        serde_json::json!({
            "Platform": {"Name": ""},
            "Version": env!("CARGO_PKG_VERSION"),
            "ApiVersion": "1.41",
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a },
            "KernelVersion": i.kernel_version,
            "Name": name,
        })
    };
    let doc = serde_json::json!({"Client": part("isola"), "Server": part("isola engine")});
    match format {
        Some("json") => println!("{doc}"),
        Some(f) => println!("{}", template::render_strict(f, &doc)?),
        None => {
            for (title, key) in [("Client", "Client"), ("Server", "Server")] {
                let p = &doc[key];
                println!("{title}: {}", p["Name"].as_str().unwrap_or_default());
                println!(
                    " Version:           {}",
                    p["Version"].as_str().unwrap_or_default()
                );
                println!(
                    " API version:       {}",
                    p["ApiVersion"].as_str().unwrap_or_default()
                );
                println!(
                    " OS/Arch:           {}/{}",
                    p["Os"].as_str().unwrap_or_default(),
                    p["Arch"].as_str().unwrap_or_default()
                );
            }
        }
    }
    Ok(0)
}
