//! The hypervisor boundary. QEMU (as Kata uses it) is the one backend
//! today because it runs everywhere, including hosts without KVM; a native
//! rust-vmm VMM can implement [`Hypervisor`] for hardware-KVM hosts.

use crate::accel::Accel;
use crate::{io_err, Error, Result};
use isola_proto::layout;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A virtio-blk disk, found in the guest by its serial.
#[derive(Debug, Clone)]
pub struct Disk {
    pub path: PathBuf,
    pub serial: String,
    pub readonly: bool,
}

/// Everything needed to boot one container's VM.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// The container id (names the VM and its process).
    pub id: String,
    pub accel: Accel,
    pub memory_mib: u64,
    pub vcpus: u32,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub disks: Vec<Disk>,
    /// The VMM's working directory (the container directory).
    pub workdir: PathBuf,
    /// Unix sockets of the control ports, in port order, relative to
    /// `workdir` (see [`crate::control_socket`]).
    pub control_sockets: Vec<PathBuf>,
    /// The container's json-file log (the guest appends to it).
    pub log_file: PathBuf,
    /// Where the guest writes the exit status.
    pub exit_file: PathBuf,
    /// Where the guest appends its status records.
    pub status_file: PathBuf,
    /// Where the guest's serial console goes.
    pub console: Console,
    /// The VMM's own stdout/stderr.
    pub vmm_log: PathBuf,
    /// Shared directories and files, served by the VMM over virtio-9p.
    pub shares: Vec<Share>,
    /// The NIC: a tap descriptor the VMM inherits, joined to the
    /// container's network (see `isola_network::tap`).
    pub nic: Option<Nic>,
}

/// A virtio-net NIC on an inherited tap descriptor.
#[derive(Debug, Clone)]
pub struct Nic {
    pub tap_fd: i32,
    /// The guest's MAC: the container veth's, so the bridge sees one host.
    pub mac: String,
}

/// A host path the guest sees under the shares' tag, as entry `n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub source: PathBuf,
    pub readonly: bool,
}

/// Where a guest's serial console goes.
#[derive(Debug, Clone)]
pub enum Console {
    /// A ring buffer of this many bytes (a power of two) inside the VMM:
    /// the guest is untrusted, and a file on the host would let it fill
    /// the host's disk by writing to its console.
    Ring(u32),
    /// A file on the host: for test harnesses that boot trusted guests and
    /// want the whole console to debug them.
    File(PathBuf),
}

/// A VMM that can run a [`VmSpec`].
pub trait Hypervisor {
    /// The command that boots the VM.
    fn command(&self, spec: &VmSpec) -> Command;

    /// Replaces the calling process with the VMM, so the caller's PID
    /// becomes the VM's. Returns only when that fails.
    fn exec(&self, spec: &VmSpec) -> Error {
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.vmm_log)
        {
            Ok(f) => f,
            Err(e) => return io_err(format!("opening {}", spec.vmm_log.display()))(e),
        };
        let err_log = match log.try_clone() {
            Ok(f) => f,
            Err(e) => return io_err("dup")(e),
        };
        if let Err(e) = crate::shares::stage(spec) {
            return e;
        }
        let err = self
            .command(spec)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .exec();
        io_err("starting the hypervisor")(err)
    }
}

/// QEMU's microvm machine: no firmware, no PCI, virtio-mmio devices.
pub struct Qemu {
    pub binary: PathBuf,
}

impl Qemu {
    /// QEMU from PATH, with a clear error if it is not installed.
    pub fn find() -> Result<Qemu> {
        let name = "qemu-system-x86_64";
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(|binary| Qemu { binary })
            .ok_or(Error::Missing {
                what: "QEMU",
                path: PathBuf::from(name),
                fix: "apt-get install qemu-system-x86 (scripts/setup.sh does)",
            })
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

impl Hypervisor for Qemu {
    fn command(&self, s: &VmSpec) -> Command {
        let short = &s.id[..12.min(s.id.len())];
        let mut c = Command::new(&self.binary);
        c.current_dir(&s.workdir);
        c.args(["-name", &format!("isola-{short},process=vm-{short}")]);
        c.args([
            "-M",
            "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off",
        ]);
        match s.accel {
            Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host"]),
            // TCG's translation cache defaults to 1 GiB and fills with
            // guest code as it runs; 32 MiB holds a container's working set
            // and caps the largest part of an idle VM's memory.
            Accel::Tcg => c.args(["-accel", "tcg,tb-size=32", "-cpu", "max"]),
        };
        c.args(["-m", &format!("{}M", s.memory_mib)]);
        c.args(["-smp", &s.vcpus.to_string()]);
        c.args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]);
        c.args([
            "-sandbox",
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
        ]);
        match &s.console {
            Console::Ring(size) => {
                c.args(["-chardev", &format!("ringbuf,id=console,size={size}")]);
                c.args(["-serial", "chardev:console"]);
            }
            Console::File(f) => {
                c.args(["-serial", &format!("file:{}", path(f))]);
            }
        }
        c.args(["-pidfile", crate::files::PIDFILE]);
        // QMP, for pausing the vCPUs (`isola pause`); relative to workdir.
        c.args([
            "-qmp",
            &format!(
                "unix:{},server=on,wait=off",
                path(&crate::qmp::qmp_socket())
            ),
        ]);
        c.args(["-kernel", &path(&s.kernel), "-initrd", &path(&s.initrd)]);
        c.args([
            "-append",
            "console=ttyS0 panic=-1 reboot=t quiet lpj=5000000 tsc=reliable no_timer_check",
        ]);
        c.args(["-device", "virtio-serial-device,max_ports=16"]);
        for (i, sock) in s.control_sockets.iter().enumerate() {
            c.args([
                "-chardev",
                &format!("socket,id=ctl{i},path={},server=on,wait=off", path(sock)),
            ]);
            c.args([
                "-device",
                &format!(
                    "virtserialport,chardev=ctl{i},name={}{i}",
                    layout::CONTROL_PREFIX
                ),
            ]);
        }
        c.args([
            "-chardev",
            &format!("file,id=log,path={},append=on", path(&s.log_file)),
        ]);
        c.args([
            "-device",
            &format!("virtserialport,chardev=log,name={}", layout::LOG_PORT),
        ]);
        c.args([
            "-chardev",
            &format!("file,id=exit,path={}", path(&s.exit_file)),
        ]);
        c.args([
            "-device",
            &format!("virtserialport,chardev=exit,name={}", layout::EXIT_PORT),
        ]);
        // The device layout is fixed, whatever the container: console and
        // ports, then the image and upper disks, then the shares (only
        // when there are any), then the NIC.
        c.args([
            "-chardev",
            &format!("file,id=status,path={},append=on", path(&s.status_file)),
        ]);
        c.args([
            "-device",
            &format!("virtserialport,chardev=status,name={}", layout::STATUS_PORT),
        ]);
        for (i, d) in s.disks.iter().enumerate() {
            let ro = if d.readonly { ",readonly=on" } else { "" };
            c.args([
                "-drive",
                // On a full host disk the guest gets I/O errors instead of
                // QEMU's default of pausing the VM, which would leave the
                // container hung rather than failed.
                &format!(
                    "file={},if=none,id=d{i},format=raw{ro},werror=report,rerror=report",
                    path(&d.path)
                ),
            ]);
            c.args([
                "-device",
                &format!("virtio-blk-device,drive=d{i},serial={}", d.serial),
            ]);
        }
        if !s.shares.is_empty() {
            // QEMU's own 9p server: no extra host process per VM.
            // passthrough keeps owners and modes as the guest sets them;
            // remap keeps inode numbers unique across the binds' devices.
            c.args([
                "-fsdev",
                &format!(
                    "local,id=shares,path={},security_model=passthrough,multidevs=remap",
                    crate::shares::SHARES_DIR
                ),
            ]);
            c.args([
                "-device",
                &format!(
                    "virtio-9p-device,fsdev=shares,mount_tag={}",
                    layout::SHARES_TAG
                ),
            ]);
        }
        if let Some(nic) = &s.nic {
            // vhost needs /dev/vhost-net; the tap's fd is inherited.
            c.args([
                "-netdev",
                &format!("tap,id=net0,fd={},vhost=off", nic.tap_fd),
            ]);
            c.args([
                "-device",
                &format!("virtio-net-device,netdev=net0,mac={}", nic.mac),
            ]);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_command_line_has_the_devices() {
        let spec = VmSpec {
            id: "0123456789abcdef".into(),
            accel: Accel::Tcg,
            memory_mib: 320,
            vcpus: 2,
            kernel: "/k".into(),
            initrd: "/i".into(),
            disks: vec![Disk {
                path: "/l0.erofs".into(),
                serial: "l0".into(),
                readonly: true,
            }],
            workdir: "/".into(),
            control_sockets: vec!["c0.sock".into(), "c1.sock".into()],
            log_file: "/log".into(),
            exit_file: "/exit".into(),
            status_file: "/status".into(),
            console: Console::Ring(65536),
            vmm_log: "/vmm".into(),
            shares: vec![Share {
                source: "/data".into(),
                readonly: true,
            }],
            nic: Some(Nic {
                tap_fd: 7,
                mac: "02:42:0a:59:00:02".into(),
            }),
        };
        let c = Qemu {
            binary: "qemu".into(),
        }
        .command(&spec);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(
            joined.contains("-accel tcg,tb-size=32 -cpu max"),
            "{joined}"
        );
        assert!(joined.contains("-m 320M -smp 2"), "{joined}");
        assert!(joined.contains("name=org.isola.ctl.1"), "{joined}");
        assert!(
            joined.contains("file=/l0.erofs,if=none,id=d0,format=raw,readonly=on,werror=report"),
            "{joined}"
        );
        assert!(joined.contains("process=vm-0123456789ab"), "{joined}");
        assert!(
            joined.contains("virtio-9p-device,fsdev=shares,mount_tag=isola-shares"),
            "{joined}"
        );
        // The NIC comes last, after the disks and the share.
        assert!(
            joined.ends_with(
                "-netdev tap,id=net0,fd=7,vhost=off -device virtio-net-device,netdev=net0,mac=02:42:0a:59:00:02"
            ),
            "{joined}"
        );
        assert!(joined.contains("-sandbox on"), "{joined}");
        assert!(
            joined.contains("ringbuf,id=console,size=65536 -serial chardev:console"),
            "{joined}"
        );
    }
}
