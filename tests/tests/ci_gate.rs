//! The CI gate itself is tested: with `CI=true` and BPF unavailable, a privileged test fails
//! instead of skipping; without `CI=true` it skips with a message.
//!
//! The parent (root) reruns this test binary as user `nobody` (`setpriv`), where loading BPF is
//! refused for real, and runs only the probe test below.

use std::process::Command;

use sdn_ebpf::privilege;

const PROBE_ENV: &str = "SDN_CI_GATE_PROBE";

/// The privileged test the parent runs unprivileged. Does nothing unless asked to.
#[test]
fn privileged_probe() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    if !privilege::gate("privileged_probe", privilege::bpf_available()) {
        return;
    }
    println!("PROBE RAN WITH BPF");
}

fn run_probe_unprivileged(ci: bool) -> std::process::Output {
    // A copy `nobody` can reach whatever the permissions of the checkout's directories.
    let dir = std::env::temp_dir().join(format!("sdn-ci-gate-{}-{ci}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("probe");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(&exe)
    .args([
        "--exact",
        "privileged_probe",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(PROBE_ENV, "1")
    .env_remove("CI");
    if ci {
        cmd.env("CI", "true");
    }
    let out = cmd
        .output()
        .expect("setpriv (util-linux; `cargo xtask deps` installs it)");
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

#[test]
fn under_ci_an_unprivileged_run_fails_instead_of_skipping() {
    if !privilege::gate("ci_gate", privilege::bpf_available()) {
        return;
    }
    let out = run_probe_unprivileged(true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "CI=true unprivileged run passed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("privileged test cannot run under CI=true")
            || stderr.contains("privileged test cannot run under CI=true"),
        "failed for another reason:\n{stdout}\n{stderr}"
    );

    let out = run_probe_unprivileged(false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "outside CI the probe must skip:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("SKIPPED privileged_probe"),
        "no skip message:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("PROBE RAN WITH BPF"));
}
