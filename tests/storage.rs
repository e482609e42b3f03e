//! Data that outlives containers, in both isolation modes: named and
//! anonymous volumes, bind mounts, tmpfs, deep images in VM mode, and the
//! bad input and hostile paths around them.

use isola_e2e::*;
use std::os::unix::fs::MetadataExt;

const MODES: [&str; 2] = ["--isolation=process", "--isolation=vm"];

/// A root with busybox that can run both modes (fails, not skips, when VM
/// mode is unavailable: CI sets it up).
fn root() -> Isola {
    let i = Isola::new();
    assert!(
        i.ok(&["info"]).contains(" vm: available"),
        "VM isolation unavailable"
    );
    i
}

fn run(i: &Isola, mode: &str, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm", "--network", "none", mode];
    all.extend_from_slice(args);
    i.ok(&all)
}

/// Mount points of the host that mention `needle`.
fn host_mounts(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[test]
fn named_volume_outlives_containers_and_is_shared_across_modes() {
    let i = root();
    // Written in process mode, read and extended in VM mode, read back.
    run(
        &i,
        MODES[0],
        &[
            "-v",
            "data:/data",
            "busybox",
            "sh",
            "-c",
            "echo one > /data/f",
        ],
    );
    assert_eq!(
        run(
            &i,
            MODES[1],
            &[
                "-v",
                "data:/data",
                "busybox",
                "sh",
                "-c",
                "cat /data/f; echo two >> /data/f"
            ]
        ),
        "one\n"
    );
    assert_eq!(
        run(
            &i,
            MODES[0],
            &["-v", "data:/data", "busybox", "cat", "/data/f"]
        ),
        "one\ntwo\n"
    );
    let v: serde_json::Value = serde_json::from_str(&i.ok(&["volume", "inspect", "data"])).unwrap();
    assert_eq!(v[0]["Name"], "data");
    assert_eq!(v[0]["Driver"], "local");
    let mp = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(format!("{mp}/f")).unwrap(),
        "one\ntwo\n"
    );
    assert_eq!(i.ok(&["volume", "ls", "-q"]), "data\n");

    // In use (even by a stopped container): refused, data untouched.
    i.ok(&[
        "create",
        "--name",
        "user",
        "--network",
        "none",
        "-v",
        "data:/data",
        "busybox",
    ]);
    assert_fails(
        &i.run(&["volume", "rm", "data"]),
        1,
        "in use by container user",
    );
    assert!(std::path::Path::new(&format!("{mp}/f")).exists());
    i.ok(&["rm", "user"]);
    assert_eq!(i.ok(&["volume", "rm", "data"]), "data\n");
    assert!(!std::path::Path::new(&mp).exists());
    assert_fails(
        &i.run(&["volume", "inspect", "data"]),
        1,
        "no such volume: data",
    );
}

#[test]
fn binds_read_only_refuse_writes_and_read_write_keep_owners() {
    let i = root();
    for mode in MODES {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("in"), "from host\n").unwrap();
        let src = host.path().to_str().unwrap();
        let ro = format!("{src}:/h:ro");
        let o = i.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            mode,
            "-v",
            &ro,
            "busybox",
            "sh",
            "-c",
            "cat /h/in; echo x > /h/new",
        ]);
        assert_eq!(stdout(&o), "from host\n", "{mode}");
        assert!(
            stderr(&o).contains("Read-only file system"),
            "{mode}: {}",
            stderr(&o)
        );
        assert_ne!(o.status.code(), Some(0));
        assert!(
            !host.path().join("new").exists(),
            "{mode}: ro bind was written"
        );

        let rw = format!("{src}:/h");
        run(
            &i,
            mode,
            &[
                "-v",
                &rw,
                "busybox",
                "sh",
                "-c",
                "echo out > /h/out && chown 1234:4321 /h/out && mkdir /h/d && chmod 0750 /h/d",
            ],
        );
        let m = std::fs::metadata(host.path().join("out")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 4321), "{mode}");
        assert_eq!(
            std::fs::read_to_string(host.path().join("out")).unwrap(),
            "out\n"
        );
        let d = std::fs::metadata(host.path().join("d")).unwrap();
        assert_eq!(d.mode() & 0o7777, 0o750, "{mode}");

        // --mount, a single file, read-only.
        let m = format!("type=bind,source={src}/in,target=/etc/motd,readonly");
        assert_eq!(
            run(&i, mode, &["--mount", &m, "busybox", "cat", "/etc/motd"]),
            "from host\n"
        );
    }
}

#[test]
fn dash_v_creates_a_missing_host_directory_and_dash_dash_mount_refuses() {
    let i = root();
    let host = tempfile::tempdir().unwrap();
    let missing = host.path().join("a/b");
    let v = format!("{}:/m", missing.display());
    run(&i, MODES[0], &["-v", &v, "busybox", "touch", "/m/x"]);
    assert!(missing.join("x").exists());
    let gone = host.path().join("nope");
    let m = format!("type=bind,src={},dst=/m", gone.display());
    let o = i.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--mount",
        &m,
        "busybox",
        "true",
    ]);
    assert_fails(&o, 125, "bind source path does not exist");
    assert!(!gone.exists());
}

#[test]
fn image_volumes_are_anonymous_filled_from_the_image_and_removed_by_rm_v() {
    let i = root();
    let tar = TarBuilder::new()
        .dir_all(".", busybox_rootfs())
        .file("srv/seed", b"seeded\n")
        .finish();
    let path = i.path().join("img.tar");
    std::fs::write(&path, tar).unwrap();
    i.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "VOLUME /srv",
        path.to_str().unwrap(),
        "withvol",
    ]);
    for mode in MODES {
        let before = i.ok(&["volume", "ls", "-q"]);
        i.ok(&[
            "run",
            "--name",
            "c",
            "--network",
            "none",
            mode,
            "withvol",
            "sh",
            "-c",
            "cat /srv/seed && chown 7:7 /srv/seed && echo more > /srv/more",
        ]);
        let mounts: serde_json::Value =
            serde_json::from_str(&i.inspect("c", "{{json .Mounts}}")).unwrap();
        assert_eq!(mounts[0]["Type"], "volume", "{mode}");
        assert_eq!(mounts[0]["Destination"], "/srv");
        let name = mounts[0]["Name"].as_str().unwrap().to_string();
        assert_eq!(name.len(), 64, "anonymous volumes have random names");
        let src = mounts[0]["Source"].as_str().unwrap().to_string();
        // Docker's copy-up: the image's file, then the container's changes.
        assert_eq!(
            std::fs::read_to_string(format!("{src}/seed")).unwrap(),
            "seeded\n"
        );
        assert_eq!(
            std::fs::metadata(format!("{src}/seed")).unwrap().uid(),
            7,
            "{mode}"
        );
        assert_eq!(
            std::fs::read_to_string(format!("{src}/more")).unwrap(),
            "more\n"
        );
        assert!(i.ok(&["logs", "c"]).contains("seeded"));
        i.ok(&["rm", "-v", "c"]);
        assert_eq!(
            i.ok(&["volume", "ls", "-q"]),
            before,
            "{mode}: rm -v left the volume"
        );
        assert!(!std::path::Path::new(&src).exists());
    }
    // Without -v the anonymous volume stays, and prune takes it.
    i.ok(&["run", "--name", "k", "--network", "none", "withvol", "true"]);
    i.ok(&["rm", "k"]);
    assert_eq!(i.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    i.ok(&["volume", "create", "named"]);
    let pruned = i.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("Deleted Volumes:"), "{pruned}");
    assert_eq!(
        i.ok(&["volume", "ls", "-q"]),
        "named\n",
        "prune keeps named volumes"
    );
    // --rm takes its anonymous volumes with it.
    i.ok(&["run", "--rm", "--network", "none", "withvol", "true"]);
    assert_eq!(i.ok(&["volume", "ls", "-q"]), "named\n");
}

#[test]
fn tmpfs_size_is_enforced_in_both_modes() {
    let i = root();
    for mode in MODES {
        let o = i.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            mode,
            "--tmpfs",
            "/t:size=256k",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/zero of=/t/f bs=1k count=1024 2>&1; ls -l /t/f",
        ]);
        let out = stdout(&o);
        assert!(out.contains("No space left on device"), "{mode}: {out}");
        let m = i.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            mode,
            "--mount",
            "type=tmpfs,destination=/scratch,tmpfs-size=1m,tmpfs-mode=1770",
            "busybox",
            "sh",
            "-c",
            "stat -c %a /scratch; grep ' /scratch ' /proc/mounts",
        ]);
        assert!(m.starts_with("1770\n"), "{mode}: {m}");
        assert!(m.contains("size=1024k"), "{mode}: {m}");
    }
}

#[test]
fn deep_images_run_in_both_modes_with_every_layer() {
    let i = root();
    let path = i.path().join("deep.tar");
    std::fs::write(&path, deep_image_archive(63, "deep:64")).unwrap();
    i.ok(&["load", "-i", path.to_str().unwrap()]);
    for mode in MODES {
        let out = run(&i, mode, &[
            "deep:64", "sh", "-c", "cat /layers/* | wc -l; cat /layers/1 /layers/63; test -e /etc/group || echo whited-out",
        ]);
        assert_eq!(out, "63\n1\n63\nwhited-out\n", "{mode}");
    }
    // 64 layers plus 16 volumes (and room for a NIC) in one VM.
    let mut args = vec![
        "deep:64".to_string(),
        "sh".into(),
        "-c".into(),
        "ls -d /v[0-9]* | wc -l".into(),
    ];
    for n in 0..16 {
        args.splice(0..0, ["-v".to_string(), format!("vol{n}:/v{n}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run(&i, MODES[1], &args), "16\n");
}

#[test]
fn bad_mounts_are_one_line_125_and_create_nothing() {
    let i = root();
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/same", host.path().display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--mount", "type=bind,source=/no/such/dir,target=/x"],
            "bind source path does not exist: /no/such/dir",
        ),
        (
            vec!["-v", "bad/name:/x"],
            "invalid volume name \"bad/name\"",
        ),
        (vec!["-v", "good:/x", "-v", &bind], "unused"),
        (vec!["-v", "vol:/x:r0"], "unknown option \"r0\""),
        (vec!["-v", "vol:/a/../etc"], "must not contain '..'"),
        (vec!["-v", "vol:relative"], "must be absolute"),
        (vec!["--tmpfs", "/t:size=lots"], "size \"lots\""),
        (
            vec!["--mount", "type=volume,source=v,target=/x,tmpfs-size=1m"],
            "does not apply",
        ),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(flags.iter());
        args.extend(["busybox", "true"]);
        let o = i.run(&args);
        if needle == "unused" {
            // Two mounts, different destinations: fine.
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            continue;
        }
        assert_fails(&o, 125, needle);
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    // Conflicting destinations.
    let o = i.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "a:/d",
        "--tmpfs",
        "/d",
        "busybox",
        "true",
    ]);
    assert_fails(&o, 125, "duplicate mount point: /d");
    // Nothing was created by any refused run (the one good run made `good`
    // and removed its container).
    assert_eq!(i.ok(&["volume", "ls", "-q"]), "good\n");
    assert_eq!(i.ok(&["ps", "-aq"]), "");
    assert_fails(&i.run(&["volume", "rm", "nope"]), 1, "no such volume: nope");
    assert_fails(
        &i.run(&["volume", "create", "a/b"]),
        1,
        "invalid volume name",
    );
}

#[test]
fn hostile_images_cannot_redirect_mounts_onto_the_host() {
    let i = root();
    // The image makes the mount's destination a symlink to the host's /
    // (as seen from the runtime before pivot_root): a volume mounted
    // through it would land on the host.
    let tar = TarBuilder::new()
        .dir_all(".", busybox_rootfs())
        .link(tar::EntryType::Symlink, "escape", "/")
        .link(tar::EntryType::Symlink, "tmpesc", "/tmp")
        .finish();
    let path = i.path().join("evil.tar");
    std::fs::write(&path, tar).unwrap();
    i.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        path.to_str().unwrap(),
        "evil",
    ]);
    let marker = format!("isola-escape-{}", std::process::id());
    for mode in MODES {
        for dest in ["/escape/x", "/tmpesc"] {
            let v = format!("esc:{dest}");
            let o = i.run(&[
                "run",
                "--rm",
                "--network",
                "none",
                mode,
                "-v",
                &v,
                "evil",
                "sh",
                "-c",
                &format!("touch {dest}/{marker}"),
            ]);
            assert_ne!(
                o.status.code(),
                Some(0),
                "{mode} {dest}: mounted through a symlink"
            );
            assert!(stderr(&o).contains("symlink"), "{mode}: {}", stderr(&o));
        }
    }
    assert!(!std::path::Path::new("/x").exists());
    assert!(!std::path::Path::new(&format!("/tmp/{marker}")).exists());
    // A volume's content cannot reach the host through a link either: a
    // container plants a link to / in the volume; the next container's
    // copy-up or mounts do not follow it.
    run(
        &i,
        MODES[0],
        &["-v", "planted:/p", "busybox", "ln", "-s", "/", "/p/root"],
    );
    let out = run(
        &i,
        MODES[1],
        &[
            "-v",
            "planted:/p",
            "busybox",
            "sh",
            "-c",
            "readlink /p/root; ls /p/root/ | grep -c isola-escape || true",
        ],
    );
    assert!(out.starts_with("/\n0\n"), "{out}");
}

#[test]
fn killed_vms_and_monitors_leave_no_mounts_behind() {
    let i = root();
    let host = tempfile::tempdir().unwrap();
    let v = format!("{}:/h", host.path().display());
    for mode in MODES {
        i.ok(&[
            "run",
            "-d",
            "--name",
            "k",
            "--network",
            "none",
            mode,
            "-v",
            &v,
            "-v",
            "kv:/kv",
            "--tmpfs",
            "/t",
            "busybox",
            "sleep",
            "600",
        ]);
        let id = i.id("k");
        // The shares live in the VMM's own mount namespace, the binds in
        // the container's: the host's table never has them.
        assert!(
            host_mounts(&id).is_empty(),
            "{mode}: {:?}",
            host_mounts(&id)
        );
        let pid: i32 = i.inspect("k", "{{.State.Pid}}").parse().unwrap();
        let monitor = processes_mentioning(&id);
        for p in monitor.iter().chain([pid].iter()) {
            // SAFETY: kill(2) on a PID; no memory is involved.
            unsafe { libc::kill(*p, libc::SIGKILL) };
        }
        eventually("the container ends", || !running(pid));
        i.ok(&["rm", "-f", "-v", "k"]);
        assert!(host_mounts(&id).is_empty(), "{mode}");
        assert!(leftovers(&id).is_empty(), "{mode}: {:?}", leftovers(&id));
        assert!(processes_mentioning(&id).is_empty());
    }
    assert!(host_mounts(host.path().to_str().unwrap()).is_empty());
    assert_eq!(i.ok(&["volume", "ls", "-q"]), "kv\n", "named volumes stay");
}

#[test]
fn cp_both_ways_and_with_tar_streams_in_both_modes() {
    let i = root();
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a"), "a\n").unwrap();
    std::fs::write(src.join("sub/b"), "b\n").unwrap();
    for (n, mode) in MODES.iter().enumerate() {
        let name = format!("c{n}");
        i.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            mode,
            "busybox",
            "sleep",
            "600",
        ]);
        // Host → container: into a directory, renamed, and content only.
        i.ok(&["cp", src.to_str().unwrap(), &format!("{name}:/tmp/")]);
        i.ok(&[
            "cp",
            src.join("a").to_str().unwrap(),
            &format!("{name}:/tmp/renamed"),
        ]);
        i.ok(&[
            "cp",
            &format!("{}/.", src.display()),
            &format!("{name}:/root"),
        ]);
        assert_eq!(
            i.ok(&[
                "exec",
                &name,
                "sh",
                "-c",
                "cat /tmp/src/sub/b /tmp/renamed /root/a; stat -c %u /tmp/src/a"
            ]),
            "b\na\na\n0\n",
            "{mode}"
        );
        // Container → host.
        let out = host.path().join(format!("out{n}"));
        i.ok(&["cp", &format!("{name}:/tmp/src"), out.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(out.join("sub/b")).unwrap(), "b\n");
        i.ok(&["cp", &format!("{name}:/etc/passwd"), out.to_str().unwrap()]);
        assert!(std::fs::read_to_string(out.join("passwd"))
            .unwrap()
            .starts_with("root:"));
        // `-`: a tar on stdout, and a tar on stdin.
        let tar = i
            .cmd(&["cp", &format!("{name}:/tmp/src"), "-"])
            .output()
            .unwrap();
        assert!(tar.status.success());
        let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["src", "src/a", "src/sub", "src/sub/b"], "{mode}");
        let input = TarBuilder::new().file("from-stdin", b"piped\n").finish();
        let o = i.run_with_input(&["cp", "-", &format!("{name}:/tmp")], &input);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(i.ok(&["exec", &name, "cat", "/tmp/from-stdin"]), "piped\n");
        // Bad paths: one line, 125, nothing made.
        assert_fails(
            &i.run(&["cp", src.to_str().unwrap(), &format!("{name}:/no/such/dir")]),
            1,
            "/no/such: no such directory",
        );
        assert_fails(
            &i.run(&[
                "cp",
                &format!("{name}:/nope"),
                host.path().to_str().unwrap(),
            ]),
            1,
            "no such file or directory: /nope",
        );
        let deep = host.path().join("missing/parent/x");
        assert_fails(
            &i.run(&["cp", &format!("{name}:/etc/passwd"), deep.to_str().unwrap()]),
            1,
            "no such directory",
        );
        // export lists the whole root file system; diff and commit see
        // the copies.
        let tar = i.cmd(&["export", &name]).output().unwrap();
        assert!(tar.status.success());
        let names: Vec<String> = tar::Archive::new(&tar.stdout[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        for want in ["bin/busybox", "etc/passwd", "tmp/src/sub/b"] {
            assert!(
                names.iter().any(|n| n == want),
                "{mode}: export lacks {want}"
            );
        }
        assert!(
            !names.iter().any(|n| n.starts_with("proc/self")),
            "{mode}: export entered /proc"
        );
        let diff = i.ok(&["diff", &name]);
        assert!(
            diff.contains("A /tmp/src/sub/b\n") && diff.contains("A /root/a\n"),
            "{diff}"
        );
        assert!(
            !diff.contains("/etc/hosts"),
            "mount points are not changes: {diff}"
        );
        let image = format!("committed{n}:v1");
        i.ok(&["exec", &name, "rm", "/etc/group"]);
        i.ok(&[
            "commit",
            "-c",
            "CMD [\"cat\", \"/tmp/renamed\"]",
            &name,
            &image,
        ]);
        assert_eq!(
            i.ok(&["run", "--rm", "--network", "none", mode, &image]),
            "a\n"
        );
        let o = i.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "ls",
            "/etc/group",
        ]);
        assert_ne!(
            o.status.code(),
            Some(0),
            "{mode}: the deletion was committed"
        );
        i.ok(&["rm", "-f", &name]);
    }
}

#[test]
fn cp_of_a_stopped_container_and_its_limits() {
    let i = root();
    let host = tempfile::tempdir().unwrap();
    i.ok(&[
        "run",
        "--name",
        "p",
        "--network",
        "none",
        "-v",
        "sv:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /kept; echo vol > /data/v",
    ]);
    i.ok(&["cp", "p:/kept", host.path().to_str().unwrap()]);
    i.ok(&["cp", "p:/data/v", host.path().to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(host.path().join("kept")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("v")).unwrap(),
        "vol\n"
    );
    i.ok(&["cp", host.path().join("kept").to_str().unwrap(), "p:/back"]);
    assert_eq!(i.ok(&["start", "-a", "p"]), "");
    let id = i.id("p");
    assert!(
        host_mounts(&id).is_empty(),
        "cp left mounts: {:?}",
        host_mounts(&id)
    );
    // A stopped VM container: refused with the fix, nothing mounted.
    i.ok(&[
        "create",
        "--name",
        "v",
        "--network",
        "none",
        MODES[1],
        "busybox",
    ]);
    assert_fails(
        &i.run(&["cp", "v:/etc/passwd", host.path().to_str().unwrap()]),
        1,
        "start it first",
    );
}

#[test]
fn cp_never_follows_a_container_symlink_out_to_the_host() {
    // The symlink-exchange race (CVE-2018-15664): while cp runs, the
    // container swaps a directory for a link to / back and forth.
    let i = root();
    let host = tempfile::tempdir().unwrap();
    let marker = format!("isola-cp-escape-{}", std::process::id());
    let payload = host.path().join(&marker);
    std::fs::write(&payload, "payload").unwrap();
    for (n, mode) in MODES.iter().enumerate() {
        let name = format!("race{n}");
        i.ok(&["run", "-d", "--name", &name, "--network", "none", mode, "busybox", "sh", "-c",
               "mkdir -p /w/real; while true; do mv /w/real /w/tmp; ln -sfn / /w/real; rm /w/real; mv /w/tmp /w/real; done"]);
        let mut copied = 0;
        for _ in 0..15 {
            let o = i.run(&["cp", payload.to_str().unwrap(), &format!("{name}:/w/real/")]);
            copied += o.status.success() as usize;
            let out = host.path().join(format!("got{n}"));
            let _ = std::fs::remove_dir_all(&out);
            let o = i.run(&[
                "cp",
                &format!("{name}:/w/real/etc/hostname"),
                out.to_str().unwrap(),
            ]);
            if o.status.success() {
                // Whatever was copied is the container's, never the host's.
                let got = std::fs::read_to_string(&out).unwrap_or_default();
                let host_name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                assert!(
                    host_name.is_empty() || got != host_name,
                    "{mode}: read the host's /etc/hostname"
                );
            }
        }
        assert!(copied > 0, "{mode}: no copy got through the race");
        assert!(
            !std::path::Path::new(&format!("/{marker}")).exists(),
            "{mode}: cp wrote to the host's /"
        );
        i.ok(&["rm", "-f", &name]);
    }
    // A link planted in a volume, copied out, then a directory of that
    // name copied over it: the link is replaced, never written through.
    let out = host.path().join("out");
    std::fs::create_dir(&out).unwrap();
    i.ok(&[
        "run",
        "--name",
        "l",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "mkdir /x && ln -s /etc /x/evil",
    ]);
    i.ok(&["cp", "l:/x/.", out.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(out.join("evil"))
        .unwrap()
        .file_type()
        .is_symlink());
    i.ok(&[
        "run",
        "--name",
        "l2",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /x/evil && echo pwned > /x/evil/isola-pwned",
    ]);
    i.ok(&["cp", "l2:/x/.", out.to_str().unwrap()]);
    assert!(
        !std::path::Path::new("/etc/isola-pwned").exists(),
        "cp wrote through a link"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("evil/isola-pwned")).unwrap(),
        "pwned\n"
    );
}

/// The major:minor of the block device under the host's root file system.
fn host_root_disk() -> (u32, u32) {
    let dev = std::fs::metadata("/").unwrap().dev();
    (libc::major(dev), libc::minor(dev))
}

#[test]
fn images_with_device_nodes_import_and_grant_no_device() {
    let i = root();
    let (major, minor) = host_root_disk();
    // As debootstrap leaves them: /dev nodes; and a hostile node for the
    // host's root disk outside /dev.
    let tar = TarBuilder::new()
        .dir_all(".", busybox_rootfs())
        .device(tar::EntryType::Char, "dev/console", 5, 1)
        .device(tar::EntryType::Char, "dev/null", 1, 3)
        .device(tar::EntryType::Block, "hostdisk", major, minor)
        .finish();
    let path = i.path().join("rootfs.tar");
    std::fs::write(&path, tar).unwrap();
    i.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        path.to_str().unwrap(),
        "withdev",
    ]);
    for mode in MODES {
        let o = i.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            mode,
            "withdev",
            "sh",
            "-c",
            "ls -l /hostdisk; head -c 512 /hostdisk > /dev/null && echo READ-THE-HOST-DISK",
        ]);
        let out = stdout(&o);
        assert!(out.starts_with('b'), "{mode}: the node is kept: {out}");
        assert!(!out.contains("READ-THE-HOST-DISK"), "{mode}: {out}");
        assert!(
            stderr(&o).contains("Operation not permitted") || stderr(&o).contains("No such device"),
            "{mode}: {}",
            stderr(&o)
        );
    }
}

/// A small tmpfs on the host, unmounted again on drop.
struct TinyFs(tempfile::TempDir);

impl TinyFs {
    fn new(size: &str) -> TinyFs {
        let d = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(d.path())
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs for the test");
        TinyFs(d)
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_full_volume_fails_cp_in_one_line_and_keeps_its_data() {
    let i = root();
    let tiny = TinyFs::new("1m");
    let data = tiny.0.path();
    std::fs::write(data.join("precious"), "keep me\n").unwrap();
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![7u8; 4 << 20]).unwrap();
    let v = format!("{}:/data", data.display());
    for (n, mode) in MODES.iter().enumerate() {
        let name = format!("full{n}");
        i.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            mode,
            "-v",
            &v,
            "busybox",
            "sleep",
            "600",
        ]);
        let o = i.run(&[
            "cp",
            big.path().to_str().unwrap(),
            &format!("{name}:/data/big"),
        ]);
        assert_fails(&o, 1, "No space left on device");
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
        assert_eq!(
            std::fs::read_to_string(data.join("precious")).unwrap(),
            "keep me\n"
        );
        // The container itself sees the full disk as its own error.
        let o = i.run(&[
            "exec",
            &name,
            "sh",
            "-c",
            "dd if=/dev/zero of=/data/fill bs=64k count=64",
        ]);
        assert_ne!(o.status.code(), Some(0), "{mode}");
        assert_eq!(i.ok(&["exec", &name, "cat", "/data/precious"]), "keep me\n");
        i.ok(&["exec", &name, "rm", "-f", "/data/fill", "/data/big"]);
        i.ok(&["rm", "-f", &name]);
    }
}
