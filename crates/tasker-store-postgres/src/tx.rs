//! The PostgreSQL [`Tx`]: one pooled connection, and every batch method ONE set-based
//! statement (arrays bound as parameters and expanded with `unnest`), whatever the batch
//! size. A method given nothing to do sends nothing.
//!
//! A write unit of work is one transaction, begun lazily with its first statement (a unit of
//! work that sends nothing costs nothing) and committed after one last statement that queues
//! the transaction's signals. Reads run each statement on its own (no transaction).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use tasker_store::*;
use time::OffsetDateTime;

use crate::error::{corrupt, sql_error, Server};
use crate::queries as q;

type R<T> = StoreResult<T>;
type Q = Query<'static, Postgres, PgArguments>;

/// A claimed row with its claim order (claim order, ready time, id).
type Claimed = ((OffsetDateTime, OffsetDateTime, Uuid), ClaimedRow);

fn clamp_i32(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// What every unit of work of one store shares.
pub(crate) struct Shared {
    pub server: Arc<Server>,
    pub origin: String,
    pub channel: String,
}

pub(crate) struct PgTx {
    conn: Option<PoolConnection<Postgres>>,
    write: bool,
    begun: bool,
    began_once: bool,
    statements: u64,
    signals: Vec<Signal>,
    /// Audit rows of this transaction, written with its notifications just before COMMIT.
    transitions: Vec<NewTransition>,
    shared: Arc<Shared>,
}

impl PgTx {
    pub(crate) fn new(conn: PoolConnection<Postgres>, write: bool, shared: Arc<Shared>) -> PgTx {
        PgTx {
            conn: Some(conn),
            write,
            begun: false,
            began_once: false,
            statements: 0,
            signals: Vec::new(),
            transitions: Vec::new(),
            shared,
        }
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements
    }

    /// Whether a transaction was begun (and so committed or rolled back).
    pub(crate) fn began(&self) -> bool {
        self.began_once
    }

    fn conn(&mut self) -> R<&mut PoolConnection<Postgres>> {
        self.conn.as_mut().ok_or(StoreError::Closed)
    }

    // The statement helpers return boxed futures: sqlx's executor is generic over lifetimes,
    // and boxing here keeps that out of every method's future (which must be `Send` for all
    // lifetimes, something rustc cannot prove through the generic).

    fn simple(&mut self, sql: &'static str) -> BoxFuture<'_, R<()>> {
        Box::pin(async move {
            self.statements += 1;
            let server = self.shared.server.clone();
            let conn: &mut sqlx::PgConnection = self.conn()?;
            // A string with no arguments goes as a simple query (no prepare).
            sqlx::Executor::execute(conn, sql)
                .await
                .map_err(|e| sql_error(&server, e))?;
            Ok(())
        })
    }

    fn begin_if_needed(&mut self) -> BoxFuture<'_, R<()>> {
        Box::pin(async move {
            if self.write && !self.begun {
                // Marked first: if BEGIN's answer is lost, the connection is not trusted again.
                self.begun = true;
                self.began_once = true;
                self.simple(q::BEGIN).await?;
            }
            Ok(())
        })
    }

    fn rows(&mut self, query: Q) -> BoxFuture<'_, R<Vec<PgRow>>> {
        Box::pin(async move {
            self.begin_if_needed().await?;
            self.statements += 1;
            let server = self.shared.server.clone();
            let conn: &mut sqlx::PgConnection = self.conn()?;
            query
                .fetch_all(conn)
                .await
                .map_err(|e| sql_error(&server, e))
        })
    }

    fn row(&mut self, query: Q) -> BoxFuture<'_, R<Option<PgRow>>> {
        Box::pin(async move {
            self.begin_if_needed().await?;
            self.statements += 1;
            let server = self.shared.server.clone();
            let conn: &mut sqlx::PgConnection = self.conn()?;
            query
                .fetch_optional(conn)
                .await
                .map_err(|e| sql_error(&server, e))
        })
    }

    fn exec(&mut self, query: Q) -> BoxFuture<'_, R<u64>> {
        Box::pin(async move {
            self.begin_if_needed().await?;
            self.statements += 1;
            let server = self.shared.server.clone();
            let conn: &mut sqlx::PgConnection = self.conn()?;
            Ok(query
                .execute(conn)
                .await
                .map_err(|e| sql_error(&server, e))?
                .rows_affected())
        })
    }

    /// Queue the signals (one statement) and commit.
    pub(crate) async fn finish(&mut self) -> R<()> {
        let payloads = crate::signals::encode(&self.shared.origin, &self.signals);
        self.signals.clear();
        if !self.transitions.is_empty() {
            let rows = std::mem::take(&mut self.transitions);
            let query = transition_arrays(sqlx::query(q::RECORD_TRANSITIONS_AND_NOTIFY), &rows)
                .bind(self.shared.channel.clone())
                .bind(payloads);
            self.rows(query).await?;
        } else if !payloads.is_empty() {
            let query = sqlx::query(q::NOTIFY)
                .bind(self.shared.channel.clone())
                .bind(payloads);
            if self.begun {
                self.rows(query).await?;
            } else {
                // Nothing else was sent: no transaction; the notification goes out at once.
                self.write = false;
                self.rows(query).await?;
            }
        }
        if self.begun {
            self.simple(q::COMMIT).await?;
            self.begun = false;
        }
        Ok(())
    }

    /// Roll back after a failure. A connection whose state is unknown is closed rather than
    /// handed back to the pool.
    pub(crate) async fn abandon(&mut self) {
        if self.begun {
            if let Err(e) = self.simple(q::ROLLBACK).await {
                tracing::debug!("ROLLBACK failed ({e}); closing the connection");
                if let Some(conn) = self.conn.take() {
                    let _ = conn.detach();
                }
            }
            self.begun = false;
        }
    }
}

impl PgTx {
    /// The connection failed: close it rather than hand it back to the pool, where the next
    /// unit of work would find it dead.
    pub(crate) fn discard(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        // Dropped mid-transaction (the caller stopped waiting): the connection may be inside a
        // transaction or mid-statement; it must not go back to the pool.
        if self.begun {
            if let Some(mut conn) = self.conn.take() {
                conn.close_on_drop();
            }
        }
    }
}

// --- column readers --------------------------------------------------------------------------

fn col<'r, T>(row: &'r PgRow, i: usize) -> R<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get::<T, _>(i)
        .map_err(|e| corrupt(&format!("column {i}"), e))
}

/// An `integer` column.
fn int4(row: &PgRow, i: usize) -> R<i64> {
    col::<i32>(row, i).map(i64::from)
}

fn ms_of(t: OffsetDateTime) -> Millis {
    (t.unix_timestamp_nanos().div_euclid(1_000_000)) as Millis
}

fn ms(row: &PgRow, i: usize) -> R<Millis> {
    col::<OffsetDateTime>(row, i).map(ms_of)
}

fn opt_ms(row: &PgRow, i: usize) -> R<Option<Millis>> {
    Ok(col::<Option<OffsetDateTime>>(row, i)?.map(ms_of))
}

/// A state or type name, parsed once here: an unknown name is corruption, never a default.
fn parsed<T: std::str::FromStr<Err = String>>(
    row: &PgRow,
    i: usize,
    whose: &dyn Fn() -> String,
) -> R<T> {
    let s: String = col(row, i)?;
    s.parse::<T>()
        .map_err(|e| StoreError::Corrupt(format!("{e} ({})", whose())))
}

fn task_row(row: &PgRow) -> R<TaskRow> {
    let task_uuid: Uuid = col(row, 0)?;
    Ok(TaskRow {
        task_uuid,
        namespace: col(row, 1)?,
        name: col(row, 2)?,
        version: col(row, 3)?,
        state: parsed(row, 4, &|| format!("the state of task {task_uuid}"))?,
        context: col(row, 5)?,
        idempotency_key: col(row, 6)?,
        total_steps: int4(row, 7)?,
        completed_steps: int4(row, 8)?,
        created_at: ms(row, 9)?,
        updated_at: ms(row, 10)?,
        completed_at: opt_ms(row, 11)?,
        priority: int4(row, 12)?,
        metadata: task_metadata(row, 13, &|| format!("task {task_uuid}"))?,
        identity_hash: col(row, 19)?,
    })
}

/// A task's metadata from columns `first..first + 6` (correlation id, parent correlation id,
/// initiator, source system, reason, tags as JSON text).
fn task_metadata(row: &PgRow, first: usize, whose: &dyn Fn() -> String) -> R<TaskMetadata> {
    let tags: String = col(row, first + 5)?;
    Ok(TaskMetadata {
        correlation_id: col(row, first)?,
        parent_correlation_id: col(row, first + 1)?,
        initiator: col(row, first + 2)?,
        source_system: col(row, first + 3)?,
        reason: col(row, first + 4)?,
        tags: serde_json::from_str(&tags).map_err(|e| {
            StoreError::Corrupt(format!("the tags of {} are not a list: {e}", whose()))
        })?,
    })
}

/// Which round each item goes in so that no key repeats within a round (the n-th occurrence
/// of a key goes in round n), and how many rounds there are. One round, unless a batch names
/// the same row twice: applying the rounds in order is applying the items in order.
fn rounds<K: Eq + Hash>(keys: impl Iterator<Item = K>) -> (Vec<usize>, usize) {
    let mut seen: HashMap<K, usize> = HashMap::new();
    let mut count = 0;
    let of = keys
        .map(|k| {
            let n = seen.entry(k).or_insert(0);
            let round = *n;
            *n += 1;
            count = count.max(round + 1);
            round
        })
        .collect();
    (of, count)
}

/// One metadata field of each task, for binding as an array.
/// One lifecycle limit of each task, in order.
fn limits(tasks: &[NewTask], f: impl Fn(&LifecycleLimits) -> Option<i64>) -> Vec<Option<i64>> {
    tasks.iter().map(|t| f(&t.lifecycle)).collect()
}

fn meta<T>(tasks: &[NewTask], f: impl Fn(&TaskMetadata) -> T) -> Vec<T> {
    tasks.iter().map(|t| f(&t.metadata)).collect()
}

/// Keep the first occurrence of each item, in order.
fn unique<T: Eq + Hash + Copy>(items: &[T]) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().copied().filter(|t| seen.insert(*t)).collect()
}

impl PgTx {
    async fn put_templates_now(&mut self, templates: &[TemplateRecord]) -> R<()> {
        if templates.is_empty() {
            return Ok(());
        }
        let field = |f: fn(&TemplateRecord) -> &String| -> Vec<String> {
            templates.iter().map(|t| f(t).clone()).collect()
        };
        let query = sqlx::query(q::PUT_TEMPLATES)
            .bind(field(|t| &t.digest))
            .bind(field(|t| &t.namespace))
            .bind(field(|t| &t.name))
            .bind(field(|t| &t.version))
            .bind(field(|t| &t.definition));
        self.exec(query).await?;
        Ok(())
    }

    async fn current_templates_now(
        &mut self,
        keys: &[TemplateKey],
    ) -> R<Vec<(TemplateKey, String, String)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::CURRENT_TEMPLATES)
            .bind(keys.iter().map(|k| k.namespace.clone()).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.version.clone()).collect::<Vec<_>>());
        let mut out = Vec::with_capacity(keys.len());
        for r in self.rows(query).await? {
            let ord: i64 = col(&r, 0)?;
            let key = usize::try_from(ord - 1)
                .ok()
                .and_then(|i| keys.get(i))
                .ok_or_else(|| corrupt("a template key index", ord))?;
            out.push((key.clone(), col(&r, 1)?, col(&r, 2)?));
        }
        Ok(out)
    }

    async fn template_snapshot_now(&mut self, digest: &str) -> R<Option<String>> {
        let query = sqlx::query(q::TEMPLATE_SNAPSHOT).bind(digest.to_string());
        match self.row(query).await? {
            Some(r) => Ok(Some(col(&r, 0)?)),
            None => Ok(None),
        }
    }

    async fn template_keys_now(&mut self, limit: i64) -> R<Vec<TemplateKey>> {
        let query = sqlx::query(q::TEMPLATE_KEYS).bind(limit);
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                Ok(TemplateKey {
                    namespace: col(r, 0)?,
                    name: col(r, 1)?,
                    version: col(r, 2)?,
                })
            })
            .collect()
    }

    async fn tasks_by_idempotency_key_now(
        &mut self,
        keys: &[(TemplateKey, String)],
    ) -> R<Vec<(usize, Uuid)>> {
        self.tasks_by_key_now(q::TASKS_BY_IDEMPOTENCY_KEY, keys)
            .await
    }

    /// The tasks of `sql` (tasks_by_idempotency_key.sql or tasks_by_identity_hash.sql).
    async fn tasks_by_key_now(
        &mut self,
        sql: &'static str,
        keys: &[(TemplateKey, String)],
    ) -> R<Vec<(usize, Uuid)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(sql)
            .bind(
                keys.iter()
                    .map(|(k, _)| k.namespace.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(keys.iter().map(|(k, _)| k.name.clone()).collect::<Vec<_>>())
            .bind(
                keys.iter()
                    .map(|(k, _)| k.version.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(keys.iter().map(|(_, key)| key.clone()).collect::<Vec<_>>());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let ord: i64 = col(r, 0)?;
                let i = usize::try_from(ord - 1).map_err(|e| corrupt("a key index", e))?;
                Ok((i, col(r, 1)?))
            })
            .collect()
    }

    async fn insert_tasks_now(&mut self, tasks: &[NewTask]) -> R<Vec<(Uuid, Millis)>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::INSERT_TASKS)
            .bind(tasks.iter().map(|t| t.task_uuid).collect::<Vec<_>>())
            .bind(
                tasks
                    .iter()
                    .map(|t| t.namespace.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(tasks.iter().map(|t| t.name.clone()).collect::<Vec<_>>())
            .bind(tasks.iter().map(|t| t.version.clone()).collect::<Vec<_>>())
            .bind(
                tasks
                    .iter()
                    .map(|t| t.template_digest.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(tasks.iter().map(|t| t.state.as_str()).collect::<Vec<_>>())
            .bind(tasks.iter().map(|t| t.context.clone()).collect::<Vec<_>>())
            .bind(
                tasks
                    .iter()
                    .map(|t| t.idempotency_key.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(tasks.iter().map(|t| t.total_steps).collect::<Vec<_>>())
            .bind(
                tasks
                    .iter()
                    .map(|t| t.trace_context.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(tasks.iter().map(|t| t.priority).collect::<Vec<_>>())
            .bind(meta(tasks, |m| m.correlation_id.clone()))
            .bind(meta(tasks, |m| m.parent_correlation_id.clone()))
            .bind(meta(tasks, |m| m.initiator.clone()))
            .bind(meta(tasks, |m| m.source_system.clone()))
            .bind(meta(tasks, |m| m.reason.clone()))
            .bind(meta(tasks, |m| {
                serde_json::to_string(&m.tags).unwrap_or_else(|_| "[]".to_string())
            }))
            .bind(
                tasks
                    .iter()
                    .map(|t| t.identity_hash.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                tasks
                    .iter()
                    .flat_map(|t| t.metadata.tags.iter().map(|_| t.task_uuid))
                    .collect::<Vec<_>>(),
            )
            .bind(
                tasks
                    .iter()
                    .flat_map(|t| t.metadata.tags.iter().cloned())
                    .collect::<Vec<_>>(),
            )
            .bind(limits(tasks, |l| l.max_duration_ms))
            .bind(limits(tasks, |l| l.max_in_process_ms))
            .bind(limits(tasks, |l| l.max_dependencies_ms))
            .bind(limits(tasks, |l| l.max_retry_wait_ms));
        let mut created: HashMap<Uuid, Millis> = HashMap::new();
        for r in self.rows(query).await? {
            created.insert(col(&r, 0)?, ms(&r, 1)?);
        }
        // In the order given (RETURNING promises none), each once.
        Ok(tasks
            .iter()
            .filter_map(|t| created.remove(&t.task_uuid).map(|at| (t.task_uuid, at)))
            .collect())
    }

    async fn insert_steps_now(&mut self, steps: &[NewStep]) -> R<()> {
        if steps.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(q::INSERT_STEPS)
            .bind(steps.iter().map(|s| s.step_uuid).collect::<Vec<_>>())
            .bind(steps.iter().map(|s| s.task_uuid).collect::<Vec<_>>())
            .bind(steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
            .bind(
                steps
                    .iter()
                    .map(|s| s.template_step_name.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                steps
                    .iter()
                    .map(|s| s.handler_callable.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                steps
                    .iter()
                    .map(|s| s.step_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(steps.iter().map(|s| s.state.as_str()).collect::<Vec<_>>())
            .bind(steps.iter().map(|s| s.dep_total).collect::<Vec<_>>())
            .bind(steps.iter().map(|s| s.pending_deps).collect::<Vec<_>>())
            .bind(steps.iter().map(|s| s.max_attempts).collect::<Vec<_>>())
            .bind(steps.iter().map(|s| s.inputs.clone()).collect::<Vec<_>>())
            .bind(
                steps
                    .iter()
                    .map(|s| s.ready_in_ms as f64)
                    .collect::<Vec<_>>(),
            )
            .bind(steps.iter().map(|s| s.created_by).collect::<Vec<_>>())
            .bind(
                steps
                    .iter()
                    .map(|s| s.signal_timeout_ms)
                    .collect::<Vec<_>>(),
            )
            .bind(
                steps
                    .iter()
                    .map(|s| s.limit.as_ref().map(|l| l.key.clone()))
                    .collect::<Vec<_>>(),
            )
            .bind(
                steps
                    .iter()
                    .map(|s| s.limit.as_ref().and_then(|l| l.concurrency).map(clamp_i32))
                    .collect::<Vec<_>>(),
            )
            .bind(
                steps
                    .iter()
                    .map(|s| s.limit.as_ref().and_then(|l| l.per_second))
                    .collect::<Vec<_>>(),
            )
            .bind(
                steps
                    .iter()
                    .map(|s| s.limit.as_ref().and_then(|l| l.burst).map(clamp_i32))
                    .collect::<Vec<_>>(),
            );
        self.exec(query).await?;
        Ok(())
    }

    async fn insert_edges_now(&mut self, edges: &[Edge]) -> R<()> {
        if edges.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(q::INSERT_EDGES)
            .bind(edges.iter().map(|e| e.from).collect::<Vec<_>>())
            .bind(edges.iter().map(|e| e.to).collect::<Vec<_>>());
        self.exec(query).await?;
        Ok(())
    }

    fn insert_transitions_now(&mut self, rows: &[NewTransition]) -> R<()> {
        // Written with the commit (see `finish`), together with the notifications.
        self.transitions.extend_from_slice(rows);
        Ok(())
    }

    async fn claim_now(&mut self, req: &ClaimRequest) -> R<Vec<ClaimedRow>> {
        if req.limit == 0 || req.callables.is_empty() {
            return Ok(Vec::new());
        }
        let unlimited = req.unlimited_callables();
        let query = sqlx::query(q::CLAIM)
            .bind(unlimited)
            .bind(i64::try_from(req.limit).unwrap_or(i64::MAX))
            .bind(req.claim_id)
            .bind(req.worker_id.clone())
            .bind(req.lease_ms as f64);
        let mut out = self.claimed_rows(query).await?;
        if out.len() < req.limit {
            let more = self.claim_limited_now(req, req.limit - out.len()).await?;
            out.extend(more);
        }
        // In claim order, as picked (RETURNING promises no order).
        out.sort_by_key(|(order, _)| *order);
        Ok(out.into_iter().map(|(_, r)| r).collect())
    }

    /// Claim up to `room` limited steps: per limit key (in key order), lock the key's limits
    /// row, count its steps in progress and refill its tokens, then claim what the limits allow.
    async fn claim_limited_now(&mut self, req: &ClaimRequest, room: usize) -> R<Vec<Claimed>> {
        let keys = self
            .rows(sqlx::query(q::LIMITED_KEYS).bind(req.callables.clone()))
            .await?;
        let mut keys_and_settings = Vec::with_capacity(keys.len());
        for r in &keys {
            let key: String = col(r, 0)?;
            let concurrency: Option<i32> = col(r, 1)?;
            let per_second: Option<f64> = col(r, 2)?;
            let burst: Option<i32> = col(r, 3)?;
            keys_and_settings.push((key, concurrency, per_second, burst));
        }
        let mut out = Vec::new();
        let mut room = room;
        for (key, concurrency, per_second, burst) in keys_and_settings {
            if room == 0 {
                break;
            }
            let burst = burst.or_else(|| per_second.map(|p| p.ceil() as i32));
            let settings = |sql: &'static str| {
                sqlx::query(sql)
                    .bind(key.clone())
                    .bind(concurrency)
                    .bind(per_second)
                    .bind(burst)
            };
            let row = match self.row(settings(q::LOCK_LIMIT)).await? {
                Some(row) => Some(row),
                None => self.row(settings(q::INSERT_LIMIT)).await?,
            };
            // Another claim holds the key: it is taking the key's free slots; the steps left
            // are looked at again soon (next_ready_in).
            let Some(row) = row else { continue };
            let tokens: Option<f64> = col(&row, 1)?;
            let mut allowed = room as i64;
            if let Some(c) = concurrency {
                let running_row = self
                    .row(sqlx::query(q::LIMIT_RUNNING).bind(key.clone()))
                    .await?
                    .ok_or_else(|| corrupt("limit_running returned no row for key", &key))?;
                let running: i64 = col(&running_row, 0)?;
                allowed = allowed.min(i64::from(c) - running);
            }
            if let Some(t) = tokens {
                allowed = allowed.min(t.floor() as i64);
            }
            if allowed <= 0 {
                continue; // held back: the steps stay as they are, attempts untouched
            }
            let query = sqlx::query(q::CLAIM_LIMITED)
                .bind(req.callables.clone())
                .bind(allowed)
                .bind(req.claim_id)
                .bind(req.worker_id.clone())
                .bind(req.lease_ms as f64)
                .bind(key.clone());
            let got = self.claimed_rows(query).await?;
            if tokens.is_some() && !got.is_empty() {
                self.exec(
                    sqlx::query(q::SPEND_TOKENS)
                        .bind(key.clone())
                        .bind(got.len() as f64),
                )
                .await?;
            }
            room = room.saturating_sub(got.len());
            out.extend(got);
        }
        Ok(out)
    }

    async fn claimed_rows(&mut self, query: Q) -> R<Vec<Claimed>> {
        let mut out = Vec::new();
        for r in self.rows(query).await? {
            let step_uuid: Uuid = col(&r, 0)?;
            let whose = || format!("step {step_uuid}");
            let row = ClaimedRow {
                step_uuid,
                task_uuid: col(&r, 1)?,
                name: col(&r, 2)?,
                template_step_name: col(&r, 3)?,
                step_type: parsed(&r, 4, &whose)?,
                from_state: parsed(&r, 5, &whose)?,
                attempts: int4(&r, 6)?,
                max_attempts: int4(&r, 7)?,
                dep_total: int4(&r, 8)?,
                inputs: col(&r, 9)?,
                checkpoint: col(&r, 10)?,
                task_namespace: col(&r, 11)?,
                task_name: col(&r, 12)?,
                task_version: col(&r, 13)?,
                template_digest: col(&r, 14)?,
                context: col(&r, 15)?,
                trace_context: col(&r, 17)?,
                task_metadata: task_metadata(&r, 19, &|| format!("the task of step {step_uuid}"))?,
            };
            let ready_at: OffsetDateTime = col(&r, 16)?;
            let priority = int4(&r, 18)?;
            let claim_order = ready_at - time::Duration::seconds(priority);
            out.push(((claim_order, ready_at, step_uuid), row));
        }
        Ok(out)
    }

    async fn dependency_results_now(
        &mut self,
        wanted: &[WantedDependencies<'_>],
    ) -> R<Vec<DependencyResult>> {
        let (steps, names): (Vec<Uuid>, Vec<String>) = wanted
            .iter()
            .flat_map(|w| w.dependencies.iter().map(|d| (w.step_uuid, d.clone())))
            .unzip();
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::DEPENDENCY_RESULTS).bind(steps).bind(names);
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                Ok(DependencyResult {
                    for_step: col(r, 0)?,
                    step_uuid: col(r, 1)?,
                    name: col(r, 2)?,
                    result: col(r, 3)?,
                })
            })
            .collect()
    }

    async fn unlimited_ready_now(
        &mut self,
        callables: &[String],
        limit: i64,
    ) -> R<Vec<UnlimitedStep>> {
        if callables.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::UNLIMITED_READY)
            .bind(callables.to_vec())
            .bind(limit);
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                Ok(UnlimitedStep {
                    step_uuid: col(r, 0)?,
                    handler_callable: col(r, 1)?,
                    context: col(r, 2)?,
                })
            })
            .collect()
    }

    async fn set_step_limits_now(&mut self, limits: &[(Uuid, StepLimit)]) -> R<()> {
        if limits.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(q::SET_STEP_LIMITS)
            .bind(limits.iter().map(|(s, _)| *s).collect::<Vec<_>>())
            .bind(
                limits
                    .iter()
                    .map(|(_, l)| l.key.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(
                limits
                    .iter()
                    .map(|(_, l)| l.concurrency.map(clamp_i32))
                    .collect::<Vec<_>>(),
            )
            .bind(limits.iter().map(|(_, l)| l.per_second).collect::<Vec<_>>())
            .bind(
                limits
                    .iter()
                    .map(|(_, l)| l.burst.map(clamp_i32))
                    .collect::<Vec<_>>(),
            );
        self.exec(query).await?;
        Ok(())
    }

    async fn next_ready_in_now(&mut self, callables: &[String]) -> R<Option<i64>> {
        if callables.is_empty() {
            return Ok(None);
        }
        let query = sqlx::query(q::NEXT_READY_IN).bind(callables.to_vec());
        match self.row(query).await? {
            Some(r) => Ok(col::<Option<i64>>(&r, 0)?.map(|ms| ms.max(0))),
            None => Ok(None),
        }
    }

    async fn lock_claims_now(&mut self, claims: &[(Uuid, Uuid)]) -> R<Vec<LockedStep>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::LOCK_CLAIMS)
            .bind(claims.iter().map(|c| c.0).collect::<Vec<_>>())
            .bind(claims.iter().map(|c| c.1).collect::<Vec<_>>());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let step_uuid: Uuid = col(r, 0)?;
                let task_uuid: Uuid = col(r, 2)?;
                Ok(LockedStep {
                    step_uuid,
                    claim_id: col(r, 1)?,
                    task_uuid,
                    name: col(r, 3)?,
                    template_step_name: col(r, 4)?,
                    step_type: parsed(r, 5, &|| format!("step {step_uuid}"))?,
                    attempts: int4(r, 6)?,
                    max_attempts: int4(r, 7)?,
                    task_state: parsed(r, 8, &|| format!("the state of task {task_uuid}"))?,
                    task_completed_steps: int4(r, 9)?,
                    task_total_steps: int4(r, 10)?,
                    template_digest: col(r, 11)?,
                })
            })
            .collect()
    }

    async fn task_steps_now(&mut self, tasks: &[Uuid]) -> R<Vec<TaskStepState>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::TASK_STEPS).bind(tasks.to_vec());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let step_uuid: Uuid = col(r, 1)?;
                let whose = || format!("step {step_uuid}");
                Ok(TaskStepState {
                    task_uuid: col(r, 0)?,
                    step_uuid,
                    name: col(r, 2)?,
                    step_type: parsed(r, 3, &whose)?,
                    state: parsed(r, 4, &whose)?,
                })
            })
            .collect()
    }

    async fn change_steps_now(&mut self, changes: &[StepChange]) -> R<Vec<Uuid>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let (round_of, rounds) = rounds(changes.iter().map(|c| c.step_uuid));
        let mut changed: Vec<HashSet<Uuid>> = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let batch: Vec<&StepChange> = changes
                .iter()
                .zip(&round_of)
                .filter(|(_, r)| **r == round)
                .map(|(c, _)| c)
                .collect();
            let query = sqlx::query(q::CHANGE_STEPS)
                .bind(batch.iter().map(|c| c.step_uuid).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.to.as_str()).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.result.clone()).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.error.is_some()).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|c| c.error.clone().flatten())
                        .collect::<Vec<_>>(),
                )
                .bind(batch.iter().map(|c| c.metadata.clone()).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|c| c.ready_in_ms.unwrap_or(0) as f64)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    batch
                        .iter()
                        .map(|c| i32::from(c.uncount_attempt))
                        .collect::<Vec<_>>(),
                )
                .bind(batch.iter().map(|c| c.expect_claim).collect::<Vec<_>>());
            let mut set = HashSet::new();
            for r in self.rows(query).await? {
                set.insert(col::<Uuid>(&r, 0)?);
            }
            changed.push(set);
        }
        Ok(changes
            .iter()
            .zip(round_of)
            .filter(|(c, r)| changed[*r].contains(&c.step_uuid))
            .map(|(c, _)| c.step_uuid)
            .collect())
    }

    async fn count_down_dependents_now(&mut self, completed: &[Uuid]) -> R<Vec<ReadyStep>> {
        if completed.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::COUNT_DOWN_DEPENDENTS).bind(completed.to_vec());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let step_uuid: Uuid = col(r, 0)?;
                Ok(ReadyStep {
                    step_uuid,
                    task_uuid: col(r, 1)?,
                    handler_callable: col(r, 2)?,
                    after: col(r, 3)?,
                    state: parsed(r, 4, &|| format!("step {step_uuid}"))?,
                    name: col(r, 5)?,
                })
            })
            .collect()
    }

    async fn add_pending_dependency_now(&mut self, steps: &[Uuid]) -> R<Vec<Uuid>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::ADD_PENDING_DEPENDENCY).bind(steps.to_vec());
        let mut bumped = HashSet::new();
        for r in self.rows(query).await? {
            bumped.insert(col::<Uuid>(&r, 0)?);
        }
        Ok(unique(steps)
            .into_iter()
            .filter(|s| bumped.contains(s))
            .collect())
    }

    async fn count_tasks_now(&mut self, counts: &[TaskCounts]) -> R<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let query = sqlx::query(q::COUNT_TASKS)
            .bind(counts.iter().map(|c| c.task_uuid).collect::<Vec<_>>())
            .bind(counts.iter().map(|c| c.completed_delta).collect::<Vec<_>>())
            .bind(counts.iter().map(|c| c.total_delta).collect::<Vec<_>>());
        self.exec(query).await?;
        Ok(())
    }

    async fn change_tasks_now(&mut self, changes: &[TaskChange]) -> R<Vec<Uuid>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let (round_of, rounds) = rounds(changes.iter().map(|c| c.task_uuid));
        let mut changed: Vec<HashSet<Uuid>> = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let batch: Vec<&TaskChange> = changes
                .iter()
                .zip(&round_of)
                .filter(|(_, r)| **r == round)
                .map(|(c, _)| c)
                .collect();
            let query = sqlx::query(q::CHANGE_TASKS)
                .bind(batch.iter().map(|c| c.task_uuid).collect::<Vec<_>>())
                .bind(batch.iter().map(|c| c.to.as_str()).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|c| c.expect.map(TaskState::as_str))
                        .collect::<Vec<_>>(),
                );
            let mut set = HashSet::new();
            for r in self.rows(query).await? {
                set.insert(col::<Uuid>(&r, 0)?);
            }
            changed.push(set);
        }
        Ok(changes
            .iter()
            .zip(round_of)
            .filter(|(c, r)| changed[*r].contains(&c.task_uuid))
            .map(|(c, _)| c.task_uuid)
            .collect())
    }

    async fn cancel_steps_now(
        &mut self,
        tasks: &[Uuid],
        states: &[StepState],
    ) -> R<Vec<CancelledStep>> {
        if tasks.is_empty() || states.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::CANCEL_STEPS)
            .bind(unique(tasks))
            .bind(states.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let step_uuid: Uuid = col(r, 1)?;
                Ok(CancelledStep {
                    task_uuid: col(r, 0)?,
                    step_uuid,
                    from: parsed(r, 2, &|| format!("step {step_uuid}"))?,
                })
            })
            .collect()
    }

    async fn task_activity_now(&mut self, tasks: &[Uuid]) -> R<Vec<TaskActivity>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::TASK_ACTIVITY).bind(tasks.to_vec());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                Ok(TaskActivity {
                    task_uuid: col(r, 0)?,
                    active: col(r, 1)?,
                    waiting: col(r, 2)?,
                    next_due_in_ms: col::<Option<i64>>(r, 3)?.map(|ms| ms.max(0)),
                })
            })
            .collect()
    }

    async fn reopen_steps_now(&mut self, steps: &[Uuid]) -> R<Vec<ReopenedStep>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::REOPEN_STEPS).bind(steps.to_vec());
        let mut out = Vec::with_capacity(steps.len());
        for r in self.rows(query).await? {
            let step_uuid: Uuid = col(&r, 1)?;
            let whose = || format!("step {step_uuid}");
            out.push(ReopenedStep {
                task_uuid: col(&r, 0)?,
                step_uuid,
                from: parsed(&r, 2, &whose)?,
                to: parsed(&r, 3, &whose)?,
            });
        }
        // In the order given (RETURNING promises none).
        out.sort_by_key(|s| steps.iter().position(|x| *x == s.step_uuid));
        Ok(out)
    }

    async fn prune_tasks_now(&mut self, filter: &PruneFilter) -> R<u64> {
        let query = sqlx::query(q::PRUNE_TASKS)
            .bind(filter.states.iter().map(|s| s.as_str()).collect::<Vec<_>>())
            .bind(filter.finished_ms_ago as f64)
            .bind(filter.limit);
        self.exec(query).await
    }

    async fn renew_leases_now(
        &mut self,
        worker: &str,
        claims: &[(Uuid, Uuid)],
        lease_ms: i64,
    ) -> R<Vec<Uuid>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::RENEW_LEASES)
            .bind(claims.iter().map(|c| c.0).collect::<Vec<_>>())
            .bind(claims.iter().map(|c| c.1).collect::<Vec<_>>())
            .bind(worker.to_string())
            .bind(lease_ms as f64);
        let mut held = HashSet::new();
        for r in self.rows(query).await? {
            held.insert((col::<Uuid>(&r, 0)?, col::<Uuid>(&r, 1)?));
        }
        // In the order listed (RETURNING promises none).
        Ok(claims
            .iter()
            .filter(|c| held.contains(c))
            .map(|(s, _)| *s)
            .collect())
    }

    async fn held_claims_now(&mut self, claims: &[(Uuid, Uuid)]) -> R<Vec<HeldClaim>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::HELD_CLAIMS)
            .bind(claims.iter().map(|c| c.0).collect::<Vec<_>>())
            .bind(claims.iter().map(|c| c.1).collect::<Vec<_>>());
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let task_uuid: Uuid = col(r, 2)?;
                Ok(HeldClaim {
                    step_uuid: col(r, 0)?,
                    claim_id: col(r, 1)?,
                    task_uuid,
                    task_state: parsed(r, 3, &|| format!("the state of task {task_uuid}"))?,
                })
            })
            .collect()
    }

    async fn expired_claims_now(&mut self, limit: i64) -> R<Vec<ExpiredClaim>> {
        let query = sqlx::query(q::EXPIRED_CLAIMS).bind(limit);
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                Ok(ExpiredClaim {
                    step_uuid: col(r, 0)?,
                    task_uuid: col(r, 1)?,
                    claim_id: col::<Option<Uuid>>(r, 2)?.unwrap_or_default(),
                    claimed_by: col(r, 3)?,
                    attempts: int4(r, 4)?,
                    max_attempts: int4(r, 5)?,
                })
            })
            .collect()
    }

    async fn save_checkpoint_now(
        &mut self,
        step: Uuid,
        claim: Uuid,
        checkpoint: &str,
        lease_ms: i64,
    ) -> R<bool> {
        let query = sqlx::query(q::SAVE_CHECKPOINT)
            .bind(step)
            .bind(claim)
            .bind(checkpoint.to_string())
            .bind(lease_ms as f64);
        Ok(self.exec(query).await? == 1)
    }

    async fn one_task(&mut self, sql: &'static str, task: Uuid) -> R<Option<TaskRow>> {
        match self.row(sqlx::query(sql).bind(task)).await? {
            Some(r) => task_row(&r).map(Some),
            None => Ok(None),
        }
    }

    async fn tasks_now(&mut self, tasks: &[Uuid]) -> R<Vec<TaskRow>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::TASKS).bind(tasks.to_vec());
        self.rows(query).await?.iter().map(task_row).collect()
    }

    async fn lifecycle_due_now(&mut self, task: Option<Uuid>, limit: i64) -> R<Vec<LifecycleDue>> {
        let query = sqlx::query(q::LIFECYCLE_DUE).bind(task).bind(limit);
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                let task_uuid: Uuid = col(r, 0)?;
                Ok(LifecycleDue {
                    task_uuid,
                    state: parsed(r, 1, &|| format!("the state of task {task_uuid}"))?,
                    age_ms: col(r, 2)?,
                    idle_ms: col(r, 3)?,
                    busy: col(r, 4)?,
                    limits: LifecycleLimits {
                        max_duration_ms: col(r, 5)?,
                        max_in_process_ms: col(r, 6)?,
                        max_dependencies_ms: col(r, 7)?,
                        max_retry_wait_ms: col(r, 8)?,
                    },
                })
            })
            .collect()
    }

    async fn task_state_now(&mut self, task: Uuid) -> R<Option<TaskState>> {
        match self.row(sqlx::query(q::TASK_STATE).bind(task)).await? {
            Some(r) => Ok(Some(parsed(&r, 0, &|| {
                format!("the state of task {task}")
            })?)),
            None => Ok(None),
        }
    }

    async fn steps_of_now(&mut self, task: Uuid) -> R<Vec<StepRow>> {
        self.rows(sqlx::query(q::STEPS_OF).bind(task))
            .await?
            .iter()
            .map(|r| {
                let step_uuid: Uuid = col(r, 0)?;
                let whose = || format!("step {step_uuid}");
                Ok(StepRow {
                    step_uuid,
                    name: col(r, 1)?,
                    step_type: parsed(r, 2, &whose)?,
                    state: parsed(r, 3, &whose)?,
                    attempts: int4(r, 4)?,
                    max_attempts: int4(r, 5)?,
                    result: col(r, 6)?,
                    error: col(r, 7)?,
                    metadata: col(r, 8)?,
                    created_at: ms(r, 9)?,
                    updated_at: ms(r, 10)?,
                    dependencies: col(r, 11)?,
                    created_by: col(r, 12)?,
                    priority: int4(r, 13)?,
                    inputs: col(r, 14)?,
                    checkpoint: col(r, 15)?,
                })
            })
            .collect()
    }

    async fn transitions_of_now(&mut self, task: Uuid) -> R<Vec<TransitionRow>> {
        self.rows(sqlx::query(q::TRANSITIONS_OF).bind(task))
            .await?
            .iter()
            .map(|r| {
                Ok(TransitionRow {
                    step_uuid: col(r, 0)?,
                    step_name: col(r, 1)?,
                    from_state: col(r, 2)?,
                    to_state: col(r, 3)?,
                    at: ms(r, 4)?,
                    worker_id: col(r, 5)?,
                    reason: col(r, 6)?,
                })
            })
            .collect()
    }

    async fn list_tasks_now(&mut self, f: &TaskFilter) -> R<Vec<TaskRow>> {
        let query = bind_task_filter(sqlx::query(list_tasks_sql(f)), f, f.limit, f.offset);
        self.rows(query).await?.iter().map(task_row).collect()
    }

    async fn count_matching_tasks_now(&mut self, f: &TaskFilter, cap: i64) -> R<i64> {
        let query = bind_task_filter(sqlx::query(matching_tasks_sql(f)), f, cap, 0);
        match self.row(query).await? {
            Some(row) => col(&row, 0),
            None => Err(StoreError::Corrupt("counting tasks returned no row".into())),
        }
    }

    async fn step_activity_now(&mut self, window_ms: i64) -> R<Vec<ActivityRow>> {
        let query = sqlx::query(q::STEP_ACTIVITY).bind(window_ms as f64);
        self.rows(query)
            .await?
            .iter()
            .map(|r| {
                Ok(ActivityRow {
                    minute: col(r, 0)?,
                    to_state: col(r, 1)?,
                    count: col(r, 2)?,
                })
            })
            .collect()
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The parameters of list_tasks.sql and count_tasks.sql: namespace $1, name $2, state $3, limit
/// $4, offset $5, created at or after $6 and before $7 (ms since the epoch; the whole range
/// when not given), correlation id $8, parent correlation id $9, tags $10 (all of them).
fn bind_task_filter<'q>(
    query: PgQuery<'q>,
    f: &TaskFilter,
    limit: i64,
    offset: i64,
) -> PgQuery<'q> {
    query
        .bind(f.namespace.clone())
        .bind(f.name.clone())
        .bind(f.state.map(TaskState::as_str))
        .bind(limit)
        .bind(offset)
        .bind(f.created_after.map_or(f64::NEG_INFINITY, |ms| ms as f64))
        .bind(f.created_before.map_or(f64::INFINITY, |ms| ms as f64))
        .bind(f.correlation_id.clone())
        .bind(f.parent_correlation_id.clone())
        .bind(f.tags.clone())
}

/// The statement for a filter: only the equality filters given appear as conditions (the others
/// are `$n::text IS NULL`, true), so that each of the 64 combinations is its own prepared
/// statement planned on the index that serves it; the creation time range is always there, on
/// the indexes' second column. Built once per combination.
pub(crate) fn list_tasks_sql(f: &TaskFilter) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    filtered(&SQL, q::LIST_TASKS, f)
}

/// As `list_tasks_sql`, counting.
pub(crate) fn matching_tasks_sql(f: &TaskFilter) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    filtered(&SQL, q::MATCHING_TASKS, f)
}

fn filtered(
    cache: &'static std::sync::OnceLock<Vec<String>>,
    template: &str,
    f: &TaskFilter,
) -> &'static str {
    let all = cache.get_or_init(|| {
        (0..64)
            .map(|bits| {
                let term = |bit: usize, given: &str, missing: &str| {
                    if bits & bit != 0 {
                        given.to_string()
                    } else {
                        missing.to_string()
                    }
                };
                let filters = [
                    term(1, "namespace = $1", "$1::text IS NULL"),
                    term(2, "name = $2", "$2::text IS NULL"),
                    term(4, "state = $3", "$3::text IS NULL"),
                    "created_at >= to_timestamp($6::float8 / 1000)".to_string(),
                    "created_at < to_timestamp($7::float8 / 1000)".to_string(),
                    term(8, "correlation_id = $8", "$8::text IS NULL"),
                    term(16, "parent_correlation_id = $9", "$9::text IS NULL"),
                    term(
                        32,
                        "task_uuid IN (SELECT task_uuid FROM task_tags WHERE tag = ANY($10::text[]) \
                         GROUP BY task_uuid HAVING count(*) = cardinality($10::text[]))",
                        "cardinality($10::text[]) = 0",
                    ),
                ]
                .join(" AND ");
                template.replace("/*filters*/", &filters)
            })
            .collect()
    });
    let bits = usize::from(f.namespace.is_some())
        | usize::from(f.name.is_some()) << 1
        | usize::from(f.state.is_some()) << 2
        | usize::from(f.correlation_id.is_some()) << 3
        | usize::from(f.parent_correlation_id.is_some()) << 4
        | usize::from(!f.tags.is_empty()) << 5;
    &all[bits]
}

impl Tx for PgTx {
    fn put_templates<'a>(&'a mut self, templates: &'a [TemplateRecord]) -> BoxFuture<'a, R<()>> {
        Box::pin(self.put_templates_now(templates))
    }
    fn current_templates<'a>(
        &'a mut self,
        keys: &'a [TemplateKey],
    ) -> BoxFuture<'a, R<Vec<(TemplateKey, String, String)>>> {
        Box::pin(self.current_templates_now(keys))
    }
    fn template_snapshot<'a>(&'a mut self, digest: &'a str) -> BoxFuture<'a, R<Option<String>>> {
        Box::pin(self.template_snapshot_now(digest))
    }
    fn template_keys(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<TemplateKey>>> {
        Box::pin(self.template_keys_now(limit))
    }
    fn tasks_by_idempotency_key<'a>(
        &'a mut self,
        keys: &'a [(TemplateKey, String)],
    ) -> BoxFuture<'a, R<Vec<(usize, Uuid)>>> {
        Box::pin(self.tasks_by_idempotency_key_now(keys))
    }
    fn tasks_by_identity_hash<'a>(
        &'a mut self,
        keys: &'a [(TemplateKey, String)],
    ) -> BoxFuture<'a, R<Vec<(usize, Uuid)>>> {
        Box::pin(self.tasks_by_key_now(q::TASKS_BY_IDENTITY_HASH, keys))
    }
    fn insert_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
    ) -> BoxFuture<'a, R<Vec<(Uuid, Millis)>>> {
        Box::pin(self.insert_tasks_now(tasks))
    }
    fn insert_steps<'a>(&'a mut self, steps: &'a [NewStep]) -> BoxFuture<'a, R<()>> {
        Box::pin(self.insert_steps_now(steps))
    }
    fn insert_edges<'a>(&'a mut self, edges: &'a [Edge]) -> BoxFuture<'a, R<()>> {
        Box::pin(self.insert_edges_now(edges))
    }
    fn insert_transitions<'a>(&'a mut self, rows: &'a [NewTransition]) -> BoxFuture<'a, R<()>> {
        Box::pin(std::future::ready(self.insert_transitions_now(rows)))
    }
    fn claim<'a>(&'a mut self, request: &'a ClaimRequest) -> BoxFuture<'a, R<Vec<ClaimedRow>>> {
        Box::pin(self.claim_now(request))
    }
    fn dependency_results<'a>(
        &'a mut self,
        wanted: &'a [WantedDependencies<'a>],
    ) -> BoxFuture<'a, R<Vec<DependencyResult>>> {
        Box::pin(self.dependency_results_now(wanted))
    }
    fn unlimited_ready<'a>(
        &'a mut self,
        callables: &'a [String],
        limit: i64,
    ) -> BoxFuture<'a, R<Vec<UnlimitedStep>>> {
        Box::pin(self.unlimited_ready_now(callables, limit))
    }
    fn set_step_limits<'a>(&'a mut self, limits: &'a [(Uuid, StepLimit)]) -> BoxFuture<'a, R<()>> {
        Box::pin(self.set_step_limits_now(limits))
    }
    fn next_ready_in<'a>(&'a mut self, callables: &'a [String]) -> BoxFuture<'a, R<Option<i64>>> {
        Box::pin(self.next_ready_in_now(callables))
    }
    fn lock_claims<'a>(
        &'a mut self,
        claims: &'a [(Uuid, Uuid)],
    ) -> BoxFuture<'a, R<Vec<LockedStep>>> {
        Box::pin(self.lock_claims_now(claims))
    }
    fn task_steps<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, R<Vec<TaskStepState>>> {
        Box::pin(self.task_steps_now(tasks))
    }
    fn change_steps<'a>(&'a mut self, changes: &'a [StepChange]) -> BoxFuture<'a, R<Vec<Uuid>>> {
        Box::pin(self.change_steps_now(changes))
    }
    fn count_down_dependents<'a>(
        &'a mut self,
        completed: &'a [Uuid],
    ) -> BoxFuture<'a, R<Vec<ReadyStep>>> {
        Box::pin(self.count_down_dependents_now(completed))
    }
    fn add_pending_dependency<'a>(&'a mut self, steps: &'a [Uuid]) -> BoxFuture<'a, R<Vec<Uuid>>> {
        Box::pin(self.add_pending_dependency_now(steps))
    }
    fn count_tasks<'a>(&'a mut self, counts: &'a [TaskCounts]) -> BoxFuture<'a, R<()>> {
        Box::pin(self.count_tasks_now(counts))
    }
    fn change_tasks<'a>(&'a mut self, changes: &'a [TaskChange]) -> BoxFuture<'a, R<Vec<Uuid>>> {
        Box::pin(self.change_tasks_now(changes))
    }
    fn cancel_steps<'a>(
        &'a mut self,
        tasks: &'a [Uuid],
        states: &'a [StepState],
    ) -> BoxFuture<'a, R<Vec<CancelledStep>>> {
        Box::pin(self.cancel_steps_now(tasks, states))
    }
    fn task_activity<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, R<Vec<TaskActivity>>> {
        Box::pin(self.task_activity_now(tasks))
    }
    fn reopen_steps<'a>(&'a mut self, steps: &'a [Uuid]) -> BoxFuture<'a, R<Vec<ReopenedStep>>> {
        Box::pin(self.reopen_steps_now(steps))
    }
    fn prune_tasks<'a>(&'a mut self, filter: &'a PruneFilter) -> BoxFuture<'a, R<u64>> {
        Box::pin(self.prune_tasks_now(filter))
    }
    fn renew_leases<'a>(
        &'a mut self,
        worker_id: &'a str,
        claims: &'a [(Uuid, Uuid)],
        lease_ms: i64,
    ) -> BoxFuture<'a, R<Vec<Uuid>>> {
        Box::pin(self.renew_leases_now(worker_id, claims, lease_ms))
    }
    fn held_claims<'a>(
        &'a mut self,
        claims: &'a [(Uuid, Uuid)],
    ) -> BoxFuture<'a, R<Vec<HeldClaim>>> {
        Box::pin(self.held_claims_now(claims))
    }
    fn expired_claims(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<ExpiredClaim>>> {
        Box::pin(self.expired_claims_now(limit))
    }
    fn save_checkpoint<'a>(
        &'a mut self,
        step: Uuid,
        claim: Uuid,
        checkpoint: &'a str,
        lease_ms: i64,
    ) -> BoxFuture<'a, R<bool>> {
        Box::pin(self.save_checkpoint_now(step, claim, checkpoint, lease_ms))
    }
    fn lock_task(&mut self, task: Uuid) -> BoxFuture<'_, R<Option<TaskRow>>> {
        Box::pin(self.one_task(q::LOCK_TASK, task))
    }
    fn task(&mut self, task: Uuid) -> BoxFuture<'_, R<Option<TaskRow>>> {
        Box::pin(self.one_task(q::TASK, task))
    }
    fn tasks<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, R<Vec<TaskRow>>> {
        Box::pin(self.tasks_now(tasks))
    }
    fn task_state(&mut self, task: Uuid) -> BoxFuture<'_, R<Option<TaskState>>> {
        Box::pin(self.task_state_now(task))
    }
    fn steps_of(&mut self, task: Uuid) -> BoxFuture<'_, R<Vec<StepRow>>> {
        Box::pin(self.steps_of_now(task))
    }
    fn transitions_of(&mut self, task: Uuid) -> BoxFuture<'_, R<Vec<TransitionRow>>> {
        Box::pin(self.transitions_of_now(task))
    }
    fn list_tasks<'a>(&'a mut self, filter: &'a TaskFilter) -> BoxFuture<'a, R<Vec<TaskRow>>> {
        Box::pin(self.list_tasks_now(filter))
    }
    fn count_matching_tasks<'a>(
        &'a mut self,
        filter: &'a TaskFilter,
        cap: i64,
    ) -> BoxFuture<'a, R<i64>> {
        Box::pin(self.count_matching_tasks_now(filter, cap))
    }
    fn step_activity(&mut self, window_ms: i64) -> BoxFuture<'_, R<Vec<ActivityRow>>> {
        Box::pin(self.step_activity_now(window_ms))
    }
    fn signals_of<'a>(
        &'a mut self,
        keys: &'a [(Uuid, String)],
    ) -> BoxFuture<'a, R<Vec<SignalRow>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let query = sqlx::query(q::SIGNALS_OF)
                .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
                .bind(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>());
            self.rows(query)
                .await?
                .iter()
                .map(|r| {
                    Ok(SignalRow {
                        task_uuid: col(r, 0)?,
                        step_name: col(r, 1)?,
                        payload: col(r, 2)?,
                        received_at: ms(r, 3)?,
                        applied_at: opt_ms(r, 4)?,
                    })
                })
                .collect()
        })
    }
    fn insert_signal<'a>(&'a mut self, signal: &'a NewSignal) -> BoxFuture<'a, R<Millis>> {
        Box::pin(async move {
            let query = sqlx::query(q::INSERT_SIGNAL)
                .bind(signal.task_uuid)
                .bind(signal.step_name.clone())
                .bind(signal.payload.clone())
                .bind(signal.applied);
            match self.row(query).await? {
                Some(r) => ms(&r, 0),
                None => Err(StoreError::Corrupt(
                    "storing a signal returned no row".to_string(),
                )),
            }
        })
    }
    fn apply_signals<'a>(&'a mut self, keys: &'a [(Uuid, String)]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(());
            }
            let query = sqlx::query(q::APPLY_SIGNALS)
                .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
                .bind(keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>());
            self.exec(query).await?;
            Ok(())
        })
    }
    fn lifecycle_due(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, R<Vec<LifecycleDue>>> {
        Box::pin(self.lifecycle_due_now(task, limit))
    }
    fn due_signal_waits(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, R<Vec<DueSignalWait>>> {
        Box::pin(async move {
            let query = sqlx::query(q::DUE_SIGNAL_WAITS).bind(task).bind(limit);
            self.rows(query)
                .await?
                .iter()
                .map(|r| {
                    Ok(DueSignalWait {
                        task_uuid: col(r, 0)?,
                        step_uuid: col(r, 1)?,
                        name: col(r, 2)?,
                        template_step_name: col(r, 3)?,
                        template_digest: col(r, 4)?,
                    })
                })
                .collect()
        })
    }
    fn due_child_steps(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, R<Vec<DueChildStep>>> {
        Box::pin(async move {
            let query = sqlx::query(q::DUE_CHILD_STEPS).bind(task).bind(limit);
            self.rows(query)
                .await?
                .iter()
                .map(|r| {
                    let step_uuid: Uuid = col(r, 1)?;
                    let child_state: Option<String> = col(r, 9)?;
                    Ok(DueChildStep {
                        task_uuid: col(r, 0)?,
                        step_uuid,
                        name: col(r, 2)?,
                        template_step_name: col(r, 3)?,
                        template_digest: col(r, 4)?,
                        state: parsed(r, 5, &|| format!("step {step_uuid}"))?,
                        attempts: int4(r, 6)?,
                        max_attempts: int4(r, 7)?,
                        child_task_uuid: col(r, 8)?,
                        child_state: child_state
                            .map(|s| s.parse::<TaskState>().map_err(StoreError::Corrupt))
                            .transpose()?,
                    })
                })
                .collect()
        })
    }
    fn link_children<'a>(&'a mut self, links: &'a [ChildLink]) -> BoxFuture<'a, R<()>> {
        Box::pin(async move {
            if links.is_empty() {
                return Ok(());
            }
            let query = sqlx::query(q::LINK_CHILDREN)
                .bind(links.iter().map(|l| l.child_task_uuid).collect::<Vec<_>>())
                .bind(links.iter().map(|l| l.parent_task_uuid).collect::<Vec<_>>())
                .bind(links.iter().map(|l| l.parent_step_uuid).collect::<Vec<_>>());
            self.exec(query).await?;
            Ok(())
        })
    }
    fn orphan_children(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<Uuid>>> {
        Box::pin(async move {
            let query = sqlx::query(q::ORPHAN_CHILDREN).bind(limit);
            self.rows(query).await?.iter().map(|r| col(r, 0)).collect()
        })
    }
    fn task_family(&mut self, task: Uuid) -> BoxFuture<'_, R<TaskFamily>> {
        Box::pin(async move {
            let query = sqlx::query(q::TASK_FAMILY).bind(task);
            let Some(r) = self.row(query).await? else {
                return Ok(TaskFamily::default());
            };
            let uuids: Vec<Uuid> = col(&r, 5)?;
            let steps: Vec<Uuid> = col(&r, 6)?;
            let states: Vec<String> = col(&r, 7)?;
            let created: Vec<OffsetDateTime> = col(&r, 8)?;
            let mut children = Vec::with_capacity(uuids.len());
            for (i, task_uuid) in uuids.into_iter().enumerate() {
                let (Some(step), Some(state), Some(at)) =
                    (steps.get(i), states.get(i), created.get(i))
                else {
                    return Err(StoreError::Corrupt(format!(
                        "the children of task {task} are incomplete"
                    )));
                };
                children.push(ChildTaskRow {
                    task_uuid,
                    parent_step_uuid: *step,
                    state: state.parse::<TaskState>().map_err(StoreError::Corrupt)?,
                    created_at: ms_of(*at),
                });
            }
            Ok(TaskFamily {
                parent_task_uuid: col(&r, 0)?,
                parent_step_uuid: col(&r, 1)?,
                parent_step_name: col(&r, 2)?,
                depth: int4(&r, 3)?,
                trace_context: col(&r, 4)?,
                children,
            })
        })
    }
    fn signal<'a>(&'a mut self, signals: &'a [Signal]) -> BoxFuture<'a, R<()>> {
        // Sent with the commit, as one notification.
        self.signals.extend_from_slice(signals);
        Box::pin(std::future::ready(Ok(())))
    }

    // --- schedules
    fn put_schedules<'a>(&'a mut self, schedules: &'a [ScheduleRecord]) -> BoxFuture<'a, R<()>> {
        Box::pin(self.put_schedules_now(schedules))
    }
    fn schedules<'a>(&'a mut self, names: &'a [String]) -> BoxFuture<'a, R<Vec<ScheduleRow>>> {
        Box::pin(self.schedules_now(names))
    }
    fn list_schedules(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<ScheduleRow>>> {
        Box::pin(async move {
            let rows = self
                .rows(sqlx::query(q::LIST_SCHEDULES).bind(limit))
                .await?;
            rows.iter().map(schedule_row).collect()
        })
    }
    fn delete_schedule<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, R<bool>> {
        Box::pin(async move {
            let query = sqlx::query(q::DELETE_SCHEDULE).bind(name.to_string());
            Ok(self.exec(query).await? > 0)
        })
    }
    fn advance_schedules<'a>(
        &'a mut self,
        advances: &'a [ScheduleAdvance],
    ) -> BoxFuture<'a, R<Vec<String>>> {
        Box::pin(self.advance_schedules_now(advances))
    }
    fn now(&mut self) -> BoxFuture<'_, R<Millis>> {
        Box::pin(async move {
            match self.row(sqlx::query(q::NOW)).await? {
                Some(r) => col::<i64>(&r, 0),
                None => Err(StoreError::Corrupt(
                    "the clock query returned no row".to_string(),
                )),
            }
        })
    }

    // --- metrics
    fn ping(&mut self) -> BoxFuture<'_, R<()>> {
        Box::pin(async move {
            self.row(sqlx::query(q::PING)).await?;
            Ok(())
        })
    }
    fn ready_backlog<'a>(&'a mut self, callables: &'a [String]) -> BoxFuture<'a, R<ReadyBacklog>> {
        Box::pin(self.ready_backlog_now(callables))
    }
}

// --- schedules
fn schedule_row(row: &PgRow) -> R<ScheduleRow> {
    Ok(ScheduleRow {
        schedule: ScheduleRecord {
            name: col(row, 0)?,
            cron: col(row, 1)?,
            timezone: col(row, 2)?,
            namespace: col(row, 3)?,
            task_name: col(row, 4)?,
            version: col(row, 5)?,
            context: col(row, 6)?,
            missed: col(row, 7)?,
        },
        last_fire_at: opt_ms(row, 8)?,
        created_at: ms(row, 9)?,
        updated_at: ms(row, 10)?,
    })
}

impl PgTx {
    async fn put_schedules_now(&mut self, schedules: &[ScheduleRecord]) -> R<()> {
        if schedules.is_empty() {
            return Ok(());
        }
        let field = |f: fn(&ScheduleRecord) -> &String| -> Vec<String> {
            schedules.iter().map(|s| f(s).clone()).collect()
        };
        let query = sqlx::query(q::PUT_SCHEDULES)
            .bind(field(|s| &s.name))
            .bind(field(|s| &s.cron))
            .bind(field(|s| &s.timezone))
            .bind(field(|s| &s.namespace))
            .bind(field(|s| &s.task_name))
            .bind(field(|s| &s.version))
            .bind(field(|s| &s.context))
            .bind(field(|s| &s.missed));
        self.exec(query).await?;
        Ok(())
    }

    async fn schedules_now(&mut self, names: &[String]) -> R<Vec<ScheduleRow>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .rows(sqlx::query(q::SCHEDULES).bind(names.to_vec()))
            .await?;
        rows.iter().map(schedule_row).collect()
    }

    async fn advance_schedules_now(&mut self, advances: &[ScheduleAdvance]) -> R<Vec<String>> {
        if advances.is_empty() {
            return Ok(Vec::new());
        }
        let query = sqlx::query(q::ADVANCE_SCHEDULES)
            .bind(advances.iter().map(|a| a.name.clone()).collect::<Vec<_>>())
            .bind(advances.iter().map(|a| a.expect).collect::<Vec<_>>())
            .bind(advances.iter().map(|a| a.to).collect::<Vec<_>>());
        let rows = self.rows(query).await?;
        rows.iter().map(|r| col::<String>(r, 0)).collect()
    }
}

// --- metrics
impl PgTx {
    async fn ready_backlog_now(&mut self, callables: &[String]) -> R<ReadyBacklog> {
        if callables.is_empty() {
            return Ok(ReadyBacklog::default());
        }
        let query = sqlx::query(q::READY_STEPS).bind(callables.to_vec());
        match self.row(query).await? {
            Some(r) => Ok(ReadyBacklog {
                count: col::<i64>(&r, 0)?,
                oldest_ms: col::<Option<i64>>(&r, 1)?.map(|ms| ms.max(0)),
            }),
            None => Ok(ReadyBacklog::default()),
        }
    }
}

/// The transitions as the arrays `record_transitions_and_notify.sql` takes ($1 to $6).
fn transition_arrays(query: Q, rows: &[NewTransition]) -> Q {
    let mut steps = Vec::with_capacity(rows.len());
    let mut from = Vec::with_capacity(rows.len());
    let mut to = Vec::with_capacity(rows.len());
    for t in rows {
        match t.change {
            Change::Task { from: f, to: t } => {
                steps.push(None);
                from.push(f.map(TaskState::as_str));
                to.push(t.as_str());
            }
            Change::Step {
                step_uuid,
                from: f,
                to: t,
            } => {
                steps.push(Some(step_uuid));
                from.push(f.map(StepState::as_str));
                to.push(t.as_str());
            }
        }
    }
    query
        .bind(rows.iter().map(|t| t.task_uuid).collect::<Vec<_>>())
        .bind(steps)
        .bind(from)
        .bind(to)
        .bind(rows.iter().map(|t| t.worker_id.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|t| t.reason.clone()).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_keep_repeated_keys_apart() {
        let (of, n) = rounds(["a", "b", "a", "c", "a", "b"].into_iter());
        assert_eq!(of, vec![0, 0, 1, 0, 2, 1]);
        assert_eq!(n, 3);
        let (of, n) = rounds(std::iter::empty::<u8>());
        assert!(of.is_empty());
        assert_eq!(n, 0);
    }

    #[test]
    fn list_tasks_names_only_the_filters_given() {
        let f = TaskFilter {
            state: Some(TaskState::Complete),
            ..TaskFilter::default()
        };
        let sql = list_tasks_sql(&f);
        assert!(
            sql.contains(
                "WHERE $1::text IS NULL AND $2::text IS NULL AND state = $3 AND created_at >="
            ),
            "{sql}"
        );
        let f = TaskFilter {
            namespace: Some("n".into()),
            name: Some("x".into()),
            ..TaskFilter::default()
        };
        assert!(list_tasks_sql(&f)
            .contains("WHERE namespace = $1 AND name = $2 AND $3::text IS NULL AND created_at >="));
    }
}
