//! The Docker Engine API (`isola system service`) driven by real clients:
//! the installed Docker CLI, docker-compose and the Python SDK, plus raw
//! HTTP for what a well-behaved client never sends.

use isola_e2e::*;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const DOCKER: &str = "/usr/local/bin/docker";

/// A service on a private socket over a private root; stopped (SIGTERM,
/// then waited for) on drop.
struct Service {
    isola: Isola,
    socket: PathBuf,
    child: Child,
    /// An empty docker config, so the user's contexts and auth never apply.
    config: tempfile::TempDir,
}

impl Service {
    fn start() -> Service {
        Service::on(Isola::new())
    }

    /// A service whose root runs one detached `sleep` container, `name`.
    fn with_sleeper(name: &str) -> Service {
        docker_installed();
        let s = Service::start();
        s.docker_ok(&["run", "-d", "--name", name, "busybox", "sleep", "1000"]);
        s
    }

    fn on(isola: Isola) -> Service {
        let socket = isola.path().join("api.sock");
        let child = isola
            .cmd(&["system", "service", &format!("unix://{}", socket.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let s = Service {
            isola,
            socket,
            child,
            config: tempfile::tempdir().unwrap(),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        eventually("the API socket answers", || {
            UnixStream::connect(&self.socket).is_ok()
        });
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `docker ARGS…` against this service (bounded: a hang fails).
    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.args(["-k", "5", "180", DOCKER])
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().unwrap()
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?} failed ({:?}): {}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o).trim_end().to_string()
    }

    /// The service's own pid (to stop it as a user would).
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// One raw HTTP/1.1 exchange; returns the whole reply.
    fn raw(&self, request: &[u8]) -> String {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn docker_installed() {
    assert!(
        Path::new(DOCKER).exists(),
        "{DOCKER} is missing: these tests drive the real Docker CLI"
    );
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn api_version_negotiation_ping_and_info() {
    docker_installed();
    let s = Service::start();
    assert_eq!(
        s.docker_ok(&["version", "--format", "{{.Server.APIVersion}}"]),
        "1.47"
    );
    let r = s.raw(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    for h in [
        "api-version: 1.47",
        "docker-experimental: false",
        "ostype: linux",
        "server: isola",
    ] {
        assert!(r.to_lowercase().contains(h), "missing {h}: {r}");
    }
    assert!(r.ends_with("OK"), "{r}");
    let r = s.raw(b"HEAD /v1.24/_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let r = s.raw(b"GET /v1.12/info HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("too old"),
        "{r}"
    );
    // The default isolation, in Docker's words (process here).
    assert_eq!(
        s.docker_ok(&["info", "--format", "{{.Isolation}}"]),
        "process"
    );
    assert_eq!(s.docker_ok(&["info", "--format", "{{.Images}}"]), "1");
}

#[test]
fn api_run_rm_output_exit_code_and_stdin() {
    docker_installed();
    let s = Service::start();
    let o = s.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert_eq!(stdout(&o), "out\n");
    assert!(stderr(&o).contains("err"), "{}", stderr(&o));
    let mut c = s
        .docker_cmd(&["run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"hello stdin\n").unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "HELLO STDIN\n");
    // --rm: gone for the CLI as well.
    eventually("the --rm containers are removed", || {
        s.isola.ok(&["ps", "-aq"]).trim().is_empty()
    });
    // A missing command: Docker's exit code 127 and a message.
    let o = s.docker(&["run", "--rm", "busybox", "/no/such/program"]);
    assert_eq!(code(&o), 127, "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn api_detached_lifecycle_same_containers_as_the_cli() {
    docker_installed();
    let s = Service::start();
    let id = s.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "k=v",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; while true; do sleep 1; done",
    ]);
    assert_eq!(id.len(), 64, "{id}");
    // The CLI sees the API's container, and the API sees the CLI's.
    s.isola
        .ok(&["run", "-d", "--name", "fromcli", "busybox", "sleep", "1000"]);
    let ps = s.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}}"]);
    assert!(ps.contains("web running busybox"), "{ps}");
    assert!(ps.contains("fromcli running busybox"), "{ps}");
    assert!(s.isola.ok(&["ps"]).contains("web"));
    let ps = s.docker_ok(&["ps", "--filter", "label=k=v", "--format", "{{.Names}}"]);
    assert_eq!(ps, "web");
    assert_eq!(
        s.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.HostConfig.Isolation}} {{.Config.Labels.k}}",
            "web"
        ]),
        "true process v"
    );
    eventually("logs show both streams", || {
        let o = s.docker(&["logs", "web"]);
        stdout(&o) == "one\n" && stderr(&o) == "two\n"
    });
    let top = s.docker_ok(&["top", "web"]);
    assert!(top.contains("PID") && top.contains("sleep"), "{top}");
    assert_eq!(
        s.docker_ok(&["exec", "web", "sh", "-c", "echo in $HOSTNAME"]),
        format!("in {}", &id[..12])
    );
    let o = s.docker(&["exec", "web", "sh", "-c", "exit 9"]);
    assert_eq!(code(&o), 9);
    let o = s.docker(&[
        "exec",
        "-e",
        "A=b",
        "-w",
        "/etc",
        "web",
        "sh",
        "-c",
        "echo $A $PWD",
    ]);
    assert_eq!(stdout(&o), "b /etc\n");
    s.docker_ok(&["stop", "-t", "1", "web"]);
    assert_eq!(
        s.docker_ok(&["inspect", "-f", "{{.State.Status}}", "web"]),
        "exited"
    );
    // `isola inspect` and `docker inspect` print the same document.
    let ours: serde_json::Value = serde_json::from_str(&s.isola.ok(&["inspect", "web"])).unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&s.docker_ok(&["inspect", "web"])).unwrap();
    assert_eq!(ours, theirs);
    for key in [
        "Mounts",
        "NetworkSettings",
        "RestartCount",
        "ExecIDs",
        "Platform",
        "HostConfig",
        "Config",
        "State",
    ] {
        assert!(theirs[0].get(key).is_some(), "inspect lacks {key}");
    }
    s.docker_ok(&["restart", "-t", "1", "web"]);
    assert_eq!(
        s.docker_ok(&["inspect", "-f", "{{.State.Status}}", "web"]),
        "running"
    );
    let o = s.docker(&["rm", "web"]);
    assert_ne!(code(&o), 0, "a running container is not removed without -f");
    assert!(stderr(&o).contains("stop it first"), "{}", stderr(&o));
    s.docker_ok(&["rm", "-f", "web", "fromcli"]);
    assert!(s.isola.ok(&["ps", "-aq"]).trim().is_empty());
    // Docker's errors, with Docker's status codes.
    let o = s.docker(&["inspect", "nosuch"]);
    assert!(
        stderr(&o).contains("No such container: nosuch") || stderr(&o).contains("No such object"),
        "{}",
        stderr(&o)
    );
    let o = s.docker(&["stop", "nosuch"]);
    assert!(stderr(&o).contains("No such container"), "{}", stderr(&o));
    s.isola.ok(&["create", "--name", "taken", "busybox"]);
    let o = s.docker(&["create", "--name", "taken", "busybox"]);
    assert!(stderr(&o).contains("already in use"), "{}", stderr(&o));
}

#[test]
fn api_logs_follow_tail_timestamps() {
    docker_installed();
    let s = Service::start();
    s.docker_ok(&[
        "run",
        "-d",
        "--name",
        "l",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 1; done",
    ]);
    let o = s.docker(&["logs", "-f", "l"]);
    assert_eq!(
        stdout(&o),
        "line1\nline2\nline3\n",
        "follow ends with the container"
    );
    assert_eq!(s.docker_ok(&["logs", "--tail", "1", "l"]), "line3");
    let ts = s.docker_ok(&["logs", "-t", "--tail", "1", "l"]);
    assert!(ts.ends_with(" line3") && ts.starts_with("20"), "{ts}");
    // since: a time after every line was written.
    assert_eq!(
        s.docker_ok(&["logs", "--since", "2099-01-01T00:00:00Z", "l"]),
        ""
    );
    // With a TTY: raw, not framed.
    s.docker_ok(&["run", "-t", "--name", "t", "busybox", "echo", "tty"]);
    assert_eq!(stdout(&s.docker(&["logs", "t"])), "tty\r\n");
}

/// `docker run -it` under a real terminal (`script`): typing, the window
/// size and its change, Ctrl-C to the container's foreground job.
#[test]
fn api_run_it_under_a_pty() {
    docker_installed();
    let s = Service::start();
    let script = format!(
        "stty rows 30 cols 100; DOCKER_HOST={} DOCKER_CONFIG={} {DOCKER} run -it --name it busybox sh",
        s.host(),
        s.config.path().display()
    );
    let mut c = Command::new("timeout")
        .args(["-k", "5", "120", "script", "-qec", &script, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = c.stdin.take().unwrap();
    let socket = s.socket.clone();
    let typed = std::thread::spawn(move || {
        for (wait, keys) in [
            (2000, &b"echo typed$((40+2))\r"[..]),
            (700, b"stty size\r"),
            (500, b"RESIZE"),
            (700, b"stty size\r"),
            (500, b"sleep 100\r"),
            (1000, b"\x03"),
            (500, b"echo after-ctrl-c\r"),
            (500, b"exit 4\r"),
        ] {
            std::thread::sleep(Duration::from_millis(wait));
            if keys == b"RESIZE" {
                // What the docker CLI sends on SIGWINCH, sent here directly.
                let mut c = UnixStream::connect(&socket).unwrap();
                c.write_all(b"POST /v1.47/containers/it/resize?h=40&w=120 HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
                let _ = c.read_to_end(&mut Vec::new());
                continue;
            }
            let _ = input.write_all(keys);
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    let o = c.wait_with_output().unwrap();
    typed.join().unwrap();
    let out = stdout(&o);
    assert!(out.contains("typed42"), "{out}");
    assert!(
        out.contains("30 100"),
        "the window size reached the container: {out}"
    );
    assert!(
        out.contains("40 120"),
        "the resize reached the container: {out}"
    );
    assert!(
        out.contains("after-ctrl-c"),
        "Ctrl-C ended the job, not the shell: {out}"
    );
    assert_eq!(
        s.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "it"]),
        "4"
    );
    // Resize through the API (what the CLI sends on SIGWINCH) for exec -it.
    s.docker_ok(&["run", "-d", "--name", "bg", "busybox", "sleep", "1000"]);
    let script = format!(
        "stty rows 12 cols 34; DOCKER_HOST={} DOCKER_CONFIG={} {DOCKER} exec -it bg sh -c 'stty size; tty; exit 6'",
        s.host(),
        s.config.path().display()
    );
    let o = Command::new("timeout")
        .args(["-k", "5", "60", "script", "-qec", &script, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("12 34"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    s.docker_ok(&["rm", "-f", "bg", "it"]);
}

#[test]
fn api_images_load_save_tag_rmi() {
    docker_installed();
    let s = Service::start();
    s.docker_ok(&["tag", "busybox", "copy:1"]);
    let images = s.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("busybox:latest") && images.contains("copy:1"),
        "{images}"
    );
    let archive = s.isola.path().join("copy.tar");
    s.docker_ok(&["save", "-o", archive.to_str().unwrap(), "copy:1"]);
    s.docker_ok(&["rmi", "copy:1"]);
    assert!(!s.docker_ok(&["images"]).contains("copy"));
    let out = s.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: copy:1"), "{out}");
    assert_eq!(
        s.docker_ok(&["run", "--rm", "copy:1", "echo", "loaded"]),
        "loaded"
    );
    assert_eq!(
        s.docker_ok(&["image", "inspect", "-f", "{{.Os}}", "copy:1"]),
        "linux"
    );
    let o = s.docker(&["rmi", "nosuch:1"]);
    assert!(stderr(&o).contains("No such image"), "{}", stderr(&o));
    // A tarball import (fromSrc).
    let rootfs = TarBuilder::new().file("hello.txt", b"imported\n").finish();
    let mut c = s
        .docker_cmd(&["import", "-", "imp:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(&rootfs).unwrap();
    assert!(c.wait_with_output().unwrap().status.success());
    assert!(s.docker_ok(&["images"]).contains("imp"));
}

#[test]
fn api_isolation_process_and_default() {
    docker_installed();
    let s = Service::start();
    for (flag, expect) in [
        ("--isolation=process", "process"),
        ("--isolation=default", "process"),
    ] {
        s.docker_ok(&["run", flag, "--name", expect, "busybox", "true"]);
        assert_eq!(
            s.docker_ok(&["inspect", "-f", "{{.HostConfig.Isolation}}", expect]),
            expect
        );
        s.docker_ok(&["rm", expect]);
    }
}

/// The seed's command line, typed into the real Docker client: a
/// VM-isolated container (one boot: TCG is slow).
#[test]
fn api_isolation_hyperv_runs_a_vm() {
    docker_installed();
    let i = Isola::new();
    let info = i.ok(&["info"]);
    assert!(
        info.contains(" vm: available"),
        "VM isolation unavailable: {info}"
    );
    let s = Service::on(i);
    let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let o = s.docker(&[
        "run",
        "--isolation=hyperv",
        "--name",
        "vm",
        "busybox",
        "sh",
        "-c",
        "ping -c 1 localhost >/dev/null && uname -r; exit 5",
    ]);
    assert_eq!(code(&o), 5, "{}", stderr(&o));
    assert_ne!(
        stdout(&o).trim(),
        host_kernel.trim(),
        "a guest kernel answered"
    );
    assert_eq!(
        s.docker_ok(&["inspect", "-f", "{{.HostConfig.Isolation}}", "vm"]),
        "vm"
    );
    assert!(!s
        .docker_ok(&["inspect", "-f", "{{.State.VM.Kernel}}", "vm"])
        .is_empty());
    s.docker_ok(&["rm", "vm"]);
}

#[test]
fn api_fifty_concurrent_runs_none_lost() {
    docker_installed();
    let s = Service::start();
    let children: Vec<Child> = (0..50)
        .map(|n| {
            s.docker_cmd(&[
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                &format!("echo run{n}; exit {}", n % 7),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (n, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert_eq!(stdout(&o), format!("run{n}\n"), "{}", stderr(&o));
        assert_eq!(code(&o), (n % 7) as i32, "{}", stderr(&o));
    }
    eventually("every --rm container is gone", || {
        s.isola.ok(&["ps", "-aq"]).trim().is_empty()
    });
}

/// A client that goes away mid-attach: the container runs on to its end
/// under its monitor, and nothing of the relay is left.
#[test]
fn api_client_disconnect_mid_attach_leaves_nothing_stuck() {
    docker_installed();
    let s = Service::start();
    let mut c = s
        .docker_cmd(&[
            "run",
            "--name",
            "gone",
            "busybox",
            "sh",
            "-c",
            "sleep 2; echo finished",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the container runs", || {
        stdout(&s.isola.run(&["inspect", "-f", "{{.State.Status}}", "gone"])).trim() == "running"
    });
    c.kill().unwrap();
    c.wait().unwrap();
    eventually("the container ends on its own", || {
        s.isola.inspect("gone", "{{.State.Status}}") == "exited"
    });
    assert_eq!(s.isola.inspect("gone", "{{.State.ExitCode}}"), "0");
    let id = s.isola.id("gone");
    eventually("no attach process is left", || {
        processes_mentioning(&id).is_empty()
    });
    assert_eq!(s.docker_ok(&["logs", "gone"]), "finished");
}

#[test]
fn api_bad_requests_get_errors_not_crashes() {
    let s = Service::start();
    let bad = b"{\"Image\": \"busybox\", ";
    let r = s.raw(
        format!(
            "POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bad.len()
        )
        .as_bytes()
        .iter()
        .chain(bad.iter())
        .copied()
        .collect::<Vec<u8>>()
        .as_slice(),
    );
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("\"message\""),
        "{r}"
    );
    let r = s.raw(b"GET /v1.47/no/such/endpoint HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 404") && r.contains("\"message\""),
        "{r}"
    );
    let r =
        s.raw(b"GET /v1.47/containers/x/export HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 501") && r.contains("not implemented by isola yet"),
        "{r}"
    );
    // A body over the cap, announced: refused before it is read.
    let r = s.raw(b"POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n{");
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    // ...and streamed (chunked, no length): cut at the cap.
    let mut conn = UnixStream::connect(&s.socket).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    conn.write_all(b"POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..80 {
        let head = format!("{:x}\r\n", chunk.len());
        if conn.write_all(head.as_bytes()).is_err()
            || conn.write_all(&chunk).is_err()
            || conn.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    let r = String::from_utf8_lossy(&out);
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    // A slow-loris client: half a request head, then nothing. The service
    // closes the connection (its head-read timeout) and serves others.
    let mut slow = UnixStream::connect(&s.socket).unwrap();
    slow.write_all(b"GET /_ping HTTP/1.1\r\nHost: d\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(90)))
        .unwrap();
    let mut buf = [0u8; 512];
    let closed = slow.read(&mut buf).is_ok();
    assert!(closed, "the slow client was never disconnected");
    let r = s.raw(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // Still alive after all of it.
    assert!(s.isola.ok(&["ps", "-a"]).contains("CONTAINER ID"));
}

#[test]
fn api_socket_is_root_only() {
    docker_installed();
    let s = Service::start();
    let meta = std::fs::metadata(&s.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    assert_eq!(meta.uid(), 0);
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            DOCKER,
            "version",
        ])
        .env("DOCKER_HOST", s.host())
        .env("DOCKER_CONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
    // TCP is refused outright.
    let o = s.isola.run(&["system", "service", "tcp://0.0.0.0:2375"]);
    assert_fails(&o, 125, "not a unix socket");
}

/// Stopping the service stops no container; a new service sees them.
#[test]
fn api_service_restart_keeps_containers() {
    let mut s = Service::with_sleeper("keep");
    s.stop();
    assert_eq!(s.isola.inspect("keep", "{{.State.Status}}"), "running");
    let root = s.isola.path().to_path_buf();
    s.child = s
        .isola
        .cmd(&["system", "service", &s.host()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    s.wait_ready();
    assert_eq!(s.docker_ok(&["ps", "--format", "{{.Names}}"]), "keep");
    s.docker_ok(&["rm", "-f", "keep"]);
    assert!(root.exists());
}

fn deps(pkgs: &[&str]) {
    let st = Command::new(workspace().join("scripts/deps.sh"))
        .args(pkgs)
        .status()
        .unwrap();
    assert!(st.success(), "installing {pkgs:?} failed");
}

#[test]
fn api_docker_compose_up_ps_logs_exec_down() {
    deps(&["docker-compose"]);
    let s = Service::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "version: '2.4'\nservices:\n  web:\n    image: busybox\n    network_mode: none\n    command: sh -c 'echo web-up; exec sleep 1000'\n  worker:\n    image: busybox\n    network_mode: none\n    command: sh -c 'echo worker-up; exec sleep 1000'\n",
    )
    .unwrap();
    let compose = |args: &[&str]| {
        Command::new("timeout")
            .args(["-k", "5", "180", "docker-compose", "-p", "apitest"])
            .args(args)
            .current_dir(dir.path())
            .env("DOCKER_HOST", s.host())
            .env("DOCKER_CONFIG", s.config.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| {
        let o = compose(args);
        assert!(
            o.status.success(),
            "compose {args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    };
    ok(&["up", "-d"]);
    let ps = ok(&["ps"]);
    assert!(
        ps.contains("apitest_web_1") && ps.contains("apitest_worker_1"),
        "{ps}"
    );
    assert!(ps.contains("Up"), "{ps}");
    eventually("compose logs show both services", || {
        let l = stdout(&compose(&["logs", "--no-color"]));
        l.contains("web-up") && l.contains("worker-up")
    });
    assert_eq!(
        ok(&["exec", "-T", "web", "echo", "from-exec"]).trim(),
        "from-exec"
    );
    assert!(s.isola.ok(&["ps"]).contains("apitest_web_1"));
    ok(&["down", "-t", "1"]);
    assert!(s.isola.ok(&["ps", "-aq"]).trim().is_empty());
}

#[test]
fn api_python_sdk_round_trip() {
    deps(&["python3-docker"]);
    let s = Service::start();
    let script = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
assert c.ping()
assert c.version()["ApiVersion"] == "1.47"
out = c.containers.run("busybox", ["echo", "sdk-run"], remove=True)
assert out == b"sdk-run\n", out
ct = c.containers.run("busybox", ["sleep", "1000"], detach=True, name="sdk", labels={"a": "b"})
ct.reload()
assert ct.status == "running", ct.status
r = ct.exec_run(["sh", "-c", "echo sdk-exec; exit 2"])
assert r.exit_code == 2 and r.output == b"sdk-exec\n", r
assert [x.name for x in c.containers.list(filters={"label": "a=b"})] == ["sdk"]
ct.stop(timeout=1)
assert ct.wait()["StatusCode"] == 137 or ct.wait()["StatusCode"] == 143
ct.remove()
assert any("busybox:latest" in i.tags for i in c.images.list())
print("sdk-ok")
"#;
    let o = Command::new("timeout")
        .args([
            "-k",
            "5",
            "180",
            "/usr/bin/python3",
            "-c",
            script,
            &s.host(),
        ])
        .output()
        .unwrap();
    assert!(
        stdout(&o).contains("sdk-ok"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// Attack: a container "name" that is a path, in an API request body,
/// must neither read nor delete a file outside the names directory.
#[test]
fn api_container_keys_are_not_paths() {
    let s = Service::start();
    let victim = s.isola.path().join("victim");
    std::fs::write(&victim, "not-an-id").unwrap();
    let body = br#"{"Container": "../victim"}"#;
    let mut req = format!(
        "POST /v1.47/networks/bridge/connect HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let r = s.raw(&req);
    assert!(
        r.starts_with("HTTP/1.1 404") && r.contains("No such container"),
        "{r}"
    );
    assert!(
        victim.exists(),
        "the file outside the names directory was removed"
    );
    let r = s.raw(
        b"GET /v1.47/containers/../victim/json HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(victim.exists());
}

#[test]
fn api_volumes_and_networks() {
    docker_installed();
    let s = Service::start();
    s.docker_ok(&["volume", "create", "--label", "a=b", "data"]);
    assert!(s
        .docker_ok(&["volume", "ls", "--format", "{{.Name}}"])
        .contains("data"));
    assert_eq!(
        s.docker_ok(&["volume", "inspect", "-f", "{{.Labels.a}}", "data"]),
        "b"
    );
    s.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        s.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept"
    );
    let o = s.docker(&["volume", "inspect", "nosuch"]);
    assert!(
        stderr(&o).to_lowercase().contains("no such volume"),
        "{}",
        stderr(&o)
    );
    s.docker_ok(&["volume", "rm", "data"]);
    assert!(!s.docker_ok(&["volume", "ls", "-q"]).contains("data"));
    // Listing and inspecting networks touches nothing on the host.
    assert!(s
        .docker_ok(&["network", "ls", "--format", "{{.Name}}"])
        .contains("bridge"));
    assert_eq!(
        s.docker_ok(&["network", "inspect", "-f", "{{.Driver}}", "bridge"]),
        "bridge"
    );
    let o = s.docker(&["network", "inspect", "nosuch"]);
    assert_ne!(code(&o), 0);
}

/// Clients that vanish while the service writes to them (a `logs -f`
/// reader, an attached run) end their own connection, not the service.
#[test]
fn api_vanishing_readers_do_not_end_the_service() {
    docker_installed();
    let s = Service::start();
    s.docker_ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "busybox",
        "sh",
        "-c",
        "while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done",
    ]);
    for _ in 0..3 {
        let mut c = s
            .docker_cmd(&["logs", "-f", "chatty"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut buf = [0u8; 4096];
        c.stdout.as_mut().unwrap().read_exact(&mut buf).unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert_eq!(
        s.docker_ok(&["inspect", "-f", "{{.State.Running}}", "chatty"]),
        "true"
    );
    s.docker_ok(&["rm", "-f", "chatty"]);
}

/// Attack: exec values from a request body that look like flags stay
/// values (the service builds a child command line from them).
#[test]
fn api_exec_values_are_never_flags() {
    let s = Service::with_sleeper("x");
    let o = s.docker(&["exec", "-u", "65534", "-e", "--user=0", "x", "id", "-u"]);
    assert_eq!(stdout(&o).trim(), "65534", "{}", stderr(&o));
    let o = s.docker(&["exec", "-w", "--user=0", "x", "id", "-u"]);
    assert_ne!(stdout(&o).trim(), "0", "a working directory became a flag");
    s.docker_ok(&["rm", "-f", "x"]);
}

/// `--timeout`: an idle service exits by itself; its containers stay.
#[test]
fn api_idle_timeout_ends_the_service_only() {
    docker_installed();
    let i = Isola::new();
    i.ok(&["run", "-d", "--name", "stay", "busybox", "sleep", "1000"]);
    let socket = i.path().join("idle.sock");
    let mut child = i
        .cmd(&[
            "system",
            "service",
            "--timeout",
            "1",
            &format!("unix://{}", socket.display()),
        ])
        .spawn()
        .unwrap();
    eventually("the idle service exits", || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    assert!(child.wait().unwrap().success());
    assert!(!socket.exists(), "the socket file is removed on exit");
    assert_eq!(i.inspect("stay", "{{.State.Status}}"), "running");
    i.ok(&["rm", "-f", "stay"]);
}

#[test]
fn api_rename_pause_unpause_and_events() {
    let s = Service::with_sleeper("a");
    s.docker_ok(&["rename", "a", "b"]);
    s.docker_ok(&["pause", "b"]);
    assert_eq!(
        s.docker_ok(&["inspect", "-f", "{{.State.Paused}}", "b"]),
        "true"
    );
    assert!(s
        .docker_ok(&["ps", "--format", "{{.Status}}"])
        .contains("Paused"));
    s.docker_ok(&["unpause", "b"]);
    let st = s.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "b",
    ]);
    assert_eq!(st, "b 1", "{st}");
    s.docker_ok(&["rm", "-f", "b"]);
    s.docker_ok(&["create", "--name", "idle", "busybox"]);
    let pruned = s.docker_ok(&["container", "prune", "-f"]);
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert!(s.isola.ok(&["ps", "-aq"]).trim().is_empty());
    let h = s.docker_ok(&["history", "busybox"]);
    assert!(h.starts_with("IMAGE") && h.lines().count() >= 2, "{h}");
    let ev = s.docker_ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 1
        ),
        "--filter",
        "type=container",
        "--format",
        "{{.Action}}",
    ]);
    for action in ["create", "start", "rename", "pause", "unpause", "destroy"] {
        assert!(ev.lines().any(|l| l == action), "no {action} event: {ev}");
    }
}

#[test]
fn api_update_and_system_df() {
    let s = Service::with_sleeper("u");
    s.docker_ok(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:2",
        "u",
    ]);
    let got = s.docker_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
        "u",
    ]);
    assert_eq!(got, "67108864 50 on-failure:2");
    // The limit reached the running container's cgroup (stats reads it there).
    let mem = s.docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "u"]);
    assert!(mem.ends_with("/ 64MiB"), "{mem}");
    // Docker's answer to a bad value: 400 and its message, exit 1.
    let o = s.docker(&["update", "--memory", "1k", "u"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("6MB"), "{}", stderr(&o));
    let df = s.docker_ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.lines().any(|l| l == "Images 1 1"), "{df}");
    assert!(df.lines().any(|l| l == "Containers 1 1"), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Local Volumes 0")), "{df}");
    s.docker_ok(&["rm", "-f", "u"]);
    // create's HostConfig and Config carry the namespace, cgroup and
    // --expose settings through to inspect.
    s.docker_ok(&[
        "create",
        "--name",
        "h",
        "--pid",
        "host",
        "--cpu-shares",
        "512",
        "--expose",
        "8080",
        "busybox",
    ]);
    assert_eq!(
        s.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.PidMode}} {{.HostConfig.CpuShares}} {{json .Config.ExposedPorts}}",
            "h",
        ]),
        r#"host 512 {"8080/tcp":{}}"#
    );
}
