//! The verbs, the same for both isolation modes: the state store, the
//! exec FIFO, hooks, pid files and the console socket are handled here,
//! everything that depends on the mode by the container's [`Backend`].

use crate::backend::{self, Backend, NewContainer};
use crate::error::{io_err, Error, Result};
use crate::store::{write_pid_file, Isolation, Record, Status, Store, FIFO};
use crate::Command;
use isola_runtime_process::hooks::Hook;
use isola_runtime_process::sys::process_start_time;
use isola_runtime_process::{send_fd, Limits, Stdio};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use oci_spec::runtime::{Process, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The annotation choosing a container's isolation (`process` or `vm`).
pub const ANNOTATION_ISOLATION: &str = "io.isola.isolation";

pub struct Ctx {
    pub store: Store,
    /// `vm` when invoked as `isola-runtime-vm`.
    pub default_isolation: Isolation,
}

/// Runs one verb; the exit status on success.
pub fn dispatch(ctx: &Ctx, command: Command) -> Result<i32> {
    match command {
        Command::Create(a) => create(
            ctx,
            &a.container_id,
            &a.bundle,
            a.console_socket.as_deref(),
            a.pid_file.as_deref(),
            a.preserve_fds,
        )
        .map(|_| 0),
        Command::Start(a) => start(ctx, &a.container_id).map(|()| 0),
        Command::State(a) => {
            let rec = ctx.store.load(&a.container_id)?;
            let status = status(ctx, &rec);
            println!(
                "{}",
                serde_json::to_string_pretty(&rec.state_json(status)).expect("json")
            );
            Ok(0)
        }
        Command::Kill(a) => kill(ctx, &a.container_id, &a.signal, a.all).map(|()| 0),
        Command::Delete(a) => delete(ctx, &a.container_id, a.force).map(|()| 0),
        Command::Run(a) => run(ctx, a),
        Command::Exec(a) => exec(ctx, a),
        Command::Ps(a) => ps(ctx, &a.container_id, &a.format, &a.ps_options).map(|()| 0),
        Command::List(a) => list(ctx, &a.format, a.quiet).map(|()| 0),
        Command::Pause(a) => freeze(ctx, &a.container_id, true).map(|()| 0),
        Command::Resume(a) => freeze(ctx, &a.container_id, false).map(|()| 0),
        Command::Update(a) => update(ctx, a).map(|()| 0),
        Command::Events(a) => events(ctx, &a.container_id, a.stats, a.interval).map(|()| 0),
        Command::Features(_) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features()).expect("json")
            );
            Ok(0)
        }
        Command::Spec(a) => spec(a.bundle.as_deref(), a.rootless).map(|()| 0),
        Command::Checkpoint(_) => Err(Error::Unsupported(
            "checkpoint (there is no CRIU integration): stop the container and create it again"
                .into(),
        )),
    }
}

fn status(ctx: &Ctx, rec: &Record) -> Status {
    let b = backend::of(rec.isolation);
    rec.status(&ctx.store, || b.paused(rec))
}

fn not_running(rec: &Record, status: Status) -> Error {
    Error::State {
        id: rec.id.clone(),
        status: status.as_str(),
        what: "container not running",
    }
}

/// The isolation `spec` asks for: its annotation, else how we were invoked.
fn isolation(ctx: &Ctx, spec: &Spec) -> Result<Isolation> {
    let annotation = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_ISOLATION));
    match annotation.map(String::as_str) {
        None => Ok(ctx.default_isolation),
        Some("process") => Ok(Isolation::Process),
        Some("vm" | "hyperv") => Ok(Isolation::Vm),
        Some(other) => Err(Error::Invalid(format!(
            "annotation {ANNOTATION_ISOLATION}={other:?}: use \"process\" or \"vm\""
        ))),
    }
}

/// The cgroup the spec names (`linux.cgroupsPath`, cgroupfs style),
/// relative to the cgroup root; `isola-runtime/<id>` without one.
fn cgroup_name(spec: &Spec, id: &str) -> Result<String> {
    let path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let Some(path) = path else {
        return Ok(format!("isola-runtime/{id}"));
    };
    let s = path.to_string_lossy();
    if s.contains(':') {
        return Err(Error::Unsupported(format!(
            "the systemd cgroup path {s:?}: configure the caller for cgroupfs \
             (containerd: SystemdCgroup = false)"
        )));
    }
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::Invalid(format!(
            "cgroupsPath {s:?} leaves the cgroup root"
        )));
    }
    Ok(s.trim_start_matches('/').to_string())
}

fn hooks_of(
    spec: &Spec,
    which: fn(&oci_spec::runtime::Hooks) -> &Option<Vec<oci_spec::runtime::Hook>>,
) -> Vec<Hook> {
    spec.hooks()
        .as_ref()
        .and_then(|h| which(h).clone())
        .unwrap_or_default()
        .iter()
        .map(Hook::from)
        .collect()
}

fn run_hooks(hooks: &[Hook], state: &serde_json::Value, what: &str) -> Result<()> {
    let state = state.to_string();
    for h in hooks {
        h.run(&state)
            .map_err(|e| Error::Invalid(format!("{what} {e}")))?;
    }
    Ok(())
}

/// The process's stdio for the container: our own (as runc hands its
/// stdio to the container), or a new terminal for `--console-socket`.
fn stdio_for(terminal: bool, console_socket: Option<&Path>) -> Result<Stdio> {
    match (terminal, console_socket) {
        (true, Some(_)) => Ok(Stdio::Pty { size: None }),
        (true, None) => Err(Error::Invalid(
            "the process asks for a terminal (process.terminal): pass --console-socket".into(),
        )),
        (false, Some(_)) => Err(Error::Invalid(
            "--console-socket given, but the process has no terminal (process.terminal is false)"
                .into(),
        )),
        (false, None) => {
            let dup = |fd: std::os::fd::BorrowedFd<'_>| {
                fd.try_clone_to_owned()
                    .map_err(io_err("duplicating our stdio"))
            };
            Ok(Stdio::Fds {
                stdin: dup(std::io::stdin().as_fd())?,
                stdout: dup(std::io::stdout().as_fd())?,
                stderr: dup(std::io::stderr().as_fd())?,
            })
        }
    }
}

/// Hands the terminal's master to the caller's console socket.
fn send_console(socket: &Path, master: Option<OwnedFd>) -> Result<()> {
    let master = master.ok_or_else(|| Error::Invalid("no terminal was allocated".into()))?;
    let stream = UnixStream::connect(socket).map_err(io_err(format!(
        "connecting to the console socket {}",
        socket.display()
    )))?;
    send_fd(stream.as_fd(), master.as_fd(), b"/dev/ptmx").map_err(|e| Error::Io {
        context: "sending the terminal to the console socket".into(),
        source: e.into(),
    })
}

fn create(
    ctx: &Ctx,
    id: &str,
    bundle: &Path,
    console_socket: Option<&Path>,
    pid_file: Option<&Path>,
    preserve_fds: i32,
) -> Result<Record> {
    crate::store::check_id(id)?;
    if preserve_fds > 0 {
        return Err(Error::Unsupported("--preserve-fds".into()));
    }
    let bundle =
        std::fs::canonicalize(bundle).map_err(io_err(format!("bundle {}", bundle.display())))?;
    let config = bundle.join("config.json");
    let spec =
        Spec::load(&config).map_err(|e| Error::Invalid(format!("{}: {e}", config.display())))?;
    let isolation = isolation(ctx, &spec)?;
    let cgroup = cgroup_name(&spec, id)?;
    let dir = ctx.store.reserve(id)?;
    let me = std::process::id() as i32;
    let mut rec = Record {
        id: id.to_string(),
        dir: dir.clone(),
        bundle: bundle.clone(),
        pid: 0,
        start_time: 0,
        creator: me,
        creator_start_time: process_start_time(me).unwrap_or(0),
        created: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        cgroup,
        isolation,
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    let b = backend::of(isolation);
    // The record comes first, so a `create` killed at any point leaves a
    // container `delete` knows how to clean up.
    let made = ctx
        .store
        .save(&rec)
        .and_then(|()| ctx.store.save_config(id, &spec))
        .and_then(|()| create_in(&*b, &mut rec, &spec, &dir, console_socket, pid_file));
    if let Err(e) = made {
        let _ = b.cleanup(&rec);
        let _ = ctx.store.remove(id);
        return Err(e);
    }
    Ok(rec)
}

fn create_in(
    b: &dyn Backend,
    rec: &mut Record,
    spec: &Spec,
    dir: &Path,
    console_socket: Option<&Path>,
    pid_file: Option<&Path>,
) -> Result<()> {
    let fifo_path = dir.join(FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622)).map_err(|e| Error::Io {
        context: format!("creating {}", fifo_path.display()),
        source: e.into(),
    })?;
    // Writable by the container's user, whoever that is (as runc's).
    std::os::unix::fs::chown(&fifo_path, Some(0), Some(0)).map_err(io_err("chown exec fifo"))?;
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(io_err("chmod exec fifo"))?;
    let fifo = nix::fcntl::open(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::Io {
            context: format!("opening {}", fifo_path.display()),
            source: e.into(),
        })?;
    // SAFETY: open just returned this fd; nothing else owns it.
    let fifo: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fifo) };
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let stdio = stdio_for(terminal, console_socket)?;
    let created = b.create(NewContainer {
        id: &rec.id,
        spec,
        bundle: &rec.bundle,
        dir,
        cgroup: &rec.cgroup,
        fifo: Arc::new(fifo),
        start_hooks: hooks_of(spec, |h| h.start_container()),
        state: rec.state_json(Status::Created).to_string(),
        stdio,
    })?;
    rec.pid = created.pid;
    rec.start_time = created.start_time;
    crate::store::Store {
        root: dir
            .parent()
            .expect("container dir has a parent")
            .to_path_buf(),
    }
    .save(rec)?;
    if let Some(socket) = console_socket {
        send_console(socket, created.pty_master)?;
    }
    if let Some(p) = pid_file {
        write_pid_file(p, rec.pid)?;
    }
    // Hooks of the runtime's namespace, once the container's exist. The
    // init has already entered its root at this point (runc runs them
    // just before its pivot_root): hooks see it through /proc/PID/root.
    let state = rec.state_json(Status::Created);
    run_hooks(&hooks_of(spec, |h| h.prestart()), &state, "prestart")?;
    run_hooks(
        &hooks_of(spec, |h| h.create_runtime()),
        &state,
        "createRuntime",
    )?;
    run_hooks(
        &hooks_of(spec, |h| h.create_container()),
        &state,
        "createContainer",
    )?;
    Ok(())
}

fn start(ctx: &Ctx, id: &str) -> Result<()> {
    let rec = ctx.store.load(id)?;
    let st = status(ctx, &rec);
    if st != Status::Created {
        return Err(Error::State {
            id: id.into(),
            status: st.as_str(),
            what: "only a created container can be started",
        });
    }
    let path = ctx.store.dir(id).join(FIFO);
    let fd = nix::fcntl::open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::Io {
        context: format!("opening {}", path.display()),
        source: e.into(),
    })?;
    // SAFETY: open just returned this fd; nothing else owns it.
    let fd: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    // The init opens its end and writes once it is at its gate; poll so a
    // container that died in between is noticed instead of waited for.
    loop {
        let mut fds = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)).unwrap_or(0);
        if ready > 0 {
            let mut b = [0u8; 1];
            if matches!(
                nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fd), &mut b),
                Ok(1)
            ) {
                break;
            }
        }
        if !rec.alive() {
            return Err(Error::State {
                id: id.into(),
                status: "stopped",
                what: "its init exited before start",
            });
        }
    }
    let _ = std::fs::remove_file(&path);
    // Poststart failures are warnings (runtime-spec): the container runs.
    let spec = ctx.store.config(id)?;
    if let Err(e) = run_hooks(
        &hooks_of(&spec, |h| h.poststart()),
        &rec.state_json(Status::Running),
        "poststart",
    ) {
        eprintln!("isola-runtime: warning: {e}");
    }
    Ok(())
}

fn parse_signal(s: &str) -> Result<Signal> {
    isola_runtime_process::signal::parse_signal(s).ok_or_else(|| {
        Error::Invalid(format!(
            "unknown signal {s:?}: use a name (KILL, SIGTERM) or a number"
        ))
    })
}

fn kill(ctx: &Ctx, id: &str, signal: &str, all: bool) -> Result<()> {
    let signal = parse_signal(signal)?;
    let rec = ctx.store.load(id)?;
    match status(ctx, &rec) {
        Status::Created | Status::Running | Status::Paused => {
            backend::of(rec.isolation).kill(&rec, signal, all)
        }
        st => Err(not_running(&rec, st)),
    }
}

fn delete(ctx: &Ctx, id: &str, force: bool) -> Result<()> {
    let rec = ctx.store.load(id)?;
    let b = backend::of(rec.isolation);
    let st = status(ctx, &rec);
    if st != Status::Stopped {
        if !force {
            return Err(Error::State {
                id: id.into(),
                status: st.as_str(),
                what: "only a stopped container can be deleted: stop it or use --force",
            });
        }
        if st == Status::Paused {
            let _ = b.freeze(&rec, false);
        }
        if rec.pid > 0 {
            let _ = b.kill(&rec, Signal::SIGKILL, false);
        }
    }
    b.cleanup(&rec)?;
    // Poststop hooks need the spec; a create that died before saving it
    // had none to run.
    if let Ok(spec) = ctx.store.config(id) {
        if let Err(e) = run_hooks(
            &hooks_of(&spec, |h| h.poststop()),
            &rec.state_json(Status::Stopped),
            "poststop",
        ) {
            eprintln!("isola-runtime: warning: {e}");
        }
    }
    ctx.store.remove(id)
}

fn run(ctx: &Ctx, a: liboci_cli::Run) -> Result<i32> {
    if a.preserve_fds > 0 {
        return Err(Error::Unsupported("--preserve-fds".into()));
    }
    let rec = create(
        ctx,
        &a.container_id,
        &a.bundle,
        a.console_socket.as_deref(),
        a.pid_file.as_deref(),
        0,
    )?;
    if let Err(e) = start(ctx, &a.container_id) {
        let _ = delete(ctx, &a.container_id, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    // Both backends make the container's PID a child of ours.
    let code = isola_runtime_process::wait_exit_code(rec.pid);
    if !a.keep {
        delete(ctx, &a.container_id, true)?;
    }
    Ok(code)
}

/// The process `exec` runs: `--process`'s, else the container's own with
/// the command line's changes.
fn exec_process(base: &Spec, a: &liboci_cli::Exec) -> Result<Process> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path).map_err(io_err(format!("reading {}", path.display())))?;
        return serde_json::from_slice(&data)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())));
    }
    if a.command.is_empty() {
        return Err(Error::Invalid(
            "exec needs a command after the container id, or --process".into(),
        ));
    }
    let mut p = base.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for (k, v) in &a.env {
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
        env.push(format!("{k}={v}"));
    }
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some((uid, gid)) = a.user {
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(0));
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        return Err(Error::Unsupported(
            "exec --cap (put the capabilities in --process)".into(),
        ));
    }
    Ok(p)
}

fn exec(ctx: &Ctx, a: liboci_cli::Exec) -> Result<i32> {
    if a.preserve_fds > 0 {
        return Err(Error::Unsupported("--preserve-fds".into()));
    }
    let rec = ctx.store.load(&a.container_id)?;
    let st = status(ctx, &rec);
    if !matches!(st, Status::Running | Status::Created) {
        return Err(not_running(&rec, st));
    }
    let mut spec = ctx.store.config(&a.container_id)?;
    let process = exec_process(&spec, &a)?;
    let terminal = process.terminal().unwrap_or(false);
    spec.set_process(Some(process));
    let stdio = stdio_for(terminal, a.console_socket.as_deref())?;
    let b = backend::of(rec.isolation);
    let created = b.exec(&rec, &spec, stdio)?;
    if let Some(socket) = &a.console_socket {
        send_console(socket, created.pty_master)?;
    }
    if let Some(p) = &a.pid_file {
        write_pid_file(p, created.pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    Ok(isola_runtime_process::wait_exit_code(created.pid))
}

fn ps(ctx: &Ctx, id: &str, format: &str, options: &[String]) -> Result<()> {
    let rec = ctx.store.load(id)?;
    let pids = backend::of(rec.isolation).ps(&rec);
    match format {
        "json" => {
            println!("{}", serde_json::to_string(&pids).expect("json"));
            Ok(())
        }
        "table" => {
            let opts: Vec<String> = if options.is_empty() {
                vec!["-ef".into()]
            } else {
                options.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&opts)
                .output()
                .map_err(io_err("running ps"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::Invalid("ps printed no PID column".into()))?;
            println!("{header}");
            for l in lines {
                let pid = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p: i32| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(())
        }
        other => Err(Error::Invalid(format!(
            "ps --format {other:?}: use \"table\" or \"json\""
        ))),
    }
}

fn list(ctx: &Ctx, format: &str, quiet: bool) -> Result<()> {
    let recs: Vec<Record> = ctx
        .store
        .ids()
        .iter()
        .filter_map(|id| ctx.store.load(id).ok())
        .collect();
    if quiet {
        for r in &recs {
            println!("{}", r.id);
        }
        return Ok(());
    }
    if format == "json" {
        let all: Vec<_> = recs.iter().map(|r| r.state_json(status(ctx, r))).collect();
        println!("{}", serde_json::to_string(&all).expect("json"));
        return Ok(());
    }
    println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED");
    for r in &recs {
        let st = status(ctx, r);
        let pid = if st == Status::Stopped { 0 } else { r.pid };
        println!(
            "{}\t{pid}\t{}\t{}\t{}",
            r.id,
            st.as_str(),
            r.bundle.display(),
            r.created
        );
    }
    Ok(())
}

fn freeze(ctx: &Ctx, id: &str, frozen: bool) -> Result<()> {
    let rec = ctx.store.load(id)?;
    let st = status(ctx, &rec);
    let want = if frozen {
        Status::Running
    } else {
        Status::Paused
    };
    if st != want {
        return Err(Error::State {
            id: id.into(),
            status: st.as_str(),
            what: if frozen {
                "only a running container can be paused"
            } else {
                "only a paused container can be resumed"
            },
        });
    }
    backend::of(rec.isolation).freeze(&rec, frozen)
}

fn update(ctx: &Ctx, a: liboci_cli::Update) -> Result<()> {
    let rec = ctx.store.load(&a.container_id)?;
    let st = status(ctx, &rec);
    if st == Status::Stopped {
        return Err(not_running(&rec, st));
    }
    let mut limits = Limits::default();
    if let Some(path) = &a.resources {
        let data = if path == Path::new("-") {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
                .map_err(io_err("reading resources from stdin"))?;
            v
        } else {
            std::fs::read(path).map_err(io_err(format!("reading {}", path.display())))?
        };
        let r: oci_spec::runtime::LinuxResources = serde_json::from_slice(&data)
            .map_err(|e| Error::Invalid(format!("--resources: {e}")))?;
        limits = isola_runtime_process::oci::limits_of(&r);
    }
    let unsupported = [
        ("--blkio-weight", a.blkio_weight.is_some()),
        ("--cpu-rt-period", a.cpu_rt_period.is_some()),
        ("--cpu-rt-runtime", a.cpu_rt_runtime.is_some()),
        ("--cpu-share", a.cpu_share.is_some()),
        ("--cpuset-cpus", a.cpuset_cpus.is_some()),
        ("--cpuset-mems", a.cpuset_mems.is_some()),
        ("--memory-reservation", a.memory_reservation.is_some()),
        ("--memory-swap", a.memory_swap.is_some()),
        ("--l3-cache-schema", a.l3_cache_schema.is_some()),
        ("--mem-bw-schema", a.mem_bw_schema.is_some()),
    ];
    if let Some((flag, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(Error::Unsupported(format!(
            "update {flag} (only memory, CPU quota and pids limits)"
        )));
    }
    if let Some(m) = a.memory {
        limits.memory_bytes = Some(m);
    }
    match (a.cpu_quota, a.cpu_period) {
        (Some(q), p) => limits.nano_cpus = Some(q * 1_000_000_000 / p.unwrap_or(100_000).max(1)),
        (None, Some(_)) => return Err(Error::Invalid("--cpu-period needs --cpu-quota".into())),
        (None, None) => {}
    }
    if let Some(p) = a.pids_limit {
        limits.pids = Some(p);
    }
    backend::of(rec.isolation).update(&rec, &limits)
}

fn events(ctx: &Ctx, id: &str, once: bool, interval: u32) -> Result<()> {
    let rec = ctx.store.load(id)?;
    let b = backend::of(rec.isolation);
    loop {
        if !rec.alive() {
            return Err(not_running(&rec, Status::Stopped));
        }
        let ev = serde_json::json!({"type": "stats", "id": id, "data": b.stats(&rec)});
        println!("{ev}");
        if once {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(interval.max(1) as u64));
    }
}

/// runtime-spec's `features` document: what this runtime implements.
fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "private", "rprivate", "shared", "rshared", "slave", "rslave"],
        "linux": {
            "namespaces": ["pid", "network", "ipc", "uts", "mount", "cgroup"],
            "capabilities": isola_runtime_process::capabilities::known(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG"]},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {
            "io.isola.isolation": "process (default) or vm; `isola-runtime-vm` defaults to vm",
        },
    })
}

fn spec(bundle: Option<&Path>, rootless: bool) -> Result<()> {
    if rootless {
        return Err(Error::Unsupported(
            "spec --rootless (no user namespaces)".into(),
        ));
    }
    let dir = bundle.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let path = dir.join("config.json");
    if path.exists() {
        return Err(Error::Exists(format!(
            "{}: remove it to write a new one",
            path.display()
        )));
    }
    // oci-spec's default is runc's `spec` (an interactive `sh`), named
    // after youki: give it our name.
    let mut spec = Spec::default();
    spec.set_hostname(Some("isola".into()));
    spec.save(&path)
        .map_err(|e| Error::Invalid(format!("writing {}: {e}", path.display())))
}
