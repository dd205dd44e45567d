//! The store boundary: everything the tasker engine asks of a database, in the shapes it
//! really uses — batches of steps to claim, results to record, tasks to create, leases to
//! renew — and nothing else. The engine holds the workflow logic and no SQL; each driver
//! (`tasker-store-sqlite`, `tasker-store-postgres`) keeps its SQL in its own `queries/` folder.
//!
//! A unit of work is an async procedure over a [`Tx`], handed to [`Store::write`] or
//! [`Store::read`]. The driver decides where it runs: the SQLite driver runs the whole
//! procedure on its database thread (its `Tx` methods complete without suspending, so no
//! statement crosses a thread), the PostgreSQL driver on the caller's task with one pooled
//! connection. Either way the procedure is one transaction: committed when it returns `Ok`,
//! rolled back when it returns `Err`.

mod error;
mod redact;
mod rows;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

pub use error::{Aborted, StoreError, StoreResult};
pub use redact::{is_secret_parameter, redact};
pub use rows::*;
pub use tasker_domain::{StepState, StepType, TaskState};
pub use uuid::Uuid;

/// A boxed, sendable future (what every [`Tx`] method returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A type-erased unit of work (see [`run_write`] and [`run_read`] for the typed entry points).
pub type TxWork = Box<
    dyn for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<Box<dyn Any + Send>>> + Send,
>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connected, migrated database.
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Run `work` as one write transaction.
    fn write(&self, work: TxWork) -> BoxFuture<'_, StoreResult<Box<dyn Any + Send>>>;

    /// Run `work` with read access. Each statement sees committed data; there is no
    /// transaction around them (reads never block writers).
    fn read(&self, work: TxWork) -> BoxFuture<'_, StoreResult<Box<dyn Any + Send>>>;

    /// Signals sent by other processes (`None` when the backend has no such channel: SQLite
    /// processes sharing a file do not hear each other and rely on polling).
    fn listen(&self) -> Option<tokio::sync::broadcast::Receiver<Heard>>;

    /// Counters since the store was opened.
    fn stats(&self) -> StoreStats;

    /// Close every connection. Work submitted afterwards fails with [`StoreError::Closed`].
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The statements of one unit of work. Every method takes and returns batches; an empty input
/// must not touch the database.
pub trait Tx: Send {
    // --- templates -------------------------------------------------------------------------
    /// Store these template versions (snapshots are immutable and kept; the version now points
    /// at the given digest).
    fn put_templates<'a>(
        &'a mut self,
        templates: &'a [TemplateRecord],
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// The digest and definition each key currently points at (missing keys are left out).
    fn current_templates<'a>(
        &'a mut self,
        keys: &'a [TemplateKey],
    ) -> BoxFuture<'a, StoreResult<Vec<(TemplateKey, String, String)>>>;
    /// The definition stored under a digest.
    fn template_snapshot<'a>(
        &'a mut self,
        digest: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<String>>>;
    /// Registered template versions, sorted, at most `limit` (for error messages).
    fn template_keys(&mut self, limit: i64) -> BoxFuture<'_, StoreResult<Vec<TemplateKey>>>;

    // --- creating tasks ----------------------------------------------------------------------
    /// Tasks already created with these idempotency keys: `(index into keys, task)`.
    fn tasks_by_idempotency_key<'a>(
        &'a mut self,
        keys: &'a [(TemplateKey, String)],
    ) -> BoxFuture<'a, StoreResult<Vec<(usize, Uuid)>>>;
    /// Tasks already created with these identity hashes (docs/identity.md): `(index into
    /// keys, task)`.
    fn tasks_by_identity_hash<'a>(
        &'a mut self,
        keys: &'a [(TemplateKey, String)],
    ) -> BoxFuture<'a, StoreResult<Vec<(usize, Uuid)>>>;
    /// Insert tasks, with their tags; a task whose idempotency key or identity hash is already
    /// taken is not inserted. Returns the
    /// tasks inserted, with their creation time.
    fn insert_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
    ) -> BoxFuture<'a, StoreResult<Vec<(Uuid, Millis)>>>;
    fn insert_steps<'a>(&'a mut self, steps: &'a [NewStep]) -> BoxFuture<'a, StoreResult<()>>;
    fn insert_edges<'a>(&'a mut self, edges: &'a [Edge]) -> BoxFuture<'a, StoreResult<()>>;
    fn insert_transitions<'a>(
        &'a mut self,
        rows: &'a [NewTransition],
    ) -> BoxFuture<'a, StoreResult<()>>;

    // --- claiming ------------------------------------------------------------------------------
    fn claim<'a>(
        &'a mut self,
        request: &'a ClaimRequest,
    ) -> BoxFuture<'a, StoreResult<Vec<ClaimedRow>>>;
    /// Up to `limit` ready steps of `callables` that carry no limit, in claim order, with
    /// their task's context; on PostgreSQL locked, skipping rows another transaction holds.
    fn unlimited_ready<'a>(
        &'a mut self,
        callables: &'a [String],
        limit: i64,
    ) -> BoxFuture<'a, StoreResult<Vec<UnlimitedStep>>>;
    /// Give each step its limit, unless it has one already.
    fn set_step_limits<'a>(
        &'a mut self,
        limits: &'a [(Uuid, StepLimit)],
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// The results of the completed (or manually resolved) steps of each wanted step's task
    /// whose template step is one of its dependencies, grouped by wanted step in the order given.
    fn dependency_results<'a>(
        &'a mut self,
        wanted: &'a [WantedDependencies<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<DependencyResult>>>;
    /// Milliseconds until the next step for these callables becomes claimable (0 if one is
    /// claimable now; `None` if none is waiting).
    fn next_ready_in<'a>(
        &'a mut self,
        callables: &'a [String],
    ) -> BoxFuture<'a, StoreResult<Option<i64>>>;

    // --- recording results ---------------------------------------------------------------------
    /// Lock the steps still `in_progress` under these claims, with their tasks.
    fn lock_claims<'a>(
        &'a mut self,
        claims: &'a [(Uuid, Uuid)],
    ) -> BoxFuture<'a, StoreResult<Vec<LockedStep>>>;
    /// Every step of these tasks (for planning decision and batch outcomes).
    fn task_steps<'a>(
        &'a mut self,
        tasks: &'a [Uuid],
    ) -> BoxFuture<'a, StoreResult<Vec<TaskStepState>>>;
    /// Apply step changes; returns the steps changed.
    fn change_steps<'a>(
        &'a mut self,
        changes: &'a [StepChange],
    ) -> BoxFuture<'a, StoreResult<Vec<Uuid>>>;
    /// Count these completed steps off their dependents; the dependents left with nothing
    /// pending that were `pending` become `enqueued` (ready now) — signal steps become
    /// `waiting_for_signal`, with their deadline — and are returned.
    fn count_down_dependents<'a>(
        &'a mut self,
        completed: &'a [Uuid],
    ) -> BoxFuture<'a, StoreResult<Vec<ReadyStep>>>;
    /// Steps that must also wait for a new dependency (a new branch wired into a pending
    /// convergence step): each count goes up by one per time the step is listed. Returns the
    /// steps that were still pending (each once).
    fn add_pending_dependency<'a>(
        &'a mut self,
        steps: &'a [Uuid],
    ) -> BoxFuture<'a, StoreResult<Vec<Uuid>>>;
    fn count_tasks<'a>(&'a mut self, counts: &'a [TaskCounts]) -> BoxFuture<'a, StoreResult<()>>;
    /// Apply task state changes; returns the tasks changed.
    fn change_tasks<'a>(
        &'a mut self,
        changes: &'a [TaskChange],
    ) -> BoxFuture<'a, StoreResult<Vec<Uuid>>>;
    /// Move the steps of these tasks that are in one of `states` to `cancelled`.
    fn cancel_steps<'a>(
        &'a mut self,
        tasks: &'a [Uuid],
        states: &'a [StepState],
    ) -> BoxFuture<'a, StoreResult<Vec<CancelledStep>>>;
    fn task_activity<'a>(
        &'a mut self,
        tasks: &'a [Uuid],
    ) -> BoxFuture<'a, StoreResult<Vec<TaskActivity>>>;

    // --- operator recovery and retention -----------------------------------------------------
    /// Reopen these steps if they are `error` or `cancelled`: attempts start over, the error is
    /// cleared, and each becomes `enqueued` (ready now; a signal step `waiting_for_signal`,
    /// with a new deadline) or, while a dependency is still pending, `pending`. Returns the
    /// steps reopened.
    fn reopen_steps<'a>(
        &'a mut self,
        steps: &'a [Uuid],
    ) -> BoxFuture<'a, StoreResult<Vec<ReopenedStep>>>;
    /// Delete finished tasks matching the filter (oldest first) with their steps, edges and
    /// transitions; returns how many tasks were deleted.
    fn prune_tasks<'a>(&'a mut self, filter: &'a PruneFilter) -> BoxFuture<'a, StoreResult<u64>>;

    // --- leases --------------------------------------------------------------------------------
    /// Extend the leases of these claims by `lease_ms` from now; returns the steps still held.
    fn renew_leases<'a>(
        &'a mut self,
        worker_id: &'a str,
        claims: &'a [(Uuid, Uuid)],
        lease_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Vec<Uuid>>>;
    /// These claims, if still current, with their task's state.
    fn held_claims<'a>(
        &'a mut self,
        claims: &'a [(Uuid, Uuid)],
    ) -> BoxFuture<'a, StoreResult<Vec<HeldClaim>>>;
    /// Claims whose lease ran out, oldest first.
    fn expired_claims(&mut self, limit: i64) -> BoxFuture<'_, StoreResult<Vec<ExpiredClaim>>>;
    /// Save a checkpoint under a claim and extend its lease; `false` if the claim is not
    /// current.
    fn save_checkpoint<'a>(
        &'a mut self,
        step: Uuid,
        claim: Uuid,
        checkpoint: &'a str,
        lease_ms: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    // --- tasks and views -----------------------------------------------------------------------
    /// The task, locked for changing it.
    fn lock_task(&mut self, task: Uuid) -> BoxFuture<'_, StoreResult<Option<TaskRow>>>;
    fn task(&mut self, task: Uuid) -> BoxFuture<'_, StoreResult<Option<TaskRow>>>;
    fn tasks<'a>(&'a mut self, tasks: &'a [Uuid]) -> BoxFuture<'a, StoreResult<Vec<TaskRow>>>;
    fn task_state(&mut self, task: Uuid) -> BoxFuture<'_, StoreResult<Option<TaskState>>>;
    fn steps_of(&mut self, task: Uuid) -> BoxFuture<'_, StoreResult<Vec<StepRow>>>;
    fn transitions_of(&mut self, task: Uuid) -> BoxFuture<'_, StoreResult<Vec<TransitionRow>>>;
    fn list_tasks<'a>(
        &'a mut self,
        filter: &'a TaskFilter,
    ) -> BoxFuture<'a, StoreResult<Vec<TaskRow>>>;
    /// How many tasks match the filter (its limit and offset ignored), counting at most `cap`.
    fn count_matching_tasks<'a>(
        &'a mut self,
        filter: &'a TaskFilter,
        cap: i64,
    ) -> BoxFuture<'a, StoreResult<i64>>;
    /// Step executions that ended (completed, resolved by hand, failed, failed to be retried)
    /// in the last `window_ms` by the database clock, per minute and end state.
    fn step_activity(&mut self, window_ms: i64) -> BoxFuture<'_, StoreResult<Vec<ActivityRow>>>;

    // --- schedules -----------------------------------------------------------------------------
    /// Insert these schedules, or update the definition of those that exist (their
    /// `last_fire_at` and `created_at` are kept).
    fn put_schedules<'a>(
        &'a mut self,
        schedules: &'a [ScheduleRecord],
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// These schedules, by name (missing ones left out).
    fn schedules<'a>(
        &'a mut self,
        names: &'a [String],
    ) -> BoxFuture<'a, StoreResult<Vec<ScheduleRow>>>;
    /// Every schedule, by name, at most `limit`.
    fn list_schedules(&mut self, limit: i64) -> BoxFuture<'_, StoreResult<Vec<ScheduleRow>>>;
    /// Delete the schedule of this name; whether there was one.
    fn delete_schedule<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, StoreResult<bool>>;
    /// Advance these schedules' last fire times where each is still as expected; returns the
    /// names advanced. Another transaction advancing the same schedule meanwhile makes its
    /// compare fail here (PostgreSQL: the row lock is waited for, then the new value compared).
    fn advance_schedules<'a>(
        &'a mut self,
        advances: &'a [ScheduleAdvance],
    ) -> BoxFuture<'a, StoreResult<Vec<String>>>;
    /// The database's clock (ms since the epoch).
    fn now(&mut self) -> BoxFuture<'_, StoreResult<Millis>>;

    // --- signal steps --------------------------------------------------------------------------
    /// The signals received for these (task, step name) pairs (pairs with none left out).
    fn signals_of<'a>(
        &'a mut self,
        keys: &'a [(Uuid, String)],
    ) -> BoxFuture<'a, StoreResult<Vec<SignalRow>>>;
    /// Store a signal, received now (its key must be new: the caller checked under the task's
    /// lock). Returns when it was received.
    fn insert_signal<'a>(&'a mut self, signal: &'a NewSignal)
        -> BoxFuture<'a, StoreResult<Millis>>;
    /// Mark these stored signals applied now (those already applied are left alone).
    fn apply_signals<'a>(
        &'a mut self,
        keys: &'a [(Uuid, String)],
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Signal steps still waiting past their deadline, earliest first, at most `limit`: of the
    /// task `task` (which the caller has locked), or of any task.
    fn due_signal_waits(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<DueSignalWait>>>;

    // --- lifecycle limits ----------------------------------------------------------------------
    /// Open tasks that may be past a lifecycle limit (see [`LifecycleDue`]), oldest first, at
    /// most `limit`: the task `task` (which the caller has locked), or any. A coarse filter:
    /// the caller decides which limit each has passed, if any.
    fn lifecycle_due(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<LifecycleDue>>>;

    // --- child tasks ---------------------------------------------------------------------------
    /// Subtask steps the child sweep acts on (see [`DueChildStep`]), earliest ready time first,
    /// at most `limit`: of the task `task` (which the caller has locked), or of any task.
    fn due_child_steps(
        &mut self,
        task: Option<Uuid>,
        limit: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<DueChildStep>>>;
    /// Link children just created to their parent steps (see [`ChildLink`]).
    fn link_children<'a>(&'a mut self, links: &'a [ChildLink]) -> BoxFuture<'a, StoreResult<()>>;
    /// Unfinished child tasks whose parent step no longer waits for them (it was cancelled or
    /// failed, or started another child), at most `limit`.
    fn orphan_children(&mut self, limit: i64) -> BoxFuture<'_, StoreResult<Vec<Uuid>>>;
    /// A task's parent, depth, trace context and children (a task that does not exist has
    /// none of them).
    fn task_family(&mut self, task: Uuid) -> BoxFuture<'_, StoreResult<TaskFamily>>;

    // --- signals -------------------------------------------------------------------------------
    /// Tell other processes once this transaction commits (no-op where nobody can listen).
    fn signal<'a>(&'a mut self, signals: &'a [Signal]) -> BoxFuture<'a, StoreResult<()>>;

    // --- metrics -------------------------------------------------------------------------------
    /// One round trip that reads no table (health checks).
    fn ping(&mut self) -> BoxFuture<'_, StoreResult<()>>;
    /// The steps for these callables that are claimable now and not claimed: how many, and how
    /// long the oldest has waited (an empty list counts nothing).
    fn ready_backlog<'a>(
        &'a mut self,
        callables: &'a [String],
    ) -> BoxFuture<'a, StoreResult<ReadyBacklog>>;
}

/// Run a typed unit of work as one write transaction. The work's own error (any `E` a
/// `StoreError` converts into) rolls the transaction back and is returned as it was.
pub async fn run_write<R, E, F>(store: &dyn Store, work: F) -> Result<R, E>
where
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
{
    unerase(store.write(erase(work)).await)
}

/// Run a typed unit of work with read access.
pub async fn run_read<R, E, F>(store: &dyn Store, work: F) -> Result<R, E>
where
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
{
    unerase(store.read(erase(work)).await)
}

fn erase<R, E, F>(work: F) -> TxWork
where
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, Result<R, E>> + Send + 'static,
{
    Box::new(move |tx: &mut dyn Tx| {
        Box::pin(async move {
            match work(tx).await {
                Ok(r) => Ok(Box::new(r) as Box<dyn Any + Send>),
                Err(e) => Err(StoreError::Aborted(error::Aborted(Box::new(e)))),
            }
        }) as BoxFuture<'_, _>
    })
}

fn unerase<R: 'static, E: From<StoreError> + 'static>(
    outcome: StoreResult<Box<dyn Any + Send>>,
) -> Result<R, E> {
    match outcome {
        Ok(boxed) => match boxed.downcast::<R>() {
            Ok(r) => Ok(*r),
            // `erase` boxed exactly an `R`: a driver cannot return anything else.
            Err(_) => unreachable!("a unit of work returned a value of another type"),
        },
        Err(StoreError::Aborted(error::Aborted(e))) => match e.downcast::<E>() {
            Ok(e) => Err(*e),
            Err(_) => unreachable!("a unit of work failed with an error of another type"),
        },
        Err(e) => Err(E::from(e)),
    }
}
