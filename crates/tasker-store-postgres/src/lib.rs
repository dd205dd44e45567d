//! The PostgreSQL driver of the tasker store.
//!
//! Typed `sqlx::Postgres` over a pool of connections. A unit of work runs on the caller's task
//! with one pooled connection; every [`Tx`](tasker_store::Tx) method is one prepared,
//! set-based statement whatever the size of its batch (arrays bound as parameters and
//! expanded with `unnest`), cached per connection by sqlx. A write unit of work is one
//! transaction; its signals go out as one NOTIFY when it commits, and [`Store::listen`] hears
//! other processes' signals through a LISTEN connection that reconnects by itself.
//!
//! The tables live in their own schema (`tasker` unless [`PgOptions::schema`] says
//! otherwise), created and migrated on open; every pooled connection has its `search_path`
//! set to it. Every time the driver writes comes from the database's clock.
//!
//! Every pooled connection also runs with `enable_bitmapscan` and `enable_seqscan` off: every
//! statement of the driver is an index lookup or an ordered walk of an index, and the claim
//! must stay on the index that yields the first N ready steps in ready order whatever the
//! statistics say (with stale statistics the planner once preferred a bitmap scan and a sort
//! of every claimable row, 50 times slower). See `session.sql`.

mod connect;
mod error;
mod queries;
mod schema;
mod signals;
mod tx;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, Postgres};
use tasker_store::{Backend, BoxFuture, Heard, Store, StoreError, StoreResult, StoreStats, TxWork};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use connect::redact;
pub use schema::check_schema_name;

use crate::tx::{PgTx, Shared};

/// How to use the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The schema that holds tasker's tables (created if missing).
    pub schema: String,
    /// The most connections the store opens (one more listens for signals).
    pub pool_size: u32,
    /// How long opening a connection may take before it fails as "no answer" (a
    /// `connect_timeout` in the URL, in seconds as for libpq, takes precedence).
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: "tasker".to_string(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// How long a unit of work waits for a pooled connection while every one is busy (the server
/// answering) before it fails.
const BUSY_POOL_WAIT: Duration = Duration::from_secs(60);

/// Signals kept for a slow receiver before it starts losing the oldest.
const HEARD_CAPACITY: usize = 4096;

struct Counters {
    statements: AtomicU64,
    transactions: AtomicU64,
}

/// How long after a lost connection every pooled connection is pinged before use.
const LOST_WINDOW: Duration = Duration::from_secs(10);

pub struct PgStore {
    pool: PgPool,
    listen_pool: PgPool,
    connect: PgConnectOptions,
    connect_timeout: Duration,
    pool_size: u32,
    shared: Arc<Shared>,
    schema: String,
    heard: broadcast::Sender<Heard>,
    closed: CancellationToken,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// When a connection was last found lost (see `before_acquire` in `open`).
    lost: Arc<Mutex<Option<Instant>>>,
    counters: Counters,
}

impl PgStore {
    /// Connect, create the schema if needed, migrate it, and start listening for signals.
    pub async fn open(url: &str, options: PgOptions) -> StoreResult<PgStore> {
        schema::check_schema_name(&options.schema)?;
        if options.pool_size == 0 {
            return Err(StoreError::InvalidUrl(
                "the PostgreSQL pool size must be at least 1".to_string(),
            ));
        }
        let target = connect::parse(url)?;
        let server = Arc::new(target.server);
        let connect_timeout = target.connect_timeout.unwrap_or(options.connect_timeout);
        connect::check_files(&server)?;

        // One direct connection first: it says exactly why connecting fails, if it does, and
        // prepares the schema.
        let mut setup = connect::connect_once(&target.options, &server, connect_timeout).await?;
        let prepared = schema::prepare(&mut setup, &server, &options.schema).await;
        let _ = setup.close().await;
        prepared?;

        let session = schema::with_schema(queries::SESSION, &options.schema);
        let lost = Arc::new(Mutex::new(None::<Instant>));
        let lost_seen = lost.clone();
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size)
            .min_connections(0)
            .acquire_timeout(connect_timeout)
            // No ping before each unit of work (a round trip each): a connection that died
            // fails its first statement as Unavailable, and the engine retries.
            .test_before_acquire(false)
            // But after a connection was lost (a server restart, say), the connections idle
            // since then are pinged before use, and the dead ones replaced: work resumes at
            // the first retry rather than failing once per pooled connection.
            .before_acquire(move |conn, meta| {
                let lost_at = *lost_seen.lock().unwrap_or_else(|p| p.into_inner());
                Box::pin(async move {
                    // Idle since the loss, or used in the seconds around it (the server may
                    // close a connection after its last use, as a restart or
                    // pg_terminate_backend does one backend at a time).
                    match lost_at {
                        Some(at) if meta.idle_for >= at.elapsed() || at.elapsed() < LOST_WINDOW => {
                            Ok(sqlx::Connection::ping(conn).await.is_ok())
                        }
                        _ => Ok(true),
                    }
                })
            })
            .after_connect(move |conn, _meta| {
                let session = session.clone();
                Box::pin(async move {
                    conn.execute(session.as_str()).await?;
                    Ok(())
                })
            })
            .connect_lazy_with(target.options.clone());
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(connect_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(
                target
                    .options
                    .clone()
                    .application_name("tasker-node listener"),
            );

        let origin = uuid::Uuid::new_v4().simple().to_string();
        let channel = signals::channel(&options.schema);
        let shared = Arc::new(Shared {
            server: server.clone(),
            origin: origin.clone(),
            channel: channel.clone(),
        });
        let (heard, _) = broadcast::channel(HEARD_CAPACITY);
        let closed = CancellationToken::new();
        let listener = signals::start(signals::Listening {
            pool: listen_pool.clone(),
            server: server.clone(),
            connect_timeout,
            channel,
            origin,
            heard: heard.clone(),
            closed: closed.clone(),
        })
        .await?;
        Ok(PgStore {
            pool,
            listen_pool,
            connect: target.options,
            connect_timeout,
            pool_size: options.pool_size,
            shared,
            schema: options.schema,
            heard,
            closed,
            listener: Mutex::new(Some(listener)),
            lost,
            counters: Counters {
                statements: AtomicU64::new(0),
                transactions: AtomicU64::new(0),
            },
        })
    }

    /// What this store is, for messages: `PostgreSQL database "x" at host:port, schema tasker`.
    pub fn description(&self) -> String {
        format!(
            "{}, schema {}",
            self.shared.server.database_at(),
            self.schema
        )
    }

    /// A pooled connection. When none comes within the connect timeout, find out why: the
    /// server does not answer (say so), or every connection is busy (keep waiting, a while).
    async fn acquire(&self) -> StoreResult<PoolConnection<Postgres>> {
        let started = Instant::now();
        loop {
            match self.pool.acquire().await {
                Ok(conn) => return Ok(conn),
                Err(sqlx::Error::PoolClosed) => return Err(StoreError::Closed),
                Err(sqlx::Error::PoolTimedOut) => {
                    if self.closed.is_cancelled() {
                        return Err(StoreError::Closed);
                    }
                    connect::probe(&self.connect, &self.shared.server, self.connect_timeout)
                        .await?;
                    if started.elapsed() >= BUSY_POOL_WAIT {
                        return Err(StoreError::Unavailable(format!(
                            "every one of the {} connections to {} stayed busy for {} s; \
                             raise the pool size",
                            self.pool_size,
                            self.shared.server.at(),
                            BUSY_POOL_WAIT.as_secs()
                        )));
                    }
                }
                Err(e) => {
                    return Err(error::connect_error(
                        &self.shared.server,
                        e,
                        self.connect_timeout,
                    ))
                }
            }
        }
    }

    async fn run(&self, work: TxWork, write: bool) -> StoreResult<Box<dyn std::any::Any + Send>> {
        if self.closed.is_cancelled() {
            return Err(StoreError::Closed);
        }
        let conn = self.acquire().await?;
        let mut tx = PgTx::new(conn, write, self.shared.clone());
        let outcome = match work(&mut tx).await {
            Ok(value) => match tx.finish().await {
                Ok(()) => Ok(value),
                Err(e) => {
                    tx.abandon().await;
                    Err(e)
                }
            },
            Err(e) => {
                tx.abandon().await;
                Err(e)
            }
        };
        self.counters
            .statements
            .fetch_add(tx.statements(), Ordering::Relaxed);
        if tx.began() {
            self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        }
        if matches!(outcome, Err(StoreError::Unavailable(_))) {
            tx.discard();
            *self.lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        }
        drop(tx);
        outcome
    }
}

impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn write(&self, work: TxWork) -> BoxFuture<'_, StoreResult<Box<dyn std::any::Any + Send>>> {
        Box::pin(self.run(work, true))
    }

    fn read(&self, work: TxWork) -> BoxFuture<'_, StoreResult<Box<dyn std::any::Any + Send>>> {
        Box::pin(self.run(work, false))
    }

    fn listen(&self) -> Option<broadcast::Receiver<Heard>> {
        Some(self.heard.subscribe())
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            statements: self.counters.statements.load(Ordering::Relaxed),
            transactions: self.counters.transactions.load(Ordering::Relaxed),
        }
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.closed.cancel();
            let listener = self
                .listener
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(l) = listener {
                let _ = l.await;
            }
            self.listen_pool.close().await;
            self.pool.close().await;
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}
