//! Docker's default seccomp policy, compiled to classic BPF with
//! seccompiler.
//!
//! Semantics (those of Docker's built-in profile on x86_64):
//! - a syscall that is not listed fails with `EPERM`, the error a program
//!   already handles for "not allowed", rather than killing it;
//! - about 300 syscalls that only touch the caller's own resources are
//!   allowed unconditionally;
//! - syscalls that reach outside the container (mounting, namespaces,
//!   kernel modules, the clock, rebooting, tracing other processes, ...)
//!   are allowed only when the container holds the capability the kernel
//!   would check anyway, so `--cap-add` is enough to unlock them and a
//!   container without the capability does not even reach the kernel code;
//! - `clone` is allowed without `CAP_SYS_ADMIN` only when it creates no
//!   namespace;
//! - `clone3` passes its flags in memory, which a seccomp filter cannot
//!   read, so without `CAP_SYS_ADMIN` it fails with `ENOSYS`: libc then
//!   falls back to `clone`, whose flags the filter can check;
//! - `personality` is allowed only for the few personas Docker permits,
//!   and `socket` for every family except `AF_ALG` and `AF_VSOCK`.
//!
//! Some syscalls stay denied even with every capability, as in Docker:
//! `pivot_root`, `kexec_*`, `swapon`/`swapoff`, the kernel keyring
//! (`keyctl`, `add_key`, `request_key`: it is not namespaced),
//! `userfaultfd`, `io_uring_*` (it performs syscalls that seccomp never
//! sees) and obsolete ones such as `_sysctl`, `uselib`, `ustat`, `sysfs`.
//!
//! seccompiler gives a filter one action for a match and one for a
//! mismatch, so the policy is two programs: the allowlist (match: allow,
//! mismatch: `EPERM`) and, without `CAP_SYS_ADMIN`, a one-rule program
//! that answers `clone3` with `ENOSYS`. The kernel runs every installed
//! filter and keeps the most severe action; between two `ERRNO` results it
//! keeps the one of the most recently installed filter, so [`apply`]
//! installs the programs in the order [`default_filters`] returns them.
//!
//! We write the policy in Rust instead of shipping a JSON profile because
//! the same code runs statically linked in the micro-VM guest agent, which
//! has neither libseccomp nor a profile file.

use crate::{Error, Result};
use caps::Capability;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// Syscall numbers the `libc` crate lacks for some target (it differs
/// between glibc and musl, and the guest agent is built for musl). Those
/// from 424 on are the same on every architecture.
mod nr {
    #[cfg(target_arch = "x86_64")]
    mod arch {
        pub const IO_PGETEVENTS: i64 = 333;
        pub const RENAMEAT: i64 = 264;
        pub const SYNC_FILE_RANGE: i64 = 277;
        pub const GETRLIMIT: i64 = 97;
        pub const SETRLIMIT: i64 = 160;
        pub const URETPROBE: i64 = 335;
    }
    #[cfg(target_arch = "aarch64")]
    mod arch {
        pub const IO_PGETEVENTS: i64 = 292;
        pub const RENAMEAT: i64 = 38;
        pub const SYNC_FILE_RANGE: i64 = 84;
        pub const GETRLIMIT: i64 = 163;
        pub const SETRLIMIT: i64 = 164;
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub use arch::*;

    pub const FCHMODAT2: i64 = 452;
    pub const CACHESTAT: i64 = 451;
    pub const MAP_SHADOW_STACK: i64 = 453;
    pub const FUTEX_WAKE: i64 = 454;
    pub const FUTEX_WAIT: i64 = 455;
    pub const FUTEX_REQUEUE: i64 = 456;
    pub const STATMOUNT: i64 = 457;
    pub const LISTMOUNT: i64 = 458;
    pub const LSM_GET_SELF_ATTR: i64 = 459;
    pub const LSM_SET_SELF_ATTR: i64 = 460;
    pub const LSM_LIST_MODULES: i64 = 461;
    pub const SETXATTRAT: i64 = 463;
    pub const GETXATTRAT: i64 = 464;
    pub const LISTXATTRAT: i64 = 465;
    pub const REMOVEXATTRAT: i64 = 466;
}

/// The architecture the filters are compiled for: the one we run on. A
/// syscall made through another ABI (for instance a 32-bit `int 0x80` on
/// x86_64) kills the process, see [`default_filters`].
#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("isola's seccomp policy (and seccompiler) supports x86_64 and aarch64 only");

/// Syscalls every container may make: they act on the caller's own
/// memory, files, processes and sockets, all of which namespaces, cgroups
/// and file permissions already confine. Grouped by purpose so a review can
/// tell why each one is here.
const ALWAYS: &[&[i64]] = &[
    // Reading and writing file descriptors.
    &[
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_preadv,
        libc::SYS_pwritev,
        libc::SYS_preadv2,
        libc::SYS_pwritev2,
        libc::SYS_lseek,
        libc::SYS_close,
        libc::SYS_close_range,
        libc::SYS_dup,
        libc::SYS_dup3,
        libc::SYS_fcntl,
        libc::SYS_flock,
        libc::SYS_ioctl,
        libc::SYS_pipe2,
        libc::SYS_sendfile,
        libc::SYS_splice,
        libc::SYS_tee,
        libc::SYS_vmsplice,
        libc::SYS_copy_file_range,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_sync,
        libc::SYS_syncfs,
        nr::SYNC_FILE_RANGE,
        libc::SYS_fallocate,
        libc::SYS_fadvise64,
        libc::SYS_readahead,
        libc::SYS_ftruncate,
        libc::SYS_truncate,
    ],
    // Paths, directories and file metadata.
    &[
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_statfs,
        libc::SYS_fstatfs,
        libc::SYS_getdents64,
        libc::SYS_getcwd,
        libc::SYS_chdir,
        libc::SYS_fchdir,
        libc::SYS_mkdirat,
        libc::SYS_mknodat,
        nr::RENAMEAT,
        libc::SYS_renameat2,
        libc::SYS_linkat,
        libc::SYS_unlinkat,
        libc::SYS_symlinkat,
        libc::SYS_readlinkat,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        nr::FCHMODAT2,
        libc::SYS_fchown,
        libc::SYS_fchownat,
        libc::SYS_umask,
        libc::SYS_utimensat,
        libc::SYS_name_to_handle_at,
        libc::SYS_getxattr,
        libc::SYS_lgetxattr,
        libc::SYS_fgetxattr,
        libc::SYS_setxattr,
        libc::SYS_lsetxattr,
        libc::SYS_fsetxattr,
        libc::SYS_listxattr,
        libc::SYS_llistxattr,
        libc::SYS_flistxattr,
        libc::SYS_removexattr,
        libc::SYS_lremovexattr,
        libc::SYS_fremovexattr,
        nr::GETXATTRAT,
        nr::SETXATTRAT,
        nr::LISTXATTRAT,
        nr::REMOVEXATTRAT,
        // Reads the caller's own mount namespace, like /proc/self/mountinfo.
        nr::STATMOUNT,
        nr::LISTMOUNT,
    ],
    // Waiting for events.
    &[
        libc::SYS_pselect6,
        libc::SYS_ppoll,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_eventfd2,
        libc::SYS_signalfd4,
        libc::SYS_timerfd_create,
        libc::SYS_timerfd_settime,
        libc::SYS_timerfd_gettime,
        libc::SYS_inotify_init1,
        libc::SYS_inotify_add_watch,
        libc::SYS_inotify_rm_watch,
        // Only marks; creating the fanotify group needs CAP_SYS_ADMIN.
        libc::SYS_fanotify_mark,
        libc::SYS_io_setup,
        libc::SYS_io_destroy,
        libc::SYS_io_submit,
        libc::SYS_io_cancel,
        libc::SYS_io_getevents,
        nr::IO_PGETEVENTS,
    ],
    // The caller's own memory.
    &[
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        libc::SYS_mincore,
        libc::SYS_msync,
        libc::SYS_mlock,
        libc::SYS_mlock2,
        libc::SYS_mlockall,
        libc::SYS_munlock,
        libc::SYS_munlockall,
        libc::SYS_remap_file_pages,
        libc::SYS_membarrier,
        libc::SYS_memfd_create,
        libc::SYS_memfd_secret,
        libc::SYS_pkey_alloc,
        libc::SYS_pkey_free,
        libc::SYS_pkey_mprotect,
        libc::SYS_mseal,
        nr::CACHESTAT,
        nr::MAP_SHADOW_STACK,
    ],
    // Processes, threads and resource limits.
    &[
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_wait4,
        libc::SYS_waitid,
        libc::SYS_kill,
        libc::SYS_tkill,
        libc::SYS_tgkill,
        libc::SYS_getpid,
        libc::SYS_getppid,
        libc::SYS_gettid,
        libc::SYS_getpgid,
        libc::SYS_setpgid,
        libc::SYS_getsid,
        libc::SYS_setsid,
        libc::SYS_getpriority,
        libc::SYS_setpriority,
        libc::SYS_ioprio_get,
        libc::SYS_ioprio_set,
        libc::SYS_prctl,
        nr::GETRLIMIT,
        nr::SETRLIMIT,
        libc::SYS_prlimit64,
        libc::SYS_getrusage,
        libc::SYS_set_tid_address,
        libc::SYS_set_robust_list,
        libc::SYS_get_robust_list,
        libc::SYS_rseq,
        libc::SYS_restart_syscall,
        libc::SYS_pidfd_open,
        libc::SYS_pidfd_send_signal,
        libc::SYS_process_mrelease,
        libc::SYS_capget,
        libc::SYS_capset,
        // Programs may sandbox themselves further.
        libc::SYS_seccomp,
        libc::SYS_landlock_create_ruleset,
        libc::SYS_landlock_add_rule,
        libc::SYS_landlock_restrict_self,
        libc::SYS_getcpu,
        libc::SYS_sysinfo,
        libc::SYS_uname,
        libc::SYS_getrandom,
    ],
    // Credentials: changing them needs CAP_SETUID/CAP_SETGID, which the
    // kernel checks, and stays inside the user namespace.
    &[
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_getresuid,
        libc::SYS_getresgid,
        libc::SYS_getgroups,
        libc::SYS_setuid,
        libc::SYS_setgid,
        libc::SYS_setreuid,
        libc::SYS_setregid,
        libc::SYS_setresuid,
        libc::SYS_setresgid,
        libc::SYS_setfsuid,
        libc::SYS_setfsgid,
        libc::SYS_setgroups,
    ],
    // Signals.
    &[
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_rt_sigpending,
        libc::SYS_rt_sigsuspend,
        libc::SYS_rt_sigtimedwait,
        libc::SYS_rt_sigqueueinfo,
        libc::SYS_rt_tgsigqueueinfo,
        libc::SYS_sigaltstack,
    ],
    // Clocks and timers. Reading is free; adjtimex/clock_adjtime only
    // change the clock with CAP_SYS_TIME, which the kernel checks.
    &[
        libc::SYS_gettimeofday,
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_adjtimex,
        libc::SYS_clock_adjtime,
        libc::SYS_times,
        libc::SYS_getitimer,
        libc::SYS_setitimer,
        libc::SYS_timer_create,
        libc::SYS_timer_settime,
        libc::SYS_timer_gettime,
        libc::SYS_timer_getoverrun,
        libc::SYS_timer_delete,
    ],
    // Scheduling of the caller's own threads.
    &[
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_sched_setaffinity,
        libc::SYS_sched_getparam,
        libc::SYS_sched_setparam,
        libc::SYS_sched_getscheduler,
        libc::SYS_sched_setscheduler,
        libc::SYS_sched_get_priority_max,
        libc::SYS_sched_get_priority_min,
        libc::SYS_sched_rr_get_interval,
        libc::SYS_sched_getattr,
        libc::SYS_sched_setattr,
        libc::SYS_futex,
        libc::SYS_futex_waitv,
        nr::FUTEX_WAKE,
        nr::FUTEX_WAIT,
        nr::FUTEX_REQUEUE,
    ],
    // Sockets (`socket` itself is filtered by family, see `socket_rules`).
    &[
        libc::SYS_socketpair,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        libc::SYS_connect,
        libc::SYS_getsockname,
        libc::SYS_getpeername,
        libc::SYS_getsockopt,
        libc::SYS_setsockopt,
        libc::SYS_sendto,
        libc::SYS_recvfrom,
        libc::SYS_sendmsg,
        libc::SYS_recvmsg,
        libc::SYS_sendmmsg,
        libc::SYS_recvmmsg,
        libc::SYS_shutdown,
    ],
    // System V IPC and POSIX message queues, both namespaced (IPC ns).
    &[
        libc::SYS_shmget,
        libc::SYS_shmat,
        libc::SYS_shmdt,
        libc::SYS_shmctl,
        libc::SYS_semget,
        libc::SYS_semop,
        libc::SYS_semtimedop,
        libc::SYS_semctl,
        libc::SYS_msgget,
        libc::SYS_msgsnd,
        libc::SYS_msgrcv,
        libc::SYS_msgctl,
        libc::SYS_mq_open,
        libc::SYS_mq_unlink,
        libc::SYS_mq_timedsend,
        libc::SYS_mq_timedreceive,
        libc::SYS_mq_notify,
        libc::SYS_mq_getsetattr,
    ],
];

/// Unconditional syscalls of this architecture only: on x86_64, the older
/// forms that newer architectures (aarch64) only have as `*at`/`*2`
/// variants, plus x86's own thread-area and LDT calls.
#[cfg(target_arch = "x86_64")]
const ARCH_ALWAYS: &[i64] = &[
    libc::SYS_open,
    libc::SYS_creat,
    libc::SYS_access,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_getdents,
    libc::SYS_mkdir,
    libc::SYS_rmdir,
    libc::SYS_rename,
    libc::SYS_link,
    libc::SYS_unlink,
    libc::SYS_symlink,
    libc::SYS_readlink,
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_lchown,
    libc::SYS_mknod,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_futimesat,
    libc::SYS_dup2,
    libc::SYS_pipe,
    libc::SYS_select,
    libc::SYS_poll,
    libc::SYS_epoll_create,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_ctl_old,
    libc::SYS_epoll_wait_old,
    libc::SYS_eventfd,
    libc::SYS_signalfd,
    libc::SYS_inotify_init,
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_getpgrp,
    libc::SYS_pause,
    libc::SYS_alarm,
    libc::SYS_time,
    libc::SYS_arch_prctl,
    libc::SYS_modify_ldt,
    libc::SYS_set_thread_area,
    libc::SYS_get_thread_area,
    nr::URETPROBE,
];
#[cfg(not(target_arch = "x86_64"))]
const ARCH_ALWAYS: &[i64] = &[];

/// Syscalls allowed only with a capability: the one the kernel checks for
/// them, so that `--cap-add` also lifts the seccomp restriction.
const CAP_GATED: &[(Capability, &[i64])] = &[
    (
        Capability::CAP_DAC_READ_SEARCH,
        &[libc::SYS_open_by_handle_at],
    ),
    (
        Capability::CAP_SYS_ADMIN,
        &[
            libc::SYS_bpf,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_fanotify_init,
            libc::SYS_fsconfig,
            libc::SYS_fsmount,
            libc::SYS_fsopen,
            libc::SYS_fspick,
            libc::SYS_lookup_dcookie,
            nr::LSM_GET_SELF_ATTR,
            nr::LSM_SET_SELF_ATTR,
            nr::LSM_LIST_MODULES,
            libc::SYS_mount,
            libc::SYS_mount_setattr,
            libc::SYS_move_mount,
            libc::SYS_open_tree,
            libc::SYS_perf_event_open,
            libc::SYS_quotactl,
            libc::SYS_quotactl_fd,
            libc::SYS_setdomainname,
            libc::SYS_sethostname,
            libc::SYS_setns,
            libc::SYS_syslog,
            libc::SYS_umount2,
            libc::SYS_unshare,
        ],
    ),
    (Capability::CAP_SYS_BOOT, &[libc::SYS_reboot]),
    (Capability::CAP_SYS_CHROOT, &[libc::SYS_chroot]),
    (
        Capability::CAP_SYS_MODULE,
        &[
            libc::SYS_init_module,
            libc::SYS_finit_module,
            libc::SYS_delete_module,
        ],
    ),
    (Capability::CAP_SYS_PACCT, &[libc::SYS_acct]),
    (
        Capability::CAP_SYS_PTRACE,
        &[
            libc::SYS_kcmp,
            libc::SYS_pidfd_getfd,
            libc::SYS_process_madvise,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
            libc::SYS_ptrace,
        ],
    ),
    (
        Capability::CAP_SYS_TIME,
        &[libc::SYS_settimeofday, libc::SYS_clock_settime],
    ),
    (Capability::CAP_SYS_TTY_CONFIG, &[libc::SYS_vhangup]),
    (
        Capability::CAP_SYS_NICE,
        &[
            libc::SYS_get_mempolicy,
            libc::SYS_mbind,
            libc::SYS_set_mempolicy,
            libc::SYS_set_mempolicy_home_node,
        ],
    ),
    (Capability::CAP_SYSLOG, &[libc::SYS_syslog]),
    (Capability::CAP_BPF, &[libc::SYS_bpf]),
    (Capability::CAP_PERFMON, &[libc::SYS_perf_event_open]),
];

/// Capability-gated syscalls of this architecture only.
#[cfg(target_arch = "x86_64")]
const ARCH_CAP_GATED: &[(Capability, &[i64])] = &[(
    Capability::CAP_SYS_RAWIO,
    &[libc::SYS_iopl, libc::SYS_ioperm],
)];
#[cfg(not(target_arch = "x86_64"))]
const ARCH_CAP_GATED: &[(Capability, &[i64])] = &[];

/// Allowed without capability from Linux 4.8 on: before it, a traced
/// process could change its syscall after the seccomp check had run.
const TRACING_SINCE_4_8: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
];

/// The `CLONE_NEW*` flags `clone` accepts in its first argument:
/// NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
/// (`CLONE_NEWTIME` only exists for `unshare` and `clone3`.)
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// The `personality(2)` arguments Docker allows: `PER_LINUX`, `PER_LINUX32`,
/// each optionally with `UNAME26`, and `0xffffffff` (query only). Anything
/// else could, for instance, turn off ASLR (`ADDR_NO_RANDOMIZE`).
const PERSONAS: &[u64] = &[0x0, 0x0008, 0x0002_0000, 0x0002_0008, 0xffff_ffff];

/// `AF_ALG`: the kernel crypto API, a frequent source of kernel bugs.
const AF_ALG: u64 = 38;
/// `AF_VSOCK`: talks to the hypervisor and the host, outside the network
/// namespace.
const AF_VSOCK: u64 = 40;

/// Builds Docker's default policy for a container whose effective
/// capability set is `caps`, for the running kernel and architecture.
///
/// Returns the programs to give to [`apply`], in this order: the allowlist,
/// then (without `CAP_SYS_ADMIN`) the program that turns `clone3` into
/// `ENOSYS`. The order matters, see the module documentation.
///
/// Unlike Docker, which also allows the 32-bit x86 and x32 ABIs on x86_64,
/// the programs only know the native ABI: a syscall through `int 0x80`
/// kills the process (seccompiler's architecture check), and an x32 syscall
/// fails with `EPERM`.
pub fn default_filters(caps: &[Capability]) -> Result<Vec<BpfProgram>> {
    build(caps, kernel_version())
}

/// [`default_filters`] for a given kernel version, so tests can check what
/// changes with it.
fn build(caps: &[Capability], kernel: Option<(u32, u32)>) -> Result<Vec<BpfProgram>> {
    let arch = ARCH;
    let allowlist = compile(
        allowlist(caps, kernel)?.0,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )?;
    let mut programs = vec![allowlist];
    if !caps.contains(&Capability::CAP_SYS_ADMIN) {
        let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
        programs.push(compile(
            clone3,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )?);
    }
    Ok(programs)
}

/// The rules of the allowlist program.
fn allowlist(caps: &[Capability], kernel: Option<(u32, u32)>) -> Result<Rules> {
    let mut rules = Rules::default();
    for &nr in ALWAYS.iter().copied().flatten().chain(ARCH_ALWAYS) {
        rules.allow(nr);
    }
    for (cap, syscalls) in CAP_GATED.iter().chain(ARCH_CAP_GATED) {
        if caps.contains(cap) {
            for &nr in *syscalls {
                rules.allow(nr);
            }
        }
    }
    // An unknown version counts as old: the safe side.
    if kernel.is_some_and(|v| v >= (4, 8)) {
        for &nr in TRACING_SINCE_4_8 {
            rules.allow(nr);
        }
    }
    // No namespace may be created without CAP_SYS_ADMIN (with it, the
    // CAP_GATED entry has already allowed clone whatever its flags).
    rules.allow_if(
        libc::SYS_clone,
        vec![cond(0, SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS), 0)?],
    )?;
    for &persona in PERSONAS {
        rules.allow_if(
            libc::SYS_personality,
            vec![cond(0, SeccompCmpOp::Eq, persona)?],
        )?;
    }
    // Every family but AF_ALG and AF_VSOCK: below 38, 39, above 40.
    rules.allow_if(libc::SYS_socket, vec![cond(0, SeccompCmpOp::Lt, AF_ALG)?])?;
    rules.allow_if(
        libc::SYS_socket,
        vec![
            cond(0, SeccompCmpOp::Gt, AF_ALG)?,
            cond(0, SeccompCmpOp::Lt, AF_VSOCK)?,
        ],
    )?;
    rules.allow_if(libc::SYS_socket, vec![cond(0, SeccompCmpOp::Gt, AF_VSOCK)?])?;
    Ok(rules)
}

/// Installs `filters` on the calling thread, in order.
///
/// Unlike `seccompiler::apply_filter`, this does not set `no_new_privs`:
/// Docker sets that only when asked (`--security-opt no-new-privileges`),
/// so the container init installs the filters while it still holds
/// `CAP_SYS_ADMIN`, which is what the kernel requires instead.
///
/// Meant for the container init right before `execve`: it does not
/// allocate, so it is safe in a child forked from a multi-threaded
/// process. Only the calling thread is filtered (no TSYNC): the init is
/// single-threaded, and every process it starts inherits the filters.
/// Once installed, filters cannot be removed.
pub fn apply(filters: &[BpfProgram]) -> Result<()> {
    for filter in filters {
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            // seccompiler's instruction type has sock_filter's layout.
            filter: filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies `len` instructions from `filter`, which
        // stays alive and unchanged for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(Error::Seccomp(format!(
                "installing the filter: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// The syscall rules of one allowlist. An empty rule list means "allowed
/// whatever the arguments", so it must never receive conditional rules.
#[derive(Default)]
struct Rules(BTreeMap<i64, Vec<SeccompRule>>);

impl Rules {
    /// Allows `nr` unconditionally, replacing any conditional rule.
    fn allow(&mut self, nr: i64) {
        self.0.insert(nr, Vec::new());
    }

    /// Allows `nr` when all `conditions` hold, unless it is already allowed
    /// unconditionally.
    fn allow_if(&mut self, nr: i64, conditions: Vec<SeccompCondition>) -> Result<()> {
        let rule = SeccompRule::new(conditions).map_err(backend)?;
        match self.0.get_mut(&nr) {
            Some(existing) if existing.is_empty() => {}
            Some(existing) => existing.push(rule),
            None => {
                self.0.insert(nr, vec![rule]);
            }
        }
        Ok(())
    }
}

/// A condition on the low 32 bits of argument `arg`. Every argument we
/// inspect is an `int` or `unsigned int` for the kernel (or, for `clone`,
/// has all its flags in the low half), so the high half is irrelevant.
fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(backend)
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
    arch: TargetArch,
) -> Result<BpfProgram> {
    let filter = SeccompFilter::new(rules, mismatch, matched, arch).map_err(backend)?;
    BpfProgram::try_from(filter).map_err(backend)
}

fn backend(e: seccompiler::BackendError) -> Error {
    Error::Seccomp(format!("compiling the filter: {e}"))
}

/// The running kernel's (major, minor) version, from `uname(2)`.
fn kernel_version() -> Option<(u32, u32)> {
    // SAFETY: `utsname` is plain old data for which all zeroes is valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes one `struct utsname` into the valid, owned `uts`.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    // SAFETY: the kernel NUL-terminates `release` within the array.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) };
    parse_release(release.to_str().ok()?)
}

/// Parses the "6.1" of a release such as "6.1.0-18-amd64".
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use nix::errno::Errno;
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    pub(crate) fn is_root() -> bool {
        let root = nix::unistd::geteuid().is_root();
        if !root {
            eprintln!("skipped: needs root");
        }
        root
    }

    /// Runs `f` in a forked child and returns its exit code, or 128 + the
    /// signal that killed it. The child never returns into the test
    /// harness: a panic becomes exit code 101. A child still running after
    /// 30 s (say, deadlocked on a lock another harness thread held at fork
    /// time) is killed, so a broken filter fails the test instead of
    /// hanging it.
    pub(crate) fn in_child(f: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `f` and then `_exit`s; it never
        // returns into the harness's threads or runs atexit handlers.
        let child = match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
                // SAFETY: `_exit` ends the child at once, as a forked child must.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => child,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
                WaitStatus::Exited(_, code) => return code,
                WaitStatus::Signaled(_, sig, _) => return 128 + sig as i32,
                WaitStatus::StillAlive if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                WaitStatus::StillAlive => {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(child, None);
                    panic!("the test child hung and was killed");
                }
                other => panic!("unexpected child status {other:?}"),
            }
        }
    }

    /// The errno of a raw syscall result, or 0 if it succeeded.
    fn errno_of(rc: libc::c_long) -> i32 {
        if rc < 0 {
            Errno::last_raw()
        } else {
            0
        }
    }

    /// The default policy for Docker's default capabilities, applied in a
    /// child (as root, so every EPERM below comes from seccomp, not from a
    /// missing capability), then `check` run under it.
    fn under_default_policy(check: impl FnOnce() -> i32) -> i32 {
        let filters = default_filters(&crate::capabilities::docker_default()).expect("filters");
        in_child(|| {
            if apply(&filters).is_err() {
                return 100;
            }
            check()
        })
    }

    #[test]
    fn parses_kernel_releases() {
        assert_eq!(parse_release("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_release("4.19.0"), Some((4, 19)));
        assert_eq!(parse_release("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(parse_release("garbage"), None);
        assert!(kernel_version().is_some());
    }

    #[test]
    fn allowlist_follows_capabilities_and_kernel() {
        let default = crate::capabilities::docker_default();
        let rules = allowlist(&default, Some((6, 1))).unwrap().0;
        eprintln!(
            "allowed syscalls with Docker's default caps: {}",
            rules.len()
        );
        assert!(rules.len() > 300, "{}", rules.len());
        for nr in [
            libc::SYS_read,
            libc::SYS_execve,
            libc::SYS_chroot,
            libc::SYS_ptrace,
        ] {
            assert!(
                rules.get(&nr).is_some_and(Vec::is_empty),
                "{nr} unconditional"
            );
        }
        for nr in [libc::SYS_clone, libc::SYS_personality, libc::SYS_socket] {
            assert!(
                rules.get(&nr).is_some_and(|r| !r.is_empty()),
                "{nr} conditional"
            );
        }
        for nr in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_pivot_root,
            libc::SYS_sethostname,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_kexec_load,
            libc::SYS_init_module,
            libc::SYS_reboot,
            libc::SYS_swapon,
            libc::SYS_acct,
            libc::SYS_clock_settime,
            libc::SYS_keyctl,
            libc::SYS_userfaultfd,
            libc::SYS_io_uring_setup,
            libc::SYS_clone3,
        ] {
            assert!(!rules.contains_key(&nr), "{nr} must be denied");
        }

        // Before 4.8, tracing needs CAP_SYS_PTRACE.
        let old = allowlist(&default, Some((4, 4))).unwrap().0;
        assert!(!old.contains_key(&libc::SYS_ptrace));
        assert!(!allowlist(&default, None)
            .unwrap()
            .0
            .contains_key(&libc::SYS_ptrace));

        // CAP_SYS_ADMIN unlocks mount & co. and clone whatever its flags,
        // but never pivot_root.
        let mut admin = default.clone();
        admin.push(Capability::CAP_SYS_ADMIN);
        let rules = allowlist(&admin, Some((6, 1))).unwrap().0;
        for nr in [
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_clone,
            libc::SYS_clone3,
        ] {
            assert!(rules.get(&nr).is_some_and(Vec::is_empty), "{nr}");
        }
        assert!(!rules.contains_key(&libc::SYS_pivot_root));
    }

    #[test]
    fn program_count_depends_on_sys_admin() {
        let default = crate::capabilities::docker_default();
        assert_eq!(default_filters(&default).unwrap().len(), 2);
        let mut admin = default;
        admin.push(Capability::CAP_SYS_ADMIN);
        assert_eq!(default_filters(&admin).unwrap().len(), 1);
    }

    #[test]
    fn getpid_works() {
        if !is_root() {
            return;
        }
        let code = under_default_policy(|| {
            // SAFETY: getpid has no arguments.
            let pid = unsafe { libc::syscall(libc::SYS_getpid) };
            i32::from(pid <= 0)
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn unshare_and_mount_are_eperm() {
        if !is_root() {
            return;
        }
        let code = under_default_policy(|| {
            // SAFETY: unshare takes flags only.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
            if errno_of(rc.into()) != libc::EPERM {
                return 1;
            }
            // Without the filter this would fail with ENOENT, never mount.
            // SAFETY: all pointers are NUL-terminated literals or null.
            let rc = unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/nonexistent-isola-seccomp-test".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            if errno_of(rc.into()) != libc::EPERM {
                return 2;
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn clone3_is_enosys_and_clone_cannot_create_namespaces() {
        if !is_root() {
            return;
        }
        let code = under_default_policy(|| {
            // A null, zero-sized clone_args: without the filter the kernel
            // answers EINVAL and creates nothing.
            // SAFETY: clone3 with size 0 never reads the (null) pointer.
            let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
            if errno_of(rc) != libc::ENOSYS {
                return 1;
            }
            // SAFETY: a fork-like clone (no CLONE_VM, no new stack); should
            // it ever succeed, the new process exits at once.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUTS | libc::SIGCHLD) as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            if rc == 0 {
                // SAFETY: ends the unexpected grandchild.
                unsafe { libc::_exit(0) };
            }
            if errno_of(rc) != libc::EPERM {
                return 2;
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn fork_and_threads_still_work() {
        if !is_root() {
            return;
        }
        let code = under_default_policy(|| {
            // SAFETY: the grandchild only calls `_exit`.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: ends the grandchild at once.
                unsafe { libc::_exit(7) };
            }
            if pid < 0 {
                return 1;
            }
            let mut status = 0;
            // SAFETY: `status` is a valid, owned int.
            if unsafe { libc::waitpid(pid, &mut status, 0) } != pid
                || !libc::WIFEXITED(status)
                || libc::WEXITSTATUS(status) != 7
            {
                return 2;
            }
            // glibc creates threads with clone3 and falls back to clone on
            // ENOSYS: this is what the ENOSYS program is for.
            match std::thread::spawn(|| 5).join() {
                Ok(5) => 0,
                _ => 3,
            }
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn personality_and_socket_arguments_are_checked() {
        if !is_root() {
            return;
        }
        let code = under_default_policy(|| {
            // SAFETY: personality takes a value only; 0xffffffff just queries.
            let current = unsafe { libc::personality(0xffff_ffff) };
            if current < 0 {
                return 1;
            }
            // ADDR_NO_RANDOMIZE would turn ASLR off.
            // SAFETY: as above.
            if unsafe { libc::personality(0x0004_0000) } != -1 || Errno::last_raw() != libc::EPERM {
                return 2;
            }
            // SAFETY: socket takes integers; the descriptor is closed below.
            let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
            if fd < 0 {
                return 3;
            }
            // SAFETY: `fd` is ours.
            unsafe { libc::close(fd) };
            for family in [libc::AF_VSOCK, libc::AF_ALG] {
                // SAFETY: as above.
                let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
                if fd != -1 || Errno::last_raw() != libc::EPERM {
                    return 4;
                }
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn sethostname_is_eperm_even_for_root() {
        if !is_root() {
            return;
        }
        let filters = default_filters(&crate::capabilities::docker_default()).unwrap();
        let code = in_child(|| {
            // A private UTS namespace, so a broken filter cannot rename the host.
            if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUTS).is_err() {
                return 10;
            }
            if apply(&filters).is_err() {
                return 11;
            }
            let name = b"isola-test";
            // SAFETY: `name` is valid for `name.len()` bytes.
            let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
            if rc != -1 || Errno::last_raw() != libc::EPERM {
                return 12;
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn sys_admin_unlocks_unshare_and_clone3() {
        if !is_root() {
            return;
        }
        let mut caps = crate::capabilities::docker_default();
        caps.push(Capability::CAP_SYS_ADMIN);
        let filters = default_filters(&caps).unwrap();
        let code = in_child(|| {
            if apply(&filters).is_err() {
                return 100;
            }
            // SAFETY: unshare takes flags only; the namespace is the child's.
            if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                return 1;
            }
            // SAFETY: clone3 with size 0 never reads the (null) pointer.
            let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
            if errno_of(rc) != libc::EINVAL {
                return 2;
            }
            0
        });
        assert_eq!(code, 0);
    }

    #[test]
    fn real_programs_run_under_the_policy() {
        if !is_root() {
            return;
        }
        let filters = default_filters(&crate::capabilities::docker_default()).unwrap();
        let sh = c"/bin/sh";
        let script = c"ls / >/dev/null && cat /proc/self/status | grep -q '^Seccomp:.*2' && (sleep 0 &) && wait";
        let argv = [
            sh.as_ptr(),
            c"-c".as_ptr(),
            script.as_ptr(),
            std::ptr::null(),
        ];
        let code = in_child(|| {
            if apply(&filters).is_err() {
                return 100;
            }
            // SAFETY: `argv` is a null-terminated array of C strings that
            // outlive the call; the environment is the test's.
            unsafe { libc::execv(sh.as_ptr(), argv.as_ptr()) };
            101
        });
        assert_eq!(code, 0);
    }

    /// Documents a difference from Docker: the 32-bit x86 ABI is not
    /// allowed, seccompiler's architecture check kills the process.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_syscalls_kill_the_process() {
        if !is_root() {
            return;
        }
        let code = under_default_policy(|| {
            // SAFETY: getpid (20) through the i386 entry point; it takes no
            // argument and touches no memory.
            unsafe {
                std::arch::asm!("int 0x80", inlateout("eax") 20 => _, options(nostack));
            }
            0
        });
        assert_eq!(code, 128 + libc::SIGSYS);
    }
}
