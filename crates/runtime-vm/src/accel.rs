//! Choosing the accelerator: KVM where the CPU virtualizes (vmx/svm) and
//! /dev/kvm works, QEMU's TCG software emulation elsewhere. A software
//! /dev/kvm (kvm_pvm) without vmx/svm cannot run unmodified guests, so the
//! CPU flags decide, not the mere presence of /dev/kvm.

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Resolves the `vm_accel` setting (`auto`, `kvm` or `tcg`) into the
/// accelerator and the reason for it (shown by `isola info`).
pub fn detect(setting: &str) -> Result<(Accel, String), String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let hw = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    let kvm_dev = Path::new("/dev/kvm").exists();
    let pvm = Path::new("/sys/module/kvm_pvm").exists();
    match setting {
        "tcg" => Ok((Accel::Tcg, "vm_accel = tcg (configured)".into())),
        "kvm" if hw && kvm_dev => Ok((Accel::Kvm, "vm_accel = kvm (configured)".into())),
        "kvm" => Err("vm_accel = kvm, but this host has no usable KVM (needs vmx/svm and /dev/kvm): use auto or tcg".into()),
        "auto" | "" => Ok(if hw && kvm_dev {
            (Accel::Kvm, "CPU has vmx/svm and /dev/kvm exists".into())
        } else if kvm_dev && pvm {
            (Accel::Tcg, "/dev/kvm is kvm_pvm (software, no vmx/svm): using TCG emulation".into())
        } else if kvm_dev {
            (Accel::Tcg, "CPU lacks vmx/svm: using TCG emulation".into())
        } else {
            (Accel::Tcg, "no /dev/kvm: using TCG emulation".into())
        }),
        other => Err(format!("vm_accel {other:?} is invalid: use auto, kvm or tcg")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings() {
        assert_eq!(super::detect("tcg").unwrap().0, super::Accel::Tcg);
        assert!(super::detect("warp").is_err());
        // auto always resolves to something, with a reason.
        let (_, why) = super::detect("auto").unwrap();
        assert!(!why.is_empty());
    }
}
