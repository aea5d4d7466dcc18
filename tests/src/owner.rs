//! Owner locks: how `clean_leftovers` tells a crashed lab from one that is still running.
//!
//! Every lab holds an exclusive `flock` on `/run/sdn-lab/<prefix>.lock` for its whole life. The kernel
//! drops the lock when the owning process dies, however it dies, so a lock that can be taken belongs to a
//! lab nobody runs any more. The lock is taken on a temporary file that is then renamed into place, so
//! the lock file never exists unlocked while its lab is alive.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{LabError, Result};
use crate::naming::{STATE_DIR, lock_path};

/// The held lock of a live lab.
#[derive(Debug)]
pub(crate) struct OwnerLock {
    // Held for its flock; closing it releases the lock.
    _file: File,
    path: PathBuf,
}

fn tmp_path(prefix: &str) -> PathBuf {
    Path::new(STATE_DIR).join(format!(".{prefix}.tmp"))
}

impl OwnerLock {
    /// Takes the lock of a new lab, recording who owns it.
    pub(crate) fn create(prefix: &str, lab_name: &str) -> Result<OwnerLock> {
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| LabError::Io {
                action,
                path,
                source,
            }
        };
        std::fs::create_dir_all(STATE_DIR).map_err(io("create", Path::new(STATE_DIR)))?;
        let tmp = tmp_path(prefix);
        let mut file = File::create(&tmp).map_err(io("create lock file", &tmp))?;
        file.try_lock().map_err(|e| LabError::Io {
            action: "lock",
            path: tmp.clone(),
            source: e.into(),
        })?;
        writeln!(file, "pid {}\nlab {lab_name}", std::process::id())
            .map_err(io("write lock file", &tmp))?;
        let path = lock_path(prefix);
        std::fs::rename(&tmp, &path).map_err(io("rename lock file into", &path))?;
        Ok(OwnerLock { _file: file, path })
    }

    /// Removes the lock file, then releases the lock.
    pub(crate) fn release(self) -> Result<()> {
        remove_if_present(&self.path, "remove lock file")
    }
}

/// Whether anyone still runs the lab `prefix`.
pub(crate) enum Owner {
    /// A live process holds its lock: leave it alone.
    Alive,
    /// Nobody does. Holds the locks found (none when no lock file was left) while the caller cleans up.
    Gone(Vec<OwnerLock>),
}

/// Finds out whether the lab `prefix` is still owned, taking its locks when it is not.
pub(crate) fn owner_of(prefix: &str) -> Owner {
    let mut held = Vec::new();
    // A lab being created holds the lock on its temporary file before renaming it.
    for path in [tmp_path(prefix), lock_path(prefix)] {
        let Ok(file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            Err(TryLockError::WouldBlock) => return Owner::Alive,
            Err(TryLockError::Error(_)) => continue,
            Ok(()) => {}
        }
        // The owner may have removed or renamed the file between our open and our lock; then what we
        // locked is no longer its lock.
        let same = std::fs::metadata(&path)
            .ok()
            .zip(file.metadata().ok())
            .is_some_and(|(now, ours)| now.ino() == ours.ino() && now.dev() == ours.dev());
        if !same {
            return Owner::Alive;
        }
        held.push(OwnerLock { _file: file, path });
    }
    Owner::Gone(held)
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_if_present(path: &Path, action: &'static str) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LabError::Io {
            action,
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}
