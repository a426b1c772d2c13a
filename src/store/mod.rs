//! The only place with SQL. Owns the SQLite file: opening it (pragmas, migrations from
//! `migrations/`), the group-commit [`writer`], and the read queries behind the CLI and the
//! inspector.
//!
//! Durability rule: a captured request is answered only after the transaction holding its row
//! has committed. The database runs in WAL mode; with [`SyncMode::Full`] (the default) every
//! commit is fsynced, so an acknowledged request survives a crash and a power loss.

mod checkpoint;
pub mod connect;
pub mod events;
mod indexer;
pub mod lock;
pub mod models;
mod read;
pub mod retention;
mod search;
mod sql_types;
pub mod writer;

pub use read::{Reader, RequestFilter, Stats, TaskHistory};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use include_dir::{Dir, include_dir};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::Migrations;
use tokio::sync::{broadcast, watch};

use models::RequestSummary;

static MIGRATIONS_DIR: Dir = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous` in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fsync the WAL on every commit: acknowledged requests survive power loss.
    Full,
    /// fsync only at checkpoints: survives a process crash, the newest commits may be lost on
    /// power loss. Faster.
    Normal,
}

impl SyncMode {
    fn pragma(self) -> &'static str {
        match self {
            SyncMode::Full => "FULL",
            SyncMode::Normal => "NORMAL",
        }
    }
}

/// Settings for opening the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub sync: SyncMode,
    /// How long a writer waits for a lock held by another process before giving up.
    pub busy_timeout: Duration,
    /// What retention keeps.
    pub retention: retention::Retention,
    /// A hard cap on database pages (`PRAGMA max_page_count`) for the write connection: past
    /// it SQLite answers "database or disk is full", exactly as a full disk does. For tests of
    /// that path and for tiny volumes; retention is the normal way to bound the size.
    pub page_limit: Option<u64>,
    /// Rows deleted per Clear all step (one transaction each, between capture batches).
    pub clear_step: i64,
    /// Most read connections open at once; more concurrent reads wait for one.
    pub max_readers: u32,
    /// A read connection unused this long is closed (checked every 30 s, r2d2's reaper rate),
    /// so a burst of reads leaves no connections, file descriptors or page caches behind.
    pub reader_idle_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sync: SyncMode::Full,
            busy_timeout: Duration::from_secs(2),
            retention: retention::Retention::default(),
            page_limit: None,
            clear_step: writer::CLEAR_STEP,
            max_readers: 8,
            reader_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Errors from the store, with the path or operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // The cause is the `#[source]`, printed by the error chain (`{:#}`), not repeated here.
    #[error("cannot open database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no database at {0} (run `taskhook serve` first, or pass --db)")]
    Missing(PathBuf),
    #[error(
        "database {path} was written by a newer taskhook (schema version {found}, this build knows {known}); it was left untouched"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    // SQLite's reason only: rusqlite_migration's own message quotes the whole migration SQL.
    #[error("cannot migrate database {path}: {reason}")]
    Migrate { path: PathBuf, reason: String },
    #[error(
        "database {path} is in use by another taskhook server{}; stop it, or pass another --db",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    InUse { path: PathBuf, pid: Option<u32> },
    #[error("cannot open database {path} (its lock file {lock})")]
    LockFile {
        path: PathBuf,
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("the store writer has stopped")]
    WriterStopped,
    #[error("no read connection: {0}")]
    Pool(#[from] r2d2::Error),
}

/// Handle to the database: read connections plus the feed of committed rows. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    path: PathBuf,
    options: StoreOptions,
    read_only: bool,
    /// The database file as opened (device and inode), for the writer to notice it going.
    file: Option<writer::FileIdentity>,
    /// A server's lock on the database, released when the last handle goes.
    _lock: Option<lock::ServerLock>,
    /// Read connections: SQLite connections are not shareable across threads at once, so each
    /// read takes one out for its duration (inside `spawn_blocking`) and puts it back. Bounded,
    /// and shrinks when idle.
    readers: r2d2::Pool<SqliteConnectionManager>,
    /// One permit per pooled connection, taken before a read goes to the blocking pool: a burst
    /// of reads waits here, asynchronously, instead of as hundreds of blocked threads.
    read_permits: Arc<tokio::sync::Semaphore>,
    /// Reads run so far: tells [`Store::release_memory_after_reads`] a burst happened.
    reads: AtomicU64,
    shared: Shared,
}

/// What the writer tells everyone else: committed rows (for live views) and whether the last
/// write failed (for the inspector's banner).
#[derive(Clone)]
pub struct Shared {
    pub(crate) committed: broadcast::Sender<RequestSummary>,
    write_error: Arc<Mutex<Option<String>>>,
    pub(crate) progress: Arc<Progress>,
}

/// How far the writer has got: the newest request acknowledged and the newest indexed (every
/// request up to it is indexed). Reads wait on the difference, see [`Store::read`].
#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) acked: AtomicI64,
    pub(crate) indexed: watch::Sender<i64>,
}

impl Shared {
    pub(crate) fn set_write_error(&self, error: Option<String>) {
        *self.write_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

fn migrations() -> Migrations<'static> {
    // The directory is embedded at compile time and checked by a unit test, so this only fails
    // for a broken build.
    Migrations::from_directory(&MIGRATIONS_DIR).expect("migrations/ is well-formed")
}

/// Number of migrations this build knows; the schema version it writes.
fn known_version() -> i64 {
    MIGRATIONS_DIR.dirs().count() as i64
}

impl Store {
    /// Opens (creating if missing) the database at `path`, refuses one written by a newer
    /// taskhook without touching it, switches it to WAL and applies pending migrations.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(options.busy_timeout).map_err(open_err)?;
        check_not_too_new(&conn, path)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|err| StoreError::Migrate {
                path: path.to_path_buf(),
                reason: match err {
                    rusqlite_migration::Error::RusqliteError { err, .. } => err.to_string(),
                    other => other.to_string(),
                },
            })?;
        drop(conn);
        let mut store = Self::from_parts(path, options, false);
        let file = writer::FileIdentity::of(path).map_err(|err| StoreError::Open {
            path: path.to_path_buf(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(err.to_string()),
            ),
        })?;
        Arc::get_mut(&mut store.inner)
            .expect("a new store is not shared yet")
            .file = Some(file);
        Ok(store)
    }

    /// [`Store::open`] for a server (`serve`, `demo`): first takes the database's lock (see
    /// [`lock`]) and holds it as long as the store lives, so a second server refuses to start.
    pub fn open_exclusive(path: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let lock = lock::ServerLock::acquire(path)?;
        let mut store = Self::open(path, options)?;
        Arc::get_mut(&mut store.inner)
            .expect("a new store is not shared yet")
            ._lock = Some(lock);
        Ok(store)
    }

    /// Opens an existing database for reading only (the `requests` command): never creates a
    /// file, never migrates.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let options = StoreOptions::default();
        let conn = open_reader(path, &options).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        check_not_too_new(&conn, path)?;
        drop(conn);
        Ok(Self::from_parts(path, options, true))
    }

    fn from_parts(path: &Path, options: StoreOptions, read_only: bool) -> Self {
        let (committed, _) = broadcast::channel(1024);
        let shared = Shared {
            committed,
            write_error: Arc::default(),
            progress: Arc::new(Progress {
                acked: AtomicI64::new(0),
                indexed: watch::Sender::new(0),
            }),
        };
        let busy_timeout = options.busy_timeout;
        let read_permits = Arc::new(tokio::sync::Semaphore::new(
            options.max_readers.max(1) as usize
        ));
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(move |conn| conn.busy_timeout(busy_timeout));
        let readers = r2d2::Pool::builder()
            .max_size(options.max_readers.max(1))
            // Opened on demand, none kept open for nothing.
            .min_idle(Some(0))
            .idle_timeout(Some(options.reader_idle_timeout))
            // A read that waits this long for a connection answers 503 instead of hanging.
            .connection_timeout(Duration::from_secs(30))
            // A broken connection shows as a failed query; checking each checkout costs a query.
            .test_on_check_out(false)
            .build_unchecked(manager);
        Self {
            inner: Arc::new(StoreInner {
                path: path.to_path_buf(),
                options,
                read_only,
                file: None,
                _lock: None,
                read_permits,
                reads: AtomicU64::new(0),
                readers,
                shared,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A receiver of every row summary right after its transaction commits (for live views).
    pub fn subscribe(&self) -> broadcast::Receiver<RequestSummary> {
        self.inner.shared.committed.subscribe()
    }

    /// Starts the single writer that owns the write connection. See [`writer`].
    pub fn start_writer(&self) -> Result<(writer::Writer, writer::WriterThread), StoreError> {
        assert!(!self.inner.read_only, "writer on a read-only store");
        let conn = open_writer(&self.inner.path, &self.inner.options).map_err(|source| {
            StoreError::Open {
                path: self.inner.path.clone(),
                source,
            }
        })?;
        let settings = writer::WriterSettings {
            retention: self.inner.options.retention.clone(),
            sync_full: self.inner.options.sync == SyncMode::Full,
            clear_step: self.inner.options.clear_step.max(1),
            busy_timeout: self.inner.options.busy_timeout,
            file: self
                .inner
                .file
                .clone()
                .expect("a writable store knows its file"),
        };
        Ok(writer::Writer::start(
            conn,
            self.inner.shared.clone(),
            settings,
        ))
    }

    /// The last write failure (e.g. "database or disk is full"), until a write succeeds again.
    pub fn write_error(&self) -> Option<String> {
        self.inner
            .shared
            .write_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What retention keeps, for people.
    pub fn retention(&self) -> &retention::Retention {
        &self.inner.options.retention
    }

    /// Runs `f` with a read connection on the blocking pool, so SQLite never blocks the async
    /// workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.caught_up().await;
        self.read_announced(f).await
    }

    /// [`Store::read`] without waiting for the indexer: for reads about rows already
    /// announced on the live feed (hence indexed), which must not queue behind newer ones.
    pub async fn read_announced<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Reader<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.clone();
        // The semaphore is never closed, so acquiring only waits.
        let permit = self
            .inner
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .expect("the read semaphore is never closed");
        // The caller's span (the inspector request) goes along to the blocking thread.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| store.read_blocking(f))
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
    }

    /// Waits until every request acknowledged before this call is indexed (normally well under
    /// a millisecond, never more than [`CATCH_UP_WAIT`]), so a read that starts after a
    /// callback was answered finds it in lists, filters and search.
    async fn caught_up(&self) {
        let progress = &self.inner.shared.progress;
        let target = progress.acked.load(Ordering::Acquire);
        let mut indexed = progress.indexed.subscribe();
        if *indexed.borrow_and_update() >= target {
            return;
        }
        // Past the wait (a stalled indexer) the read goes ahead with what is indexed.
        let _ = tokio::time::timeout(CATCH_UP_WAIT, indexed.wait_for(|&i| i >= target)).await;
    }

    /// Gives back to the system the heap a burst of reads freed, once the pool has closed
    /// every read connection (and with them their page caches); runs until `stop`.
    pub async fn release_memory_after_reads(self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut released_at = 0;
        loop {
            tokio::select! {
                () = tokio::time::sleep(RELEASE_CHECK) => {}
                () = &mut stop => return,
            }
            let reads = self.inner.reads.load(Ordering::Relaxed);
            if reads != released_at && self.inner.readers.state().connections == 0 {
                released_at = reads;
                let released = crate::memory::release_freed();
                tracing::debug!(reads, released, "read connections closed; heap trimmed");
            }
        }
    }

    /// Like [`Store::read`] for synchronous callers (the CLI).
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inner.reads.fetch_add(1, Ordering::Relaxed);
        let conn = self.inner.readers.get()?;
        // `f` runs its queries to the end (rows are collected), so no read transaction
        // outlives it and the connection goes back to the pool holding no snapshot.
        f(&Reader { conn: &conn })
    }
}

fn check_not_too_new(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let known = known_version();
    if found > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    Ok(())
}

/// How often [`Store::release_memory_after_reads`] looks whether a read burst is over.
const RELEASE_CHECK: Duration = Duration::from_secs(2);

/// Longest a read waits for the indexer to reach the requests acknowledged before it.
const CATCH_UP_WAIT: Duration = Duration::from_millis(500);

/// Bytes the WAL is cut back to when it restarts (`PRAGMA journal_size_limit`); the
/// checkpointer reads the WAL's length as how far it got since (see `checkpoint`).
const WAL_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

pub(crate) fn open_writer(
    path: &Path,
    options: &StoreOptions,
) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "synchronous", options.sync.pragma())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // After a checkpoint resets the WAL, truncate it back to this size: a burst (or a long
    // read that held checkpoints back) must not leave a multi-GiB WAL behind.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    if let Some(pages) = options.page_limit {
        conn.pragma_update(None, "max_page_count", pages.min(i64::MAX as u64) as i64)?;
    }
    Ok(conn)
}

fn open_reader(path: &Path, options: &StoreOptions) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_valid() {
        migrations().validate().expect("migrations validate");
        assert!(known_version() >= 1);
    }
}
