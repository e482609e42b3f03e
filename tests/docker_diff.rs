//! The differential test of issue 13: the same commands through the
//! installed Docker CLI against a private dockerd (Debian's docker.io) and
//! through isola, on the same busybox image (isola save | docker load).
//! Outputs are normalised for ids, times and sizes; each case says whether
//! isola must print the same (stdout and exit code) or differs on purpose,
//! with the reason. The test fails when a case marked `Same` differs, and
//! prints `same / differs` counts.
//!
//! Each case is a bash command line in which `$D` is the engine's CLI
//! (`docker`, or `isola --root ...`); `$NET` is `--network none` for both
//! (the private dockerd has no bridge). Cases run in order and share state:
//! the setup cases' containers are used by the later ones.

use isola_e2e::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Same,
    Differs(&'static str),
}
use Expect::*;

struct Case {
    cmd: &'static str,
    expect: Expect,
}

const fn same(cmd: &'static str) -> Case {
    Case { cmd, expect: Same }
}

const fn differs(cmd: &'static str, why: &'static str) -> Case {
    Case {
        cmd,
        expect: Differs(why),
    }
}

/// The cases, in order. Setup first (their output is compared too).
const CASES: &[Case] = &[
    // Setup: a running, a created, an exited, a labelled and a logging container.
    same("$D run -d --name d-top $NET busybox sleep 300"),
    same("$D create --name d-created $NET busybox echo hi"),
    same("$D run --name d-exited $NET busybox sh -c 'exit 3'"),
    same("$D run -d --name d-labeled --label env=prod --label tier=web $NET busybox sleep 300"),
    same("$D run --name d-echo $NET busybox sh -c 'echo one; sleep 0.2; echo two; sleep 0.2; echo three >&2'"),
    // Exit codes: 125 only for run/create engine errors, 1 elsewhere.
    same("$D stop d-nosuch"),
    same("$D rm d-nosuch"),
    same("$D rm -f d-nosuch"),
    same("$D logs d-nosuch"),
    same("$D wait d-nosuch"),
    same("$D inspect d-nosuch"),
    same("$D rmi nosuch-image"),
    same("$D kill d-exited"),
    same("$D top d-exited"),
    same("$D exec d-exited true"),
    same("$D rm d-top"),
    same("$D kill -s BOGUS d-top"),
    same("$D start d-nosuch"),
    same("$D run --rm $NET busybox nosuchcmd"),
    same("$D run --rm $NET busybox /etc"),
    same("$D run --rm -w rel $NET busybox pwd"),
    same("$D run --rm --pull never $NET nosuch-image:x true"),
    same("$D run --rm -u nosuchuser $NET busybox true"),
    same("$D run --rm $NET busybox sh -c 'exit 42'"),
    same("$D create --bogus-flag busybox"),
    // Go templates over inspect.
    same("$D inspect -f '{{.Config.Cmd}}' d-top"),
    same("$D inspect -f '{{json .Config.Cmd}}' d-top"),
    same("$D inspect -f '{{.State.Running}} {{.State.Status}}' d-top"),
    same("$D inspect -f '{{.State.ExitCode}}' d-exited"),
    same("$D inspect -f '{{.Name}}' d-top"),
    same("$D inspect -f '{{range .Config.Cmd}}<{{.}}>{{end}}' d-top"),
    same("$D inspect -f '{{range $i, $a := .Config.Cmd}}{{$i}}={{$a}} {{end}}' d-top"),
    same("$D inspect -f '{{if .State.Running}}up{{else}}down{{end}}' d-exited"),
    same("$D inspect -f '{{if eq .State.Status \"exited\"}}E{{else if eq .State.Status \"running\"}}R{{end}}' d-top"),
    same("$D inspect -f '{{index .Config.Labels \"env\"}}' d-labeled"),
    same("$D inspect -f '{{.Config.Labels}}' d-labeled"),
    same("$D inspect -f '{{json .Config.Labels}}' d-labeled"),
    same("$D inspect -f '{{printf \"%s:%d\" .State.Status .State.ExitCode}}' d-exited"),
    same("$D inspect -f '{{len .Config.Cmd}}' d-top"),
    same("$D inspect -f '{{ne .State.ExitCode 0}} {{lt .State.ExitCode 5}} {{gt .State.ExitCode 5}}' d-exited"),
    same("$D inspect -f '{{join .Config.Cmd \"+\"}}' d-top"),
    same("$D inspect -f '{{upper .State.Status}} {{lower \"AbC\"}} {{title .State.Status}}' d-top"),
    same("$D inspect -f '{{split \"a,b,c\" \",\"}}' d-top"),
    same("$D inspect -f '{{truncate .State.Status 3}}' d-top"),
    same("$D inspect -f '{{pad .State.Status 1 2}}|' d-top"),
    same("$D inspect -f '{{.Nope}}' d-top"),
    same("$D inspect -f '{{.State.Nope}}' d-top"),
    same("$D inspect -f '{{.State.Running' d-top"),
    same("$D inspect -f '{{.State.Status}}' d-top d-nosuch"),
    same("$D inspect --type image -f '{{.Config.Cmd}}' busybox"),
    same("$D image inspect -f '{{.Os}}/{{.Architecture}}' busybox"),
    same("$D inspect --type container busybox"),
    // ps: --format, table, filters, -l, -n, -q.
    same("$D ps --filter name=d-top --format '{{.Names}} {{.Image}} {{.Command}} {{.State}}'"),
    same("$D ps --filter name=d-top --format '{{.ID}} {{.Status}} {{.RunningFor}}'"),
    same("$D ps --filter name=d-top"),
    same("$D ps -a --filter name=d-exited"),
    same("$D ps --filter name=d-top --format 'table {{.Names}}\\t{{.Image}}'"),
    same("$D ps -a --filter name=d-exited --format '{{.Names}}: {{.Status}}'"),
    same("$D ps -a --filter name=d- --format '{{.Names}}'"),
    same("$D ps --filter label=env=prod --format '{{.Names}}'"),
    same("$D ps --filter label=env --format '{{.Names}}'"),
    same("$D ps -a --filter status=exited --format '{{.Names}}'"),
    same("$D ps -a --filter status=created --format '{{.Names}}'"),
    same("$D ps -a --filter exited=3 --format '{{.Names}}'"),
    same("$D ps -a --filter ancestor=busybox --format '{{.Names}}'"),
    same("$D ps -a --filter before=d-labeled --format '{{.Names}}'"),
    same("$D ps -a --filter since=d-created --format '{{.Names}}'"),
    same("$D ps -a --filter isolation=default --format '{{.Names}}'"),
    same("$D ps -l --format '{{.Names}}'"),
    same("$D ps -a -n 2 --format '{{.Names}}'"),
    same("$D ps -q --filter name=d-top | wc -l"),
    same("$D ps --filter name=d-labeled --format '{{.Labels}}'"),
    same("$D ps --filter name=d-labeled --format '{{.Label \"tier\"}}'"),
    same("$D ps --filter name=d-top --format '{{.Ports}}|{{.Mounts}}|{{.Networks}}'"),
    same("$D ps -s --filter name=d-top --format '{{.Names}} {{.Size}}'"),
    same("$D ps --filter bogus=1"),
    same("$D ps -a --filter name=d-top --no-trunc --format '{{.Command}}'"),
    // images.
    same("$D images --format '{{.Repository}}:{{.Tag}}'"),
    same("$D images busybox --format '{{.Repository}}'"),
    same("$D images -q busybox | wc -l"),
    same("$D images nosuch"),
    same("$D images --filter reference='busy*' --format '{{.Repository}}'"),
    same("$D images --filter dangling=true -q"),
    same("$D images busybox"),
    same("$D images --digests busybox --format '{{.Repository}} {{.Digest}}'"),
    same("$D tag busybox busybox:two"),
    same("$D images --format '{{.Repository}}:{{.Tag}}' busybox:two"),
    same("$D images --filter before=busybox:two --format '{{.Tag}}'"),
    same("$D rmi busybox:two"),
    same("$D images --format '{{json .Repository}}'"),
    // info and version.
    same("$D info --format '{{.OSType}}'"),
    same("$D info --format '{{.Containers}} {{.ContainersRunning}} {{.ContainersStopped}}'"),
    same("$D version --format '{{.Client.Os}}/{{.Client.Arch}}'"),
    same("$D version --format '{{.Server.Os}}'"),
    // container and image groups.
    same("$D container ls --filter name=d-top --format '{{.Names}}'"),
    same("$D container list --filter name=d-top --format '{{.Names}}'"),
    same("$D container ps --filter name=d-top --format '{{.Names}}'"),
    same("$D container inspect -f '{{.State.Status}}' d-top"),
    same("$D container logs d-echo"),
    same("$D image ls --format '{{.Repository}}'"),
    same("$D image list --format '{{.Repository}}'"),
    same("$D image tag busybox busybox:three"),
    same("$D image rm busybox:three"),
    same("$D container rm d-created"),
    // logs.
    same("$D logs d-echo 2>/dev/null"),
    same("$D logs d-echo 2>&1 >/dev/null"),
    same("$D logs --tail 2 d-echo 2>/dev/null"),
    same("$D logs -t d-echo 2>/dev/null"),
    same("$D logs --since 2000-01-01T00:00:00Z d-echo 2>/dev/null"),
    same("$D logs --until 2000-01-01T00:00:00Z d-echo 2>/dev/null"),
    same("$D logs --details d-echo 2>/dev/null"),
    // exec.
    same("$D exec -d d-top sh -c 'echo x > /tmp/x'"),
    same("$D exec d-top sh -c 'i=0; while [ ! -s /tmp/x ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat /tmp/x'"),
    same("$D exec -w /tmp d-top pwd"),
    // Inside the container.
    same("$D run --rm $NET busybox cat /etc/hosts"),
    same("$D run --rm $NET busybox cat /etc/resolv.conf"),
    same("$D run --rm --network host busybox hostname"),
    same("$D run --rm --read-only $NET busybox sh -c 'echo x >> /etc/hosts'"),
    same("$D run --rm --read-only $NET busybox sh -c 'echo x >> /etc/hostname'"),
    same("$D run --rm --read-only $NET busybox sh -c 'echo x >> /etc/resolv.conf'"),
    same("$D run --rm -m 64m $NET busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes"),
    same("$D run --rm --cpus 0.5 $NET busybox cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    same("$D run --rm --cpu-shares 512 $NET busybox cat /sys/fs/cgroup/cpu/cpu.shares"),
    same("$D run --rm --cpuset-cpus 0 $NET busybox cat /sys/fs/cgroup/cpuset/cpuset.cpus"),
    same("$D run --rm --pids-limit 50 $NET busybox cat /sys/fs/cgroup/pids/pids.max"),
    same("$D run --rm $NET busybox sh -c 'touch /sys/fs/cgroup/memory/x'"),
    same("$D run --rm --oom-kill-disable -m 64m $NET busybox grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control"),
    same("$D run --rm -w /tmp $NET busybox pwd"),
    same("$D run --rm --pid host $NET busybox sh -c \"test -d /proc/$PPID_HOST && echo seen\""),
    same("$D run --rm --uts host $NET busybox hostname"),
    same("$D run --rm --ipc host $NET busybox readlink /proc/self/ns/ipc"),
    same("$D run --rm --pid container:d-top $NET busybox cat /proc/1/cmdline | tr '\\0' ' '"),
    same("$D run --rm --platform linux/amd64 $NET busybox echo ok"),
    same("$D run --rm -q $NET busybox echo ok"),
    same("$D create --expose 8080 --name d-expose $NET busybox true >/dev/null; $D inspect -f '{{json .Config.ExposedPorts}}' d-expose"),
    same("$D create --pid host --ipc host --uts host --name d-hostns $NET busybox true >/dev/null; $D inspect -f '{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}} {{.HostConfig.UTSMode}}' d-hostns; $D rm d-hostns >/dev/null"),
    same("$D run -d $NET busybox nosuchcmd | wc -l"),
    same("$D run --rm -m 64m --memory-swap 128m $NET busybox sh -c 'cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting'"),
    same("$D run --rm --memory-swap 128m $NET busybox true"),
    same("$D run --rm --cpuset-cpus 99 $NET busybox true"),
    same("$D info --format '{{json .OSType}}'"),
    same("$D version --format '{{json .Client.Os}}'"),
    // commit and import with Dockerfile instructions.
    same("$D commit -c 'LABEL a=b' -c 'EXPOSE 80' -c 'VOLUME /data' -c 'USER 1:1' -c 'WORKDIR /w' -c 'ENV K=V' d-exited img-c"),
    differs(
        "$D commit -c 'STOPSIGNAL SIGINT' d-exited img-s",
        "docker.io 20.10 refuses STOPSIGNAL in -c; later Docker (and the issue) accept it",
    ),
    same("$D commit -c 'ONBUILD RUN true' -c 'HEALTHCHECK --interval=5s CMD true' d-exited img-o"),
    same("$D inspect -f '{{.Config.OnBuild}} {{.Config.Healthcheck.Test}}' img-o"),
    differs(
        "$D inspect -f '{{json .Config.Healthcheck}}' img-o",
        "key order: templates here see JSON objects (sorted keys), Docker's see Go structs (field order)",
    ),
    same("$D inspect -f '{{json .Config.Labels}} {{json .Config.ExposedPorts}} {{json .Config.Volumes}} {{.Config.User}} {{.Config.WorkingDir}}' img-c"),
    differs(
        "$D inspect -f '{{.Config.Env}}' img-c",
        "isola records the default PATH in a container's Config.Env when the image has none (Docker adds it to the runtime spec only), so commit keeps it",
    ),
    differs(
        "$D inspect -f '{{.Config.StopSignal}}' img-c",
        "image inspect's shape (another branch): an unset StopSignal is null here (<no value>), an empty string in Docker's typed struct",
    ),
    same("$D commit -c 'FROM x' d-exited img-bad"),
    same("$D export d-exited | $D import -c 'CMD [\"echo\",\"hi\"]' -c 'LABEL b=c' - img-i | wc -l"),
    same("$D run --rm $NET img-i"),
    same("$D inspect -f '{{json .Config.Labels}}' img-i"),
    // volume and network listings.
    same("$D volume create v-one"),
    same("$D volume ls --format '{{.Name}} {{.Driver}}'"),
    same("$D volume ls -q --filter name=v-one"),
    same("$D volume rm v-one"),
    same("$D network ls --filter name=none --format '{{.Name}} {{.Driver}}'"),
    same("$D network ls --filter driver=null --format '{{.Name}}'"),
    same("$D volume create v-two >/dev/null; $D volume ls -q --filter dangling=true; $D volume rm v-two"),
    same("$D ps -a --filter name=d-exited --format 'table {{.Names}}\t{{.Status}}\t{{.State}}'"),
    // Teardown, also compared.
    same("$D rm -f d-top d-labeled"),
    same("$D rm d-exited d-echo d-expose"),
    same("$D ps -aq"),
];

/// The same behaviour in VM isolation: `$VM` is `--isolation=vm` for
/// isola and empty for Docker (whose containers always share the kernel).
const VM_CASES: &[Case] = &[
    same("$D run --rm $VM $NET busybox sh -c 'exit 7'"),
    same("$D run --rm $VM $NET busybox cat /etc/hosts"),
    same("$D run --rm $VM $NET busybox cat /etc/resolv.conf"),
    same("$D run --rm $VM --read-only $NET busybox sh -c 'echo x >> /etc/hosts'"),
    // The guest kernel runs cgroup v2: the same limit, in v2's file.
    same("$D run --rm $VM -m 64m $NET busybox sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'"),
    same("$D run --rm $VM -w rel $NET busybox pwd"),
    same("$D run --rm $VM $NET busybox nosuchcmd"),
    same("$D run -d --name d-vm $VM $NET busybox sh -c 'echo ready; sleep 300' | wc -l"),
    same("$D exec -d d-vm sh -c 'echo y > /tmp/y'"),
    same("$D exec d-vm sh -c 'i=0; while [ ! -s /tmp/y ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; cat /tmp/y'"),
    same("$D logs --since 2000-01-01T00:00:00Z --details d-vm"),
    same("$D ps --filter name=d-vm --format '{{.Names}} {{.State}} {{.Command}}'"),
    same("$D rm -f d-vm"),
];

/// Ids, times and sizes replaced by placeholders; runs of spaces (table
/// padding, which follows the width of the replaced values) collapsed.
fn normalise(s: &str) -> String {
    let rules: &[(&str, &str)] = &[
        (r"sha256:[0-9a-f]{64}", "<DIGEST>"),
        (r"\b[0-9a-f]{64}\b", "<ID>"),
        (r"\b[0-9a-f]{12}\b", "<ID>"),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "<TIME>",
        ),
        (
            r"(\d+|About an?|Less than a|an?) (second|minute|hour|day|week|month|year)s?( ago)?",
            "<AGO>",
        ),
        (r"\b\d+(\.\d+)?\s?(B|kB|KB|MB|GB)\b", "<SIZE>"),
        (r" {2,}", "  "),
    ];
    let mut out = s.to_string();
    for (re, with) in rules {
        out = regex::Regex::new(re)
            .unwrap()
            .replace_all(&out, *with)
            .into_owned();
    }
    out
}

fn sh(cli: &str, env: &[(&str, String)], cmd: &str) -> (Option<i32>, String, String) {
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .env("D", cli)
        .env("NET", "--network none")
        .env("PPID_HOST", std::process::id().to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (o.status.code(), stdout(&o), stderr(&o))
}

#[test]
fn docker_and_isola_agree() {
    // Installs docker.io (dockerd and its CLI) when missing.
    let dockerd = Dockerd::start();
    // The installed Docker CLI: a newer one in /usr/local/bin if there is
    // one (it talks to 20.10's API), else docker.io's.
    let docker_cli = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("no Docker CLI although docker.io is installed");
    println!("comparing against {docker_cli} and a private dockerd");
    let isola = Isola::new();
    // The same image in both: isola's busybox, saved and loaded by docker.
    let saved = isola.path().join("busybox.tar");
    isola.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
    let load = dockerd.docker(&["load", "-i", saved.to_str().unwrap()]);
    assert!(load.status.success(), "docker load: {}", stderr(&load));

    let docker_env = [("DOCKER_HOST", dockerd.host())];
    let isola_cli = format!("{} --root {}", bin().display(), isola.path().display());
    let isola_env = [("ISOLA_DEFAULT_NETWORK", "none".to_string())];
    // ` vm: available (...)` or ` vm: unavailable (why)` in `info`.
    let info = isola.ok(&["info"]);
    let vm = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("vm: "))
        .unwrap_or("unavailable (not in isola info)")
        .to_string();
    let mut cases: Vec<(&Case, bool)> = CASES.iter().map(|c| (c, false)).collect();
    if vm.starts_with("available") {
        cases.extend(VM_CASES.iter().map(|c| (c, true)));
    } else {
        println!(
            "SKIPPED {} VM-mode cases: VM isolation is unavailable here: {}",
            VM_CASES.len(),
            vm.trim()
        );
    }
    let (mut same_n, mut differs_n) = (0, 0);
    let mut broken = Vec::new();
    for (n, (case, in_vm)) in cases.iter().enumerate() {
        let vm_flag = if *in_vm { "--isolation=vm" } else { "" };
        let denv = [docker_env[0].clone(), ("VM", String::new())];
        let ienv = [isola_env[0].clone(), ("VM", vm_flag.to_string())];
        let (dc, dout, derr) = sh(docker_cli, &denv, case.cmd);
        let (ic, iout, ierr) = sh(&isola_cli, &ienv, case.cmd);
        let (dn, inn) = (normalise(&dout), normalise(&iout));
        let equal = dc == ic && dn == inn;
        let verdict = match (equal, case.expect) {
            (true, Same) => "same",
            (true, Differs(_)) => "same (marked Differs: update the table)",
            (false, Differs(_)) => "differs (intended)",
            (false, Same) => "DIFFERS",
        };
        if equal {
            same_n += 1;
        } else {
            differs_n += 1;
        }
        let mode = if *in_vm { " [vm]" } else { "" };
        println!("#{n:03}{mode} {verdict}: {}", case.cmd);
        if let Differs(why) = case.expect {
            println!("      reason: {why}");
        }
        if !equal {
            println!("      docker {dc:?}: {dn:?}  stderr: {:?}", derr.trim());
            println!("      isola  {ic:?}: {inn:?}  stderr: {:?}", ierr.trim());
        }
        if !equal && case.expect == Same {
            broken.push(format!("#{n:03}{mode} {}", case.cmd));
        }
    }
    // Nothing of docker's left: its containers go before the daemon.
    let _ = sh(
        docker_cli,
        &docker_env,
        "$D rm -f $($D ps -aq) >/dev/null 2>&1; true",
    );
    println!(
        "differential: {} cases, same {same_n} / differs {differs_n}",
        cases.len()
    );
    assert!(
        broken.is_empty(),
        "cases marked Same that differ:\n{}",
        broken.join("\n")
    );
}
