//! `isola top` for a VM container: a `ps -ef`-style table of the
//! container's processes, built from the guest's /proc because the host's
//! `ps` cannot see into the VM. PIDs are guest PIDs; times are UTC (the
//! guest has no time zone data).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

pub const HEADER: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One row per PID in `pids` that still exists, in PID order. User names
/// come from the container's /etc/passwd (seen through `/proc/PID/root`).
pub fn table(pids: &[i32]) -> Vec<Vec<String>> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as u64;
    let clock = Clock::read();
    let mut pids = pids.to_vec();
    pids.sort_unstable();
    let mut users: Option<HashMap<u32, String>> = None;
    pids.iter()
        .filter_map(|&pid| {
            let stat = Stat::read(pid)?;
            let uid = effective_uid(pid).unwrap_or(0);
            let users = users.get_or_insert_with(|| passwd_names(pid));
            let user = users.get(&uid).cloned().unwrap_or_else(|| uid.to_string());
            Some(row(pid, user, &stat, &clock, ticks, cmd(pid, &stat)))
        })
        .collect()
}

fn row(pid: i32, user: String, stat: &Stat, clock: &Clock, ticks: u64, cmd: String) -> Vec<String> {
    let cpu_secs = (stat.utime + stat.stime) / ticks;
    let started_secs = stat.start_ticks / ticks;
    let elapsed = clock.uptime_secs.saturating_sub(started_secs);
    let c = ((stat.utime + stat.stime) * 100 / ticks)
        .checked_div(elapsed)
        .unwrap_or(0);
    vec![
        user,
        pid.to_string(),
        stat.ppid.to_string(),
        c.to_string(),
        stime(clock.boot_unix + started_secs, clock.now_unix),
        tty_name(stat.tty_nr),
        cpu_time(cpu_secs),
        cmd,
    ]
}

/// The fields of /proc/PID/stat that the table needs.
struct Stat {
    comm: String,
    ppid: i32,
    tty_nr: u64,
    utime: u64,
    stime: u64,
    start_ticks: u64,
}

impl Stat {
    fn read(pid: i32) -> Option<Stat> {
        parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }
}

fn parse_stat(s: &str) -> Option<Stat> {
    // comm (field 2) is in parentheses and may contain spaces and ')'.
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let f: Vec<&str> = s.get(close + 2..)?.split_whitespace().collect();
    // f[0] is field 3 (state).
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        comm,
        ppid: f.get(1)?.parse().ok()?,
        tty_nr: num(7)?,
        utime: num(14)?,
        stime: num(15)?,
        start_ticks: num(22)?,
    })
}

struct Clock {
    now_unix: u64,
    uptime_secs: u64,
    boot_unix: u64,
}

impl Clock {
    fn read() -> Clock {
        let now_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let uptime_secs = fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split('.').next()?.parse().ok())
            .unwrap_or(0);
        Clock {
            now_unix,
            uptime_secs,
            boot_unix: now_unix.saturating_sub(uptime_secs),
        }
    }
}

fn effective_uid(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn passwd_names(pid: i32) -> HashMap<u32, String> {
    let path = Path::new("/proc")
        .join(pid.to_string())
        .join("root/etc/passwd");
    parse_passwd(&fs::read_to_string(path).unwrap_or_default())
}

fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(Ok(uid))) = (f.first(), f.get(2).map(|u| u.parse::<u32>())) {
            names.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    names
}

fn cmd(pid: i32, stat: &Stat) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        format!("[{}]", stat.comm)
    } else {
        args.join(" ")
    }
}

/// `ps`' TIME: cumulative CPU time as [DD-]HH:MM:SS.
fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// `ps`' STIME: HH:MM for processes started within a day, else MonDD.
fn stime(start_unix: u64, now_unix: u64) -> String {
    let (days, rem) = (start_unix / 86400, start_unix % 86400);
    if now_unix.saturating_sub(start_unix) < 86400 {
        return format!("{:02}:{:02}", rem / 3600, rem / 60 % 60);
    }
    let (_, month, day) = civil_from_days(days as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{}{:02}", MONTHS[(month - 1) as usize], day)
}

/// (year, month 1-12, day 1-31) of days since 1970-01-01 (Howard Hinnant's
/// algorithm), to avoid a date crate for one column.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `ps`' TTY for a `tty_nr` device number.
fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor >= 64 => format!("ttyS{}", minor - 64),
        4 => format!("tty{minor}"),
        5 if minor == 1 => "console".into(),
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line = "42 (a) b (c)) S 1 42 42 34816 42 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1234 1000 10 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.comm, "a) b (c)");
        assert_eq!(s.ppid, 1);
        assert_eq!(tty_name(s.tty_nr), "pts/0");
        assert_eq!((s.utime, s.stime, s.start_ticks), (250, 50, 1234));
    }

    #[test]
    fn formats_like_ps() {
        assert_eq!(cpu_time(3), "00:00:03");
        assert_eq!(cpu_time(86400 + 3661), "1-01:01:01");
        assert_eq!(stime(1_700_000_000, 1_700_000_100), "22:13");
        assert_eq!(stime(1_700_000_000, 1_800_000_000), "Nov14");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((4 << 8) | 64), "ttyS0");
        assert_eq!(tty_name((137 << 8) | 3), "pts/259");
    }

    #[test]
    fn passwd_maps_uids_to_first_name() {
        let names = parse_passwd("root:x:0:0::/root:/bin/sh\nbad\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n");
        assert_eq!(names[&0], "root");
        assert_eq!(names[&65534], "nobody");
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn lists_this_process() {
        let me = std::process::id() as i32;
        let rows = table(&[me, i32::MAX]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].len(), HEADER.len());
        assert_eq!(rows[0][1], me.to_string());
    }
}
