//! `isola`: the command-line front end. Parsing and output live here; all
//! behaviour lives in `isola-engine`. Errors become one line on stderr and
//! Docker's exit codes: 125 for engine errors, 126/127 when the container's
//! command cannot run, otherwise the container's own exit status.

mod args;
mod commands;
mod table;
mod template;
mod terminal;
mod units;

use anyhow::{bail, Result};
use args::{
    Cli, Command, ContainerCommand, ImageCommand, InspectArgs, NetworkCommand, SystemCommand,
};
use clap::Parser;
use commands::{containers, images, network, registry, verbs, volumes};
use isola_engine::{Engine, MonitorOptions};

fn main() {
    // Whatever the caller left open without CLOEXEC (a shell's `exec 9<dir`)
    // must not reach a monitor, a container or QEMU (CVE-2024-21626);
    // descriptors meant for a child are passed explicitly.
    isola_engine::close_inherited_fds();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
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
    match cli.command {
        // The monitor handles broken pipes itself (a detached reader must
        // not kill the container's owner).
        Command::Monitor(_) => {}
        // The API service writes to clients that may have gone: a broken
        // pipe is an error for that connection, never the end of the service.
        Command::System(SystemCommand::Service(_)) => {}
        // `exec` joins a running container: run it from a sealed copy of
        // the binary (CVE-2019-5736; see isola_runtime_process::exe).
        Command::Exec(_) => {
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
        Err(e) => {
            eprintln!("isola: {}", one_line(&e));
            exit_code(&e)
        }
    };
    std::process::exit(code);
}

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

fn exit_code(e: &anyhow::Error) -> i32 {
    e.downcast_ref::<isola_engine::Error>()
        .map_or(125, isola_engine::Error::exit_code)
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
        Command::Info => info(&engine),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::images(&engine, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::rmi(&engine, a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(&engine, a),
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
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            verbs::history(&engine, a)
        }
        Command::Image(ImageCommand::Prune(a)) => verbs::image_prune(&engine, a),
        Command::System(SystemCommand::Df(a)) => verbs::system_df(&engine, a),
        Command::System(SystemCommand::Prune(a)) => verbs::system_prune(&engine, a),
        Command::Container(ContainerCommand::Prune(a)) => verbs::container_prune(&engine, a),
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
/// fails at the end (exit 125), like Docker's multi-container verbs.
pub(crate) fn for_each(names: &[String], mut f: impl FnMut(&str) -> Result<()>) -> Result<i32> {
    let mut failed = 0;
    for name in names {
        if let Err(e) = f(name) {
            eprintln!("isola: {}", one_line(&e));
            failed += 1;
        }
    }
    Ok(if failed > 0 { 125 } else { 0 })
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
    match &a.format {
        Some(f) => {
            for v in &found {
                println!("{}", template::render(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    Ok(if failed { 125 } else { 0 })
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

fn info(engine: &Engine) -> Result<i32> {
    let i = engine.info()?;
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
