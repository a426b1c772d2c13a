//! The checkpointer: copies the WAL back into the database file on its own connection and
//! thread, so the acknowledging commit never pays for it (issue 17: the automatic checkpoint
//! inside the commit was 22% of the writer's time, and a checkpoint waiting for readers held
//! acknowledgements up to 100 ms).
//!
//! It runs PASSIVE checkpoints, which never wait for anyone, as the writer reports commits (at
//! most one per [`PASSIVE_EVERY`]). Copying frames does not shrink the WAL; SQLite restarts it
//! from its first frame when a write transaction begins after every frame was copied and no
//! reader still uses them. Under continuous load that moment may not come on its own, so once
//! the WAL file is [`RESTART_AT`] long (a restart cuts it back to `journal_size_limit`, so its
//! length says how far the WAL got since) the writer asks for a pass and waits for it between
//! two transactions (bounded by [`CATCH_UP_WAIT`]): only the frames written since the previous
//! pass are left to copy. Once the writer has been idle for a tick, a TRUNCATE checkpoint
//! empties the WAL file.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// Least time between two PASSIVE passes under load.
const PASSIVE_EVERY: Duration = Duration::from_millis(20);
/// WAL file length past which the writer waits for a checkpoint pass so the WAL can restart.
const RESTART_AT: u64 = 16 * 1024 * 1024;
/// Least time between two such waits.
const CATCH_UP_EVERY: Duration = Duration::from_millis(50);
/// Longest the writer waits for that pass.
const CATCH_UP_WAIT: Duration = Duration::from_millis(50);
/// With no commit reported for this long, the WAL is truncated to zero bytes.
const IDLE: Duration = Duration::from_millis(250);
/// How long an idle TRUNCATE waits for readers, and for a writer that arrives meanwhile: short,
/// so a callback arriving then is not held; it is retried at the next idle tick.
const TRUNCATE_WAIT: Duration = Duration::from_millis(5);

enum Nudge {
    /// A commit went in.
    Grew,
    /// Copy everything now and say when done.
    CatchUp(SyncSender<()>),
}

/// The writer's handle to the checkpointer thread. Dropping it stops the thread after a last
/// TRUNCATE.
pub(super) struct Checkpointer {
    nudges: SyncSender<Nudge>,
    /// The WAL file: its length is how far the WAL got since it last restarted (a restart
    /// cuts it back to `journal_size_limit`).
    wal: PathBuf,
    /// When the writer last waited for a pass: at most once per [`CATCH_UP_EVERY`], so a
    /// reader that pins the WAL cannot make every commit wait.
    last_catch_up: std::cell::Cell<Option<Instant>>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens its own connection to `path` and starts the thread.
    pub fn start(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never its own automatic checkpoint, never a wait on its own commits: it makes none.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (nudges, rx) = mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("taskhook-checkpoint".into())
            .spawn(move || run(conn, rx))
            .expect("spawning the checkpointer thread");
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self {
            nudges,
            wal: wal.into(),
            last_catch_up: std::cell::Cell::new(None),
            handle: Some(handle),
        })
    }

    /// Called after every commit. Never blocks, except past [`RESTART_AT`] frames, where it
    /// waits (at most [`CATCH_UP_WAIT`]) for a pass to finish so the next transaction restarts
    /// the WAL.
    pub fn committed(&self) {
        let due = self
            .last_catch_up
            .get()
            .is_none_or(|at| at.elapsed() >= CATCH_UP_EVERY);
        if due && std::fs::metadata(&self.wal).is_ok_and(|m| m.len() >= RESTART_AT) {
            self.last_catch_up.set(Some(Instant::now()));
            let (done, wait) = mpsc::sync_channel(1);
            if self.nudges.send(Nudge::CatchUp(done)).is_ok() {
                let _ = wait.recv_timeout(CATCH_UP_WAIT);
            }
            return;
        }
        match self.nudges.try_send(Nudge::Grew) {
            // Full: a nudge is already waiting, which is as good.
            Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the loop.
        let (closed, _) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.nudges, closed));
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(conn: Connection, rx: Receiver<Nudge>) {
    let pass = |mode: &str| {
        if mode == "TRUNCATE" {
            let _ = conn.busy_timeout(TRUNCATE_WAIT);
        }
        let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        if mode == "TRUNCATE" {
            let _ = conn.busy_timeout(Duration::ZERO);
        }
        match result {
            Ok((busy, log, copied)) => {
                tracing::trace!(mode, busy, log, copied, "checkpoint");
                busy == 0 && copied >= log
            }
            Err(err) => {
                tracing::debug!(mode, error = %err, "checkpoint failed; will retry");
                false
            }
        }
    };
    let mut dirty = false;
    // A pass is owed for commits reported since the last one; it runs once PASSIVE_EVERY has
    // gone by (each pass that copies frames fsyncs the database file, on the disk the
    // writer's commits fsync to). Waiting is done in `recv_timeout`, never in a sleep, so a
    // catch-up request is served at once.
    let mut owed = false;
    let mut last_pass = Instant::now();
    loop {
        let wait = if owed {
            PASSIVE_EVERY.saturating_sub(last_pass.elapsed())
        } else {
            IDLE
        };
        match rx.recv_timeout(wait) {
            Ok(Nudge::Grew) => {
                dirty = true;
                owed = true;
            }
            Ok(Nudge::CatchUp(done)) => {
                dirty = true;
                let _ = pass("PASSIVE");
                (owed, last_pass) = (false, Instant::now());
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) if owed => {}
            // Nothing reported for IDLE: the writer is idle.
            Err(RecvTimeoutError::Timeout) => {
                if dirty {
                    dirty = !pass("TRUNCATE");
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if owed && last_pass.elapsed() >= PASSIVE_EVERY {
            let _ = pass("PASSIVE");
            (owed, last_pass) = (false, Instant::now());
        }
    }
    let _ = pass("TRUNCATE");
}
