//! The gate in front of privileged test tiers (fixtures need BPF; labs need BPF and netns).
//!
//! Outside CI a tier that cannot run is skipped with a message saying why and how to run it. Under
//! `CI=true` it fails instead: CI must never pass by skipping.

/// Whether this run is CI (`CI=true`), where privileged tiers must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Decides whether a privileged test may go on. `probe` says whether what it needs is there.
///
/// Returns `true` when it may run; `false` (after printing why) when it must be skipped outside CI.
///
/// # Panics
/// Under `CI=true` when `probe` failed.
pub fn gate(test: &str, probe: Result<(), String>) -> bool {
    match probe {
        Ok(()) => true,
        Err(why) if in_ci() => {
            panic!("{test}: privileged test cannot run under CI=true: {why}")
        }
        Err(why) => {
            eprintln!(
                "SKIPPED {test}: {why}; run as root (for example `sudo -E cargo xtask test`)"
            );
            false
        }
    }
}

/// Checks that this process can load BPF programs: it loads the smallest valid one.
pub fn bpf_available() -> Result<(), String> {
    // r0 = 0; exit
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    // Layout of the BPF_PROG_LOAD part of `union bpf_attr` up to `license`.
    #[repr(C)]
    struct ProgLoadAttr {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        pad: [u8; 128],
    }
    let attr = ProgLoadAttr {
        prog_type: 6, // BPF_PROG_TYPE_XDP
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        pad: [0; 128],
    };
    // SAFETY: BPF_PROG_LOAD reads `attr` (zero padded, as the kernel requires) and the arrays it
    // points to, which outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            5, // BPF_PROG_LOAD
            &attr as *const ProgLoadAttr,
            size_of::<ProgLoadAttr>() as u32,
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!("cannot load a BPF program: {err}"));
    }
    // SAFETY: the kernel just handed us this descriptor and nothing else owns it.
    unsafe { libc::close(fd as i32) };
    Ok(())
}
