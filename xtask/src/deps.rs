//! `cargo xtask deps`: installs the Debian packages the project needs, only those missing, and
//! mounts bpffs when absent. Idempotent; says what it did. Without root it prints the exact command.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Every system package the build, the tests and the demo use, with why.
pub const PACKAGES: &[(&str, &str)] = &[
    ("clang-19", "compiles the eBPF programs in ebpf/programs"),
    (
        "libbpf-dev",
        "bpf_helpers.h and friends for the eBPF C sources",
    ),
    (
        "linux-libc-dev",
        "kernel UAPI headers (linux/bpf.h, linux/ip.h, ...)",
    ),
    ("bpftool", "inspecting loaded programs and maps by hand"),
    (
        "etcd-server",
        "the controller's store, started by tests and the demo",
    ),
    ("etcd-client", "etcdctl, for inspecting the store"),
    ("protobuf-compiler", "protoc, for the gRPC API in proto/"),
    (
        "iproute2",
        "ip: network namespaces, veths and bridges of the lab",
    ),
    (
        "iputils-ping",
        "ping: real traffic in lab tests and the demo",
    ),
    (
        "util-linux",
        "nsenter and setpriv: entering lab namespaces, dropping privileges",
    ),
    ("ethtool", "turning offloads off on lab endpoints"),
    ("busybox", "udhcpc and small servers inside lab instances"),
    ("procps", "pkill/ps for lab cleanup"),
];

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn bpffs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "))
    })
}

/// Installs what is missing. With `check_only`, only reports and fails when something is missing.
pub fn run(check_only: bool) -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !installed(p))
        .collect();
    if missing.is_empty() {
        println!("deps: all {} packages present", PACKAGES.len());
    } else {
        let install = format!(
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
        for p in &missing {
            let why = PACKAGES
                .iter()
                .find(|(n, _)| n == p)
                .map(|(_, w)| *w)
                .unwrap_or("");
            println!("deps: missing {p} ({why})");
        }
        if check_only {
            bail!("missing packages; install them with `cargo xtask deps`");
        }
        if !is_root() {
            bail!("installing packages needs root; run:\n  sudo sh -c '{install}'");
        }
        println!("deps: installing {}", missing.join(" "));
        let status = Command::new("sh")
            .arg("-c")
            .arg(&install)
            .status()
            .context("run apt-get")?;
        if !status.success() {
            bail!("apt-get failed ({status}); the command was:\n  {install}");
        }
        println!("deps: installed {}", missing.join(" "));
    }
    if bpffs_mounted() {
        println!("deps: bpffs is mounted on /sys/fs/bpf");
    } else if check_only {
        bail!("bpffs is not mounted on /sys/fs/bpf; `cargo xtask deps` mounts it");
    } else if !is_root() {
        bail!("bpffs is not mounted; run:\n  sudo mount -t bpf bpf /sys/fs/bpf");
    } else {
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
            .status()
            .context("run mount")?;
        if !status.success() {
            bail!("mounting bpffs failed ({status})");
        }
        println!("deps: mounted bpffs on /sys/fs/bpf");
    }
    Ok(())
}
