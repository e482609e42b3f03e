//! Helpers for end-to-end tests: each test gets its own `--root` (so tests
//! run side by side), the real `isola` binary, and the built-in busybox
//! image imported from Debian's busybox-static. Dropping an [`Isola`]
//! force-removes its containers and checks that nothing leaked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `isola` binary under test: `ISOLA_BIN`, else target/<profile>/isola
/// next to this test executable.
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("ISOLA_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let bin = profile_dir.join("isola");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p isola-cli` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// The `isola-runtime` binary (OCI runtime front end): `ISOLA_RUNTIME_BIN`,
/// else target/<profile>/isola-runtime next to this test executable.
pub fn runtime_bin() -> PathBuf {
    if let Ok(p) = std::env::var("ISOLA_RUNTIME_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let b = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("isola-runtime");
    assert!(
        b.exists(),
        "{} is missing: run `cargo build -p isola-oci-runtime` (scripts/test.sh does)",
        b.display()
    );
    b
}

/// The busybox root filesystem, built once per test process.
pub fn busybox_rootfs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("isola-e2e-busybox-{}", std::process::id()));
        let st = Command::new(workspace().join("scripts/busybox-rootfs.sh"))
            .arg(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "building the busybox rootfs failed");
        dir
    })
}

/// One hermetic isola state directory.
pub struct Isola {
    root: PathBuf,
    /// The temporary directory the root lives in, removed on drop.
    _tmp: Option<tempfile::TempDir>,
    bin: PathBuf,
}

impl Isola {
    /// A fresh root with the `busybox` image imported.
    pub fn new() -> Isola {
        Isola::empty().with_busybox()
    }

    /// A root at `path` (which the caller cleans up), with busybox.
    pub fn at(path: &Path) -> Isola {
        Isola {
            root: path.to_path_buf(),
            _tmp: None,
            bin: bin(),
        }
        .with_busybox()
    }

    /// The same root driven by another isola binary.
    pub fn with_bin(mut self, bin: &Path) -> Isola {
        self.bin = bin.to_path_buf();
        self
    }

    fn with_busybox(self) -> Isola {
        let i = self;
        i.ok(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            busybox_rootfs().to_str().unwrap(),
            "busybox",
        ]);
        i
    }

    /// A fresh root without images.
    pub fn empty() -> Isola {
        let root = tempfile::Builder::new()
            .prefix("isola-e2e-")
            .tempdir_in("/var/tmp")
            .unwrap();
        Isola {
            root: root.path().to_path_buf(),
            _tmp: Some(root),
            bin: bin(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        // Suites that do not test networking run with loopback only, as
        // before the bridge became the default (tests/network.rs runs
        // bridges, in a network namespace of its own).
        if std::env::var_os("ISOLA_DEFAULT_NETWORK").is_none() {
            c.env("ISOLA_DEFAULT_NETWORK", "none");
        }
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs with `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "isola {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The `ps -a` row of container `name` ("" when there is none).
    pub fn ps_line(&self, name: &str) -> String {
        self.ok(&["ps", "-a"])
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_default()
            .to_string()
    }

    /// `inspect -f TEMPLATE TARGET`, trimmed.
    pub fn inspect(&self, target: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, target])
            .trim()
            .to_string()
    }

    /// The full id of a container.
    pub fn id(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }
}

impl Default for Isola {
    fn default() -> Self {
        Isola::new()
    }
}

impl Drop for Isola {
    fn drop(&mut self) {
        let ids = self.run(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.run(&["rm", "-f", id]);
        }
    }
}

/// What the host still holds of a container: mounts, cgroup directories,
/// processes mentioning it. Empty when it is completely gone.
pub fn leftovers(id: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in mountinfo.lines().filter(|l| l.contains(id)) {
        found.push(format!("mount: {l}"));
    }
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if let Ok(entries) = std::fs::read_dir(base) {
            for e in entries.flatten() {
                let d = e.path().join("isola").join(id);
                if d.exists() {
                    found.push(format!("cgroup: {}", d.display()));
                }
            }
        }
        let d = Path::new(base).join("isola").join(id);
        if d.exists() {
            found.push(format!("cgroup: {}", d.display()));
        }
    }
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            if let Ok(cmd) = std::fs::read(p.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(id) {
                    found.push(format!(
                        "process {}: {cmd}",
                        p.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    found
}

/// Host processes whose command line mentions `needle` (a container id).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Whether process `pid` still runs: exists and is not a zombie (an exited
/// process whose parent, often a slow-reaping init, has not reaped it).
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// The host's name for process `pid` (`comm`).
pub fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the command failed with `code` and one stderr line containing `needle`.
pub fn assert_fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "stderr {err:?} lacks {needle:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
}

/// Polls `f` every 50 ms until it returns true or 20 s pass.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}

/// A tar archive built in memory, for image fixtures.
pub struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    pub fn new() -> TarBuilder {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    /// An entry whose name is written raw, bypassing the tar crate's checks
    /// (for hostile paths like `../x` or `/abs`).
    pub fn raw_file(mut self, path: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    pub fn link(mut self, kind: tar::EntryType, path: &str, target: &str) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_entry_type(kind);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    /// A device node (`kind` Char or Block) with these numbers.
    pub fn device(mut self, kind: tar::EntryType, path: &str, major: u32, minor: u32) -> Self {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o666);
        h.set_entry_type(kind);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    /// Appends every file of a directory tree under `prefix`.
    pub fn dir_all(mut self, prefix: &str, dir: &Path) -> Self {
        self.0.follow_symlinks(false);
        self.0.append_dir_all(prefix, dir).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

impl Default for TarBuilder {
    fn default() -> Self {
        TarBuilder::new()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// A `docker save` archive of an image made of `layers` (uncompressed
/// tars), tagged `tag`, with `cmd` as its CMD.
pub fn docker_save_archive(layers: &[Vec<u8>], tag: &str, cmd: &[&str]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=docker"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256_hex(&config_bytes));
    let mut t = TarBuilder::new().file(&config_name, &config_bytes);
    let mut layer_paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let p = format!("layer{i}/layer.tar");
        t = t.file(&p, l);
        layer_paths.push(p);
    }
    let manifest =
        serde_json::json!([{"Config": config_name, "RepoTags": [tag], "Layers": layer_paths}]);
    t.file("manifest.json", &serde_json::to_vec(&manifest).unwrap())
        .finish()
}

/// An OCI image-layout archive (as `skopeo copy … oci-archive:` writes)
/// with gzip-compressed layers, tagged `tag` via the ref-name annotation.
pub fn oci_archive(layers: &[Vec<u8>], tag: &str, cmd: &[&str]) -> Vec<u8> {
    use flate2::{write::GzEncoder, Compression};
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    let mut t = TarBuilder::new().file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut layer_descs = Vec::new();
    for l in layers {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(l).unwrap();
        let blob = gz.finish().unwrap();
        let d = sha256_hex(&blob);
        layer_descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{d}"), "size": blob.len()}));
        t = t.file(&format!("blobs/sha256/{d}"), &blob);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "FROM_IMAGE=oci"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let cb = serde_json::to_vec(&config).unwrap();
    let cd = sha256_hex(&cb);
    t = t.file(&format!("blobs/sha256/{cd}"), &cb);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{cd}"), "size": cb.len()},
        "layers": layer_descs,
    });
    let mb = serde_json::to_vec(&manifest).unwrap();
    let md = sha256_hex(&mb);
    t = t.file(&format!("blobs/sha256/{md}"), &mb);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{md}"), "size": mb.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    t.file("index.json", &serde_json::to_vec(&index).unwrap())
        .finish()
}

/// A docker-save archive of busybox plus `extra` layers, layer `n` adding
/// `/layers/n` (and layer 1 whiting out busybox's `/etc/group`): a deep
/// image as language runtimes ship them.
pub fn deep_image_archive(extra: usize, tag: &str) -> Vec<u8> {
    let mut layers = vec![TarBuilder::new().dir_all(".", busybox_rootfs()).finish()];
    for n in 1..=extra {
        let mut t = TarBuilder::new().file(&format!("layers/{n}"), format!("{n}\n").as_bytes());
        if n == 1 {
            t = t.file("etc/.wh.group", b"");
        }
        layers.push(t.finish());
    }
    docker_save_archive(&layers, tag, &["sh"])
}

/// A CNCF distribution registry (Debian's `docker-registry`) on a free
/// 127.0.0.1 port with its own config and storage, killed on drop.
pub struct Registry {
    pub host: String,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

/// A CA and a server certificate for 127.0.0.1, made with openssl.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn sh(script: &str, dir: &Path) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        sh(
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
               -subj /CN=isola-test-ca -addext basicConstraints=critical,CA:TRUE \
               -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
             openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
               -subj /CN=127.0.0.1 2>/dev/null
             printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
             openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
               -out server.crt -days 2 -extfile ext 2>/dev/null",
            dir,
        );
        TestCa {
            ca: dir.join("ca.crt"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    }

    /// Makes `isola` at `root` trust this CA for `host` (ROOT/certs.d).
    pub fn trust(&self, root: &Path, host: &str) {
        let dir = root.join("certs.d").join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&self.ca, dir.join("ca.crt")).unwrap();
    }
}

/// A free TCP port on 127.0.0.1 (free when this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    /// Plain HTTP, anonymous.
    pub fn plain() -> Registry {
        Registry::start(None, None)
    }

    /// TLS with `ca`'s server certificate and htpasswd `user`/`password`.
    pub fn tls_auth(ca: &TestCa, user: &str, password: &str) -> Registry {
        Registry::start(Some(ca), Some((user, password)))
    }

    /// Plain HTTP with `auth` (a YAML `auth:` section) as access control.
    pub fn with_auth_section(auth: &str) -> Registry {
        Registry::start_with(None, None, auth)
    }

    fn start(tls: Option<&TestCa>, auth: Option<(&str, &str)>) -> Registry {
        Registry::start_with(tls, auth, "")
    }

    fn start_with(tls: Option<&TestCa>, auth: Option<(&str, &str)>, extra: &str) -> Registry {
        let deps = Command::new(workspace().join("scripts/deps.sh"))
            .args(["docker-registry", "apache2-utils", "openssl"])
            .status()
            .unwrap();
        assert!(deps.success(), "installing docker-registry failed");
        let dir = tempfile::Builder::new()
            .prefix("isola-registry-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: isola-test\n",
            dir.path().join("data").display()
        );
        if let Some(ca) = tls {
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                ca.cert.display(),
                ca.key.display()
            );
        }
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(out.status.success());
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, &out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: isola-test\n    path: {}\n",
                path.display()
            );
        }
        config += extra;
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        let registry = Registry { host, dir, child };
        eventually("the registry to listen", || {
            std::net::TcpStream::connect(&registry.host).is_ok()
        });
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain-HTTP request to `host` (for what isola itself cannot send, such
/// as an index manifest); returns the status code and the body.
pub fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request += &format!("{k}: {v}\r\n");
    }
    request += "\r\n";
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body_at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    (status, response[body_at..].to_vec())
}

/// A private dockerd (own data and exec roots and socket, no bridge, no
/// iptables), stopped on drop.
pub struct Dockerd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Dockerd {
    pub fn start() -> Dockerd {
        let deps = std::process::Command::new(workspace().join("scripts/deps.sh"))
            .arg("docker.io")
            .status()
            .unwrap();
        assert!(deps.success(), "installing docker.io failed");
        let dir = tempfile::Builder::new()
            .prefix("isola-dockerd-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let d = dir.path();
        let child = std::process::Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(d.join("log")).unwrap())
            .spawn()
            .unwrap();
        let dockerd = Dockerd { dir, child };
        eventually("dockerd to answer", || {
            dockerd.docker(&["version"]).status.success()
        });
        dockerd
    }

    /// The `DOCKER_HOST` value that reaches this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        std::process::Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd and unmount its roots.
        let _ = nix_kill(self.child.id());
        let _ = self.child.wait();
        // It leaves its default network namespace bound under the exec
        // root: unmount whatever is still mounted there (deepest first), so
        // the directory can go.
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut left: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .map(str::to_string)
            .collect();
        left.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in left {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    let status = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}
