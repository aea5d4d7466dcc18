//! The privilege probe for lab tests, for use with `sdn_ebpf::privilege::gate`.

use std::path::Path;
use std::process::{Command, Stdio};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statfs::{BPF_FS_MAGIC, statfs};

use crate::naming::BPFFS;

/// Checks that labs can run here: root, the `ip` and `nsenter` tools, network namespaces that can be
/// created, and bpffs on `/sys/fs/bpf` (mounted by this probe when it is absent, as testing.md asks).
///
/// Use it through the gate at the start of every lab test:
///
/// ```no_run
/// if !sdn_ebpf::privilege::gate("lab", sdn_tests::probe()) {
///     return;
/// }
/// ```
pub fn probe() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("labs need root (network namespaces, veths, bpffs)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("nsenter", "util-linux")] {
        let found = Command::new(tool)
            .arg(if tool == "ip" { "-V" } else { "--version" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!(
                "`{tool}` is missing; install it with `apt-get install {package}`"
            ));
        }
    }
    // unshare(2) on a throwaway thread: the new namespace dies with the thread.
    let netns = std::thread::spawn(|| unshare(CloneFlags::CLONE_NEWNET))
        .join()
        .map_err(|_| "the network-namespace probe thread panicked".to_owned())?;
    if let Err(e) = netns {
        return Err(format!("cannot create a network namespace: {e}"));
    }
    if !is_bpffs(BPFFS) {
        mount(
            Some("bpf"),
            BPFFS,
            Some("bpf"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| format!("bpffs is not mounted on {BPFFS} and mounting it failed: {e}"))?;
        if !is_bpffs(BPFFS) {
            return Err(format!("{BPFFS} is not a bpffs even after mounting one"));
        }
    }
    Ok(())
}

fn is_bpffs(path: &str) -> bool {
    statfs(Path::new(path)).is_ok_and(|s| s.filesystem_type() == BPF_FS_MAGIC)
}
