//! The guest's wall clock. The microvm machine has no RTC (`rtc=off`), so
//! the guest starts at the epoch; the host's time in the boot configuration
//! makes file times, `date` and the log's timestamps right.

use crate::error::{Context, Result};
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, clock_settime, ClockId};
use std::time::{Duration, SystemTime};

/// Sets the clock to `host_ns` (nanoseconds since the Unix epoch, taken
/// when the host wrote the configuration, just before it started the VM)
/// plus the time the guest has been booting since, which is most of the
/// difference.
pub fn set_realtime(host_ns: u64) -> Result<()> {
    let booted = clock_gettime(ClockId::CLOCK_BOOTTIME)
        .map(Duration::from)
        .unwrap_or_default();
    let now = Duration::from_nanos(host_ns) + booted;
    let ts = TimeSpec::from_duration(now);
    clock_settime(ClockId::CLOCK_REALTIME, ts).ctx(|| "setting the guest clock".into())
}

/// Now as RFC 3339 in UTC with nanoseconds
/// (`2026-11-27T21:40:00.123456789Z`), as Docker's logs and the engine
/// write times.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}
