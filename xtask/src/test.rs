//! `cargo xtask test`: the one command that checks everything, in tiers.
//!
//! 1. deps (installs what is missing), 2. build, 3. `cargo fmt --check`, 4. clippy `-D warnings`,
//! 5. unit tests (no privileges: `--lib`, `--bins`, doc tests, and integration tests that are
//!    neither fixtures nor labs), 6. fixture tests (integration tests named `*_fixtures`: BPF, root),
//! 7. lab tests (the `sdn-tests` crate: netns, BPF, root, real processes).
//!
//! It prints how many tests of each tier ran. Outside CI a privileged tier that cannot run here is
//! skipped with the reason; under `CI=true` it runs regardless, and its tests fail instead of
//! skipping (`sdn_ebpf::privilege::gate`).

use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::deps;

/// A test tier and the test targets in it.
#[derive(Debug, Default)]
struct Tiers {
    /// `(package, test target)` of integration tests that need no privileges.
    unit: Vec<(String, String)>,
    /// `(package, test target)` of fixture tests.
    fixtures: Vec<(String, String)>,
    /// Packages whose tests are labs.
    lab_packages: Vec<String>,
}

const LAB_PACKAGE: &str = "sdn-tests";

fn tiers() -> Result<Tiers> {
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cargo metadata")?;
    let meta: Value = serde_json::from_slice(&out.stdout).context("parse cargo metadata")?;
    let mut tiers = Tiers::default();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        if name == LAB_PACKAGE {
            tiers.lab_packages.push(name);
            continue;
        }
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_test = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"));
            if !is_test {
                continue;
            }
            let t = target["name"].as_str().unwrap_or_default().to_owned();
            if t.ends_with("_fixtures") {
                tiers.fixtures.push((name.clone(), t));
            } else {
                tiers.unit.push((name.clone(), t));
            }
        }
    }
    Ok(tiers)
}

/// Runs cargo with `args`, streaming its output, and returns what libtest reported.
fn cargo_test(args: &[&str]) -> Result<Counts> {
    println!("\n$ cargo {}", args.join(" "));
    let output = crate::cargo()
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("run cargo {}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    if !output.status.success() {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(Counts::parse(&stdout))
}

fn cargo(args: &[&str]) -> Result<()> {
    println!("\n$ cargo {}", args.join(" "));
    let status = crate::cargo().args(args).status()?;
    if !status.success() {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(())
}

/// Tests and fixture rows that ran.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    passed: usize,
    ignored: usize,
    /// Fixture rows, from the `fixtures: N rows passed` lines the harness prints.
    rows: usize,
}

impl Counts {
    fn parse(stdout: &str) -> Self {
        let mut c = Counts::default();
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix("test result: ok. ") {
                let num = |label: &str| {
                    rest.split(';')
                        .find_map(|part| {
                            part.trim()
                                .strip_suffix(label)?
                                .trim()
                                .parse::<usize>()
                                .ok()
                        })
                        .unwrap_or(0)
                };
                c.passed += num("passed");
                c.ignored += num("ignored");
            }
            if let Some(n) = line
                .split("fixtures: ")
                .nth(1)
                .and_then(|r| r.strip_suffix(" rows passed"))
                .and_then(|n| n.trim().parse::<usize>().ok())
            {
                c.rows += n;
            }
        }
        c
    }

    fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.ignored += other.ignored;
        self.rows += other.rows;
    }
}

/// Why the privileged tiers cannot run here, if they cannot. (Finer checks, such as whether BPF
/// loads, happen in the tests' own gate; xtask cannot depend on the crates that need clang.)
fn privileged_unavailable() -> Option<String> {
    (!deps::is_root()).then(|| "not root".to_owned())
}

/// Whether this run is CI (`CI=true`); the same rule as `sdn_ebpf::privilege::in_ci`.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Runs every step; fails on the first failing one.
pub fn run() -> Result<()> {
    let started = Instant::now();
    let ci = in_ci();
    deps::run(false)?;
    cargo(&["build", "--workspace", "--all-targets", "--locked"])?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;

    let tiers = tiers()?;
    let mut unit = cargo_test(&["test", "--workspace", "--lib", "--bins", "--locked"])?;
    unit.add(cargo_test(&["test", "--workspace", "--doc", "--locked"])?);
    for (package, target) in &tiers.unit {
        unit.add(cargo_test(&[
            "test", "--locked", "-p", package, "--test", target,
        ])?);
    }

    let skip = privileged_unavailable();
    let (mut fixtures, mut lab) = (Counts::default(), Counts::default());
    let mut skipped = None;
    match (&skip, ci) {
        (Some(why), false) => {
            println!(
                "\nSKIPPING fixture and lab tiers: {why}. Run as root: `sudo -E cargo xtask test`."
            );
            skipped = Some(why.clone());
        }
        _ => {
            if let Some(why) = &skip {
                println!("\nCI=true: running the privileged tiers although {why}; they must fail.");
            }
            for (package, target) in &tiers.fixtures {
                fixtures.add(cargo_test(&[
                    "test",
                    "--locked",
                    "-p",
                    package,
                    "--test",
                    target,
                    "--",
                    "--nocapture",
                ])?);
            }
            for package in &tiers.lab_packages {
                lab.add(cargo_test(&[
                    "test",
                    "--locked",
                    "-p",
                    package,
                    "--",
                    "--test-threads=2",
                ])?);
            }
        }
    }

    println!("\n== cargo xtask test: summary ==");
    println!(
        "unit tests:     {:>4} passed, {} ignored",
        unit.passed, unit.ignored
    );
    match &skipped {
        Some(why) => {
            println!("fixture tests:  skipped ({why})");
            println!("lab tests:      skipped ({why})");
        }
        None => {
            println!(
                "fixture tests:  {:>4} passed ({} fixture rows)",
                fixtures.passed, fixtures.rows
            );
            println!("lab tests:      {:>4} passed", lab.passed);
        }
    }
    println!("took {:.0?}", started.elapsed());
    if skipped.is_none() && (fixtures.rows == 0 || lab.passed == 0) {
        bail!("no fixture rows or no lab tests ran: the privileged tiers are empty");
    }
    Ok(())
}
