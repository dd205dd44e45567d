//! The tasker engine. It runs inside every worker (and client) process; processes coordinate
//! through the database alone: every state change is a transaction whose changes are guarded
//! by the state they expect (a claim, a task state), so no step or result is processed twice
//! because two processes raced.
//!
//! The engine holds the workflow logic and no SQL: it talks to a [`Store`] (the boundary in
//! `tasker-store`), and each unit of work is one transaction of batched operations.
//!
//! Wake-ups are event driven: in-process channels, plus the store's cross-process signals
//! (LISTEN/NOTIFY on PostgreSQL) so that other processes hear about ready steps, finished
//! tasks and cancellations at once.

mod cancel;
mod children;
mod claim;
mod create;
mod error;
mod events;
mod expand;
mod identity;
mod leases;
mod lifecycle;
mod metadata;
mod metrics;
mod operate;
mod payload;
mod record;
mod schedules;
mod signals;
mod templates;
mod views;
mod work;

use std::sync::Arc;
use std::time::Duration;

pub use children::MAX_CHILD_DEPTH;
pub use claim::{ClaimRequest, ClaimedStep, HandlerLimits};
pub use create::CreateTask;
pub use error::{EngineError, ErrorCode};
pub use identity::OnDuplicate;
pub use metadata::{
    TaskMetadataInput, MAX_CORRELATION_ID_CHARS, MAX_LABEL_CHARS, MAX_REASON_CHARS, MAX_TAGS,
    MAX_TAG_CHARS,
};
pub use operate::{Prune, PRUNE_BATCH};
pub use record::{RecordOutcome, StepError, StepOutcome};
pub use schedules::{
    schedule_idempotency_key, FireReport, Fired, ScheduleView, MAX_LISTED_SCHEDULES,
    SCHEDULE_SOURCE_SYSTEM,
};
pub use signals::SignalSent;
pub use tasker_domain::schedule::{Missed, ScheduleSpec, MAX_MISSED_FIRES};
pub use tasker_domain::{ExpansionLimits, IdentityStrategy, JsonLimits, StepState, TaskState};
pub use tasker_store::TaskMetadata;
pub use tasker_store::{redact, Backend, ReadyBacklog, StoreStats};
pub use views::{
    iso8601, ActivityView, ChildView, ListTasks, StepView, TaskView, TransitionView,
    DEFAULT_COUNT_CAP, MAX_ACTIVITY_MINUTES, MAX_COUNT_CAP,
};

use events::Events;
use tasker_store::{run_write, BoxFuture, Store, Tx};
use templates::Snapshots;

/// Which failures of a unit of work [`Engine::write_retrying`] tries again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Conflicts with another transaction (a deadlock, a serialization failure, a SQLite file
    /// another process kept busy).
    Conflicts,
    /// Those, and a duplicate key: two creates raced for the same new key, and the loser sees
    /// the winner's row on its next pass.
    ConflictsAndDuplicates,
}

/// How often a unit of work is tried in all.
const WRITE_ATTEMPTS: usize = 5;

/// Everything an engine limits: what outcomes may create, and the JSON it accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub expansion: ExpansionLimits,
    pub json: JsonLimits,
}

impl From<ExpansionLimits> for Limits {
    fn from(expansion: ExpansionLimits) -> Self {
        Limits {
            expansion,
            ..Limits::default()
        }
    }
}

/// How long connecting to PostgreSQL may take by default (`connectTimeoutMs`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(5_000);

/// How an engine connects. Only PostgreSQL uses these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Most time one connection attempt, or the wait for a pooled connection, may take.
    pub connect_timeout: Duration,
    /// The most pooled connections (the driver's default when `None`).
    pub pool_size: Option<u32>,
    /// The schema of tasker's tables (`tasker` when `None`).
    pub schema: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            pool_size: None,
            schema: None,
        }
    }
}

pub struct Engine {
    store: Arc<dyn Store>,
    events: Events,
    limits: ExpansionLimits,
    json: JsonLimits,
    snapshots: Arc<Snapshots>,
    /// A template registered here has a subtask step (see `registers_subtasks`).
    subtasks: std::sync::atomic::AtomicBool,
}

impl Engine {
    /// Connect (running migrations) and start listening for other processes' signals.
    pub async fn open(url: &str) -> Result<Arc<Engine>, EngineError> {
        Engine::open_with(url, ExpansionLimits::default()).await
    }

    /// `open`, with limits on what decision and batch outcomes may create and on the JSON the
    /// engine accepts.
    pub async fn open_with(
        url: &str,
        limits: impl Into<Limits>,
    ) -> Result<Arc<Engine>, EngineError> {
        Engine::open_with_connect(url, limits, ConnectOptions::default()).await
    }

    /// `open_with`, and how to connect (the PostgreSQL connect timeout).
    pub async fn open_with_connect(
        url: &str,
        limits: impl Into<Limits>,
        connect: ConnectOptions,
    ) -> Result<Arc<Engine>, EngineError> {
        let limits = limits.into();
        check_limits(&limits)?;
        if connect.connect_timeout.is_zero() {
            return Err(EngineError::InvalidArgument(
                "connectTimeoutMs must be at least 1".to_string(),
            ));
        }
        let store = open_store(url, connect).await?;
        Engine::with_store(store, limits)
    }

    /// An engine over an open store.
    pub fn with_store(
        store: Arc<dyn Store>,
        limits: impl Into<Limits>,
    ) -> Result<Arc<Engine>, EngineError> {
        let limits = limits.into();
        check_limits(&limits)?;
        let events = Events::new();
        if let Some(heard) = store.listen() {
            events.forward(heard);
        }
        Ok(Arc::new(Engine {
            store,
            events,
            limits: limits.expansion,
            json: limits.json,
            subtasks: std::sync::atomic::AtomicBool::new(false),
            snapshots: Arc::default(),
        }))
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Work counters of the store (statements, transactions) since it was opened.
    pub fn store_stats(&self) -> StoreStats {
        self.store.stats()
    }

    pub async fn close(&self) {
        self.events.close();
        self.store.close().await;
    }

    /// A receiver whose value changes whenever steps may have become claimable.
    pub fn subscribe_steps_ready(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe_steps_ready()
    }

    /// Task uuids as they finish (by any process that can signal this one).
    pub fn subscribe_finished(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.events.subscribe_finished()
    }

    /// Task uuids as they are cancelled (by any process).
    pub fn subscribe_cancellations(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.events.subscribe_cancellations()
    }

    /// Task uuids as they fail past a lifecycle limit (by any process; docs/lifecycle.md).
    pub fn subscribe_expirations(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.events.subscribe_expirations()
    }

    /// Whether a template registered through this engine has a subtask step: only then does
    /// its worker run the child sweep as soon as steps become ready or tasks finish (besides
    /// every half second), so that workflows without child tasks do not pay for it.
    pub fn registers_subtasks(&self) -> bool {
        self.subtasks.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn events(&self) -> &Events {
        &self.events
    }

    pub(crate) fn json_limits(&self) -> &JsonLimits {
        &self.json
    }

    /// Run `work` as one write transaction, tried again (up to 5 times in all) when it fails
    /// in a way `retry` names; each try gets the current template snapshots.
    pub(crate) async fn write_retrying<R, F>(&self, retry: Retry, work: F) -> Result<R, EngineError>
    where
        R: Send + 'static,
        F: for<'t> Fn(&'t mut dyn Tx, Arc<Snapshots>) -> BoxFuture<'t, Result<R, EngineError>>
            + Send
            + Sync
            + Clone
            + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let snapshots = self.snapshots_arc();
            let w = work.clone();
            match run_write(self.store(), move |tx| w(tx, snapshots)).await {
                Err(EngineError::Store(e))
                    if attempt < WRITE_ATTEMPTS
                        && (e.is_conflict()
                            || (retry == Retry::ConflictsAndDuplicates && e.is_duplicate())) =>
                {
                    tracing::debug!("retrying a unit of work after: {e}");
                }
                other => return other,
            }
        }
    }
}

fn check_limits(limits: &Limits) -> Result<(), EngineError> {
    let e = &limits.expansion;
    if e.max_steps_per_decision == 0 || e.max_batch_workers == 0 {
        return Err(EngineError::InvalidArgument(
            "maxStepsPerDecision and maxBatchWorkers must be at least 1".to_string(),
        ));
    }
    limits.json.validate().map_err(EngineError::InvalidArgument)
}

/// The store a database URL names: `sqlite::memory:`, `sqlite://path/file.db` (created when
/// missing), or `postgres://…` / `postgresql://…`.
async fn open_store(url: &str, connect: ConnectOptions) -> Result<Arc<dyn Store>, EngineError> {
    if url.starts_with("sqlite:") {
        let store =
            tasker_store_sqlite::SqliteStore::open(tasker_store_sqlite::location_of(url)).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let defaults = tasker_store_postgres::PgOptions::default();
        let options = tasker_store_postgres::PgOptions {
            connect_timeout: connect.connect_timeout,
            pool_size: connect.pool_size.unwrap_or(defaults.pool_size),
            schema: connect.schema.unwrap_or(defaults.schema),
        };
        tasker_store_postgres::check_schema_name(&options.schema)
            .map_err(|e| EngineError::InvalidArgument(e.to_string()))?;
        if !(1..=1000).contains(&options.pool_size) {
            return Err(EngineError::InvalidArgument(format!(
                "poolSize must be between 1 and 1000, got {}",
                options.pool_size
            )));
        }
        let store = tasker_store_postgres::PgStore::open(url, options).await?;
        return Ok(Arc::new(store));
    }
    Err(EngineError::InvalidArgument(format!(
        "unsupported database URL '{}': use sqlite::memory:, sqlite://path/to/file.db or postgres://user@host/db",
        redact(url)
    )))
}
