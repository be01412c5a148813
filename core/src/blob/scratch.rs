//! The private directory that holds a blob-backed job's local copy of its state database.
//!
//! An engine makes one in the temporary directory (`TMPDIR`, `%TEMP%`) and removes it when it
//! is dropped. A process killed mid-run (SIGKILL, a runbook sandbox recycled, a crash) cannot
//! remove its own, and the copy is as large as the job's state (hundreds of MB at 100,000
//! users), so each engine, before it makes its own, removes the directories of engines that
//! are gone:
//!
//! - while an engine lives, it holds an exclusive lock on `.lock` in its directory (the
//!   operating system releases the lock when the process dies, however it dies);
//! - a directory named `tenantsync-state-*` whose `.lock` can be locked, and whose `.lock` is
//!   older than [`SETTLE`] (an engine creates the file and locks it a moment apart), belongs
//!   to no live engine and is removed.
//!
//! Directories without a `.lock` (made by something else) are left alone. Nothing in them is
//! lost by the removal: the blob holds the job's state; the copy only served the run that died.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The prefix of every scratch directory's name.
pub(crate) const PREFIX: &str = "tenantsync-state-";
/// The lock file in a scratch directory.
const LOCK: &str = ".lock";
/// How old an unlocked `.lock` must be before its directory counts as abandoned: far more than
/// the moment between an engine creating its lock file and locking it.
pub(crate) const SETTLE: Duration = Duration::from_secs(60);

/// A scratch directory, locked while this value lives; removed when it is dropped.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// Released first (fields drop in order): Windows removes no directory with an open file.
    _lock: File,
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Removes the abandoned scratch directories in `parent`, then makes a new one there.
    pub(crate) fn new_in(parent: &Path) -> std::io::Result<Scratch> {
        remove_abandoned(parent, SystemTime::now());
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(parent)?;
        let lock = File::create(dir.path().join(LOCK))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::Error(e) => e,
            std::fs::TryLockError::WouldBlock => {
                std::io::Error::other("the new scratch directory's lock is held by another process")
            }
        })?;
        Ok(Scratch { _lock: lock, dir })
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes each `tenantsync-state-*` directory in `parent` that no live engine holds (see the
/// module's documentation); `now` is the time the age of lock files is weighed against.
/// Returns how many it removed. A directory that cannot be read or removed is left as it is:
/// this is housekeeping, and it never stops a run.
pub(crate) fn remove_abandoned(parent: &Path, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Ok(lock) = File::open(dir.join(LOCK)) else {
            continue;
        };
        let settled = lock
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age >= SETTLE);
        if !settled || lock.try_lock().is_err() {
            continue;
        }
        drop(lock);
        if std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory as a killed engine leaves it: its lock file, unlocked, `age` old.
    fn abandoned(parent: &Path, name: &str, age: Duration) -> std::path::PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).expect("dir");
        std::fs::write(dir.join("state.db"), b"copy").expect("copy");
        let lock = File::create(dir.join(LOCK)).expect("lock file");
        lock.set_modified(SystemTime::now() - age)
            .expect("set the lock file's time");
        dir
    }

    #[test]
    fn a_dead_engines_directory_is_removed_and_a_live_ones_is_kept() {
        let parent = tempfile::tempdir().expect("tempdir");
        let hour = Duration::from_secs(3600);
        let live = Scratch::new_in(parent.path()).expect("a live engine's directory");
        let dead = abandoned(parent.path(), "tenantsync-state-dead", hour);
        // A live engine's lock file, made an hour ago, is still held.
        std::fs::OpenOptions::new()
            .write(true)
            .open(live.path().join(LOCK))
            .expect("lock")
            .set_modified(SystemTime::now() - hour)
            .expect("age it");
        // An unlocked lock file made a moment ago may belong to an engine about to lock it.
        let young = abandoned(parent.path(), "tenantsync-state-young", Duration::ZERO);
        // Not ours: no lock file, or not our name.
        let foreign = parent.path().join("tenantsync-state-foreign");
        std::fs::create_dir(&foreign).expect("dir");
        let other = abandoned(parent.path(), "other-state-x", hour);

        let removed = remove_abandoned(parent.path(), SystemTime::now());

        assert_eq!(removed, 1);
        assert!(!dead.exists(), "the dead engine's copy is removed");
        assert!(live.path().join(LOCK).exists(), "the live engine's is kept");
        assert!(young.exists() && foreign.exists() && other.exists());
    }

    #[test]
    fn a_new_scratch_removes_what_dead_engines_left_and_its_own_goes_with_it() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dead = abandoned(
            parent.path(),
            "tenantsync-state-dead",
            Duration::from_secs(600),
        );
        let scratch = Scratch::new_in(parent.path()).expect("scratch");
        assert!(!dead.exists());
        let path = scratch.path().to_path_buf();
        assert!(path.starts_with(parent.path()));
        drop(scratch);
        assert!(!path.exists(), "an engine's directory goes with it");
    }
}
