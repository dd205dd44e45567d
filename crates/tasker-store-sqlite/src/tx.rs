//! The SQLite [`Tx`]: every method runs its statements at once, on the database thread, and
//! returns a future that is already complete.

use rusqlite::types::ValueRef;
use rusqlite::{params, CachedStatement, Connection, Row};
use tasker_store::*;

use crate::error::{corrupt, sql_error};
use crate::queries as q;

pub(crate) struct SqliteTx {
    conn: Connection,
    write: bool,
    open: bool,
    statements: u64,
    /// The database clock when the transaction first recorded a transition: every audit row
    /// of one transaction carries the same time.
    audit_time: Option<i64>,
}

type R<T> = StoreResult<T>;

fn done<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl SqliteTx {
    pub(crate) fn new(conn: Connection, write: bool) -> SqliteTx {
        SqliteTx {
            conn,
            write,
            open: false,
            statements: 0,
            audit_time: None,
        }
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements
    }

    pub(crate) fn into_connection(self) -> Connection {
        self.conn
    }

    pub(crate) fn begin(&mut self) -> R<()> {
        // IMMEDIATE takes the write lock up front: a transaction that would only later find the
        // database locked by another process could not wait for it.
        let sql = if self.write {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        };
        self.stmt(sql)?.execute([]).map_err(sql_error)?;
        self.open = true;
        Ok(())
    }

    pub(crate) fn commit(&mut self) -> R<()> {
        self.open = false;
        self.stmt("COMMIT")?.execute([]).map_err(sql_error)?;
        Ok(())
    }

    pub(crate) fn rollback(&mut self) {
        if self.open {
            self.open = false;
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!("SQLite rollback failed: {e}");
            }
        }
    }

    /// The database clock when the transaction first needed it: every audit time of one
    /// transaction (creation, completion, transitions) is the same instant.
    fn audit_time(&mut self) -> R<i64> {
        if let Some(at) = self.audit_time {
            return Ok(at);
        }
        let mut stmt = self.stmt(q::NOW)?;
        let at = first(&mut stmt, [], |r| int(r, 0))?.unwrap_or_default();
        drop(stmt);
        self.audit_time = Some(at);
        Ok(at)
    }

    fn stmt(&mut self, sql: &str) -> R<CachedStatement<'_>> {
        self.statements += 1;
        self.conn.prepare_cached(sql).map_err(sql_error)
    }
}

// --- column readers --------------------------------------------------------------------------

fn text(row: &Row<'_>, i: usize) -> R<String> {
    row.get::<_, String>(i).map_err(sql_error)
}

fn opt_text(row: &Row<'_>, i: usize) -> R<Option<String>> {
    row.get::<_, Option<String>>(i).map_err(sql_error)
}

fn int(row: &Row<'_>, i: usize) -> R<i64> {
    row.get::<_, i64>(i).map_err(sql_error)
}

fn opt_int(row: &Row<'_>, i: usize) -> R<Option<i64>> {
    row.get::<_, Option<i64>>(i).map_err(sql_error)
}

fn uuid(row: &Row<'_>, i: usize) -> R<Uuid> {
    match row.get_ref(i).map_err(sql_error)? {
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| corrupt("an id", String::from_utf8_lossy(t))),
        other => Err(corrupt("an id", format!("{other:?}"))),
    }
}

fn opt_uuid(row: &Row<'_>, i: usize) -> R<Option<Uuid>> {
    match row.get_ref(i).map_err(sql_error)? {
        ValueRef::Null => Ok(None),
        _ => uuid(row, i).map(Some),
    }
}

/// A JSON array of strings built by `json_group_array` (names of steps).
fn name_list(row: &Row<'_>, i: usize) -> R<Vec<String>> {
    let s = text(row, i)?;
    serde_json::from_str(&s).map_err(|e| corrupt("a list of step names", format!("{s} ({e})")))
}

fn parsed<T: std::str::FromStr<Err = String>>(row: &Row<'_>, i: usize) -> R<T> {
    let s = text(row, i)?;
    s.parse::<T>().map_err(StoreError::Corrupt)
}

fn id(u: &Uuid) -> String {
    u.hyphenated().to_string()
}

fn json_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in s.as_ref().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

fn task_row(row: &Row<'_>) -> R<TaskRow> {
    Ok(TaskRow {
        task_uuid: uuid(row, 0)?,
        namespace: text(row, 1)?,
        name: text(row, 2)?,
        version: text(row, 3)?,
        state: parsed(row, 4)?,
        context: text(row, 5)?,
        idempotency_key: opt_text(row, 6)?,
        total_steps: int(row, 7)?,
        completed_steps: int(row, 8)?,
        created_at: int(row, 9)?,
        updated_at: int(row, 10)?,
        completed_at: opt_int(row, 11)?,
        priority: int(row, 12)?,
        metadata: task_metadata(row, 13)?,
        identity_hash: opt_text(row, 19)?,
    })
}

/// A task's metadata from columns `first..first + 6` (correlation id, parent correlation id,
/// initiator, source system, reason, tags as JSON text).
fn task_metadata(row: &Row<'_>, first: usize) -> R<TaskMetadata> {
    let tags = text(row, first + 5)?;
    Ok(TaskMetadata {
        correlation_id: text(row, first)?,
        parent_correlation_id: opt_text(row, first + 1)?,
        initiator: opt_text(row, first + 2)?,
        source_system: opt_text(row, first + 3)?,
        reason: opt_text(row, first + 4)?,
        tags: serde_json::from_str(&tags).map_err(|e| {
            StoreError::Corrupt(format!("task tags are not a list of strings: {e}"))
        })?,
    })
}

/// Rows of a prepared statement, each mapped (the mapping may fail with a `StoreError`).
fn collect<T>(
    stmt: &mut CachedStatement<'_>,
    params: impl rusqlite::Params,
    mut map: impl FnMut(&Row<'_>) -> R<T>,
) -> R<Vec<T>> {
    let mut rows = stmt.query(params).map_err(sql_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sql_error)? {
        out.push(map(row)?);
    }
    Ok(out)
}

fn first<T>(
    stmt: &mut CachedStatement<'_>,
    params: impl rusqlite::Params,
    map: impl FnOnce(&Row<'_>) -> R<T>,
) -> R<Option<T>> {
    let mut rows = stmt.query(params).map_err(sql_error)?;
    match rows.next().map_err(sql_error)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

impl SqliteTx {
    fn put_templates_now(&mut self, templates: &[TemplateRecord]) -> R<()> {
        for t in templates {
            self.stmt(q::PUT_SNAPSHOT)?
                .execute(params![
                    t.digest,
                    t.namespace,
                    t.name,
                    t.version,
                    t.definition
                ])
                .map_err(sql_error)?;
            self.stmt(q::PUT_TEMPLATE)?
                .execute(params![t.namespace, t.name, t.version, t.digest])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn current_templates_now(
        &mut self,
        keys: &[TemplateKey],
    ) -> R<Vec<(TemplateKey, String, String)>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let mut stmt = self.stmt(q::CURRENT_TEMPLATE)?;
            if let Some((digest, definition)) =
                first(&mut stmt, params![k.namespace, k.name, k.version], |r| {
                    Ok((text(r, 0)?, text(r, 1)?))
                })?
            {
                out.push((k.clone(), digest, definition));
            }
        }
        Ok(out)
    }

    fn template_snapshot_now(&mut self, digest: &str) -> R<Option<String>> {
        let mut stmt = self.stmt(q::TEMPLATE_SNAPSHOT)?;
        first(&mut stmt, params![digest], |r| text(r, 0))
    }

    fn template_keys_now(&mut self, limit: i64) -> R<Vec<TemplateKey>> {
        let mut stmt = self.stmt(q::TEMPLATE_KEYS)?;
        collect(&mut stmt, params![limit], |r| {
            Ok(TemplateKey {
                namespace: text(r, 0)?,
                name: text(r, 1)?,
                version: text(r, 2)?,
            })
        })
    }

    /// The tasks of `sql` (task_by_idempotency_key.sql or task_by_identity_hash.sql).
    fn tasks_by_key_now(
        &mut self,
        sql: &'static str,
        keys: &[(TemplateKey, String)],
    ) -> R<Vec<(usize, Uuid)>> {
        let mut out = Vec::new();
        for (i, (k, key)) in keys.iter().enumerate() {
            let mut stmt = self.stmt(sql)?;
            if let Some(task) = first(
                &mut stmt,
                params![k.namespace, k.name, k.version, key],
                |r| uuid(r, 0),
            )? {
                out.push((i, task));
            }
        }
        Ok(out)
    }

    fn insert_tasks_now(&mut self, tasks: &[NewTask]) -> R<Vec<(Uuid, Millis)>> {
        let mut inserted = Vec::with_capacity(tasks.len());
        if tasks.is_empty() {
            return Ok(inserted);
        }
        let at = self.audit_time()?;
        for t in tasks {
            let mut stmt = self.stmt(q::INSERT_TASK)?;
            let created = first(
                &mut stmt,
                params![
                    id(&t.task_uuid),
                    t.namespace,
                    t.name,
                    t.version,
                    t.template_digest,
                    t.state.as_str(),
                    t.context,
                    t.idempotency_key,
                    t.total_steps,
                    at,
                    t.trace_context,
                    t.priority,
                    t.metadata.correlation_id,
                    t.metadata.parent_correlation_id,
                    t.metadata.initiator,
                    t.metadata.source_system,
                    t.metadata.reason,
                    serde_json::to_string(&t.metadata.tags)
                        .map_err(|e| StoreError::Corrupt(format!("task tags: {e}")))?,
                    t.identity_hash,
                    t.lifecycle.max_duration_ms,
                    t.lifecycle.max_in_process_ms,
                    t.lifecycle.max_dependencies_ms,
                    t.lifecycle.max_retry_wait_ms,
                ],
                |r| int(r, 0),
            )?;
            drop(stmt);
            if let Some(at) = created {
                inserted.push((t.task_uuid, at));
                for tag in &t.metadata.tags {
                    self.stmt(q::INSERT_TASK_TAG)?
                        .execute(params![id(&t.task_uuid), tag])
                        .map_err(sql_error)?;
                }
            }
        }
        Ok(inserted)
    }

    fn insert_steps_now(&mut self, steps: &[NewStep]) -> R<()> {
        for s in steps {
            self.stmt(q::INSERT_STEP)?
                .execute(params![
                    id(&s.step_uuid),
                    id(&s.task_uuid),
                    s.name,
                    s.template_step_name,
                    s.handler_callable,
                    s.step_type.as_str(),
                    s.state.as_str(),
                    s.dep_total,
                    s.pending_deps,
                    s.max_attempts,
                    s.inputs,
                    s.ready_in_ms,
                    s.created_by.as_ref().map(id),
                    s.signal_timeout_ms,
                    s.limit.as_ref().map(|l| l.key.as_str()),
                    s.limit.as_ref().and_then(|l| l.concurrency),
                    s.limit.as_ref().and_then(|l| l.per_second),
                    s.limit.as_ref().and_then(|l| l.burst),
                ])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn insert_edges_now(&mut self, edges: &[Edge]) -> R<()> {
        for e in edges {
            self.stmt(q::INSERT_EDGE)?
                .execute(params![id(&e.from), id(&e.to)])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn insert_transitions_now(&mut self, rows: &[NewTransition]) -> R<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let at = self.audit_time()?;
        // Many rows per statement (one statement text per chunk size, each prepared once).
        let mut rest = rows;
        while !rest.is_empty() {
            let n = [32, 8, 1]
                .into_iter()
                .find(|&n| n <= rest.len())
                .unwrap_or(1);
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let sql = q::rows(q::INSERT_TRANSITIONS, 7, n);
            let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(7 * n);
            for t in chunk {
                let (step, from, to) = match t.change {
                    Change::Task { from, to } => (None, from.map(TaskState::as_str), to.as_str()),
                    Change::Step {
                        step_uuid,
                        from,
                        to,
                    } => (
                        Some(id(&step_uuid)),
                        from.map(StepState::as_str),
                        to.as_str(),
                    ),
                };
                values.push(id(&t.task_uuid).into());
                values.push(step.into());
                values.push(from.map(str::to_string).into());
                values.push(to.to_string().into());
                values.push(at.into());
                values.push(t.worker_id.clone().into());
                values.push(t.reason.clone().into());
            }
            self.stmt(&sql)?
                .execute(rusqlite::params_from_iter(values))
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn claim_now(&mut self, req: &ClaimRequest) -> R<Vec<ClaimedRow>> {
        if req.limit == 0 || req.callables.is_empty() {
            return Ok(Vec::new());
        }
        let callables = json_list(&req.callables);
        let unlimited = req.unlimited_callables();
        let mut claimed = self.claim_picked(req, &json_list(&unlimited), req.limit, None)?;
        if claimed.len() < req.limit {
            let room = req.limit - claimed.len();
            claimed.extend(self.claim_limited(req, &callables, room)?);
        }
        Ok(claimed)
    }

    /// Claim up to `room` limited steps: per limit key (in key order), refill the key's token
    /// bucket and count its steps in progress, then claim what the limits allow (the write
    /// transaction holds the database's lock throughout).
    fn claim_limited(
        &mut self,
        req: &ClaimRequest,
        callables: &str,
        room: usize,
    ) -> R<Vec<ClaimedRow>> {
        type Settings = (String, Option<i64>, Option<f64>, Option<i64>);
        let keys: Vec<Settings> = {
            let mut stmt = self.stmt(q::LIMITED_KEYS)?;
            collect(&mut stmt, params![callables], |r| {
                Ok((
                    text(r, 0)?,
                    r.get(1).map_err(sql_error)?,
                    r.get(2).map_err(sql_error)?,
                    r.get(3).map_err(sql_error)?,
                ))
            })?
        };
        let mut out = Vec::new();
        let mut room = room;
        for (key, concurrency, per_second, burst) in keys {
            if room == 0 {
                break;
            }
            let burst = burst.or_else(|| per_second.map(|p| p.ceil() as i64));
            let tokens: Option<f64> = self
                .stmt(q::LOCK_LIMIT)?
                .query_row(params![key, concurrency, per_second, burst], |r| r.get(0))
                .map_err(sql_error)?;
            let mut allowed = room as i64;
            if let Some(c) = concurrency {
                let running: i64 = self
                    .stmt(q::LIMIT_RUNNING)?
                    .query_row(params![key], |r| r.get(0))
                    .map_err(sql_error)?;
                allowed = allowed.min(c - running);
            }
            if let Some(t) = tokens {
                allowed = allowed.min(t.floor() as i64);
            }
            if allowed <= 0 {
                continue; // held back: the steps stay as they are, attempts untouched
            }
            let got = self.claim_picked(req, callables, allowed as usize, Some(&key))?;
            if tokens.is_some() && !got.is_empty() {
                self.stmt(q::SPEND_TOKENS)?
                    .execute(params![key, got.len() as f64])
                    .map_err(sql_error)?;
            }
            room = room.saturating_sub(got.len());
            out.extend(got);
        }
        Ok(out)
    }

    /// Claim up to `limit` unlimited steps (`key` None) or steps of limit key `key`.
    fn claim_picked(
        &mut self,
        req: &ClaimRequest,
        callables: &str,
        limit: usize,
        key: Option<&str>,
    ) -> R<Vec<ClaimedRow>> {
        // One statement finds the steps with everything the handlers need; the write
        // transaction holds the database's lock, so they are still claimable when updated.
        let mut picked: Vec<ClaimedRow> = {
            let row = |r: &rusqlite::Row<'_>| {
                Ok(ClaimedRow {
                    step_uuid: uuid(r, 0)?,
                    from_state: parsed(r, 1)?,
                    task_uuid: uuid(r, 2)?,
                    name: text(r, 3)?,
                    template_step_name: text(r, 4)?,
                    step_type: parsed(r, 5)?,
                    attempts: int(r, 6)? + 1,
                    max_attempts: int(r, 7)?,
                    dep_total: int(r, 8)?,
                    inputs: text(r, 9)?,
                    checkpoint: opt_text(r, 10)?,
                    task_namespace: text(r, 11)?,
                    task_name: text(r, 12)?,
                    task_version: text(r, 13)?,
                    template_digest: text(r, 14)?,
                    context: text(r, 15)?,
                    trace_context: opt_text(r, 16)?,
                    task_metadata: task_metadata(r, 17)?,
                })
            };
            match key {
                None => {
                    let mut stmt = self.stmt(q::CLAIMABLE)?;
                    collect(&mut stmt, params![callables, limit as i64], row)?
                }
                Some(k) => {
                    let mut stmt = self.stmt(q::CLAIMABLE_LIMITED)?;
                    collect(&mut stmt, params![callables, limit as i64, k], row)?
                }
            }
        };
        let claim = id(&req.claim_id);
        let mut claimed = Vec::with_capacity(picked.len());
        for row in picked.drain(..) {
            let n = self
                .stmt(q::CLAIM_STEP)?
                .execute(params![
                    id(&row.step_uuid),
                    claim,
                    req.worker_id,
                    req.lease_ms
                ])
                .map_err(sql_error)?;
            if n == 1 {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    fn unlimited_ready_now(&mut self, callables: &[String], limit: i64) -> R<Vec<UnlimitedStep>> {
        if callables.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let mut stmt = self.stmt(q::UNLIMITED_READY)?;
        collect(&mut stmt, params![json_list(callables), limit], |r| {
            Ok(UnlimitedStep {
                step_uuid: uuid(r, 0)?,
                handler_callable: text(r, 1)?,
                context: text(r, 2)?,
            })
        })
    }

    fn set_step_limits_now(&mut self, limits: &[(Uuid, StepLimit)]) -> R<()> {
        for (step, l) in limits {
            self.stmt(q::SET_STEP_LIMIT)?
                .execute(params![
                    id(step),
                    l.key,
                    l.concurrency,
                    l.per_second,
                    l.burst
                ])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn dependency_results_now(
        &mut self,
        wanted: &[WantedDependencies<'_>],
    ) -> R<Vec<DependencyResult>> {
        let mut out = Vec::new();
        for w in wanted {
            if w.dependencies.is_empty() {
                continue;
            }
            let mut stmt = self.stmt(q::DEPENDENCY_RESULTS)?;
            out.extend(collect(
                &mut stmt,
                params![id(&w.step_uuid), json_list(w.dependencies)],
                |r| {
                    Ok(DependencyResult {
                        for_step: w.step_uuid,
                        step_uuid: uuid(r, 0)?,
                        name: text(r, 1)?,
                        result: opt_text(r, 2)?,
                    })
                },
            )?);
        }
        Ok(out)
    }

    fn next_ready_in_now(&mut self, callables: &[String]) -> R<Option<i64>> {
        if callables.is_empty() {
            return Ok(None);
        }
        let mut stmt = self.stmt(q::NEXT_READY_IN)?;
        Ok(
            first(&mut stmt, params![json_list(callables)], |r| opt_int(r, 0))?
                .flatten()
                .map(|ms| ms.max(0)),
        )
    }

    fn lock_claims_now(&mut self, claims: &[(Uuid, Uuid)]) -> R<Vec<LockedStep>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let steps: Vec<String> = claims.iter().map(|(s, _)| id(s)).collect();
        let wanted: std::collections::HashSet<&(Uuid, Uuid)> = claims.iter().collect();
        let mut stmt = self.stmt(q::LOCK_CLAIMS)?;
        let rows = collect(&mut stmt, params![json_list(&steps)], |r| {
            Ok(LockedStep {
                step_uuid: uuid(r, 0)?,
                claim_id: opt_uuid(r, 1)?.unwrap_or_default(),
                task_uuid: uuid(r, 2)?,
                name: text(r, 3)?,
                template_step_name: text(r, 4)?,
                step_type: parsed(r, 5)?,
                attempts: int(r, 6)?,
                max_attempts: int(r, 7)?,
                task_state: parsed(r, 8)?,
                task_completed_steps: int(r, 9)?,
                task_total_steps: int(r, 10)?,
                template_digest: text(r, 11)?,
            })
        })?;
        Ok(rows
            .into_iter()
            .filter(|l| wanted.contains(&(l.step_uuid, l.claim_id)))
            .collect())
    }

    fn task_steps_now(&mut self, tasks: &[Uuid]) -> R<Vec<TaskStepState>> {
        let mut out = Vec::new();
        for t in tasks {
            let mut stmt = self.stmt(q::TASK_STEPS)?;
            out.extend(collect(&mut stmt, params![id(t)], |r| {
                Ok(TaskStepState {
                    task_uuid: *t,
                    step_uuid: uuid(r, 0)?,
                    name: text(r, 1)?,
                    step_type: parsed(r, 2)?,
                    state: parsed(r, 3)?,
                })
            })?);
        }
        Ok(out)
    }

    fn change_steps_now(&mut self, changes: &[StepChange]) -> R<Vec<Uuid>> {
        let mut changed = Vec::with_capacity(changes.len());
        for c in changes {
            let (set_error, error) = match &c.error {
                Some(e) => (true, e.clone()),
                None => (false, None),
            };
            let n = self
                .stmt(q::CHANGE_STEP)?
                .execute(params![
                    id(&c.step_uuid),
                    c.to.as_str(),
                    c.result,
                    set_error,
                    error,
                    c.metadata,
                    c.ready_in_ms.unwrap_or(0),
                    i64::from(c.uncount_attempt),
                    c.expect_claim.as_ref().map(id),
                ])
                .map_err(sql_error)?;
            if n == 1 {
                changed.push(c.step_uuid);
            }
        }
        Ok(changed)
    }

    fn count_down_dependents_now(&mut self, completed: &[Uuid]) -> R<Vec<ReadyStep>> {
        let mut ready = Vec::new();
        for s in completed {
            let mut stmt = self.stmt(q::COUNT_DOWN_DEPENDENTS)?;
            for (step_uuid, task_uuid, handler_callable, pending, state, name) in
                collect(&mut stmt, params![id(s)], |r| {
                    Ok((
                        uuid(r, 0)?,
                        uuid(r, 1)?,
                        text(r, 2)?,
                        int(r, 3)?,
                        parsed::<StepState>(r, 4)?,
                        text(r, 5)?,
                    ))
                })?
            {
                if pending == 0
                    && matches!(
                        state,
                        StepState::Enqueued
                            | StepState::WaitingForSignal
                            | StepState::WaitingForChild
                    )
                {
                    ready.push(ReadyStep {
                        step_uuid,
                        task_uuid,
                        handler_callable,
                        after: *s,
                        state,
                        name,
                    });
                }
            }
        }
        Ok(ready)
    }

    fn add_pending_dependency_now(&mut self, steps: &[Uuid]) -> R<Vec<Uuid>> {
        let mut bumped = Vec::new();
        for s in steps {
            if self
                .stmt(q::ADD_PENDING_DEPENDENCY)?
                .execute(params![id(s)])
                .map_err(sql_error)?
                == 1
                && !bumped.contains(s)
            {
                bumped.push(*s);
            }
        }
        Ok(bumped)
    }

    fn count_tasks_now(&mut self, counts: &[TaskCounts]) -> R<()> {
        for c in counts {
            self.stmt(q::COUNT_TASK)?
                .execute(params![id(&c.task_uuid), c.completed_delta, c.total_delta])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn change_tasks_now(&mut self, changes: &[TaskChange]) -> R<Vec<Uuid>> {
        let mut changed = Vec::new();
        if changes.is_empty() {
            return Ok(changed);
        }
        let at = self.audit_time()?;
        for c in changes {
            if self
                .stmt(q::CHANGE_TASK)?
                .execute(params![
                    id(&c.task_uuid),
                    c.to.as_str(),
                    c.expect.map(TaskState::as_str),
                    at
                ])
                .map_err(sql_error)?
                == 1
            {
                changed.push(c.task_uuid);
            }
        }
        Ok(changed)
    }

    fn cancel_steps_now(&mut self, tasks: &[Uuid], states: &[StepState]) -> R<Vec<CancelledStep>> {
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let list = json_list(&names);
        let mut out = Vec::new();
        for t in tasks {
            let open = {
                let mut stmt = self.stmt(q::OPEN_STEPS)?;
                collect(&mut stmt, params![id(t), list], |r| {
                    Ok((uuid(r, 0)?, parsed::<StepState>(r, 1)?))
                })?
            };
            for (step, from) in open {
                self.stmt(q::CANCEL_STEP)?
                    .execute(params![id(&step)])
                    .map_err(sql_error)?;
                out.push(CancelledStep {
                    task_uuid: *t,
                    step_uuid: step,
                    from,
                });
            }
        }
        Ok(out)
    }

    fn reopen_steps_now(&mut self, steps: &[Uuid]) -> R<Vec<ReopenedStep>> {
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            let from = {
                let mut stmt = self.stmt(q::STEP_STATE)?;
                first(&mut stmt, params![id(step)], |r| parsed::<StepState>(r, 0))?
            };
            let Some(from) = from else { continue };
            let mut stmt = self.stmt(q::REOPEN_STEP)?;
            if let Some((task_uuid, to)) = first(&mut stmt, params![id(step)], |r| {
                Ok((uuid(r, 0)?, parsed::<StepState>(r, 1)?))
            })? {
                out.push(ReopenedStep {
                    task_uuid,
                    step_uuid: *step,
                    from,
                    to,
                });
            }
        }
        Ok(out)
    }

    fn prune_tasks_now(&mut self, filter: &PruneFilter) -> R<u64> {
        let names: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
        let deleted = self
            .stmt(q::PRUNE_TASKS)?
            .execute(params![
                json_list(&names),
                filter.finished_ms_ago,
                filter.limit
            ])
            .map_err(sql_error)?;
        Ok(deleted as u64)
    }

    fn task_activity_now(&mut self, tasks: &[Uuid]) -> R<Vec<TaskActivity>> {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let mut stmt = self.stmt(q::TASK_ACTIVITY)?;
            if let Some(a) = first(&mut stmt, params![id(t)], |r| {
                Ok(TaskActivity {
                    task_uuid: *t,
                    active: int(r, 0)?,
                    waiting: int(r, 1)?,
                    next_due_in_ms: opt_int(r, 2)?.map(|ms| ms.max(0)),
                })
            })? {
                out.push(a);
            }
        }
        Ok(out)
    }

    fn renew_leases_now(
        &mut self,
        worker: &str,
        claims: &[(Uuid, Uuid)],
        lease_ms: i64,
    ) -> R<Vec<Uuid>> {
        let mut held = Vec::with_capacity(claims.len());
        for (step, claim) in claims {
            if self
                .stmt(q::RENEW_LEASE)?
                .execute(params![id(step), id(claim), worker, lease_ms])
                .map_err(sql_error)?
                == 1
            {
                held.push(*step);
            }
        }
        Ok(held)
    }

    fn held_claims_now(&mut self, claims: &[(Uuid, Uuid)]) -> R<Vec<HeldClaim>> {
        let mut out = Vec::new();
        for (step, claim) in claims {
            let mut stmt = self.stmt(q::HELD_CLAIM)?;
            if let Some(h) = first(&mut stmt, params![id(step), id(claim)], |r| {
                Ok(HeldClaim {
                    step_uuid: *step,
                    claim_id: *claim,
                    task_uuid: uuid(r, 0)?,
                    task_state: parsed(r, 1)?,
                })
            })? {
                out.push(h);
            }
        }
        Ok(out)
    }

    fn expired_claims_now(&mut self, limit: i64) -> R<Vec<ExpiredClaim>> {
        let mut stmt = self.stmt(q::EXPIRED_CLAIMS)?;
        collect(&mut stmt, params![limit], |r| {
            Ok(ExpiredClaim {
                step_uuid: uuid(r, 0)?,
                task_uuid: uuid(r, 1)?,
                claim_id: opt_uuid(r, 2)?.unwrap_or_default(),
                claimed_by: opt_text(r, 3)?,
                attempts: int(r, 4)?,
                max_attempts: int(r, 5)?,
            })
        })
    }

    fn save_checkpoint_now(
        &mut self,
        step: Uuid,
        claim: Uuid,
        checkpoint: &str,
        lease_ms: i64,
    ) -> R<bool> {
        Ok(self
            .stmt(q::SAVE_CHECKPOINT)?
            .execute(params![id(&step), id(&claim), checkpoint, lease_ms])
            .map_err(sql_error)?
            == 1)
    }

    fn task_now(&mut self, task: Uuid) -> R<Option<TaskRow>> {
        let mut stmt = self.stmt(q::TASK)?;
        first(&mut stmt, params![id(&task)], task_row)
    }

    fn tasks_now(&mut self, tasks: &[Uuid]) -> R<Vec<TaskRow>> {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            if let Some(row) = self.task_now(*t)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn task_state_now(&mut self, task: Uuid) -> R<Option<TaskState>> {
        let mut stmt = self.stmt(q::TASK_STATE)?;
        first(&mut stmt, params![id(&task)], |r| parsed(r, 0))
    }

    fn steps_of_now(&mut self, task: Uuid) -> R<Vec<StepRow>> {
        let mut stmt = self.stmt(q::STEPS_OF)?;
        collect(&mut stmt, params![id(&task)], |r| {
            Ok(StepRow {
                step_uuid: uuid(r, 0)?,
                name: text(r, 1)?,
                step_type: parsed(r, 2)?,
                state: parsed(r, 3)?,
                attempts: int(r, 4)?,
                max_attempts: int(r, 5)?,
                result: opt_text(r, 6)?,
                error: opt_text(r, 7)?,
                metadata: opt_text(r, 8)?,
                created_at: int(r, 9)?,
                updated_at: int(r, 10)?,
                dependencies: name_list(r, 11)?,
                created_by: opt_text(r, 12)?,
                priority: int(r, 13)?,
                inputs: text(r, 14)?,
                checkpoint: opt_text(r, 15)?,
            })
        })
    }

    fn transitions_of_now(&mut self, task: Uuid) -> R<Vec<TransitionRow>> {
        let mut stmt = self.stmt(q::TRANSITIONS_OF)?;
        collect(&mut stmt, params![id(&task)], |r| {
            Ok(TransitionRow {
                step_uuid: opt_uuid(r, 0)?,
                step_name: opt_text(r, 1)?,
                from_state: opt_text(r, 2)?,
                to_state: text(r, 3)?,
                at: int(r, 4)?,
                worker_id: opt_text(r, 5)?,
                reason: opt_text(r, 6)?,
            })
        })
    }

    fn list_tasks_now(&mut self, f: &TaskFilter) -> R<Vec<TaskRow>> {
        let sql = q::LIST_TASKS.replace("/*filters*/", &task_filters(f));
        let mut stmt = self.stmt(&sql)?;
        collect(
            &mut stmt,
            params![
                f.namespace,
                f.name,
                f.state.map(TaskState::as_str),
                f.limit,
                f.offset,
                f.created_after.unwrap_or(i64::MIN),
                f.created_before.unwrap_or(i64::MAX),
                f.correlation_id,
                f.parent_correlation_id,
                json_list(&f.tags)
            ],
            task_row,
        )
    }

    fn count_matching_tasks_now(&mut self, f: &TaskFilter, cap: i64) -> R<i64> {
        let sql = q::MATCHING_TASKS.replace("/*filters*/", &task_filters(f));
        let mut stmt = self.stmt(&sql)?;
        first(
            &mut stmt,
            params![
                f.namespace,
                f.name,
                f.state.map(TaskState::as_str),
                cap,
                0i64,
                f.created_after.unwrap_or(i64::MIN),
                f.created_before.unwrap_or(i64::MAX),
                f.correlation_id,
                f.parent_correlation_id,
                json_list(&f.tags)
            ],
            |r| int(r, 0),
        )?
        .ok_or_else(|| StoreError::Corrupt("counting tasks returned no row".into()))
    }

    fn step_activity_now(&mut self, window_ms: i64) -> R<Vec<ActivityRow>> {
        let mut stmt = self.stmt(q::STEP_ACTIVITY)?;
        collect(&mut stmt, params![window_ms], |r| {
            Ok(ActivityRow {
                minute: int(r, 0)?,
                to_state: text(r, 1)?,
                count: int(r, 2)?,
            })
        })
    }
}

/// Only the equality filters given appear in a statement, so that SQLite can use the index that
/// serves them (one cached statement per combination); the creation time range is always there
/// (the whole range when not given), on the indexes' second column. Parameters: namespace ?1,
/// name ?2, state ?3, created at or after ?6, created before ?7, correlation id ?8, parent
/// correlation id ?9, tags ?10 (a JSON list: all of them).
fn task_filters(f: &TaskFilter) -> String {
    let mut terms = vec!["created_at >= ?6", "created_at < ?7"];
    if f.namespace.is_some() {
        terms.push("namespace = ?1");
    }
    if f.name.is_some() {
        terms.push("name = ?2");
    }
    if f.state.is_some() {
        terms.push("state = ?3");
    }
    // Every parameter appears (rusqlite binds exactly as many as the statement has): a filter
    // not given is a term that is always true.
    terms.push(if f.correlation_id.is_some() {
        "correlation_id = ?8"
    } else {
        "?8 IS NULL"
    });
    terms.push(if f.parent_correlation_id.is_some() {
        "parent_correlation_id = ?9"
    } else {
        "?9 IS NULL"
    });
    terms.push(if f.tags.is_empty() {
        "?10 = '[]'"
    } else {
        "task_uuid IN (SELECT task_uuid FROM tasker_task_tags \
         WHERE tag IN (SELECT value FROM json_each(?10)) \
         GROUP BY task_uuid HAVING count(*) = json_array_length(?10))"
    });
    terms.join(" AND ")
}

impl Tx for SqliteTx {
    fn put_templates<'a>(&'a mut self, templates: &'a [TemplateRecord]) -> BoxFuture<'a, R<()>> {
        done(self.put_templates_now(templates))
    }
    fn current_templates<'a>(
        &'a mut self,
        keys: &'a [TemplateKey],
    ) -> BoxFuture<'a, R<Vec<(TemplateKey, String, String)>>> {
        done(self.current_templates_now(keys))
    }
    fn template_snapshot<'a>(&'a mut self, digest: &'a str) -> BoxFuture<'a, R<Option<String>>> {
        done(self.template_snapshot_now(digest))
    }
    fn template_keys(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<TemplateKey>>> {
        done(self.template_keys_now(limit))
    }
    fn tasks_by_identity_hash<'a>(
        &'a mut self,
        keys: &'a [(TemplateKey, String)],
    ) -> BoxFuture<'a, R<Vec<(usize, Uuid)>>> {
        done(self.tasks_by_key_now(q::TASK_BY_IDENTITY_HASH, keys))
    }
    fn tasks_by_idempotency_key<'a>(
        &'a mut self,
        keys: &'a [(TemplateKey, String)],
    ) -> BoxFuture<'a, R<Vec<(usize, Uuid)>>> {
        done(self.tasks_by_key_now(q::TASK_BY_IDEMPOTENCY_KEY, keys))
    }
    fn insert_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
    ) -> BoxFuture<'a, R<Vec<(Uuid, Millis)>>> {
        done(self.insert_tasks_now(tasks))
    }
    fn insert_steps<'a>(&'a mut self, steps: &'a [NewStep]) -> BoxFuture<'a, R<()>> {
        done(self.insert_steps_now(steps))
    }
    fn insert_edges<'a>(&'a mut self, edges: &'a [Edge]) -> BoxFuture<'a, R<()>> {
        done(self.insert_edges_now(edges))
    }
    fn insert_transitions<'a>(&'a mut self, rows: &'a [NewTransition]) -> BoxFuture<'a, R<()>> {
        done(self.insert_transitions_now(rows))
    }
    fn claim<'a>(&'a mut self, request: &'a ClaimRequest) -> BoxFuture<'a, R<Vec<ClaimedRow>>> {
        done(self.claim_now(request))
    }
    fn dependency_results<'a>(
        &'a mut self,
        wanted: &'a [WantedDependencies<'a>],
    ) -> BoxFuture<'a, R<Vec<DependencyResult>>> {
        done(self.dependency_results_now(wanted))
    }
    fn unlimited_ready<'a>(
        &'a mut self,
        callables: &'a [String],
        limit: i64,
    ) -> BoxFuture<'a, R<Vec<UnlimitedStep>>> {
        done(self.unlimited_ready_now(callables, limit))
    }
    fn set_step_limits<'a>(&'a mut self, limits: &'a [(Uuid, StepLimit)]) -> BoxFuture<'a, R<()>> {
        done(self.set_step_limits_now(limits))
    }
    fn next_ready_in<'a>(&'a mut self, callables: &'a [String]) -> BoxFuture<'a, R<Option<i64>>> {
        done(self.next_ready_in_now(callables))
    }
    fn lock_claims<'a>(
        &'a mut self,
        claims: &'a [(Uuid, Uuid)],
    ) -> BoxFuture<'a, R<Vec<LockedStep>>> {
        done(self.lock_claims_now(claims))
    }
    fn task_steps<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, R<Vec<TaskStepState>>> {
        done(self.task_steps_now(tasks))
    }
    fn change_steps<'a>(&'a mut self, changes: &'a [StepChange]) -> BoxFuture<'a, R<Vec<Uuid>>> {
        done(self.change_steps_now(changes))
    }
    fn count_down_dependents<'a>(
        &'a mut self,
        completed: &'a [Uuid],
    ) -> BoxFuture<'a, R<Vec<ReadyStep>>> {
        done(self.count_down_dependents_now(completed))
    }
    fn add_pending_dependency<'a>(&'a mut self, steps: &'a [Uuid]) -> BoxFuture<'a, R<Vec<Uuid>>> {
        done(self.add_pending_dependency_now(steps))
    }
    fn count_tasks<'a>(&'a mut self, counts: &'a [TaskCounts]) -> BoxFuture<'a, R<()>> {
        done(self.count_tasks_now(counts))
    }
    fn change_tasks<'a>(&'a mut self, changes: &'a [TaskChange]) -> BoxFuture<'a, R<Vec<Uuid>>> {
        done(self.change_tasks_now(changes))
    }
    fn cancel_steps<'a>(
        &'a mut self,
        tasks: &'a [Uuid],
        states: &'a [StepState],
    ) -> BoxFuture<'a, R<Vec<CancelledStep>>> {
        done(self.cancel_steps_now(tasks, states))
    }
    fn task_activity<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, R<Vec<TaskActivity>>> {
        done(self.task_activity_now(tasks))
    }
    fn reopen_steps<'a>(&'a mut self, steps: &'a [Uuid]) -> BoxFuture<'a, R<Vec<ReopenedStep>>> {
        done(self.reopen_steps_now(steps))
    }
    fn prune_tasks<'a>(&'a mut self, filter: &'a PruneFilter) -> BoxFuture<'a, R<u64>> {
        done(self.prune_tasks_now(filter))
    }
    fn renew_leases<'a>(
        &'a mut self,
        worker_id: &'a str,
        claims: &'a [(Uuid, Uuid)],
        lease_ms: i64,
    ) -> BoxFuture<'a, R<Vec<Uuid>>> {
        done(self.renew_leases_now(worker_id, claims, lease_ms))
    }
    fn held_claims<'a>(
        &'a mut self,
        claims: &'a [(Uuid, Uuid)],
    ) -> BoxFuture<'a, R<Vec<HeldClaim>>> {
        done(self.held_claims_now(claims))
    }
    fn expired_claims(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<ExpiredClaim>>> {
        done(self.expired_claims_now(limit))
    }
    fn save_checkpoint<'a>(
        &'a mut self,
        step: Uuid,
        claim: Uuid,
        checkpoint: &'a str,
        lease_ms: i64,
    ) -> BoxFuture<'a, R<bool>> {
        done(self.save_checkpoint_now(step, claim, checkpoint, lease_ms))
    }
    fn lock_task(&mut self, task: Uuid) -> BoxFuture<'_, R<Option<TaskRow>>> {
        // The write transaction already holds the database's write lock.
        done(self.task_now(task))
    }
    fn task(&mut self, task: Uuid) -> BoxFuture<'_, R<Option<TaskRow>>> {
        done(self.task_now(task))
    }
    fn tasks<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, R<Vec<TaskRow>>> {
        done(self.tasks_now(tasks))
    }
    fn task_state(&mut self, task: Uuid) -> BoxFuture<'_, R<Option<TaskState>>> {
        done(self.task_state_now(task))
    }
    fn steps_of(&mut self, task: Uuid) -> BoxFuture<'_, R<Vec<StepRow>>> {
        done(self.steps_of_now(task))
    }
    fn transitions_of(&mut self, task: Uuid) -> BoxFuture<'_, R<Vec<TransitionRow>>> {
        done(self.transitions_of_now(task))
    }
    fn list_tasks<'a>(&'a mut self, filter: &'a TaskFilter) -> BoxFuture<'a, R<Vec<TaskRow>>> {
        done(self.list_tasks_now(filter))
    }
    fn count_matching_tasks<'a>(
        &'a mut self,
        filter: &'a TaskFilter,
        cap: i64,
    ) -> BoxFuture<'a, R<i64>> {
        done(self.count_matching_tasks_now(filter, cap))
    }
    fn step_activity(&mut self, window_ms: i64) -> BoxFuture<'_, R<Vec<ActivityRow>>> {
        done(self.step_activity_now(window_ms))
    }
    fn signals_of<'a>(
        &'a mut self,
        keys: &'a [(Uuid, String)],
    ) -> BoxFuture<'a, R<Vec<SignalRow>>> {
        done(self.signals_of_now(keys))
    }
    fn insert_signal<'a>(&'a mut self, signal: &'a NewSignal) -> BoxFuture<'a, R<Millis>> {
        done(self.insert_signal_now(signal))
    }
    fn apply_signals<'a>(&'a mut self, keys: &'a [(Uuid, String)]) -> BoxFuture<'a, R<()>> {
        done(self.apply_signals_now(keys))
    }
    fn lifecycle_due(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, R<Vec<LifecycleDue>>> {
        done(self.lifecycle_due_now(task, limit))
    }
    fn due_signal_waits(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, R<Vec<DueSignalWait>>> {
        done(self.due_signal_waits_now(task, limit))
    }
    fn due_child_steps(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, R<Vec<DueChildStep>>> {
        done(self.due_child_steps_now(task, limit))
    }
    fn link_children<'a>(&'a mut self, links: &'a [ChildLink]) -> BoxFuture<'a, R<()>> {
        done(self.link_children_now(links))
    }
    fn orphan_children(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<Uuid>>> {
        done(self.orphan_children_now(limit))
    }
    fn task_family(&mut self, task: Uuid) -> BoxFuture<'_, R<TaskFamily>> {
        done(self.task_family_now(task))
    }
    fn signal<'a>(&'a mut self, _signals: &'a [Signal]) -> BoxFuture<'a, R<()>> {
        // Processes sharing a SQLite file cannot hear each other; they poll.
        done(Ok(()))
    }

    // --- schedules
    fn put_schedules<'a>(&'a mut self, schedules: &'a [ScheduleRecord]) -> BoxFuture<'a, R<()>> {
        done(self.put_schedules_now(schedules))
    }
    fn schedules<'a>(&'a mut self, names: &'a [String]) -> BoxFuture<'a, R<Vec<ScheduleRow>>> {
        done(self.schedules_now(names))
    }
    fn list_schedules(&mut self, limit: i64) -> BoxFuture<'_, R<Vec<ScheduleRow>>> {
        done(self.list_schedules_now(limit))
    }
    fn delete_schedule<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, R<bool>> {
        done(
            self.stmt(q::DELETE_SCHEDULE)
                .and_then(|mut stmt| stmt.execute(params![name]).map_err(sql_error))
                .map(|n| n > 0),
        )
    }
    fn advance_schedules<'a>(
        &'a mut self,
        advances: &'a [ScheduleAdvance],
    ) -> BoxFuture<'a, R<Vec<String>>> {
        done(self.advance_schedules_now(advances))
    }
    fn now(&mut self) -> BoxFuture<'_, R<Millis>> {
        done(self.now_now())
    }

    // --- metrics
    fn ping(&mut self) -> BoxFuture<'_, R<()>> {
        done(self.ping_now())
    }
    fn ready_backlog<'a>(&'a mut self, callables: &'a [String]) -> BoxFuture<'a, R<ReadyBacklog>> {
        done(self.ready_backlog_now(callables))
    }
}

// --- schedules
fn schedule_row(row: &Row<'_>) -> R<ScheduleRow> {
    Ok(ScheduleRow {
        schedule: ScheduleRecord {
            name: text(row, 0)?,
            cron: text(row, 1)?,
            timezone: text(row, 2)?,
            namespace: text(row, 3)?,
            task_name: text(row, 4)?,
            version: text(row, 5)?,
            context: text(row, 6)?,
            missed: text(row, 7)?,
        },
        last_fire_at: opt_int(row, 8)?,
        created_at: int(row, 9)?,
        updated_at: int(row, 10)?,
    })
}

impl SqliteTx {
    fn put_schedules_now(&mut self, schedules: &[ScheduleRecord]) -> R<()> {
        for s in schedules {
            self.stmt(q::PUT_SCHEDULE)?
                .execute(params![
                    s.name,
                    s.cron,
                    s.timezone,
                    s.namespace,
                    s.task_name,
                    s.version,
                    s.context,
                    s.missed
                ])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn schedules_now(&mut self, names: &[String]) -> R<Vec<ScheduleRow>> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let mut stmt = self.stmt(q::SCHEDULE)?;
            if let Some(row) = first(&mut stmt, params![name], schedule_row)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn list_schedules_now(&mut self, limit: i64) -> R<Vec<ScheduleRow>> {
        let mut stmt = self.stmt(q::LIST_SCHEDULES)?;
        collect(&mut stmt, params![limit], schedule_row)
    }

    fn advance_schedules_now(&mut self, advances: &[ScheduleAdvance]) -> R<Vec<String>> {
        let mut advanced = Vec::new();
        for a in advances {
            let changed = self
                .stmt(q::ADVANCE_SCHEDULE)?
                .execute(params![a.name, a.expect, a.to])
                .map_err(sql_error)?;
            if changed > 0 {
                advanced.push(a.name.clone());
            }
        }
        Ok(advanced)
    }

    fn signals_of_now(&mut self, keys: &[(Uuid, String)]) -> R<Vec<SignalRow>> {
        let mut out = Vec::new();
        for (task, name) in keys {
            let mut stmt = self.stmt(q::SIGNALS_OF)?;
            if let Some(row) = first(&mut stmt, params![id(task), name], |r| {
                Ok(SignalRow {
                    task_uuid: uuid(r, 0)?,
                    step_name: text(r, 1)?,
                    payload: text(r, 2)?,
                    received_at: int(r, 3)?,
                    applied_at: opt_int(r, 4)?,
                })
            })? {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn insert_signal_now(&mut self, s: &NewSignal) -> R<Millis> {
        let mut stmt = self.stmt(q::INSERT_SIGNAL)?;
        first(
            &mut stmt,
            params![id(&s.task_uuid), s.step_name, s.payload, s.applied],
            |r| int(r, 0),
        )?
        .ok_or_else(|| StoreError::Corrupt("storing a signal returned no row".to_string()))
    }

    fn apply_signals_now(&mut self, keys: &[(Uuid, String)]) -> R<()> {
        for (task, name) in keys {
            self.stmt(q::APPLY_SIGNAL)?
                .execute(params![id(task), name])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn due_child_steps_now(&mut self, task: Option<Uuid>, limit: i64) -> R<Vec<DueChildStep>> {
        let mut stmt = self.stmt(q::DUE_CHILD_STEPS)?;
        collect(&mut stmt, params![task.as_ref().map(id), limit], |r| {
            Ok(DueChildStep {
                task_uuid: uuid(r, 0)?,
                step_uuid: uuid(r, 1)?,
                name: text(r, 2)?,
                template_step_name: text(r, 3)?,
                template_digest: text(r, 4)?,
                state: parsed(r, 5)?,
                attempts: int(r, 6)?,
                max_attempts: int(r, 7)?,
                child_task_uuid: opt_uuid(r, 8)?,
                child_state: opt_text(r, 9)?
                    .map(|s| s.parse::<TaskState>().map_err(StoreError::Corrupt))
                    .transpose()?,
            })
        })
    }

    fn link_children_now(&mut self, links: &[ChildLink]) -> R<()> {
        for l in links {
            self.stmt(q::LINK_CHILD_TASK)?
                .execute(params![
                    id(&l.child_task_uuid),
                    id(&l.parent_task_uuid),
                    id(&l.parent_step_uuid)
                ])
                .map_err(sql_error)?;
            self.stmt(q::LINK_CHILD_STEP)?
                .execute(params![id(&l.child_task_uuid), id(&l.parent_step_uuid)])
                .map_err(sql_error)?;
        }
        Ok(())
    }

    fn orphan_children_now(&mut self, limit: i64) -> R<Vec<Uuid>> {
        let mut stmt = self.stmt(q::ORPHAN_CHILDREN)?;
        collect(&mut stmt, params![limit], |r| uuid(r, 0))
    }

    fn task_family_now(&mut self, task: Uuid) -> R<TaskFamily> {
        let found = {
            let mut stmt = self.stmt(q::TASK_PARENT)?;
            first(&mut stmt, params![id(&task)], |r| {
                Ok(TaskFamily {
                    parent_task_uuid: opt_uuid(r, 0)?,
                    parent_step_uuid: opt_uuid(r, 1)?,
                    parent_step_name: opt_text(r, 2)?,
                    depth: int(r, 3)?,
                    trace_context: opt_text(r, 4)?,
                    children: Vec::new(),
                })
            })?
        };
        let Some(mut family) = found else {
            return Ok(TaskFamily::default());
        };
        let mut stmt = self.stmt(q::TASK_CHILDREN)?;
        family.children = collect(&mut stmt, params![id(&task)], |r| {
            Ok(ChildTaskRow {
                task_uuid: uuid(r, 0)?,
                parent_step_uuid: uuid(r, 1)?,
                state: parsed(r, 2)?,
                created_at: int(r, 3)?,
            })
        })?;
        Ok(family)
    }

    fn lifecycle_due_now(&mut self, task: Option<Uuid>, limit: i64) -> R<Vec<LifecycleDue>> {
        let mut stmt = self.stmt(q::LIFECYCLE_DUE)?;
        collect(&mut stmt, params![task.as_ref().map(id), limit], |r| {
            Ok(LifecycleDue {
                task_uuid: uuid(r, 0)?,
                state: parsed(r, 1)?,
                age_ms: int(r, 2)?,
                idle_ms: int(r, 3)?,
                busy: int(r, 4)? != 0,
                limits: LifecycleLimits {
                    max_duration_ms: opt_int(r, 5)?,
                    max_in_process_ms: opt_int(r, 6)?,
                    max_dependencies_ms: opt_int(r, 7)?,
                    max_retry_wait_ms: opt_int(r, 8)?,
                },
            })
        })
    }

    fn due_signal_waits_now(&mut self, task: Option<Uuid>, limit: i64) -> R<Vec<DueSignalWait>> {
        let mut stmt = self.stmt(q::DUE_SIGNAL_WAITS)?;
        collect(&mut stmt, params![task.as_ref().map(id), limit], |r| {
            Ok(DueSignalWait {
                task_uuid: uuid(r, 0)?,
                step_uuid: uuid(r, 1)?,
                name: text(r, 2)?,
                template_step_name: text(r, 3)?,
                template_digest: text(r, 4)?,
            })
        })
    }

    fn now_now(&mut self) -> R<Millis> {
        let mut stmt = self.stmt(q::NOW)?;
        first(&mut stmt, [], |r| int(r, 0))?
            .ok_or_else(|| StoreError::Corrupt("the clock query returned no row".to_string()))
    }
}

// --- metrics
impl SqliteTx {
    fn ping_now(&mut self) -> R<()> {
        let mut stmt = self.stmt(q::PING)?;
        first(&mut stmt, params![], |r| int(r, 0))?;
        Ok(())
    }

    fn ready_backlog_now(&mut self, callables: &[String]) -> R<ReadyBacklog> {
        if callables.is_empty() {
            return Ok(ReadyBacklog::default());
        }
        let mut stmt = self.stmt(q::READY_STEPS)?;
        let row = first(&mut stmt, params![json_list(callables)], |r| {
            Ok(ReadyBacklog {
                count: int(r, 0)?,
                oldest_ms: opt_int(r, 1)?.map(|ms| ms.max(0)),
            })
        })?;
        Ok(row.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Location, SqliteStore};

    /// Every query of the driver prepares against the migrated schema.
    #[tokio::test]
    async fn every_query_prepares() {
        let dir = std::env::temp_dir().join(format!("tasker-sqlite-{}", Uuid::new_v4()));
        let path = dir.join("t.db");
        let _store = SqliteStore::open(Location::File(path.clone()))
            .await
            .unwrap();
        let conn = Connection::open(&path).unwrap();
        for (name, sql) in q::ALL {
            let sql = q::rows(&sql.replace("/*filters*/", "1 = 1"), 7, 2);
            if let Err(e) = conn.prepare(&sql) {
                panic!("query {name} does not prepare: {e}");
            }
        }
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Claiming, and the statements that need the earliest ready time, walk
    /// tasker_steps_claimable (claim order) and sort nothing.
    #[tokio::test]
    async fn claims_walk_the_claimable_index() {
        let dir = std::env::temp_dir().join(format!("tasker-sqlite-{}", Uuid::new_v4()));
        let path = dir.join("t.db");
        let _store = SqliteStore::open(Location::File(path.clone()))
            .await
            .unwrap();
        let conn = Connection::open(&path).unwrap();
        for (name, sql) in [
            ("claimable", q::CLAIMABLE),
            ("next_ready_in", q::NEXT_READY_IN),
            ("ready_steps", q::READY_STEPS),
        ] {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let n = stmt.parameter_count();
            let args: Vec<rusqlite::types::Value> = (0..n)
                .map(|i| match i {
                    0 => rusqlite::types::Value::Text(r#"["a"]"#.into()),
                    _ => rusqlite::types::Value::Integer(10),
                })
                .collect();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            let on_steps: Vec<&String> = plan
                .iter()
                .filter(|l| l.contains(" s ") || l.contains(" f ") || l.contains("tasker_steps"))
                .collect();
            assert!(!on_steps.is_empty(), "{name}: {plan:?}");
            assert!(
                on_steps
                    .iter()
                    .all(|l| l.contains("USING INDEX tasker_steps_claimable")),
                "{name}: {plan:?}"
            );
            assert!(
                plan.iter().all(|l| !l.contains("TEMP B-TREE")),
                "{name} sorts: {plan:?}"
            );
        }
        drop(conn);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn json_lists_escape() {
        assert_eq!(json_list(&["a", "b\"c", "d\\e"]), r#"["a","b\"c","d\\e"]"#);
        assert_eq!(json_list::<&str>(&[]), "[]");
    }
}
