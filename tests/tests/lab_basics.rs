//! Lab basics: the topology carries traffic, and nothing of a lab survives it, even a panicking one.

use std::process::Command;

use sdn_ebpf::privilege::gate;
use sdn_tests::{InstanceSpec, Lab, Remnants, clean_leftovers, probe};

/// Set (to the role) in the child processes that run the hidden tests below.
const CHILD_ROLE: &str = "SDN_LAB_BASICS_CHILD";

/// Builds a lab with a pin directory and a background process, as the hidden tests need.
fn lab_with_everything(name: &str) -> Lab {
    let mut lab = Lab::new(name);
    lab.add_hypervisor("hv1");
    lab.add_instance("vm1", "hv1", InstanceSpec::new());
    lab.add_client("c1");
    pin_a_map(&lab.pin_dir("hv1").join("sdn_leak_probe"));
    lab.spawn("vm1", &["sleep", "1000"]);
    println!("LAB_PREFIX={}", lab.prefix());
    lab
}

/// Pins a small BPF hash map at `path`, as an agent would pin its maps in its pin directory.
fn pin_a_map(path: &std::path::Path) {
    // The start of `union bpf_attr` for BPF_MAP_CREATE, zero padded as the kernel requires.
    #[repr(C)]
    struct MapCreate {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        rest: [u8; 112],
    }
    // The start of `union bpf_attr` for BPF_OBJ_PIN.
    #[repr(C)]
    struct ObjPin {
        pathname: u64,
        bpf_fd: u32,
        rest: [u8; 116],
    }
    let create = MapCreate {
        map_type: 1, // BPF_MAP_TYPE_HASH
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        rest: [0; 112],
    };
    // SAFETY: BPF_MAP_CREATE only reads `create`, which outlives the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, 0, &create, size_of::<MapCreate>() as u32) };
    assert!(
        fd >= 0,
        "BPF_MAP_CREATE: {}",
        std::io::Error::last_os_error()
    );
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let pin = ObjPin {
        pathname: c_path.as_ptr() as u64,
        bpf_fd: fd as u32,
        rest: [0; 116],
    };
    // SAFETY: BPF_OBJ_PIN only reads `pin` and the path it points to, both alive during the call.
    let pinned = unsafe { libc::syscall(libc::SYS_bpf, 6, &pin, size_of::<ObjPin>() as u32) };
    let pin_error = std::io::Error::last_os_error();
    // SAFETY: `fd` came from the kernel just above and nothing else owns it; the pin keeps the map.
    unsafe { libc::close(fd as i32) };
    assert!(pinned == 0, "BPF_OBJ_PIN {}: {pin_error}", path.display());
}

/// Runs one hidden test of this binary in a child process; returns its output and the prefix it
/// printed.
fn run_child(test: &str, role: &str) -> (std::process::Output, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = stdout
        .lines()
        .find_map(|l| l.split_once("LAB_PREFIX=")?.1.split_whitespace().next())
        .unwrap_or_else(|| {
            panic!(
                "the child printed no prefix\nstdout:\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .to_owned();
    (output, prefix)
}

fn ping(lab: &Lab, from: &str, to: std::net::IpAddr) {
    let to = to.to_string();
    lab.exec(from, &["ping", "-c", "3", "-i", "0.2", "-W", "2", &to]);
}

#[test]
fn two_instances_bridged_on_one_hypervisor_ping_both_ways() {
    if !gate("lab", probe()) {
        return;
    }
    let mut lab = Lab::new("two-instances");
    let hv = lab.add_hypervisor("hv1");
    let spec = |n| {
        InstanceSpec::new()
            .ipv4(&format!("198.18.1.{n}/24"))
            .ipv6(&format!("2001:db8:1::{n}/64"))
    };
    let vm1 = lab.add_instance("vm1", "hv1", spec(1));
    let vm2 = lab.add_instance("vm2", "hv1", spec(2));
    assert_ne!(vm1.port, vm2.port);
    assert_eq!(lab.port_name("vm1"), vm1.port);
    assert!(vm1.port.starts_with(lab.prefix()) && vm1.port.len() <= 15);

    // The reported ifindex is the port's in the hypervisor's namespace.
    let link = lab.exec("hv1", &["ip", "-o", "link", "show", "dev", &vm1.port]);
    let index = String::from_utf8_lossy(&link.stdout);
    assert_eq!(
        index.split(':').next(),
        Some(lab.port_ifindex("vm1").to_string().as_str())
    );
    let path = lab.netns_path("hv1");
    assert_eq!(path, node_agent::netns::named(&hv.netns));

    lab.add_bridge("hv1", &[&vm1.port, &vm2.port]);
    for (from, to) in [(&vm1, &vm2), (&vm2, &vm1)] {
        ping(&lab, &from.name, to.ipv4.expect("an IPv4 address").addr());
        ping(&lab, &from.name, to.ipv6.expect("an IPv6 address").addr());
    }
    // The MAC the lab set is the one vm2 learnt for vm1.
    let neigh = lab.exec("vm2", &["ip", "neigh", "show", "198.18.1.1"]);
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains(&vm1.mac.to_string()),
        "{neigh:?}"
    );
}

#[test]
fn hypervisors_and_clients_meet_on_the_fabric() {
    if !gate("lab", probe()) {
        return;
    }
    let mut lab = Lab::new("fabric");
    let hv1 = lab.add_hypervisor("hv1");
    let hv2 = lab.add_hypervisor("hv2");
    let c1 = lab.add_client("c1");
    ping(&lab, "hv1", hv2.underlay_ipv4.addr());
    ping(&lab, "hv2", hv1.underlay_ipv6.addr());
    ping(&lab, "c1", hv1.underlay_ipv4.addr());
    ping(&lab, "hv2", c1.ipv6.addr());

    // The helpers for XDP tests work on lab interfaces.
    lab.tune_for_xdp("hv1", &hv1.uplink);
    lab.sysctl("hv1", "net.ipv4.ip_forward", "1");
    let forward = lab.exec("hv1", &["sysctl", "-n", "net.ipv4.ip_forward"]);
    assert_eq!(String::from_utf8_lossy(&forward.stdout).trim(), "1");

    // A failing command reports its stderr.
    let err = lab
        .try_exec("c1", &["ip", "link", "show", "dev", "nonexistent0"])
        .unwrap_err();
    assert!(err.to_string().contains("nonexistent0"), "{err}");

    // A spawned process runs inside the node's namespace.
    let sleeper = lab.spawn("c1", &["sleep", "1000"]);
    let ns = std::fs::read_link(format!("/proc/{}/ns/net", sleeper.pid())).unwrap();
    let c1_ns = lab.run_in("c1", || {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    });
    assert_eq!(ns, c1_ns);
    assert!(lab.try_wait(&sleeper).is_none());
    lab.kill(&sleeper);
    assert!(lab.try_wait(&sleeper).is_some());
}

/// Hidden: only runs as the child of `a_panicking_lab_leaves_nothing_behind`.
#[test]
fn hidden_panicking_lab() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok("panic") {
        return;
    }
    let _lab = lab_with_everything("panicking");
    panic!("this lab test panics on purpose");
}

#[test]
fn a_panicking_lab_leaves_nothing_behind() {
    if !gate("lab", probe()) {
        return;
    }
    let (output, prefix) = run_child("hidden_panicking_lab", "panic");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the child test should have failed"
    );
    assert!(stderr.contains("panics on purpose"), "{stderr}");
    let left = Remnants::find(&prefix);
    assert!(
        left.is_empty(),
        "the panicking lab left {left}\nchild stderr:\n{stderr}"
    );
}

/// Hidden: only runs as the child of `clean_leftovers_removes_a_leaked_lab`.
#[test]
fn hidden_leaked_lab() {
    if std::env::var(CHILD_ROLE).as_deref() != Ok("leak") {
        return;
    }
    std::mem::forget(lab_with_everything("leaked"));
}

#[test]
fn clean_leftovers_removes_a_leaked_lab() {
    if !gate("lab", probe()) {
        return;
    }
    // A live lab of this process is spared.
    let live = Lab::new("live");
    // The leak happens in a child process: a lab leaked by a process that still runs is
    // indistinguishable from a live one, and clean_leftovers must never touch live labs.
    let (output, prefix) = run_child("hidden_leaked_lab", "leak");
    assert!(output.status.success(), "{output:?}");
    let left = Remnants::find(&prefix);
    assert!(!left.namespaces.is_empty(), "{left}");
    let pin_dir = left.pin_dir.clone().expect("the leaked pin tree");
    assert!(pin_dir.join("hv1/sdn_leak_probe").exists(), "{left}");
    assert!(
        left.processes.iter().any(|p| p.command == "sleep"),
        "{left}"
    );

    let report = clean_leftovers();
    println!("{report}");
    assert!(report.is_success(), "{report}");
    let removed = report.removed.iter().find(|r| r.prefix == prefix);
    let removed = removed.unwrap_or_else(|| panic!("{prefix} not in the report:\n{report}"));
    assert_eq!(removed.namespaces, left.namespaces);
    assert!(report.spared.iter().any(|p| p == live.prefix()), "{report}");
    let after = Remnants::find(&prefix);
    assert!(after.is_empty(), "clean_leftovers left {after}");
    assert!(!Remnants::find(live.prefix()).namespaces.is_empty());
}
