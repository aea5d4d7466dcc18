//! What a lab leaves on the machine, finding it by prefix, and removing it.
//!
//! One teardown serves both the RAII guard (dropping a [`Lab`](crate::Lab)) and [`clean_leftovers`], so
//! the path that runs after every test is the same one that cleans up after crashed runs.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::command::{PREFIX_ENV, Place};
use crate::error::LabError;
use crate::naming::{
    BPFFS, NETNS_DIR, STATE_DIR, is_lab_prefix, lock_path, log_dir, pin_root, prefix_of,
    prefix_of_netns,
};
use crate::owner::{Owner, owner_of};

/// A process that belongs to a lab: it runs in one of the lab's namespaces (any of its threads does),
/// or it carries the lab's prefix in `SDN_LAB_PREFIX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftoverProcess {
    /// Its pid.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
}

/// Everything on this machine that carries one lab prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Remnants {
    /// The lab prefix.
    pub prefix: String,
    /// Named network namespaces (`/run/netns/<prefix>-*`).
    pub namespaces: Vec<String>,
    /// Links in the root namespace whose name starts with the prefix.
    pub root_links: Vec<String>,
    /// Processes of the lab.
    pub processes: Vec<LeftoverProcess>,
    /// The pin tree, `/sys/fs/bpf/<prefix>/`.
    pub pin_dir: Option<PathBuf>,
    /// The process log directory, `/run/sdn-lab/<prefix>/`.
    pub log_dir: Option<PathBuf>,
    /// The owner lock file, `/run/sdn-lab/<prefix>.lock`.
    pub lock_file: Option<PathBuf>,
}

impl Remnants {
    /// Looks up what exists for the lab `prefix`, whether or not the lab is still running. Changes
    /// nothing.
    pub fn find(prefix: &str) -> Remnants {
        let namespaces = lab_namespaces(prefix);
        let inodes = netns_inodes(&namespaces);
        Remnants {
            prefix: prefix.to_owned(),
            processes: lab_processes(&scan_processes(), prefix, &inodes),
            root_links: root_links()
                .into_iter()
                .filter(|l| prefix_of(l) == Some(prefix))
                .collect(),
            namespaces,
            pin_dir: Some(pin_root(prefix)).filter(|p| p.exists()),
            log_dir: Some(log_dir(prefix)).filter(|p| p.exists()),
            lock_file: Some(lock_path(prefix)).filter(|p| p.exists()),
        }
    }

    /// Whether nothing at all is left.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty()
            && self.root_links.is_empty()
            && self.processes.is_empty()
            && self.pin_dir.is_none()
            && self.log_dir.is_none()
            && self.lock_file.is_none()
    }
}

impl fmt::Display for Remnants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lab {}:", self.prefix)?;
        if self.is_empty() {
            return write!(f, " nothing");
        }
        if !self.processes.is_empty() {
            let list: Vec<_> = self
                .processes
                .iter()
                .map(|p| format!("{} ({})", p.pid, p.command))
                .collect();
            write!(f, " processes {};", list.join(", "))?;
        }
        if !self.namespaces.is_empty() {
            write!(f, " namespaces {};", self.namespaces.join(", "))?;
        }
        if !self.root_links.is_empty() {
            write!(f, " root-namespace links {};", self.root_links.join(", "))?;
        }
        for path in [&self.pin_dir, &self.log_dir, &self.lock_file]
            .into_iter()
            .flatten()
        {
            write!(f, " {};", path.display())?;
        }
        Ok(())
    }
}

/// What [`clean_leftovers`] did.
#[derive(Debug, Default)]
pub struct CleanReport {
    /// What was removed, per crashed lab.
    pub removed: Vec<Remnants>,
    /// Prefixes of labs left alone because a live process still owns them.
    pub spared: Vec<String>,
    /// What could not be removed.
    pub failures: Vec<LabError>,
}

impl CleanReport {
    /// Whether everything found was removed.
    pub fn is_success(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for CleanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removed.is_empty() {
            writeln!(f, "no leftovers of crashed labs")?;
        }
        for removed in &self.removed {
            writeln!(f, "removed {removed}")?;
        }
        for prefix in &self.spared {
            writeln!(f, "spared lab {prefix}: its owner is still running")?;
        }
        for failure in &self.failures {
            writeln!(f, "failed: {failure}")?;
        }
        Ok(())
    }
}

/// Removes everything that crashed lab runs left behind: processes, namespaces (and with them their
/// links), root-namespace links, pin trees, process logs and lock files, found by the common prefix
/// `sdnt`.
///
/// Labs whose owning process is still alive (its lock on `/run/sdn-lab/<prefix>.lock` is held) are
/// spared, so this is safe to run while other lab tests run on the machine. A lab leaked with
/// `std::mem::forget` in a process that is still running counts as alive. `cargo xtask lab-clean` calls
/// this and prints the report; it needs root.
pub fn clean_leftovers() -> CleanReport {
    let mut report = CleanReport::default();
    for prefix in leftover_prefixes() {
        match owner_of(&prefix) {
            Owner::Alive => report.spared.push(prefix),
            Owner::Gone(locks) => {
                let mut removed = teardown(&prefix, &mut report.failures);
                for lock in locks {
                    removed.lock_file = Some(lock_path(&prefix));
                    if let Err(e) = lock.release() {
                        report.failures.push(e);
                    }
                }
                if !removed.is_empty() {
                    report.removed.push(removed);
                }
            }
        }
    }
    report
}

/// Every lab prefix that has anything on this machine.
fn leftover_prefixes() -> BTreeSet<String> {
    let mut prefixes = BTreeSet::new();
    for name in dir_names(Path::new(NETNS_DIR)) {
        prefixes.extend(prefix_of_netns(&name).map(str::to_owned));
    }
    for name in root_links() {
        prefixes.extend(prefix_of(&name).map(str::to_owned));
    }
    for name in dir_names(Path::new(BPFFS)) {
        if is_lab_prefix(&name) {
            prefixes.insert(name);
        }
    }
    for name in dir_names(Path::new(STATE_DIR)) {
        prefixes.extend(prefix_of(name.trim_start_matches('.')).map(str::to_owned));
    }
    for process in scan_processes() {
        prefixes.extend(process.lab_prefix);
    }
    prefixes
}

/// Kills a lab's processes and removes its namespaces, root-namespace links, pin tree and logs (not its
/// lock file, which belongs to the caller). Never panics: failures go to `failures`.
pub(crate) fn teardown(prefix: &str, failures: &mut Vec<LabError>) -> Remnants {
    let found = Remnants::find(prefix);

    for process in &found.processes {
        match kill(Pid::from_raw(process.pid as i32), Signal::SIGKILL) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(source) => failures.push(LabError::Signal {
                pid: process.pid,
                source,
            }),
        }
    }
    wait_gone(&found.processes);

    for name in &found.namespaces {
        let path = Path::new(NETNS_DIR).join(name);
        // What `ip netns del` does: detach the bind mount that keeps the namespace alive, then remove
        // the file. The namespace and its links go once nothing uses it any more.
        match umount2(&path, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(e) => failures.push(LabError::Io {
                action: "unmount network namespace",
                path: path.clone(),
                source: e.into(),
            }),
        }
        if let Err(e) = crate::owner::remove_if_present(&path, "remove network namespace") {
            failures.push(e);
        }
    }

    let root = Place {
        node: "root",
        netns: None,
        prefix,
    };
    for link in &found.root_links {
        if let Err(e) = root.run(&["ip", "link", "del", "dev", link], Duration::from_secs(10)) {
            // It may have gone with its peer meanwhile.
            if root_links().contains(link) {
                failures.push(e);
            }
        }
    }

    for (dir, action) in [
        (&found.pin_dir, "remove pin directory"),
        (&found.log_dir, "remove log directory"),
    ] {
        if let Some(dir) = dir
            && let Err(source) = std::fs::remove_dir_all(dir)
            && source.kind() != std::io::ErrorKind::NotFound
        {
            failures.push(LabError::Io {
                action,
                path: dir.clone(),
                source,
            });
        }
    }
    found
}

/// Waits (a little) until killed processes are gone or zombies.
fn wait_gone(processes: &[LeftoverProcess]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while processes.iter().any(|p| is_running(p.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

/// The lab's named namespaces.
fn lab_namespaces(prefix: &str) -> Vec<String> {
    let mut names: Vec<_> = dir_names(Path::new(NETNS_DIR))
        .into_iter()
        .filter(|n| prefix_of_netns(n) == Some(prefix))
        .collect();
    names.sort();
    names
}

/// The nsfs inodes of named namespaces (what `/proc/PID/ns/net` points at).
fn netns_inodes(namespaces: &[String]) -> HashSet<u64> {
    namespaces
        .iter()
        .filter_map(|n| std::fs::metadata(Path::new(NETNS_DIR).join(n)).ok())
        .map(|m| m.ino())
        .collect()
}

/// Names of the links in the root namespace (of this process).
fn root_links() -> Vec<String> {
    dir_names(Path::new("/sys/class/net"))
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// One live process, as far as labs care.
struct ProcessInfo {
    pid: u32,
    command: String,
    net_inodes: HashSet<u64>,
    lab_prefix: Option<String>,
}

/// Every live process other than this one, with the namespaces of its threads and its lab prefix.
fn scan_processes() -> Vec<ProcessInfo> {
    let me = std::process::id();
    let mut processes = Vec::new();
    for name in dir_names(Path::new("/proc")) {
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if pid == me || !is_running(pid) {
            continue;
        }
        let dir = Path::new("/proc").join(&name);
        let net_inodes = dir_names(&dir.join("task"))
            .into_iter()
            .filter_map(|tid| std::fs::read_link(dir.join("task").join(tid).join("ns/net")).ok())
            .filter_map(|link| {
                let link = link.to_str()?;
                link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
            })
            .collect();
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        let lab_prefix = environ
            .split(|&b| b == 0)
            .filter_map(|var| std::str::from_utf8(var).ok())
            .filter_map(|var| var.strip_prefix(PREFIX_ENV)?.strip_prefix('='))
            .find(|value| is_lab_prefix(value))
            .map(str::to_owned);
        let command = std::fs::read_to_string(dir.join("comm"))
            .map(|c| c.trim_end().to_owned())
            .unwrap_or_default();
        processes.push(ProcessInfo {
            pid,
            command,
            net_inodes,
            lab_prefix,
        });
    }
    processes
}

fn lab_processes(
    processes: &[ProcessInfo],
    prefix: &str,
    inodes: &HashSet<u64>,
) -> Vec<LeftoverProcess> {
    processes
        .iter()
        .filter(|p| p.lab_prefix.as_deref() == Some(prefix) || !p.net_inodes.is_disjoint(inodes))
        .map(|p| LeftoverProcess {
            pid: p.pid,
            command: p.command.clone(),
        })
        .collect()
}
