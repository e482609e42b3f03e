//! `isola-runtime`: isola as an OCI runtime with runc's command line, so
//! containerd (and through it Kubernetes), Docker and Podman can run
//! containers on isola's process or VM isolation.
//!
//! A second binary rather than a mode of `isola`: this command line is
//! runc's (global `--root`/`--log`, `create`/`start`, exit status 1 on any
//! error) and takes an OCI bundle, while `isola` is Docker's and takes an
//! image; sharing one clap tree would mix the two conventions. The
//! argument definitions are youki's `liboci-cli`, the maintained crate for
//! runc's interface. Invoked as `isola-runtime-vm` (a symlink) it runs
//! every container in a VM, so a Kubernetes `RuntimeClass` needs only a
//! different binary name; the annotation `io.isola.isolation` chooses per
//! container.

mod backend;
mod commands;
mod error;
mod process;
mod store;
mod vm;

use clap::{Parser, Subcommand};
use std::io::Write;

#[derive(Parser, Debug)]
#[command(
    name = "isola-runtime",
    version,
    about = "isola as an OCI runtime (runc's command line)"
)]
struct Cli {
    #[command(flatten)]
    global: liboci_cli::GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Create(liboci_cli::Create),
    Start(liboci_cli::Start),
    State(liboci_cli::State),
    Kill(liboci_cli::Kill),
    Delete(liboci_cli::Delete),
    Run(liboci_cli::Run),
    Exec(liboci_cli::Exec),
    Ps(liboci_cli::Ps),
    #[command(alias = "ls")]
    List(liboci_cli::List),
    Pause(liboci_cli::Pause),
    Resume(liboci_cli::Resume),
    Update(liboci_cli::Update),
    Events(liboci_cli::Events),
    Features(liboci_cli::Features),
    Spec(liboci_cli::Spec),
    /// Refused: isola-runtime has no CRIU integration.
    Checkpoint(liboci_cli::Checkpoint),
}

/// Where errors go besides stderr: runc's `--log` file, which containerd
/// reads to explain a failed call (`--log-format json` as containerd asks).
struct Log {
    file: Option<std::fs::File>,
    json: bool,
}

impl Log {
    fn error(&mut self, msg: &str) {
        eprintln!("isola-runtime: {msg}");
        let Some(f) = self.file.as_mut() else { return };
        let time = humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string();
        let line = if self.json {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={msg:?}")
        };
        let _ = writeln!(f, "{line}");
    }
}

fn main() {
    let cli = Cli::parse();
    let mut log = Log {
        file: cli.global.log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        }),
        json: cli.global.log_format.as_deref() == Some("json"),
    };
    let argv0 = std::env::args().next().unwrap_or_default();
    let vm_by_name = std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("-vm"));
    let ctx = commands::Ctx {
        store: store::Store {
            root: cli
                .global
                .root
                .clone()
                .unwrap_or_else(|| "/run/isola-runtime".into()),
        },
        default_isolation: if vm_by_name {
            store::Isolation::Vm
        } else {
            store::Isolation::Process
        },
    };
    let result = if cli.global.systemd_cgroup {
        Err(error::Error::Unsupported(
            "--systemd-cgroup (isola-runtime manages cgroups through cgroupfs): \
             set SystemdCgroup = false for this runtime in containerd's config, \
             or --cgroup-manager cgroupfs for podman"
                .into(),
        ))
    } else {
        commands::dispatch(&ctx, cli.command)
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            log.error(&e.to_string());
            std::process::exit(1)
        }
    }
}
