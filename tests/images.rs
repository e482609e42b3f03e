//! Images end to end: import, load (docker save and OCI layout), save,
//! tag, rmi, inspect, and hostile archives.

use isola_e2e::*;

fn busybox_layer() -> Vec<u8> {
    TarBuilder::new().dir_all(".", busybox_rootfs()).finish()
}

fn second_layer() -> Vec<u8> {
    // Adds a file and deletes /etc/group via a whiteout.
    TarBuilder::new()
        .file("hello.txt", b"from layer two\n")
        .file("etc/.wh.group", b"")
        .finish()
}

#[test]
fn docker_save_archive_loads_and_runs() {
    let i = Isola::empty();
    let archive = docker_save_archive(&[busybox_layer(), second_layer()], "multi:v1", &["sh"]);
    let path = i.path().join("image.tar");
    std::fs::write(&path, &archive).unwrap();
    assert_eq!(
        i.ok(&["load", "-i", path.to_str().unwrap()]),
        "Loaded image: multi:v1\n"
    );
    assert_eq!(
        i.ok(&["run", "--rm", "multi:v1", "cat", "/hello.txt"]),
        "from layer two\n"
    );
    let o = i.run(&["run", "--rm", "multi:v1", "ls", "/etc/group"]);
    assert_eq!(o.status.code(), Some(1), "whiteout applied");
    assert_eq!(
        i.ok(&["run", "--rm", "multi:v1", "sh", "-c", "echo $FROM_IMAGE"]),
        "docker\n"
    );
    // From stdin too.
    let j = Isola::empty();
    let o = j.run_with_input(&["load"], &archive);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(j.ok(&["images"]).contains("multi"));
}

#[test]
fn oci_layout_archive_loads_and_runs() {
    let i = Isola::empty();
    let archive = oci_archive(
        &[busybox_layer(), second_layer()],
        "ocimage:2",
        &["cat", "/hello.txt"],
    );
    let o = i.run_with_input(&["load"], &archive);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(i.ok(&["run", "--rm", "ocimage:2"]), "from layer two\n");
    assert_eq!(
        i.ok(&["run", "--rm", "ocimage:2", "sh", "-c", "echo $FROM_IMAGE"]),
        "oci\n"
    );
}

#[test]
fn save_load_round_trip_keeps_the_id() {
    let i = Isola::new();
    let id = i.inspect("busybox", "{{.Id}}");
    let out = i.path().join("saved.tar");
    i.ok(&["save", "-o", out.to_str().unwrap(), "busybox"]);
    let j = Isola::empty();
    j.ok(&["load", "-i", out.to_str().unwrap()]);
    assert_eq!(j.inspect("busybox", "{{.Id}}"), id);
    assert_eq!(j.ok(&["run", "--rm", "busybox", "echo", "ok"]), "ok\n");
}

#[test]
fn images_tag_rmi_and_inspect() {
    let i = Isola::new();
    i.ok(&["tag", "busybox", "mine:1"]);
    let list = i.ok(&["images"]);
    let header = list.lines().next().unwrap();
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        list.contains("busybox") && list.contains("latest") && list.contains("mine"),
        "{list}"
    );
    assert_eq!(
        i.ok(&["images", "-q"]).lines().count(),
        1,
        "one image, two tags"
    );
    let json: serde_json::Value =
        serde_json::from_str(&i.ok(&["image", "inspect", "mine:1"])).unwrap();
    assert_eq!(json[0]["Config"]["Cmd"][0], "sh");
    assert_eq!(json[0]["RootFS"]["Type"], "layers");
    i.ok(&["create", "--name", "user", "mine:1", "true"]);
    assert!(i.ok(&["rmi", "mine:1"]).contains("Untagged: mine:1"));
    assert_fails(&i.run(&["rmi", "busybox"]), 1, "-f");
    i.ok(&["rm", "user"]);
    let out = i.ok(&["rmi", "busybox"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(i.ok(&["images", "-q"]), "");
    assert_eq!(
        std::fs::read_dir(i.path().join("images/layers"))
            .unwrap()
            .count(),
        0,
        "layers collected"
    );
    assert_fails(&i.run(&["rmi", "busybox"]), 1, "busybox");
}

#[test]
fn rmi_force_of_an_image_in_use_only_untags_it() {
    let i = Isola::new();
    i.ok(&["create", "--name", "user", "busybox", "echo", "still-here"]);
    let out = i.ok(&["rmi", "-f", "busybox"]);
    assert!(
        out.contains("Untagged: busybox:latest") && !out.contains("Deleted"),
        "{out}"
    );
    assert!(
        i.ok(&["images"]).contains("<none>"),
        "kept as a dangling image"
    );
    assert_eq!(i.ok(&["start", "-a", "user"]), "still-here\n");
}

#[test]
fn import_forms_and_changes() {
    let i = Isola::empty();
    let tar = TarBuilder::new().dir_all(".", busybox_rootfs()).finish();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap()
    };
    let p = i.path().join("rootfs.tar.gz");
    std::fs::write(&p, gz).unwrap();
    let id = i.ok(&[
        "import",
        "-c",
        "ENV GREETING=hi",
        "-c",
        "CMD [\"sh\", \"-c\", \"echo $GREETING\"]",
        p.to_str().unwrap(),
        "fromgz",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(i.ok(&["run", "--rm", "fromgz"]), "hi\n");
    let o = i.run_with_input(&["import", "-", "fromstdin:v2"], &tar);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(i.ok(&["run", "--rm", "fromstdin:v2", "echo", "x"]), "x\n");
    assert_fails(
        &i.run(&["import", "-c", "RUN rm -rf /", p.to_str().unwrap(), "bad"]),
        1,
        "RUN",
    );
}

#[test]
fn hostile_archives_are_refused_and_write_nothing_outside_the_store() {
    let i = Isola::new();
    let canary = std::env::temp_dir().join(format!("isola-evil-{}", std::process::id()));
    let before = std::fs::read_dir(i.path().join("images/layers"))
        .unwrap()
        .count();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            TarBuilder::new()
                .raw_file(&format!("../../../../../..{}", canary.display()), b"x")
                .finish(),
        ),
        (
            "absolute",
            TarBuilder::new()
                .raw_file(canary.to_str().unwrap(), b"x")
                .finish(),
        ),
        (
            "symlink escape",
            TarBuilder::new()
                .link(
                    tar::EntryType::Symlink,
                    "esc",
                    "../../../../../../../../tmp",
                )
                .file("esc/evil", b"x")
                .finish(),
        ),
        (
            "symlink parent",
            TarBuilder::new()
                .link(tar::EntryType::Symlink, "etc2", "/tmp")
                .file(
                    &format!("etc2/{}", canary.file_name().unwrap().to_str().unwrap()),
                    b"x",
                )
                .finish(),
        ),
        (
            "hardlink escape",
            TarBuilder::new()
                .link(tar::EntryType::Link, "pw", "../../../../../../etc/passwd")
                .finish(),
        ),
    ];
    for (what, tar) in cases {
        let o = i.run_with_input(
            &["import", "-", &format!("evil-{}", what.replace(' ', "-"))],
            &tar,
        );
        assert_eq!(o.status.code(), Some(1), "{what} was accepted");
        assert_eq!(
            stderr(&o).trim_end().lines().count(),
            1,
            "{what}: {}",
            stderr(&o)
        );
        assert!(!canary.exists(), "{what} wrote outside the store");
        let o = i.run_with_input(
            &["load"],
            &docker_save_archive(&[tar], "evil:load", &["sh"]),
        );
        assert_eq!(o.status.code(), Some(1), "{what} was loaded");
        assert!(!canary.exists(), "{what} wrote outside the store");
    }
    assert_eq!(
        std::fs::read_dir(i.path().join("images/layers"))
            .unwrap()
            .count(),
        before
    );
    assert_eq!(
        i.ok(&["images", "-q"]).lines().count(),
        1,
        "no partial images"
    );
    let tmp = i.path().join("images/tmp");
    assert!(
        !tmp.exists() || std::fs::read_dir(&tmp).unwrap().count() == 0,
        "temp files left"
    );
}
