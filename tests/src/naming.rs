//! Lab names: the per-run prefix every lab resource carries, and where each resource lives.
//!
//! A lab prefix is [`COMMON_PREFIX`] followed by six base-36 characters (`sdnt3k9x0a`), ten characters
//! in all, so a link name still has five characters left under the kernel's 15-character limit.
//! Namespaces are `<prefix>-<node>`, links `<prefix><role><n>`, the pin tree `/sys/fs/bpf/<prefix>/`,
//! and the owner lock and process logs live under `/run/sdn-lab/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The start of every lab prefix. Names that start with it followed by six base-36 characters belong
/// to labs, and `clean_leftovers` may remove them once their owner has gone.
pub const COMMON_PREFIX: &str = "sdnt";

/// Length of a full lab prefix: [`COMMON_PREFIX`] plus six base-36 characters.
pub const PREFIX_LEN: usize = COMMON_PREFIX.len() + 6;

/// Where named network namespaces live (`ip netns add`).
pub(crate) const NETNS_DIR: &str = "/run/netns";
/// Where bpffs is mounted.
pub(crate) const BPFFS: &str = "/sys/fs/bpf";
/// Owner locks (`<prefix>.lock`) and process logs (`<prefix>/`).
pub(crate) const STATE_DIR: &str = "/run/sdn-lab";

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A fresh prefix, different for every call in this process and, with high probability, from every
/// other process (it mixes the pid, the time and a counter).
pub(crate) fn new_prefix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x = splitmix64(nanos ^ (u64::from(std::process::id()) << 40) ^ splitmix64(count));
    let mut prefix = String::from(COMMON_PREFIX);
    for _ in 0..6 {
        prefix.push(BASE36[(x % 36) as usize] as char);
        x /= 36;
    }
    prefix
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether `s` is exactly a lab prefix (`sdnt` + six base-36 characters).
pub fn is_lab_prefix(s: &str) -> bool {
    s.len() == PREFIX_LEN
        && s.starts_with(COMMON_PREFIX)
        && s[COMMON_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// The lab prefix a resource name starts with, if any.
pub(crate) fn prefix_of(name: &str) -> Option<&str> {
    let prefix = name.get(..PREFIX_LEN)?;
    is_lab_prefix(prefix).then_some(prefix)
}

/// The lab prefix of a namespace name (`<prefix>-<node>`), if it is one.
pub(crate) fn prefix_of_netns(name: &str) -> Option<&str> {
    prefix_of(name).filter(|_| name.as_bytes().get(PREFIX_LEN) == Some(&b'-'))
}

/// Whether `name` may name a lab node.
pub(crate) fn valid_node_name(name: &str) -> bool {
    (1..=20).contains(&name.len())
        && name != "fabric"
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The namespace name of `node` in the lab `prefix`.
pub(crate) fn netns_name(prefix: &str, node: &str) -> String {
    format!("{prefix}-{node}")
}

/// The root of a lab's pin tree.
pub(crate) fn pin_root(prefix: &str) -> PathBuf {
    Path::new(BPFFS).join(prefix)
}

/// The owner lock of a lab.
pub(crate) fn lock_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!("{prefix}.lock"))
}

/// The directory holding the logs of a lab's spawned processes.
pub(crate) fn log_dir(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_lab_prefixes_and_differ() {
        let a = new_prefix();
        let b = new_prefix();
        assert!(is_lab_prefix(&a), "{a}");
        assert!(is_lab_prefix(&b), "{b}");
        assert_ne!(a, b);
        // The longest link name the lab makes still fits IFNAMSIZ - 1.
        assert!(format!("{a}p9999").len() <= 15);
    }

    #[test]
    fn resource_names_map_back_to_their_prefix() {
        assert_eq!(prefix_of("sdnt0a1b2cp3"), Some("sdnt0a1b2c"));
        assert_eq!(prefix_of_netns("sdnt0a1b2c-hv1"), Some("sdnt0a1b2c"));
        assert_eq!(prefix_of_netns("sdnt0a1b2cbr"), None);
        assert_eq!(prefix_of("sdnt0A1b2cp3"), None);
        assert_eq!(prefix_of("sdnt0a1"), None);
        assert_eq!(prefix_of("eth0"), None);
    }

    #[test]
    fn node_names_are_checked() {
        assert!(valid_node_name("hv1"));
        assert!(valid_node_name("client-a"));
        assert!(!valid_node_name("fabric"));
        assert!(!valid_node_name(""));
        assert!(!valid_node_name("HV1"));
        assert!(!valid_node_name("a/b"));
        assert!(!valid_node_name("abcdefghijklmnopqrstu"));
    }
}
