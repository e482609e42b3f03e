//! Ending the VM. The guest has no ACPI, so the agent ends QEMU the only
//! way that works there: `reboot(RB_AUTOBOOT)`, which QEMU's `-no-reboot`
//! turns into an exit. Every path out of the agent goes through here, so a
//! failing guest never leaves a QEMU process idling, and never without an
//! exit record.

use crate::record;
use nix::sys::reboot::{reboot, RebootMode};

/// Flushes file systems and ends the VM.
pub fn off() -> ! {
    nix::unistd::sync();
    let err = reboot(RebootMode::RB_AUTOBOOT).unwrap_err();
    // Exiting PID 1 panics the kernel, and `panic=-1` reboots it: the VM
    // still ends.
    eprintln!("isola-agent: reboot failed ({err}); exiting to panic the kernel");
    std::process::exit(1)
}

/// Prints one line to the serial console, records the failure as exit
/// code 125 (unless the container's own record was written) and ends the VM.
pub fn fatal(err: &crate::error::Error) -> ! {
    let line = err.to_string().replace('\n', " ");
    eprintln!("isola-agent: fatal: {line}");
    record::write(125, false, &format!("isola-agent: {line}"));
    off()
}

/// Makes a panic end the VM like any other fatal error, with its message
/// on the console and in the exit record, instead of unwinding out of PID 1.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let line = info.to_string().replace('\n', " ");
        eprintln!("isola-agent: fatal: panic: {line}");
        record::write(125, false, &format!("isola-agent panicked: {line}"));
        off()
    }));
}
