//! `cargo xtask bench control-plane`: API call to all agents acked, for N = 10, 100, 1000 simulated
//! agents against one real `sdn-controller` and a throwaway etcd (issue 3, acceptance).
//!
//! xtask depends on nothing that needs protoc, so it builds the controller and its benchmark driver
//! (`sdn-controller/examples/control_plane.rs`) with cargo in release mode and runs the driver, which
//! starts etcd and the controller binary, runs the agents in-process over loopback, writes
//! `target/bench/control-plane.json` and prints the table.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Builds and runs the control-plane benchmark.
pub fn run() -> Result<()> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    let status = crate::cargo()
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "-p",
            "sdn-controller",
            "--bin",
            "sdn-controller",
            "--example",
            "control_plane",
        ])
        .status()
        .context("run cargo build")?;
    if !status.success() {
        bail!("building sdn-controller and its control_plane example failed");
    }
    let out = target.join("bench").join("control-plane.json");
    let status = Command::new(target.join("release/examples/control_plane"))
        .arg(target.join("release/sdn-controller"))
        .arg(&out)
        .status()
        .context("run the control_plane benchmark driver")?;
    if !status.success() {
        bail!("the control-plane benchmark failed (see its output above)");
    }
    Ok(())
}
