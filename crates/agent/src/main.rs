//! `isola-agent`: PID 1 of an isola container micro-VM.
//!
//! It turns the bare guest kernel into a container host: mounts the
//! kernel file systems, finds the virtio-serial control port, greets the
//! host, then runs exactly one container with `isola-runtime-process` (the
//! same isolation code as host mode, statically linked) and relays its
//! stdio, signals, exit code, execs and process list. When the container
//! ends, the host says `Shutdown`, or anything fails, it powers the VM off,
//! which ends QEMU: the VM's life is the container's.

mod agent;
mod channel;
mod clock;
mod container;
mod net;
mod port;
mod power;
mod procs;
mod reaper;
mod rootfs;
mod session;
mod stdio;
mod system;

use anyhow::Result;
use std::time::Duration;

/// How long the control port's name may take to arrive from QEMU.
const PORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the host may take to connect to the port's socket.
const HOST_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    if std::process::id() != 1 {
        eprintln!(
            "isola-agent: must run as PID 1 of an isola VM (the initramfs's /init); \
             it mounts file systems and powers the machine off"
        );
        std::process::exit(2);
    }
    power::install_panic_hook();
    match run() {
        Ok(()) => power::off(),
        Err(e) => power::fatal(&e),
    }
}

fn run() -> Result<()> {
    system::setup()?;
    let port = port::open(port::CONTROL_PORT, PORT_TIMEOUT)?;
    port::wait_for_host(&port, HOST_TIMEOUT)?;
    agent::Agent::new(port)?.run()
}
