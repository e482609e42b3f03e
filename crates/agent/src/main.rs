//! `isola-agent`: PID 1 of an isola container micro-VM.
//!
//! It turns the bare guest kernel into a container host: mounts the kernel
//! file systems, reads the container's configuration from the initramfs,
//! runs exactly one container with `isola-runtime-process` (the same
//! isolation code as host mode, statically linked) and writes its output to
//! the log port and its end to the exit port, so the VM needs no host
//! process besides QEMU. Clients come and go on the control ports to
//! attach, exec, list processes, signal and stop. When the container ends
//! or anything fails, the agent powers the VM off, which ends QEMU: the
//! VM's life is the container's.

mod agent;
mod clock;
mod config;
mod container;
mod control;
mod error;
mod lifecycle;
mod log;
mod outbox;
mod port;
mod power;
mod procs;
mod reaper;
mod record;
mod requests;
mod rootfs;
mod session;
mod status;
mod stdio;
mod system;
mod watch;

fn main() {
    if std::process::id() != 1 {
        eprintln!(
            "isola-agent: must run as PID 1 of an isola VM (the initramfs's /init); \
             it mounts file systems and powers the machine off"
        );
        std::process::exit(2);
    }
    power::install_panic_hook();
    if let Err(e) = run() {
        power::fatal(&e);
    }
    power::off()
}

fn run() -> error::Result<()> {
    system::setup()?;
    record::open()?;
    let boot = config::load(&config::path())?;
    if let Err(e) = clock::set_realtime(boot.container.time_ns) {
        eprintln!("isola-agent: warning: {e}");
    }
    agent::Agent::new(boot)?.run()
}
