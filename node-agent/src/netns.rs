//! Running code inside another network namespace.
//!
//! `setns(2)` switches the calling thread only, so the work runs on a fresh OS thread that enters the
//! namespace, does its work and exits; the caller's thread (and any tokio worker) never changes
//! namespace. Objects created there (sockets, bpf links, netlink state) stay bound to that namespace.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};

/// Failure to enter a network namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The namespace file could not be opened (usually: the namespace does not exist).
    #[error("cannot open network namespace {path}: {source}; does it exist (`ip netns list`)?")]
    Open {
        /// The namespace file, e.g. `/run/netns/NAME`.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `setns(2)` refused (usually: not root).
    #[error(
        "cannot enter network namespace {path}: {source}; this needs CAP_SYS_ADMIN (run as root)"
    )]
    Enter {
        /// The namespace file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: nix::Error,
    },
    /// The worker thread panicked.
    #[error("the worker thread inside network namespace {path} panicked")]
    Panicked {
        /// The namespace file.
        path: PathBuf,
    },
}

/// The file of a named namespace made by `ip netns add NAME`.
pub fn named(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// Runs `work` on a new thread inside the network namespace at `netns` and returns its result.
///
/// `work` may borrow from the caller (the thread is scoped); it must not `.await`.
pub fn run_in<R, F>(netns: &Path, work: F) -> Result<R, NetnsError>
where
    R: Send,
    F: FnOnce() -> R + Send,
{
    let file = File::open(netns).map_err(|source| NetnsError::Open {
        path: netns.to_owned(),
        source,
    })?;
    let path = netns.to_owned();
    let joined = std::thread::scope(|scope| {
        scope
            .spawn(move || setns(&file, CloneFlags::CLONE_NEWNET).map(|()| work()))
            .join()
    });
    match joined {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(source)) => Err(NetnsError::Enter { path, source }),
        Err(_) => Err(NetnsError::Panicked { path }),
    }
}
