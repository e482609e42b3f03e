//! A port of a subset of opencontainers/runtime-tools' validation cases
//! (`validation/*`, as youki's `tests/contest` ports them): each case is a
//! bundle plus a check, run against isola-runtime and runc in the same
//! run. The table of both is printed; the test fails when isola-runtime
//! fails a case runc passes. (Upstream's Go suite needs modules from the
//! internet to build, which this machine cannot reach.)

use isola_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How a case decides: a script in the container must exit 0, or a check
/// on the host while the container is created (not started).
enum Check {
    Inside(&'static str),
    Created(fn(&Path, &str) -> Result<(), String>),
}

struct Case {
    name: &'static str,
    edit: fn(&mut Value, &Path),
    check: Check,
}

fn read_cg(ctrl: &str, path: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/{path}/{file}"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/{path}/{file}")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn cases() -> Vec<Case> {
    vec![
        Case { name: "default (process runs, exit 0)", edit: |_, _| {}, check: Check::Inside("true") },
        Case { name: "process.args via PATH", edit: |_, _| {}, check: Check::Inside("ls / >/dev/null") },
        Case { name: "hostname", edit: |s, _| s["hostname"] = json!("conform"), check: Check::Inside("[ \"$(hostname)\" = conform ]") },
        Case { name: "process.env", edit: |s, _| s["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=bar baz"]), check: Check::Inside("[ \"$FOO\" = 'bar baz' ]") },
        Case { name: "process.cwd", edit: |s, _| s["process"]["cwd"] = json!("/tmp"), check: Check::Inside("[ \"$(pwd)\" = /tmp ]") },
        Case { name: "process.user uid/gid", edit: |s, _| s["process"]["user"] = json!({"uid": 1000, "gid": 1001}), check: Check::Inside("[ $(id -u) = 1000 ] && [ $(id -g) = 1001 ]") },
        Case { name: "process.user additionalGids", edit: |s, _| s["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [5, 7]}), check: Check::Inside("id -G | grep -qw 5 && id -G | grep -qw 7") },
        Case { name: "root.readonly", edit: |s, _| s["root"]["readonly"] = json!(true), check: Check::Inside("! touch /x 2>/dev/null") },
        Case { name: "root read-write", edit: |s, _| s["root"]["readonly"] = json!(false), check: Check::Inside("touch /x && rm /x") },
        Case { name: "linux.maskedPaths", edit: |s, _| s["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/sys/firmware"]), check: Check::Inside("[ -z \"$(cat /proc/timer_list)\" ] && [ -z \"$(ls /sys/firmware)\" ]") },
        Case { name: "linux.readonlyPaths", edit: |s, _| s["linux"]["readonlyPaths"] = json!(["/proc/sys"]), check: Check::Inside("! echo x 2>/dev/null > /proc/sys/kernel/domainname") },
        Case { name: "mounts: tmpfs with options", edit: |s, _| s["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=700"]})), check: Check::Inside("grep ' /mnt/t tmpfs ' /proc/mounts | grep -q nosuid && [ $(stat -c %a /mnt/t) = 700 ]") },
        Case { name: "mounts: read-only bind", edit: |s, b| {
            std::fs::create_dir_all(b.join("shared")).unwrap();
            std::fs::write(b.join("shared/f"), "hello").unwrap();
            s["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/b", "type": "bind", "source": b.join("shared"), "options": ["rbind", "ro"]}));
        }, check: Check::Inside("[ \"$(cat /mnt/b/f)\" = hello ] && ! touch /mnt/b/x 2>/dev/null") },
        Case { name: "process.rlimits", edit: |s, _| s["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1234, "soft": 1000}]), check: Check::Inside("[ $(ulimit -n) = 1000 ] && [ $(ulimit -Hn) = 1234 ]") },
        Case { name: "process.capabilities (no CAP_CHOWN)", edit: |s, _| {
            for set in ["bounding", "effective", "permitted"] {
                s["process"]["capabilities"][set] = json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"]);
            }
        }, check: Check::Inside("! chown 1 /tmp 2>/dev/null") },
        Case { name: "process.noNewPrivileges", edit: |s, _| s["process"]["noNewPrivileges"] = json!(true), check: Check::Inside("grep -q 'NoNewPrivs:[[:space:]]*1' /proc/self/status") },
        Case { name: "process.oomScoreAdj", edit: |s, _| s["process"]["oomScoreAdj"] = json!(500), check: Check::Inside("[ $(cat /proc/self/oom_score_adj) = 500 ]") },
        Case { name: "pid namespace", edit: |_, _| {}, check: Check::Inside("[ $$ = 1 ]") },
        Case { name: "network namespace (only lo)", edit: |_, _| {}, check: Check::Inside("[ \"$(ls /sys/class/net)\" = lo ]") },
        Case { name: "linux.sysctl", edit: |s, _| s["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"}), check: Check::Inside("[ $(cat /proc/sys/net/ipv4/ip_forward) = 1 ]") },
        Case { name: "default devices", edit: |_, _| {}, check: Check::Inside("for d in null zero full random urandom tty; do [ -c /dev/$d ] || exit 1; done; [ -L /dev/fd ] && [ -e /dev/ptmx ]") },
        Case { name: "linux.devices", edit: |s, _| {
            s["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}]);
            s["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}));
        }, check: Check::Inside("[ -c /dev/mynull ] && echo x > /dev/mynull") },
        Case { name: "/dev/shm and /dev/mqueue mounted", edit: |_, _| {}, check: Check::Inside("grep -q ' /dev/shm tmpfs' /proc/mounts && grep -q ' /dev/mqueue mqueue' /proc/mounts") },
        Case { name: "linux.resources.memory (cgroupsPath)", edit: |s, _| s["linux"]["resources"]["memory"] = json!({"limit": 67108864}), check: Check::Created(|_, cg| {
            let v = read_cg("memory", cg, "memory.limit_in_bytes");
            let v2 = read_cg("memory", cg, "memory.max");
            if v == "67108864" || v2 == "67108864" { Ok(()) } else { Err(format!("memory limit {v:?}{v2:?}")) }
        }) },
        Case { name: "linux.resources.pids", edit: |s, _| s["linux"]["resources"]["pids"] = json!({"limit": 42}), check: Check::Created(|_, cg| {
            let v = read_cg("pids", cg, "pids.max");
            if v == "42" { Ok(()) } else { Err(format!("pids.max {v:?}")) }
        }) },
        Case { name: "linux.resources.cpu quota", edit: |s, _| s["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000}), check: Check::Created(|_, cg| {
            let v = read_cg("cpu", cg, "cpu.cfs_quota_us");
            let v2 = read_cg("cpu", cg, "cpu.max");
            if v == "50000" || v2.starts_with("50000") { Ok(()) } else { Err(format!("quota {v:?}{v2:?}")) }
        }) },
        Case { name: "prestart hook runs before start", edit: |s, b| {
            s["hooks"] = json!({"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/prestart.state", b.display())]}]});
        }, check: Check::Created(|b, _| {
            let st = std::fs::read_to_string(b.join("prestart.state")).map_err(|e| e.to_string())?;
            if st.contains("\"pid\"") { Ok(()) } else { Err(st) }
        }) },
        Case { name: "state: created has the init's PID", edit: |_, _| {}, check: Check::Created(|_, _| Ok(())) },
        Case { name: "linux.uidMappings (user namespace)", edit: |s, _| {
            s["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
            s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        }, check: Check::Inside("grep -q 100000 /proc/self/uid_map") },
    ]
}

/// Runs one case with `runtime`; Err says why it failed.
fn run_case(runtime: &Path, case: &Case, n: usize) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("isola-conform-")
        .tempdir()
        .unwrap();
    let b = dir.path();
    let st = Command::new("cp")
        .arg("-a")
        .arg(busybox_rootfs())
        .arg(b.join("rootfs"))
        .status()
        .unwrap();
    assert!(st.success());
    let spec_out = Command::new(runtime)
        .arg("spec")
        .current_dir(b)
        .output()
        .unwrap();
    assert!(
        spec_out.status.success(),
        "{} spec: {}",
        runtime.display(),
        stderr(&spec_out)
    );
    let mut spec: Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["env"] = json!(["PATH=/bin:/usr/bin:/sbin"]);
    let id = format!(
        "conform-{}-{n}-{}",
        std::process::id(),
        runtime.file_name().unwrap().to_string_lossy()
    );
    let cg = format!("/isola-conform/{id}");
    spec["linux"]["cgroupsPath"] = json!(cg);
    if spec["linux"]["resources"]["devices"].is_null() {
        spec["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    }
    (case.edit)(&mut spec, b);
    let root = b.join("state");
    let rt = |args: &[&str]| {
        let mut c = Command::new(runtime);
        c.arg("--root").arg(&root).args(args).stdin(Stdio::null());
        c.stdout(std::fs::File::create(b.join("out")).unwrap());
        c.stderr(std::fs::File::create(b.join("err")).unwrap());
        c
    };
    let why = || {
        format!(
            "{}{}",
            std::fs::read_to_string(b.join("out")).unwrap_or_default(),
            std::fs::read_to_string(b.join("err")).unwrap_or_default()
        )
        .trim()
        .replace('\n', " ")
    };
    let bundle = b.to_str().unwrap();
    let result = match &case.check {
        Check::Inside(script) => {
            spec["process"]["args"] = json!(["sh", "-c", script]);
            std::fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
            let st = rt(&["run", "--bundle", bundle, &id]).status().unwrap();
            if st.success() {
                Ok(())
            } else {
                Err(format!("{st}: {}", why()))
            }
        }
        Check::Created(check) => {
            spec["process"]["args"] = json!(["true"]);
            std::fs::write(b.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
            let st = rt(&["create", "--bundle", bundle, &id]).status().unwrap();
            let r = if !st.success() {
                Err(format!("create: {}", why()))
            } else {
                let out = Command::new(runtime)
                    .arg("--root")
                    .arg(&root)
                    .args(["state", &id])
                    .output()
                    .unwrap();
                let state: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                if state["status"] != "created" || state["pid"].as_i64().unwrap_or(0) <= 0 {
                    Err(format!("state after create: {state}"))
                } else {
                    check(b, &cg)
                }
            };
            let _ = rt(&["delete", "--force", &id]).status();
            r
        }
    };
    // Whatever the case did, leave nothing.
    let _ = rt(&["delete", "--force", &id]).status();
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(ctrl.path().join(cg.trim_start_matches('/')));
    }
    result
}

/// Cases runc passes that isola-runtime does not, by design of this
/// round: it refuses them by name instead of running them differently.
/// Listed so the table shows them and the test still fails on any other.
const KNOWN_GAPS: &[&str] = &["linux.uidMappings (user namespace)"];

#[test]
fn runtime_tools_validation_subset_isola_runtime_passes_what_runc_passes() {
    let isola = runtime_bin();
    let runc = which("runc")
        .expect("runc is not installed: run scripts/deps.sh runc (scripts/test.sh does)");
    let mut table = String::from("| case | isola-runtime | runc |\n|---|---|---|\n");
    let (mut pass_i, mut pass_r, mut regressions) = (0, 0, Vec::new());
    for (n, case) in cases().iter().enumerate() {
        let i = run_case(&isola, case, n);
        let r = run_case(&runc, case, n);
        pass_i += i.is_ok() as usize;
        pass_r += r.is_ok() as usize;
        let show = |x: &Result<(), String>| match x {
            Ok(()) => "pass".to_string(),
            Err(e) => format!("FAIL ({})", e.chars().take(100).collect::<String>()),
        };
        table.push_str(&format!(
            "| {} | {} | {} |\n",
            case.name,
            show(&i),
            show(&r)
        ));
        if r.is_ok() && i.is_err() {
            if KNOWN_GAPS.contains(&case.name) {
                println!("known gap (refused by isola-runtime): {}", case.name);
            } else {
                regressions.push(case.name);
            }
        }
    }
    let total = cases().len();
    table.push_str(&format!(
        "| **passed** | **{pass_i}/{total}** | **{pass_r}/{total}** |\n"
    ));
    println!("{table}");
    let _ = std::fs::remove_dir("/sys/fs/cgroup/memory/isola-conform");
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(ctrl.path().join("isola-conform"));
    }
    assert!(
        regressions.is_empty(),
        "isola-runtime fails cases runc passes: {regressions:?}\n{table}"
    );
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}
