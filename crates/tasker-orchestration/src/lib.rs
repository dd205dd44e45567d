//! The tasker engine. It runs inside every worker (and client) process; processes coordinate
//! through the database alone: every state change is a transaction with compare-and-swap
//! guards, so no step or result is processed twice because two processes raced.
//!
//! Wake-ups are event driven: in-process channels, plus LISTEN/NOTIFY on PostgreSQL so that
//! other processes hear about ready steps, finished tasks and cancellations at once.

mod claim;
mod create;
mod error;
mod events;
mod expand;
mod results;
mod steps;
mod transitions;
mod views;

use std::sync::Arc;

pub use claim::{ClaimRequest, ClaimedStep};
pub use create::CreateTask;
pub use error::EngineError;
pub use results::{RecordOutcome, StepError, StepOutcome};
pub use tasker_storage::{now_ms, redact, ConnectOptions, Dialect, DEFAULT_CONNECT_TIMEOUT};
pub use views::{ListTasks, StepView, TaskView, TransitionView};

use events::Events;
use tasker_domain::TemplateSet;
pub use tasker_domain::{ExpansionLimits, JsonLimits};
use tasker_storage::{Db, Sql};

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

pub struct Engine {
    db: Db,
    events: Events,
    limits: ExpansionLimits,
    json: JsonLimits,
}

impl Engine {
    /// Connect (running migrations) and start listening for other processes' events.
    pub async fn open(url: &str) -> Result<Arc<Engine>, EngineError> {
        Engine::open_with(url, Limits::default()).await
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
        let Limits {
            expansion: limits,
            json,
        } = limits.into();
        if limits.max_steps_per_decision == 0 || limits.max_batch_workers == 0 {
            return Err(EngineError::InvalidArgument(
                "maxStepsPerDecision and maxBatchWorkers must be at least 1".to_string(),
            ));
        }
        json.validate().map_err(EngineError::InvalidArgument)?;
        if connect.connect_timeout.is_zero() {
            return Err(EngineError::InvalidArgument(
                "connectTimeoutMs must be at least 1".to_string(),
            ));
        }
        let db = Db::connect_with(url, connect).await?;
        let events = Events::new();
        let engine = Arc::new(Engine {
            db,
            events,
            limits,
            json,
        });
        if let Some(pool) = engine.db.listen_pool() {
            events::spawn_pg_listener(pool, engine.db.clone(), engine.events.clone());
        }
        Ok(engine)
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    pub async fn close(&self) {
        self.events.close();
        self.db.close().await;
    }

    /// Store the templates so that any process can create tasks from them.
    pub async fn register_templates(&self, set: &TemplateSet) -> Result<(), EngineError> {
        static UPSERT: Sql = Sql::new(
            "INSERT INTO tasker_templates (namespace, name, version, definition, registered_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (namespace, name, version)
             DO UPDATE SET definition = excluded.definition, registered_at = excluded.registered_at",
        );
        let mut tx = self.db.begin().await?;
        for t in &set.templates {
            let definition = serde_json::to_string(t)
                .map_err(|e| EngineError::InvalidArgument(format!("template {}: {e}", t.key())))?;
            sqlx::query(UPSERT.for_dialect(self.dialect()))
                .bind(&t.namespace_name)
                .bind(&t.name)
                .bind(&t.version)
                .bind(definition)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(tasker_storage::StorageError::from)?;
        }
        tx.commit()
            .await
            .map_err(tasker_storage::StorageError::from)?;
        Ok(())
    }

    /// A receiver whose value changes whenever steps may have become claimable.
    pub fn subscribe_steps_ready(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe_steps_ready()
    }

    /// Task uuids as they are cancelled (by any process).
    pub fn subscribe_cancellations(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.events.subscribe_cancellations()
    }

    pub(crate) fn json_limits(&self) -> &JsonLimits {
        &self.json
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn events(&self) -> &Events {
        &self.events
    }
}
