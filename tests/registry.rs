//! Registries end to end, against Debian's `docker-registry` (the CNCF
//! distribution registry) started on 127.0.0.1 by each test: push, pull
//! (by tag, by digest, by platform from an index), run what was pulled,
//! login over TLS with htpasswd, resume after a cut connection, refuse a
//! corrupted blob, and clean one-line failures.

use isola_e2e::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn busybox_layer() -> Vec<u8> {
    TarBuilder::new().dir_all(".", busybox_rootfs()).finish()
}

/// A layer of `size` incompressible bytes in /data, tagged with `seed`.
fn data_layer(seed: u64, size: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    TarBuilder::new()
        .file("data", &data)
        .file("seed.txt", format!("{seed}\n").as_bytes())
        .finish()
}

/// Loads an image of `layers` named `tag` into `i`.
fn load(i: &Isola, layers: &[Vec<u8>], tag: &str) {
    let path = i.path().join("image.tar");
    std::fs::write(&path, docker_save_archive(layers, tag, &["sh"])).unwrap();
    i.ok(&["load", "-i", path.to_str().unwrap()]);
}

fn with_docker_config(i: &Isola, config: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut cmd = i.cmd(args);
    cmd.env("DOCKER_CONFIG", config);
    match input {
        None => cmd.output().unwrap(),
        Some(input) => {
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

/// A failed pull/push/login: exit 1 as Docker's, one line naming `needle`.
fn one_line_failure(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

fn images(i: &Isola) -> String {
    i.ok(&["images", "-q"])
}

#[test]
fn push_then_pull_into_a_fresh_root_and_run() {
    let registry = Registry::plain();
    let name = format!("{}/test/busybox:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer(), data_layer(1, 100_000)], &name);
    let out = src.ok(&["push", &name]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    // Again: every blob is already there.
    let again = src.ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");

    let dst = Isola::empty();
    let out = dst.ok(&["pull", &name]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {name}")),
        "{out}"
    );
    assert!(out.trim_end().ends_with(&name), "{out}");
    assert_eq!(dst.ok(&["run", "--rm", &name, "cat", "/seed.txt"]), "1\n");
    let listed = dst.ok(&["images", "--digests"]);
    let digest_line = listed.lines().find(|l| l.contains("test/busybox")).unwrap();
    let digest = digest_line
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_string();
    assert!(
        out.contains(&format!("Digest: {digest}")),
        "{out}\n{listed}"
    );
    // The same id on both sides: the manifest and config travel unchanged.
    assert_eq!(src.inspect(&name, "{{.Id}}"), dst.inspect(&name, "{{.Id}}"));
    // Up to date the second time; -q prints only the reference.
    assert!(dst.ok(&["pull", &name]).contains("Image is up to date"));
    assert_eq!(dst.ok(&["pull", "-q", &name]), format!("{name}\n"));

    // Pushed to another repository of the same registry, the blobs are
    // mounted from the one the image was pulled from, not uploaded again.
    let copy = format!("{}/other/copy:v1", registry.host);
    dst.ok(&["tag", &name, &copy]);
    let out = dst.ok(&["push", &copy]);
    assert_eq!(out.matches("Mounted from test/busybox").count(), 3, "{out}");
    // A single-platform image is refused for another --platform.
    let o = Isola::empty().run(&["pull", "--platform", "linux/s390x", &name]);
    one_line_failure(&o, "not the requested platform linux/s390x");

    // By digest, into another root, then run by digest.
    let pinned = format!("{}/test/busybox@{digest}", registry.host);
    let third = Isola::empty();
    assert_eq!(third.ok(&["pull", "-q", &pinned]), format!("{pinned}\n"));
    assert_eq!(
        third.ok(&["run", "--rm", &pinned, "cat", "/seed.txt"]),
        "1\n"
    );
    let listed = third.ok(&["images", "--digests"]);
    assert!(
        listed.contains(&digest) && listed.contains("<none>"),
        "{listed}"
    );

    // run pulls what is missing (--pull missing is the default) ...
    let fourth = Isola::empty();
    let o = fourth.run(&["run", "--rm", &name, "cat", "/seed.txt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "1\n");
    assert!(stderr(&o).starts_with("Downloaded "), "{}", stderr(&o));
    // ... and --pull never does not.
    let fifth = Isola::empty();
    let o = fifth.run(&["run", "--rm", "--pull", "never", &name, "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(images(&fifth), "");
}

#[test]
fn pulled_image_runs_in_a_vm() {
    let registry = Registry::plain();
    let name = format!("{}/vm/busybox:latest", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer()], &name);
    src.ok(&["push", "-q", &name]);
    let dst = Isola::empty();
    let info = dst.ok(&["info"]);
    assert!(
        info.contains(" vm: available"),
        "VM isolation unavailable: {info}"
    );
    dst.ok(&["pull", "-q", &name]);
    assert_eq!(
        dst.ok(&[
            "run",
            "--rm",
            "--isolation=vm",
            &name,
            "echo",
            "hello from the guest"
        ]),
        "hello from the guest\n"
    );
}

#[test]
fn tls_registry_with_basic_auth_and_login() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new(certs.path());
    let registry = Registry::tls_auth(&ca, "alice", "s3cret pass");
    let name = format!("{}/private/busybox:v1", registry.host);
    let docker = tempfile::tempdir().unwrap();
    let src = Isola::empty();
    load(&src, &[busybox_layer()], &name);

    // Without the CA: the certificate is not trusted.
    let o = with_docker_config(&src, docker.path(), &["push", &name], None);
    one_line_failure(&o, &registry.host);
    assert!(
        stderr(&o).to_lowercase().contains("certificate"),
        "{}",
        stderr(&o)
    );

    ca.trust(src.path(), &registry.host);
    // Trusted, but not logged in: 401.
    let o = with_docker_config(&src, docker.path(), &["push", &name], None);
    one_line_failure(&o, "401");

    // Wrong password, then right one, from stdin only.
    let o = with_docker_config(
        &src,
        docker.path(),
        &["login", "-u", "alice", "--password-stdin", &registry.host],
        Some(b"wrong\n"),
    );
    one_line_failure(&o, "unauthorized");
    let o = with_docker_config(
        &src,
        docker.path(),
        &["login", "-u", "alice", "--password-stdin", &registry.host],
        Some(b"s3cret pass\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Login Succeeded\n");
    let config = std::fs::read_to_string(docker.path().join("config.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert!(
        config["auths"][&registry.host]["auth"].is_string(),
        "{config}"
    );
    assert!(
        !config.to_string().contains("s3cret"),
        "stored encoded, as Docker"
    );
    // A password is never accepted in argv.
    let o = src.run(&["login", "-u", "alice", "-p", "x", &registry.host]);
    assert_eq!(o.status.code(), Some(125), "a bad command line");

    let o = with_docker_config(&src, docker.path(), &["push", &name], None);
    assert!(o.status.success(), "{}", stderr(&o));

    let dst = Isola::empty();
    ca.trust(dst.path(), &registry.host);
    let o = with_docker_config(&dst, docker.path(), &["pull", "-q", &name], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(dst.ok(&["run", "--rm", &name, "echo", "ok"]), "ok\n");

    let o = with_docker_config(&dst, docker.path(), &["logout", &registry.host], None);
    assert!(
        stdout(&o).contains("Removing login credentials"),
        "{}",
        stdout(&o)
    );
    let other = Isola::empty();
    ca.trust(other.path(), &registry.host);
    let o = with_docker_config(&other, docker.path(), &["pull", &name], None);
    one_line_failure(&o, "401");
    assert_eq!(images(&other), "");
}

/// Pushes an index with an amd64 and an arm64/v8 manifest (made from two
/// images isola pushed) and checks which one each pull chooses.
#[test]
fn pull_chooses_the_platform_from_an_index() {
    let registry = Registry::plain();
    let src = Isola::empty();
    let mut manifests = Vec::new();
    for (tag, seed) in [("amd", 1u64), ("arm", 2)] {
        let name = format!("{}/multi/app:{tag}", registry.host);
        load(&src, &[busybox_layer(), data_layer(seed, 1000)], &name);
        let digest = src.ok(&["push", "-q", &name]).trim().to_string();
        let (status, body) = http(
            &registry.host,
            "GET",
            &format!("/v2/multi/app/manifests/{digest}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
            b"",
        );
        assert_eq!(status, 200);
        manifests.push((digest, body.len()));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifests[0].0, "size": manifests[0].1,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifests[1].0, "size": manifests[1].1,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ]
    });
    let (status, body) = http(
        &registry.host,
        "PUT",
        "/v2/multi/app/manifests/latest",
        &[("Content-Type", "application/vnd.oci.image.index.v1+json")],
        &serde_json::to_vec(&index).unwrap(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let name = format!("{}/multi/app:latest", registry.host);
    let seed = |i: &Isola| i.ok(&["run", "--rm", &name, "cat", "/seed.txt"]);

    let host = Isola::empty();
    host.ok(&["pull", "-q", &name]);
    assert_eq!(seed(&host), "1\n", "the host (amd64) manifest");
    // The arm image shares the busybox layer: it is not downloaded again.
    let out = host.ok(&["pull", &format!("{}/multi/app:arm", registry.host)]);
    assert_eq!(out.matches("Already exists").count(), 1, "{out}");
    assert_eq!(out.matches("Download complete").count(), 1, "{out}");

    let arm = Isola::empty();
    arm.ok(&["pull", "-q", "--platform", "linux/arm64", &name]);
    assert_eq!(
        arm.run(&["image", "inspect", "-f", "{{.Id}}", &name])
            .status
            .code(),
        Some(0)
    );
    let arm_id = arm.inspect(&name, "{{.Id}}");
    assert_eq!(
        arm_id,
        src.inspect(&format!("{}/multi/app:arm", registry.host), "{{.Id}}")
    );

    // -a: every tag of the repository.
    let all = Isola::empty();
    let repo = format!("{}/multi/app", registry.host);
    let out = all.ok(&["pull", "-a", "-q", &repo]);
    let mut pulled: Vec<&str> = out.lines().collect();
    pulled.sort_unstable();
    let want = ["amd", "arm", "latest"].map(|t| format!("{repo}:{t}"));
    assert_eq!(pulled, want, "{out}");
    assert_eq!(
        all.ok(&["images", "-q"]).lines().count(),
        2,
        "three tags, two images"
    );
    let o = all.run(&["pull", "-a", &name]);
    one_line_failure(&o, "without a tag");

    let none = Isola::empty();
    let o = none.run(&["pull", "--platform", "linux/s390x", &name]);
    one_line_failure(&o, "no manifest for platform linux/s390x");
    assert!(stderr(&o).contains("linux/arm64/v8"), "{}", stderr(&o));
    assert_eq!(images(&none), "");
    let o = none.run(&["pull", "--platform", "linux", &name]);
    assert_fails(&o, 125, "invalid platform");
}

#[test]
fn unreachable_and_missing_images_fail_in_one_line() {
    let registry = Registry::plain();
    let i = Isola::empty();
    let o = i.run(&["pull", "no-such-host.invalid/app:v1"]);
    one_line_failure(&o, "no-such-host.invalid");
    let refused = format!("127.0.0.1:{}/app:v1", free_port());
    let o = i.run(&["pull", &refused]);
    one_line_failure(&o, "cannot connect");
    let missing = format!("{}/nothing/here:v1", registry.host);
    let o = i.run(&["pull", &missing]);
    one_line_failure(&o, &missing);
    let o = i.run(&["run", "--rm", &missing, "true"]);
    assert_fails(&o, 125, "manifest unknown");
    let o = i.run(&["push", "not-in-the-store:v1"]);
    one_line_failure(&o, "not found");
    assert_eq!(images(&i), "");
}

/// What a [`Proxy`] does to the response for the one blob it watches.
#[derive(Clone, Copy)]
enum Fault {
    /// Sends half of the first response, then closes the connection.
    CutOnce,
    /// Flips one byte in the middle of every response body.
    Corrupt,
    /// Answers the first request with 503 Service Unavailable.
    UnavailableOnce,
    /// Answers every request with a 5 MiB manifest (over Docker's 4 MiB).
    Oversize,
}

/// An HTTP proxy in front of a registry: one request per connection,
/// passing everything through except the blob `target`'s body.
struct Proxy {
    host: String,
    hits: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(upstream: &str, target: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let (upstream, target, counter) = (upstream.to_string(), target.to_string(), hits.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, target, counter) =
                    (upstream.clone(), target.clone(), counter.clone());
                std::thread::spawn(move || serve(client, &upstream, &target, fault, &counter));
            }
        });
        Proxy { host, hits }
    }
}

fn serve(mut client: TcpStream, upstream: &str, target: &str, fault: Fault, hits: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head == [0x16] {
            return; // A TLS handshake: this proxy speaks plain HTTP only.
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines: Vec<&str> = text
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let watched = lines[0].starts_with("GET ") && lines[0].contains(target);
    if watched
        && matches!(fault, Fault::UnavailableOnce)
        && hits.fetch_add(1, Ordering::SeqCst) == 0
    {
        let _ = client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    if watched && matches!(fault, Fault::Oversize) {
        hits.fetch_add(1, Ordering::SeqCst);
        let body = format!(
            "{{\"schemaVersion\":2,\"pad\":\"{}\"}}",
            "x".repeat(5 << 20)
        );
        let _ = client.write_all(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        return;
    }
    let mut up = TcpStream::connect(upstream).unwrap();
    up.write_all(format!("{}\r\n\r\n", lines.join("\r\n")).as_bytes())
        .unwrap();
    let mut response = Vec::new();
    let _ = up.read_to_end(&mut response);
    if watched && matches!(fault, Fault::CutOnce | Fault::Corrupt) {
        let hit = hits.fetch_add(1, Ordering::SeqCst);
        let body = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(response.len(), |p| p + 4);
        let middle = body + (response.len() - body) / 2;
        match fault {
            Fault::CutOnce if hit == 0 => response.truncate(middle),
            Fault::Corrupt if response.len() > body => response[middle] ^= 0x20,
            _ => {}
        }
    }
    let _ = client.write_all(&response);
}

fn layer_digest(i: &Isola, name: &str) -> String {
    // The manifest is a stored blob: its top layer's digest.
    let host_manifest = i.ok(&["push", "-q", name]);
    let _ = host_manifest;
    let (registry, rest) = name.split_once('/').unwrap();
    let (repo, tag) = rest.rsplit_once(':').unwrap();
    let (status, body) = http(
        registry,
        "GET",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(status, 200);
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let registry = Registry::plain();
    let name = format!("{}/big/app:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer(), data_layer(7, 4 << 20)], &name);
    let digest = layer_digest(&src, &name);
    let proxy = Proxy::start(&registry.host, &digest, Fault::CutOnce);
    let via = format!("{}/big/app:v1", proxy.host);
    let dst = Isola::empty();
    let out = dst.ok(&["pull", &via]);
    assert!(out.contains("Resuming at"), "{out}");
    assert_eq!(
        proxy.hits.load(Ordering::SeqCst),
        2,
        "one cut, one ranged request"
    );
    assert_eq!(dst.ok(&["run", "--rm", &via, "cat", "/seed.txt"]), "7\n");
}

#[test]
fn a_server_error_is_retried() {
    let registry = Registry::plain();
    let name = format!("{}/flaky/app:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer(), data_layer(5, 10_000)], &name);
    let digest = layer_digest(&src, &name);
    let proxy = Proxy::start(&registry.host, &digest, Fault::UnavailableOnce);
    let via = format!("{}/flaky/app:v1", proxy.host);
    let dst = Isola::empty();
    let out = dst.ok(&["pull", &via]);
    assert!(out.contains("Retrying (HTTP 503"), "{out}");
    assert_eq!(proxy.hits.load(Ordering::SeqCst), 2);
    assert_eq!(dst.ok(&["run", "--rm", &via, "cat", "/seed.txt"]), "5\n");
}

#[test]
fn a_corrupted_layer_is_refused_and_nothing_is_stored() {
    let registry = Registry::plain();
    let name = format!("{}/bad/app:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer(), data_layer(9, 100_000)], &name);
    let digest = layer_digest(&src, &name);
    let proxy = Proxy::start(&registry.host, &digest, Fault::Corrupt);
    let via = format!("{}/bad/app:v1", proxy.host);
    let dst = Isola::empty();
    let o = dst.run(&["pull", &via]);
    one_line_failure(&o, "digest mismatch");
    assert_eq!(images(&dst), "");
    let downloads = dst.path().join("images/downloads");
    let left: Vec<_> = std::fs::read_dir(&downloads)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    // The corrupt download is deleted (the good layer stays for a resume).
    let corrupt = format!("{}.partial", &digest[7..]);
    assert!(left.iter().all(|f| *f != *corrupt), "{left:?}");
    let blobs = dst.path().join("images/blobs/sha256");
    assert!(!blobs.join(&digest[7..]).exists());
}

/// A Docker token server: answers `GET /token` with a JWT (RS256, signed
/// by openssl with a key whose certificate the registry trusts) granting
/// the requested scope to `user`/`password`, and nothing to anyone else.
struct TokenServer {
    realm: String,
    requests: Arc<AtomicUsize>,
}

fn b64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        if !url {
            out.push_str(&"=".repeat(3 - chunk.len()));
        }
    }
    out
}

fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| {
            v.replace("%3A", ":")
                .replace("%2F", "/")
                .replace("%2C", ",")
        })
        .collect()
}

impl TokenServer {
    fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        let out = std::process::Command::new("sh")
            .arg("-ec")
            .arg(
                "openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt \
                   -days 2 -subj /CN=isola-test-token 2>/dev/null
                 openssl x509 -in token.crt -outform DER -out token.der",
            )
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let der = std::fs::read(dir.join("token.der")).unwrap();
        let key = dir.join("token.key");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let expected = format!(
            "Basic {}",
            b64(format!("{user}:{password}").as_bytes(), false)
        );
        let user = user.to_string();
        std::thread::spawn(move || {
            for mut client in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let query = target.split_once('?').map_or("", |(_, q)| q);
                let authorization = head
                    .lines()
                    .find_map(|l| {
                        l.split_once(": ")
                            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                    })
                    .map(|(_, v)| v.trim().to_string());
                let (status, body) = match authorization {
                    Some(a) if a != expected => (
                        "401 Unauthorized",
                        "{\"details\":\"bad credentials\"}".to_string(),
                    ),
                    granted => {
                        let access: Vec<serde_json::Value> = if granted.is_some() {
                            query_values(query, "scope")
                                .iter()
                                .filter_map(|s| {
                                    let mut parts = s.splitn(3, ':');
                                    let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
                                    Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
                                })
                                .collect()
                        } else {
                            Vec::new()
                        };
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs();
                        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [b64(&der, false)]});
                        let claims = serde_json::json!({
                            "iss": "isola-test-issuer", "sub": user, "aud": "isola-test",
                            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()),
                            "access": access,
                        });
                        let input = format!(
                            "{}.{}",
                            b64(header.to_string().as_bytes(), true),
                            b64(claims.to_string().as_bytes(), true)
                        );
                        let mut sign = std::process::Command::new("openssl")
                            .args(["dgst", "-sha256", "-sign"])
                            .arg(&key)
                            .stdin(std::process::Stdio::piped())
                            .stdout(std::process::Stdio::piped())
                            .spawn()
                            .unwrap();
                        sign.stdin
                            .take()
                            .unwrap()
                            .write_all(input.as_bytes())
                            .unwrap();
                        let signature = sign.wait_with_output().unwrap().stdout;
                        let token = format!("{input}.{}", b64(&signature, true));
                        ("200 OK", serde_json::json!({"token": token, "access_token": token, "expires_in": 300}).to_string())
                    }
                };
                let _ = client.write_all(
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
        TokenServer { realm, requests }
    }
}

#[test]
fn bearer_tokens_from_a_token_server() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(dir.path(), "bob", "hunter2");
    let registry = Registry::with_auth_section(&format!(
        "auth:\n  token:\n    realm: {}\n    service: isola-test\n    issuer: isola-test-issuer\n    rootcertbundle: {}\n",
        tokens.realm,
        dir.path().join("token.crt").display()
    ));
    let name = format!("{}/team/busybox:v1", registry.host);
    let docker = tempfile::tempdir().unwrap();
    let src = Isola::empty();
    load(&src, &[busybox_layer()], &name);

    // Anonymous tokens grant nothing.
    let o = with_docker_config(&src, docker.path(), &["push", &name], None);
    one_line_failure(&o, "401");
    let o = with_docker_config(
        &src,
        docker.path(),
        &["login", "-u", "bob", "--password-stdin", &registry.host],
        Some(b"nope"),
    );
    one_line_failure(&o, "unauthorized");
    let o = with_docker_config(
        &src,
        docker.path(),
        &["login", "-u", "bob", "--password-stdin", &registry.host],
        Some(b"hunter2"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let before = tokens.requests.load(Ordering::SeqCst);
    let o = with_docker_config(&src, docker.path(), &["push", &name], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        tokens.requests.load(Ordering::SeqCst) > before,
        "a token was fetched"
    );

    let dst = Isola::empty();
    let o = with_docker_config(&dst, docker.path(), &["pull", "-q", &name], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(dst.ok(&["run", "--rm", &name, "echo", "ok"]), "ok\n");
}

#[test]
fn a_corrupted_manifest_is_refused() {
    let registry = Registry::plain();
    let name = format!("{}/badmanifest/app:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer()], &name);
    src.ok(&["push", "-q", &name]);
    let proxy = Proxy::start(&registry.host, "/manifests/", Fault::Corrupt);
    let dst = Isola::empty();
    let o = dst.run(&["pull", &format!("{}/badmanifest/app:v1", proxy.host)]);
    one_line_failure(&o, "igest");
    assert_eq!(images(&dst), "");
}

#[test]
fn an_oversize_manifest_is_refused() {
    let registry = Registry::plain();
    let proxy = Proxy::start(&registry.host, "/manifests/", Fault::Oversize);
    let dst = Isola::empty();
    let o = dst.run(&["pull", &format!("{}/huge/app:v1", proxy.host)]);
    one_line_failure(&o, "(limit 4.2MB)");
    assert!(
        proxy.hits.load(Ordering::SeqCst) > 0,
        "the proxy was not asked"
    );
    assert_eq!(images(&dst), "");
}

/// A tmpfs of `mb` MiB mounted on a temporary directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mb: u32) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("isola-small-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_in_one_line_and_stores_nothing() {
    let registry = Registry::plain();
    let name = format!("{}/huge/app:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer(), data_layer(3, 12 << 20)], &name);
    src.ok(&["push", "-q", &name]);
    let disk = SmallDisk::new(8);
    let root = disk.dir.path().join("root");
    {
        let dst = Isola::at(&root);
        let before = dst.ok(&["images", "-q"]);
        let o = dst.run(&["pull", &name]);
        one_line_failure(&o, "No space left on device");
        assert_eq!(dst.ok(&["images", "-q"]), before, "only busybox");
        assert_eq!(dst.ok(&["run", "--rm", "busybox", "true"]), "");
    }
}

/// The Definition of Done's interop check: what isola pushes Docker pulls
/// and runs, and what Docker pushes (schema 2, gzip layers) isola pulls and
/// runs, with the same digest.
#[test]
fn docker_pulls_what_isola_pushes_and_back() {
    let registry = Registry::plain();
    let dockerd = Dockerd::start();
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let name = format!("{}/interop/isola-made:v1", registry.host);
    let src = Isola::empty();
    load(&src, &[busybox_layer(), data_layer(11, 1000)], &name);
    src.ok(&["push", "-q", &name]);
    ok(dockerd.docker(&["pull", "-q", &name]));
    let out = ok(dockerd.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &name,
        "cat",
        "/seed.txt",
    ]));
    assert_eq!(out, "11\n");

    let back = format!("{}/interop/docker-made:v2", registry.host);
    ok(dockerd.docker(&["tag", &name, &back]));
    let pushed = ok(dockerd.docker(&["push", &back]));
    let dst = Isola::empty();
    let out = dst.ok(&["pull", &back]);
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    assert!(pushed.contains(&digest), "{pushed}\n{out}");
    assert_eq!(dst.ok(&["run", "--rm", &back, "cat", "/seed.txt"]), "11\n");
}

/// With `credsStore` in config.json, `login` hands the credentials to the
/// helper (`docker-credential-NAME store`), pulls get them from it, and
/// `logout` erases them there; config.json never holds the password.
#[test]
fn credentials_go_through_a_configured_helper() {
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new(certs.path());
    let registry = Registry::tls_auth(&ca, "carol", "pw-carol");
    let name = format!("{}/helper/busybox:v1", registry.host);
    let docker = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let store = bin.path().join("stored.json");
    let helper = bin.path().join("docker-credential-isolatest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  store) cat > {s} ;;\n  get) cat > /dev/null; [ -f {s} ] && cat {s} || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n  erase) cat > /dev/null; rm -f {s} ;;\nesac\n",
            s = store.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        docker.path().join("config.json"),
        r#"{"credsStore": "isolatest"}"#,
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let isola = |i: &Isola, args: &[&str], input: &[u8]| {
        let mut child = i
            .cmd(args)
            .env("DOCKER_CONFIG", docker.path())
            .env("PATH", &path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let src = Isola::empty();
    ca.trust(src.path(), &registry.host);
    load(&src, &[busybox_layer()], &name);
    let o = isola(
        &src,
        &["login", "-u", "carol", "--password-stdin", &registry.host],
        b"pw-carol\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(stored["Username"], "carol");
    assert_eq!(stored["ServerURL"], registry.host.as_str());
    let config = std::fs::read_to_string(docker.path().join("config.json")).unwrap();
    assert!(!config.contains("auths"), "{config}");
    let o = isola(&src, &["push", "-q", &name], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = isola(&src, &["logout", &registry.host], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Removing login credentials"),
        "{}",
        stdout(&o)
    );
    assert!(!store.exists());
    let o = isola(&src, &["push", &name], b"");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

/// Two pulls of the same image into one root at once: both succeed, each
/// blob is downloaded and committed by one of them, nothing is left in
/// downloads/.
#[test]
fn concurrent_pulls_of_one_image_share_the_work() {
    let registry = Registry::plain();
    let name = format!("{}/twice/app:v1", registry.host);
    let src = Isola::empty();
    // The last layer repeats the second: a blob listed twice is fetched once.
    let data = data_layer(4, 2 << 20);
    load(
        &src,
        &[busybox_layer(), data.clone(), data_layer(6, 2 << 20), data],
        &name,
    );
    src.ok(&["push", "-q", &name]);
    let dst = Isola::empty();
    let children: Vec<_> = (0..3)
        .map(|_| {
            dst.cmd(&["pull", &name])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(dst.ok(&["images", "-q"]).lines().count(), 1);
    let layers = dst.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &name]);
    let layers: Vec<String> = serde_json::from_str(layers.trim()).unwrap();
    assert_eq!(layers.len(), 4, "{layers:?}");
    assert_eq!(layers[1], layers[3]);
    // It runs: the repeated layer is stacked once, at its upper place (its
    // seed.txt hides the third layer's).
    assert_eq!(dst.ok(&["run", "--rm", &name, "cat", "/seed.txt"]), "4\n");
    let left: Vec<_> = std::fs::read_dir(dst.path().join("images/downloads"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
