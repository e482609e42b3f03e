//! Networking end to end: bridges, published ports, DNS by name and alias,
//! IPAM under parallel starts, cleanup after kill -9, bad input, and a VM
//! and a process container on one network.
//!
//! Everything runs inside a private network namespace (and a private
//! mount namespace, so that /etc/resolv.conf can point at loopback and
//! aardvark-dns never forwards a query off this machine), entered by this
//! test binary's own `main` before it starts any thread. Traffic only ever
//! goes to loopback and to the namespaces made here.

use isola_e2e::*;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

/// The harness: each test by name, run one after another.
type Test = fn();

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tests: &[(&str, Test)] = &[
        (
            "published_ports_answer_on_loopback_and_host_addresses",
            published_ports,
        ),
        (
            "dns_by_name_and_alias_only_on_the_same_network",
            dns_scoping,
        ),
        ("connect_disconnect_and_container_mode", connect_disconnect),
        (
            "parallel_runs_get_distinct_addresses_and_rm_leaves_nothing",
            parallel_and_cleanup,
        ),
        ("bad_input_is_one_line_and_leaves_nothing", bad_input),
        (
            "vm_and_process_containers_reach_each_other_by_name",
            vm_and_process,
        ),
    ];
    if std::env::args().any(|a| a == "--list") {
        for (n, _) in tests {
            println!("{n}: test");
        }
        return;
    }
    if let Err(e) = enter_private_namespaces() {
        eprintln!("network tests: cannot enter a private network namespace: {e}");
        std::process::exit(1);
    }
    std::env::set_var("ISOLA_DEFAULT_NETWORK", "bridge");
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, t) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        eprintln!("test {name} ...");
        let start = std::time::Instant::now();
        match std::panic::catch_unwind(t) {
            Ok(()) => eprintln!("test {name} ... ok ({:.1?})", start.elapsed()),
            Err(_) => {
                eprintln!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    // Every test removed its containers, so no aardvark-dns may be left in
    // this namespace (netavark stops it with the last DNS record); kill any
    // (they are ours: nothing else runs in this namespace) and fail.
    let leaked = stray_aardvark();
    if !leaked.is_empty() {
        eprintln!("aardvark-dns left running in the test namespace: {leaked:?}");
        failed.push("no aardvark-dns left behind");
    }
    eprintln!(
        "network: {} passed, {} failed",
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}

/// aardvark-dns processes in this process's network namespace, killed.
fn stray_aardvark() -> Vec<i32> {
    let me = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .ok()
            .as_ref()
            == Some(&me)
            && comm(pid) == "aardvark-dns"
        {
            // SAFETY: signalling a process of our own namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            found.push(pid);
        }
    }
    found
}

/// unshare(NEWNET|NEWNS), private propagation, `lo` up, and a resolv.conf
/// naming only loopback (aardvark-dns forwards unknown names upstream).
fn enter_private_namespaces() -> std::io::Result<()> {
    // SAFETY: plain syscalls on this single-threaded process.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let root = std::ffi::CString::new("/").unwrap();
    let none = std::ffi::CString::new("none").unwrap();
    // SAFETY: valid C strings; makes every mount private to this namespace.
    let rc = unsafe {
        libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let resolv = std::env::temp_dir().join(format!("isola-net-resolv-{}", std::process::id()));
    std::fs::write(&resolv, "nameserver 127.0.0.1\n")?;
    sh(&format!(
        "mount --bind {} /etc/resolv.conf",
        resolv.display()
    ));
    // The mount holds the file; nothing is left in the temporary directory.
    std::fs::remove_file(&resolv)?;
    sh("ip link set lo up");
    // Another host address: one end of a veth pair (no dummy module here).
    sh("ip link add h0 type veth peer name h1 && ip addr add 192.0.2.10/24 dev h0 && ip link set h0 up && ip link set h1 up");
    Ok(())
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// busybox wget from this (the "host") namespace.
fn host_get(url: &str) -> Option<String> {
    let out = Command::new("busybox")
        .args(["timeout", "5", "wget", "-q", "-O-", url])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

const HTTPD: &str =
    "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www";

/// What the network stack holds, for before/after comparisons: links,
/// addresses, firewall rules (without counters), aardvark records.
fn snapshot(i: &Isola) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for l in sh("ip -o link show").lines() {
        // Drop the per-line index and qdisc details that change by themselves.
        let name = l.split(':').nth(1).unwrap_or("").trim().to_string();
        s.insert(format!("link {name}"));
    }
    for l in sh("ip -o addr show").lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        s.insert(format!("addr {} {}", f[1], f[3]));
    }
    for l in sh("iptables-save").lines() {
        if !l.starts_with('#') && !l.starts_with(':') {
            s.insert(format!("rule {l}"));
        }
    }
    let dns = i.path().join("networks/netavark/aardvark-dns");
    if let Ok(entries) = std::fs::read_dir(&dns) {
        for e in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                for l in text.lines().skip(1) {
                    s.insert(format!("dns {}: {l}", e.file_name().to_string_lossy()));
                }
            }
        }
    }
    for e in std::fs::read_dir(i.path().join("netns")).unwrap().flatten() {
        s.insert(format!("netns {}", e.file_name().to_string_lossy()));
    }
    s
}

fn published_ports() {
    let i = Isola::new();
    let web = i
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--hostname",
            "web",
            "-p",
            "127.0.0.1:18080:80",
            "-p",
            "18081:80",
            "busybox",
            "sh",
            "-c",
            HTTPD,
        ])
        .trim()
        .to_string();
    eventually("httpd answers on 127.0.0.1:18080", || {
        host_get("http://127.0.0.1:18080/").as_deref() == Some("hello-web\n")
    });
    // All host addresses for the port published without an address...
    assert_eq!(
        host_get("http://192.0.2.10:18081/").as_deref(),
        Some("hello-web\n")
    );
    assert_eq!(
        host_get("http://127.0.0.1:18081/").as_deref(),
        Some("hello-web\n")
    );
    // ...and only loopback for the one published on 127.0.0.1.
    assert_eq!(host_get("http://192.0.2.10:18080/"), None);
    // From another container, through a host address.
    let out = i.ok(&[
        "run",
        "--rm",
        "busybox",
        "timeout",
        "5",
        "wget",
        "-q",
        "-O-",
        "http://192.0.2.10:18081/",
    ]);
    assert_eq!(out, "hello-web\n");
    // The ports as Docker shows them.
    assert_eq!(
        i.ok(&["port", "web"]),
        "80/tcp -> 127.0.0.1:18080\n80/tcp -> 0.0.0.0:18081\n"
    );
    assert_eq!(
        i.ok(&["port", "web", "80"]),
        "127.0.0.1:18080\n0.0.0.0:18081\n"
    );
    let ps = i.ok(&["ps"]);
    assert!(
        ps.contains("127.0.0.1:18080->80/tcp, 0.0.0.0:18081->80/tcp"),
        "{ps}"
    );
    assert_eq!(
        i.inspect("web", "{{.NetworkSettings.Networks.bridge.IPAddress}}"),
        i.inspect("web", "{{.NetworkSettings.IPAddress}}")
    );
    assert!(i
        .inspect("web", "{{.NetworkSettings.IPAddress}}")
        .starts_with("10.89.0."));
    // -p containerPort: an ephemeral host port, which answers too.
    i.ok(&[
        "run",
        "-d",
        "--name",
        "eph",
        "--hostname",
        "eph",
        "-p",
        "80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let hp = i.ok(&["port", "eph", "80/tcp"]);
    let port: u16 = hp.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(port >= 1024, "{hp}");
    eventually("the ephemeral port answers", || {
        host_get(&format!("http://127.0.0.1:{port}/")).as_deref() == Some("hello-eph\n")
    });
    // -P: every port the image EXPOSEs, on ephemeral host ports.
    i.ok(&[
        "import",
        "-c",
        "EXPOSE 80/tcp",
        "-c",
        "CMD [\"sh\"]",
        busybox_rootfs().to_str().unwrap(),
        "exposing",
    ]);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "pall",
        "--hostname",
        "pall",
        "-P",
        "exposing",
        "sh",
        "-c",
        HTTPD,
    ]);
    let hp = i.ok(&["port", "pall"]);
    assert!(hp.starts_with("80/tcp -> 0.0.0.0:"), "{hp}");
    let port: u16 = hp.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 80);
    eventually("the -P port answers", || {
        host_get(&format!("http://192.0.2.10:{port}/")).as_deref() == Some("hello-pall\n")
    });
    i.ok(&["rm", "-f", "web", "eph", "pall"]);
    assert_eq!(host_get("http://127.0.0.1:18080/"), None);
    assert!(leftovers(&web).is_empty(), "{:?}", leftovers(&web));
}

fn dns_scoping() {
    let i = Isola::new();
    i.ok(&["network", "create", "front"]);
    i.ok(&["network", "create", "--subnet", "10.99.5.0/24", "back"]);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "web",
        "--network",
        "front",
        "--network-alias",
        "www",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let get = |net: &str, host: &str| {
        i.run(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "timeout",
            "5",
            "wget",
            "-q",
            "-O-",
            &format!("http://{host}/"),
        ])
    };
    eventually("web answers by name", || {
        stdout(&get("front", "web")) == "hello-web\n"
    });
    // Each new container on the network reloads aardvark-dns (SIGHUP),
    // and a query during the reload can time out (aardvark-dns#389):
    // positive lookups retry.
    eventually("web answers by its alias", || {
        stdout(&get("front", "www")) == "hello-web\n"
    });
    // Another network: the name does not resolve.
    let out = i.run(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "nslookup",
        "web",
    ]);
    assert!(
        !out.status.success(),
        "web resolved on another network: {}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("can't find") || stderr(&out).contains("can't find"),
        "{}",
        stdout(&out)
    );
    assert!(!get("back", "web").status.success());
    // The default bridge has no DNS, as with Docker.
    assert!(!get("bridge", "web").status.success());
    let back_ip = i
        .ok(&[
            "run",
            "--rm",
            "--network",
            "back",
            "busybox",
            "hostname",
            "-i",
        ])
        .trim()
        .to_string();
    assert!(back_ip.starts_with("10.99.5."), "{back_ip}");
    // --ip, --add-host, --dns, --dns-search shape the container's view.
    let out = i.ok(&[
        "run",
        "--rm",
        "--network",
        "back",
        "--ip",
        "10.99.5.77",
        "--hostname",
        "h77",
        "--add-host",
        "db.example:192.0.2.99",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "corp.example",
        "busybox",
        "sh",
        "-c",
        "ip -4 -o addr show eth0; cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(out.contains("inet 10.99.5.77/24"), "{out}");
    assert!(out.contains("10.99.5.77\th77"), "{out}");
    assert!(out.contains("192.0.2.99\tdb.example"), "{out}");
    assert!(
        out.contains("nameserver 192.0.2.53") && out.contains("search corp.example"),
        "{out}"
    );
    // A stopped container gets its network back when started again.
    i.ok(&["stop", "-t", "1", "web"]);
    assert!(!get("front", "web").status.success());
    i.ok(&["start", "web"]);
    eventually("web answers again after a restart", || {
        stdout(&get("front", "web")) == "hello-web\n"
    });
    // A network in use is not removed.
    assert_fails(&i.run(&["network", "rm", "front"]), 1, "in use");
    i.ok(&["rm", "-f", "web"]);
    i.ok(&["network", "rm", "front"]);
    assert_eq!(i.ok(&["network", "prune"]), "Deleted Networks:\nback\n");
    // The default bridge, and Docker's built-in host and none.
    assert_eq!(i.ok(&["network", "ls", "-q"]).lines().count(), 3);
}

fn connect_disconnect() {
    let i = Isola::new();
    i.ok(&["network", "create", "n1"]);
    i.ok(&["network", "create", "n2"]);
    // netavark's shared chains exist after a first published port.
    i.ok(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "-p",
        "18401:80",
        "busybox",
        "true",
    ]);
    let before = snapshot(&i);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "web",
        "--network",
        "n1",
        "-p",
        "18400:80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let fetch = |net: &str| {
        stdout(&i.run(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "timeout",
            "5",
            "wget",
            "-q",
            "-O-",
            "http://web/",
        ]))
    };
    eventually("web answers on n1", || fetch("n1") == "hello-web\n");
    assert_eq!(fetch("n2"), "");
    i.ok(&["network", "connect", "--alias", "w2", "n2", "web"]);
    eventually("web answers on n2 once connected", || {
        fetch("n2") == "hello-web\n"
    });
    let ifaces = i.ok(&["exec", "web", "ls", "/sys/class/net"]);
    assert!(ifaces.contains("eth1"), "{ifaces}");
    i.ok(&["network", "disconnect", "n2", "web"]);
    assert_eq!(fetch("n2"), "");
    // --network container:web shares web's stack: its loopback serves.
    let out = i.ok(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "timeout",
        "5",
        "wget",
        "-q",
        "-O-",
        "http://127.0.0.1/",
    ]);
    assert_eq!(out, "hello-web\n");
    // Disconnecting the network that carries the published port takes
    // its forwarding with it; rm then leaves nothing of either network.
    i.ok(&["network", "connect", "n2", "web"]);
    i.ok(&["network", "disconnect", "n1", "web"]);
    assert_eq!(host_get("http://127.0.0.1:18400/"), None);
    i.ok(&["rm", "-f", "web"]);
    let after = snapshot(&i);
    let extra: Vec<&String> = after.difference(&before).collect();
    assert!(extra.is_empty(), "left behind: {extra:?}");
}

fn parallel_and_cleanup() {
    let i = Isola::new();
    // The first bridge container installs netavark's shared chains, which
    // stay (as with podman); what a container adds must all go.
    i.ok(&["run", "--rm", "-p", "18090:80", "busybox", "true"]);
    let before = snapshot(&i);
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|n| {
                let i = &i;
                s.spawn(move || {
                    i.ok(&[
                        "run",
                        "-d",
                        "-p",
                        &format!("{}:80", 18100 + n),
                        "busybox",
                        "sleep",
                        "300",
                    ])
                    .trim()
                    .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ips: BTreeSet<String> = ids
        .iter()
        .map(|id| i.inspect(id, "{{.NetworkSettings.IPAddress}}"))
        .collect();
    assert_eq!(ips.len(), 20, "addresses: {ips:?}");
    let during = snapshot(&i);
    assert!(
        during.len() > before.len() + 20,
        "no links or rules were added?"
    );
    // kill -9 the monitors of some.
    for id in ids.iter().take(5) {
        let pid: i32 = i.inspect(id, "{{.State.MonitorPid}}").parse().unwrap();
        // SAFETY: signalling a process id we just read.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    i.ok(&args);
    let after = snapshot(&i);
    let extra: Vec<&String> = after.difference(&before).collect();
    assert!(extra.is_empty(), "left behind: {extra:?}");
    for id in &ids {
        assert!(leftovers(id).is_empty(), "{:?}", leftovers(id));
    }
    let ipam = std::fs::read_to_string(i.path().join("networks/ipam.json")).unwrap();
    assert!(!ids.iter().any(|id| ipam.contains(id.as_str())), "{ipam}");
}

fn bad_input() {
    let i = Isola::new();
    i.ok(&["network", "create", "--subnet", "10.98.0.0/16", "big"]);
    assert_fails(
        &i.run(&["network", "create", "--subnet", "10.98.3.0/24", "small"]),
        1,
        "overlaps with network big",
    );
    assert_fails(
        &i.run(&["network", "create", "--subnet", "10.98.3.1/24", "x"]),
        1,
        "host bits",
    );
    assert_fails(
        &i.run(&["network", "rm", "nope"]),
        1,
        "network nope not found",
    );
    i.ok(&[
        "run", "-d", "--name", "a", "-p", "18200:80", "busybox", "sleep", "300",
    ]);
    for (args, needle) in [
        (vec!["-p", "18200:80"], "already published"),
        (vec!["-p", "99999:80"], "invalid -p"),
        (vec!["-p", "80/sctp"], "invalid -p"),
        (vec!["--network", "nope"], "network nope not found"),
        (
            vec!["--network", "none", "-p", "80"],
            "needs a bridge network",
        ),
        (vec!["--ip", "10.89.0.9"], "user-defined networks only"),
        (
            vec!["--network", "big", "--ip", "10.1.0.9"],
            "not in network big",
        ),
        (vec!["--add-host", "nocolon"], "invalid --add-host"),
        (
            vec!["--network", "big", "--network-alias", "bad name"],
            "invalid --network-alias",
        ),
        (
            vec!["--isolation=vm", "--network", "container:a"],
            "not available with --isolation=vm",
        ),
    ] {
        let mut full = vec!["run", "-d"];
        full.extend(args);
        full.extend(["busybox", "sleep", "1"]);
        assert_fails(&i.run(&full), 125, needle);
    }
    assert_eq!(
        i.ok(&["ps", "-aq"]).lines().count(),
        1,
        "a failed run left a container"
    );
    let ipam = std::fs::read_to_string(i.path().join("networks/ipam.json")).unwrap();
    let a = i.id("a");
    let v: serde_json::Value = serde_json::from_str(&ipam).unwrap();
    let owners: Vec<&str> = v["addresses"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| m.as_object().unwrap().values().map(|o| o.as_str().unwrap()))
        .chain(
            v["ports"]
                .as_object()
                .unwrap()
                .values()
                .map(|o| o.as_str().unwrap()),
        )
        .collect();
    assert!(
        owners.iter().all(|o| *o == a),
        "a failed run kept a reservation: {ipam}"
    );
    i.ok(&["rm", "-f", "a"]);
}

fn vm_and_process() {
    let i = Isola::new();
    let info = i.ok(&["info"]);
    if !info.contains("vm: available") {
        eprintln!("SKIPPED vm_and_process: VM isolation unavailable here: {info}");
        return;
    }
    i.ok(&["network", "create", "mixed"]);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "pweb",
        "--hostname",
        "pweb",
        "--network",
        "mixed",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "vweb",
        "--hostname",
        "vweb",
        "--isolation=vm",
        "--network",
        "mixed",
        "-p",
        "127.0.0.1:18300:80",
        "busybox",
        "sh",
        "-c",
        HTTPD,
    ]);
    let vm = i.id("vweb");
    // The host sees one process for the VM container: its hypervisor.
    assert_eq!(processes_mentioning(&vm).len(), 1);
    let resolv = i.ok(&["exec", "vweb", "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains("nameserver"),
        "the guest agent did not configure the network (an initramfs from before #9?): rebuild it with guest/build-initrd.sh"
    );
    // VM → process by name.
    let out = i.ok(&[
        "exec",
        "vweb",
        "timeout",
        "10",
        "wget",
        "-q",
        "-O-",
        "http://pweb/",
    ]);
    assert_eq!(out, "hello-pweb\n");
    // Process → VM by name, and the VM's published port from the host.
    eventually("the VM answers by name", || {
        stdout(&i.run(&[
            "exec",
            "pweb",
            "timeout",
            "5",
            "wget",
            "-q",
            "-O-",
            "http://vweb/",
        ])) == "hello-vweb\n"
    });
    assert_eq!(
        host_get("http://127.0.0.1:18300/").as_deref(),
        Some("hello-vweb\n")
    );
    // One NIC per VM, and no hot-plug: connect is refused, clearly.
    i.ok(&["network", "create", "other"]);
    assert_fails(
        &i.run(&["network", "connect", "other", "vweb"]),
        1,
        "no NIC hot-plug",
    );
    let before = sh("ip -o link show");
    // kill -9 the hypervisor; rm still removes its tap, veth and rules.
    let pid: i32 = i.inspect("vweb", "{{.State.Pid}}").parse().unwrap();
    // SAFETY: signalling a process id we just read.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    i.ok(&["rm", "-f", "vweb", "pweb"]);
    assert!(
        leftovers(&vm).is_empty(),
        "{:?} (links before: {before})",
        leftovers(&vm)
    );
    assert_eq!(
        std::fs::read_dir(i.path().join("netns")).unwrap().count(),
        0
    );
    assert!(
        !sh("ip -o link show").contains("isola"),
        "a bridge or veth is left"
    );
}
