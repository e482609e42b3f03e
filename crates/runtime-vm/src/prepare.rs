//! Assembling one container's VM from its parts: a read-only erofs disk
//! of the image (cached), the writable ext4 disk, the boot
//! configuration appended to the agent's initramfs, and the `VmSpec` the
//! hypervisor boots. The engine decides the sizes and writes the spec;
//! this module only lays them out.

use crate::{
    control_socket, files, image_disk, upper_image, write_initrd, Accel, Console, Disk, Result,
    Share, VmSpec,
};
use isola_proto::layout::{BootConfig, CONTROL_PORTS};
use isola_proto::{ContainerConfig, Filesystem, Layer, Rootfs, Spec, Upper};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The image disk's serial in the guest.
const IMAGE_SERIAL: &str = "image";

/// The guest's serial console, bounded: the guest is untrusted.
const CONSOLE_RING_BYTES: u32 = 64 * 1024;

/// What one VM container is made of.
pub struct Plan<'a> {
    pub id: &'a str,
    /// The container directory: the VM's disks, sockets and files live here.
    pub dir: &'a Path,
    /// The image's unpacked layers, bottom first.
    pub layers: &'a [PathBuf],
    /// Where the erofs images of layers are cached, shared by all VMs.
    pub layer_cache: &'a Path,
    /// The container's OCI runtime spec, with the guest's paths.
    pub spec: Spec,
    pub open_stdin: bool,
    /// Start the main process only once a client attached.
    pub wait_for_attach: bool,
    pub accel: Accel,
    pub memory_mib: u64,
    pub vcpus: u32,
    pub kernel: &'a Path,
    /// The agent's base initramfs; the container's gets the boot config.
    pub base_initrd: &'a Path,
    /// The container's json-file log (the guest appends to it).
    pub log_file: PathBuf,
    /// Host directories and files the guest sees as shares `0`, `1`, ...
    pub shares: Vec<Share>,
    /// `--restart`, applied by the agent.
    pub restart: isola_proto::RestartPolicy,
    /// The health check the agent runs.
    pub health: Option<isola_proto::Probe>,
}

/// Lays out the VM of `plan` and says how to boot it.
pub fn prepare(plan: Plan<'_>) -> Result<VmSpec> {
    // The fixed device layout: the image disk, then the upper disk.
    let mut disks = vec![Disk {
        path: image_disk(plan.layer_cache, plan.layers)?,
        serial: IMAGE_SERIAL.into(),
        readonly: true,
    }];
    let layers = vec![Layer::Disk {
        serial: IMAGE_SERIAL.into(),
        fs: Filesystem::Erofs,
    }];
    let upper = plan.dir.join(files::UPPER);
    upper_image(&upper)?;
    disks.push(Disk {
        path: upper,
        serial: "upper".into(),
        readonly: false,
    });
    let boot = BootConfig {
        container: ContainerConfig {
            spec: plan.spec,
            open_stdin: plan.open_stdin,
            tty_size: None,
            rootfs: Rootfs {
                layers,
                upper: Upper::Disk {
                    serial: "upper".into(),
                    fs: Filesystem::Ext4,
                },
            },
            time_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            shares: !plan.shares.is_empty(),
            restart: plan.restart,
            health: plan.health,
        },
        wait_for_attach: plan.wait_for_attach,
    };
    let json = serde_json::to_vec(&boot).expect("boot config serializes");
    let initrd = plan.dir.join(files::INITRD);
    write_initrd(plan.base_initrd, &json, &initrd)?;
    for stale in [
        files::EXIT,
        files::STATUS,
        files::CONSOLE,
        files::BOOTED,
        files::PIDFILE,
    ] {
        let _ = std::fs::remove_file(plan.dir.join(stale));
    }
    let sockets: Vec<PathBuf> = (0..CONTROL_PORTS).map(control_socket).collect();
    for s in sockets.iter().chain([&crate::qmp::qmp_socket()]) {
        let _ = std::fs::remove_file(plan.dir.join(s));
    }
    Ok(VmSpec {
        id: plan.id.to_string(),
        accel: plan.accel,
        memory_mib: plan.memory_mib,
        vcpus: plan.vcpus,
        kernel: plan.kernel.to_path_buf(),
        initrd,
        disks,
        workdir: plan.dir.to_path_buf(),
        control_sockets: sockets,
        log_file: plan.log_file,
        exit_file: plan.dir.join(files::EXIT),
        status_file: plan.dir.join(files::STATUS),
        console: Console::Ring(CONSOLE_RING_BYTES),
        vmm_log: plan.dir.join(files::VMM_LOG),
        shares: plan.shares,
        nic: None,
    })
}
