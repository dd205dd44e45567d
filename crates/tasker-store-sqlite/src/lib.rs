//! The embedded SQLite driver of the tasker store.
//!
//! One dedicated thread owns the connection that writes: a unit of work is sent to it and runs
//! there from `BEGIN IMMEDIATE` to `COMMIT`, every statement prepared once and cached, so no
//! statement crosses a thread. The [`Tx`](tasker_store::Tx) methods of this driver never
//! suspend, so the whole async procedure completes in one poll on that thread. Reads run on a
//! second thread with its own connection (WAL lets it read while the writer writes); an
//! in-memory database has one connection, so everything runs on the writer thread.
//!
//! Several processes may share one database file: SQLite serialises their write transactions,
//! and a busy database is waited for (`busy_timeout`) before a unit of work fails as a
//! retryable conflict.

mod error;
mod queries;
mod schema;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};
use tasker_store::{Backend, BoxFuture, Heard, Store, StoreError, StoreResult, StoreStats, TxWork};

use crate::error::sql_error;
use crate::tx::SqliteTx;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A private in-memory database that lives as long as the store.
    Memory,
    /// A database file, created (with its folder) when missing.
    File(PathBuf),
}

/// How long a unit of work waits for another process's write lock before it fails as a
/// retryable conflict.
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// Statements kept prepared per connection (every query of the driver fits).
const STATEMENT_CACHE: usize = 64;

type Reply = tokio::sync::oneshot::Sender<StoreResult<Box<dyn std::any::Any + Send>>>;

struct Job {
    work: TxWork,
    write: bool,
    reply: Reply,
}

struct Counters {
    statements: AtomicU64,
    transactions: AtomicU64,
}

pub struct SqliteStore {
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    reader: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    counters: Arc<Counters>,
    description: String,
}

impl SqliteStore {
    /// Open (creating and migrating when needed) the database.
    pub async fn open(location: Location) -> StoreResult<SqliteStore> {
        let description = match &location {
            Location::Memory => "an in-memory SQLite database".to_string(),
            Location::File(p) => format!("SQLite database {}", p.display()),
        };
        let counters = Arc::new(Counters {
            statements: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
        });
        let loc = location.clone();
        // Opening and migrating touch the disk: do it off the async runtime's threads.
        let writer_conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            let mut conn = open_connection(&loc, false)?;
            schema::migrate(&mut conn, &loc)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Database(format!("opening the database failed: {e}")))??;

        let mut threads = Vec::new();
        let (writer_tx, writer_rx) = mpsc::channel::<Job>();
        threads.push(spawn_thread(
            "tasker-sqlite-writer",
            writer_conn,
            writer_rx,
            counters.clone(),
        )?);
        let reader = match &location {
            Location::Memory => None,
            Location::File(_) => {
                let loc = location.clone();
                let conn = tokio::task::spawn_blocking(move || open_connection(&loc, true))
                    .await
                    .map_err(|e| {
                        StoreError::Database(format!("opening the database failed: {e}"))
                    })??;
                let (tx, rx) = mpsc::channel::<Job>();
                threads.push(spawn_thread(
                    "tasker-sqlite-reader",
                    conn,
                    rx,
                    counters.clone(),
                )?);
                Some(tx)
            }
        };
        Ok(SqliteStore {
            writer: Mutex::new(Some(writer_tx)),
            reader: Mutex::new(reader),
            threads: Mutex::new(threads),
            counters,
            description,
        })
    }

    /// What this store is, for messages (`SQLite database /path/file.db`).
    pub fn description(&self) -> &str {
        &self.description
    }

    async fn submit(
        &self,
        work: TxWork,
        write: bool,
    ) -> StoreResult<Box<dyn std::any::Any + Send>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sender = {
            let reader = lock(&self.reader);
            let writer = lock(&self.writer);
            match (write, reader.as_ref(), writer.as_ref()) {
                (false, Some(r), _) => r.clone(),
                (_, _, Some(w)) => w.clone(),
                (_, _, None) => return Err(StoreError::Closed),
            }
        };
        sender
            .send(Job { work, write, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn write(&self, work: TxWork) -> BoxFuture<'_, StoreResult<Box<dyn std::any::Any + Send>>> {
        Box::pin(self.submit(work, true))
    }

    fn read(&self, work: TxWork) -> BoxFuture<'_, StoreResult<Box<dyn std::any::Any + Send>>> {
        Box::pin(self.submit(work, false))
    }

    fn listen(&self) -> Option<tokio::sync::broadcast::Receiver<Heard>> {
        None
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            statements: self.counters.statements.load(Ordering::Relaxed),
            transactions: self.counters.transactions.load(Ordering::Relaxed),
        }
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Dropping the senders ends the threads once they finish the work they have.
            lock(&self.writer).take();
            lock(&self.reader).take();
            let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    let _ = t.join();
                }
            })
            .await;
        })
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        lock(&self.writer).take();
        lock(&self.reader).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_connection(location: &Location, read_only: bool) -> StoreResult<Connection> {
    let conn = match location {
        Location::Memory => Connection::open_in_memory(),
        Location::File(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot create the folder {} for the SQLite database: {e}",
                        dir.display()
                    ))
                })?;
            }
            let flags = if read_only {
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
            } else {
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
            };
            Connection::open_with_flags(path, flags)
        }
    }
    .map_err(|e| open_error(location, e))?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))
        .map_err(sql_error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // WAL: readers never block the writer. NORMAL: a commit is durable once the WAL is synced
    // at checkpoints; a power loss can lose the last transactions, never corrupt the file.
    if !read_only && matches!(location, Location::File(_)) {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_error)?;
    // Pages read through a memory map (no read syscall per page).
    if matches!(location, Location::File(_)) {
        conn.pragma_update(None, "mmap_size", 268_435_456_i64)
            .map_err(sql_error)?;
    }

    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql_error)?;
    Ok(conn)
}

fn open_error(location: &Location, e: rusqlite::Error) -> StoreError {
    match location {
        Location::Memory => {
            StoreError::Unavailable(format!("cannot open an in-memory SQLite database: {e}"))
        }
        Location::File(p) => {
            StoreError::Unavailable(format!("cannot open SQLite database {}: {e}", p.display()))
        }
    }
}

fn spawn_thread(
    name: &str,
    conn: Connection,
    jobs: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
) -> StoreResult<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || serve(conn, jobs, counters))
        .map_err(|e| StoreError::Database(format!("cannot start the SQLite thread: {e}")))
}

/// The database thread: run each unit of work to completion, in order.
fn serve(conn: Connection, jobs: mpsc::Receiver<Job>, counters: Arc<Counters>) {
    let mut conn = Some(conn);
    while let Ok(job) = jobs.recv() {
        let Some(c) = conn.take() else { return };
        let (c, outcome) = run_job(c, job.work, job.write, &counters);
        conn = Some(c);
        // The caller may have given up waiting (e.g. shut down): nothing to do then.
        let _ = job.reply.send(outcome);
    }
}

fn run_job(
    conn: Connection,
    work: TxWork,
    write: bool,
    counters: &Counters,
) -> (Connection, StoreResult<Box<dyn std::any::Any + Send>>) {
    let mut tx = SqliteTx::new(conn, write);
    let outcome = match tx.begin() {
        Ok(()) => {
            let result = complete_now(work(&mut tx));
            match result {
                Ok(value) => tx.commit().map(|()| value),
                Err(e) => {
                    tx.rollback();
                    Err(e)
                }
            }
        }
        Err(e) => Err(e),
    };
    counters
        .statements
        .fetch_add(tx.statements(), Ordering::Relaxed);
    if write {
        counters.transactions.fetch_add(1, Ordering::Relaxed);
    }
    (tx.into_connection(), outcome)
}

/// Drive a unit of work that must not suspend: every `Tx` method of this driver is
/// synchronous, so the procedure finishes in one poll.
fn complete_now<T>(future: BoxFuture<'_, StoreResult<T>>) -> StoreResult<T> {
    let mut future = future;
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(StoreError::Database(
            "internal error: a unit of work waited for something other than the database"
                .to_string(),
        )),
    }
}

/// The file a database path names, for callers that accept `sqlite:` URLs and plain paths.
pub fn location_of(spec: &str) -> Location {
    if spec == ":memory:" || spec == "sqlite::memory:" || spec == "sqlite://:memory:" {
        return Location::Memory;
    }
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    let path = path.split('?').next().unwrap_or(path);
    Location::File(Path::new(path).to_path_buf())
}
