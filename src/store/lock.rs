//! One server per database: `taskhook serve` and `demo` hold an exclusive advisory lock on a
//! `<db>-lock` file beside the database for their whole run, taken before migrating. A second
//! server on the same file refuses to start (naming the file and the holder's pid) instead of
//! splitting state with the first; two started at once on a fresh file cannot both migrate.
//! Read-only commands (`taskhook requests`) and one-shot ones never take it.
//!
//! Why a sibling file rather than the database itself: `File::try_lock` is `flock`, and SQLite
//! uses POSIX record locks on the database, which a process loses all of when it closes *any*
//! descriptor of that file. Holding and later closing our own descriptor of the database would
//! silently drop SQLite's locks; a separate file never touches them.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// Held for the server's lifetime; the lock goes with the descriptor at exit (even SIGKILL).
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
}

/// `<db>-lock`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

impl ServerLock {
    /// Takes the lock of `db`, or says who holds it. Never waits.
    pub fn acquire(db: &Path) -> Result<Self, StoreError> {
        let lock = lock_path(db);
        let io_err = |source| StoreError::LockFile {
            path: db.to_path_buf(),
            lock: lock.clone(),
            source,
        };
        // Not truncated on open: the holder's pid is in it until we own the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StoreError::InUse {
                    path: db.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(err)) => return Err(io_err(err)),
        }
        // Ours now: record our pid for the next one to name.
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        write!(file, "{}", std::process::id()).map_err(io_err)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let first = ServerLock::acquire(&db).unwrap();
        let err = ServerLock::acquire(&db).unwrap_err();
        assert!(
            matches!(&err, StoreError::InUse { pid: Some(p), .. } if *p == std::process::id()),
            "{err}"
        );
        drop(first);
        ServerLock::acquire(&db).expect("free again once the holder is gone");
    }
}
