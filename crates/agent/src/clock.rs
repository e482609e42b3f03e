//! The guest's wall clock. The microvm machine has no RTC (`rtc=off`), so
//! the guest starts at the epoch; the host's time in `CreateContainer`
//! makes file times and `date` in the container right.

use anyhow::{Context, Result};
use nix::sys::time::TimeSpec;
use nix::time::{clock_settime, ClockId};

pub fn set_realtime(unix_ns: u64) -> Result<()> {
    let ts = TimeSpec::new(
        (unix_ns / 1_000_000_000) as libc::time_t,
        (unix_ns % 1_000_000_000) as libc::c_long,
    );
    clock_settime(ClockId::CLOCK_REALTIME, ts).context("setting the guest clock")
}
