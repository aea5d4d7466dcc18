//! Project automation: `cargo xtask <command>`. Everything that is not `cargo build` lives here.
//!
//! **Architecture Invariant:** xtask depends on no crate that needs system packages to build
//! (clang, protoc): on a fresh machine `cargo xtask deps` must build before they are installed.
//! Commands that need the lab run the `sdn-lab` binary of the `tests` crate after `deps`.

mod bench;
mod deps;
mod test;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  deps            install the Debian packages the project needs (only missing ones), mount bpffs
  deps --check    only report what is missing
  test            everything CI checks: deps, build, fmt, clippy, unit, fixture and lab tests
  demo [--seconds N]  a live lab: real traffic, live per-port counters; Ctrl-C cleans up
  lab-clean       remove namespaces, links, pins and processes left by crashed labs
  bench maglev    Maglev table quality and speed -> target/bench/maglev.json
  bench dataplane security-group program cost vs empty XDP, 10/10k/100k rules -> target/bench/dataplane.json
  bench control-plane  sync latency at 10/100/1000 agents -> target/bench/control-plane.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["deps"] => deps::run(false),
        ["deps", "--check"] => deps::run(true),
        ["test"] => test::run(),
        ["bench", "maglev"] => bench::maglev::run(),
        ["bench", "dataplane"] => release_bin("sdn-bench", &["dataplane"]),
        ["bench", "control-plane"] => {
            deps::run(false)?;
            bench::control_plane::run()
        }
        ["demo"] => lab_command(&["demo"]),
        ["demo", "--seconds", n] => lab_command(&["demo", "--seconds", n]),
        ["lab-clean"] => lab_command(&["clean"]),
        ["help"] | ["--help"] | ["-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => bail!("unknown command {args:?}\n\n{USAGE}"),
    }
}

/// Installs what is missing, then replaces this process with `sdn-lab <args>` (built by cargo),
/// so that Ctrl-C reaches the lab directly and its cleanup runs.
fn lab_command(args: &[&str]) -> Result<()> {
    run_bin(&[], "sdn-lab", args)
}

/// Like [`lab_command`] for a binary built in release mode (benchmarks).
fn release_bin(bin: &str, args: &[&str]) -> Result<()> {
    run_bin(&["--release"], bin, args)
}

/// A `cargo` command with the environment of a plain shell. `cargo xtask` runs this crate with
/// `cargo run`, which sets CARGO_MANIFEST_DIR and friends to xtask's; build scripts that watch
/// them (ring's) would otherwise rebuild their crate, and everything above it, on every nested
/// `cargo` invocation.
pub fn cargo() -> std::process::Command {
    let mut cargo = std::process::Command::new(env!("CARGO"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&key.as_ref())
        {
            cargo.env_remove(key.as_ref());
        }
    }
    cargo
}

fn run_bin(profile: &[&str], bin: &str, args: &[&str]) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    deps::run(false)?;
    let mut cargo = cargo();
    let err = cargo
        .args(["run", "--quiet", "--locked"])
        .args(profile)
        .args(["-p", "sdn-tests", "--bin", bin, "--"])
        .args(args)
        .exec();
    Err(anyhow::anyhow!("cannot run cargo: {err}"))
}
