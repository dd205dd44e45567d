//! Versioned schema migrations, applied automatically on connect. A migration is never edited
//! once released: add a new one. Both backends run the same statements.

use crate::{Db, Dialect, StorageError};

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub statements: &'static [&'static str],
}

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "tasks, steps, edges, transitions, templates",
    statements: &[
        "CREATE TABLE tasker_templates (
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            definition TEXT NOT NULL,
            registered_at BIGINT NOT NULL,
            PRIMARY KEY (namespace, name, version))",
        "CREATE TABLE tasker_tasks (
            task_uuid TEXT PRIMARY KEY,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            version TEXT NOT NULL,
            state TEXT NOT NULL,
            context TEXT NOT NULL,
            idempotency_key TEXT,
            total_steps BIGINT NOT NULL,
            completed_steps BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            completed_at BIGINT)",
        "CREATE UNIQUE INDEX tasker_tasks_idempotency
            ON tasker_tasks (namespace, name, version, idempotency_key)
            WHERE idempotency_key IS NOT NULL",
        "CREATE INDEX tasker_tasks_created ON tasker_tasks (created_at)",
        "CREATE TABLE tasker_steps (
            step_uuid TEXT PRIMARY KEY,
            task_uuid TEXT NOT NULL REFERENCES tasker_tasks (task_uuid),
            name TEXT NOT NULL,
            template_step_name TEXT NOT NULL,
            handler_callable TEXT NOT NULL,
            step_type TEXT NOT NULL,
            definition TEXT NOT NULL,
            state TEXT NOT NULL,
            dep_total BIGINT NOT NULL,
            pending_deps BIGINT NOT NULL,
            attempts BIGINT NOT NULL,
            max_attempts BIGINT NOT NULL,
            ready_at BIGINT,
            lease_until BIGINT,
            claim_id TEXT,
            claimed_by TEXT,
            inputs TEXT NOT NULL,
            result TEXT,
            error TEXT,
            metadata TEXT,
            checkpoint TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            UNIQUE (task_uuid, name))",
        "CREATE INDEX tasker_steps_claimable ON tasker_steps (ready_at)
            WHERE state IN ('enqueued', 'waiting_for_retry')",
        "CREATE INDEX tasker_steps_leased ON tasker_steps (lease_until)
            WHERE state = 'in_progress'",
        "CREATE INDEX tasker_steps_claimed_by ON tasker_steps (claimed_by)
            WHERE state = 'in_progress'",
        "CREATE TABLE tasker_step_edges (
            task_uuid TEXT NOT NULL,
            from_step TEXT NOT NULL,
            to_step TEXT NOT NULL,
            PRIMARY KEY (from_step, to_step))",
        "CREATE INDEX tasker_step_edges_to ON tasker_step_edges (to_step)",
        "CREATE TABLE tasker_transitions (
            transition_uuid TEXT PRIMARY KEY,
            task_uuid TEXT NOT NULL,
            step_uuid TEXT,
            from_state TEXT,
            to_state TEXT NOT NULL,
            at BIGINT NOT NULL,
            worker_id TEXT,
            reason TEXT)",
        "CREATE INDEX tasker_transitions_task ON tasker_transitions (task_uuid, at)",
    ],
}];

/// Apply every migration the database has not seen, each in its own transaction. On
/// PostgreSQL an advisory lock makes concurrent starters wait for each other.
pub(crate) async fn run(db: &Db) -> Result<(), StorageError> {
    let mut tx = db.begin().await?;
    if db.dialect() == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7262837)")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS tasker_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM tasker_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let current = current.unwrap_or(0);
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        for statement in m.statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(|source| StorageError::Migration {
                    version: m.version,
                    name: m.name,
                    source,
                })?;
        }
        let insert = crate::Sql::new(
            "INSERT INTO tasker_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        );
        sqlx::query(insert.for_dialect(db.dialect()))
            .bind(m.version)
            .bind(m.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
