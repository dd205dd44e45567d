//! The shapes that cross the store boundary. Every operation takes and returns batches.
//!
//! Conventions: ids are [`Uuid`]s; times are milliseconds since the Unix epoch (UTC), and
//! every time a driver writes is taken from the database's clock at statement time, so that
//! processes with skewed clocks agree (callers pass durations, never deadlines). JSON values
//! (contexts, inputs, results, errors, metadata, checkpoints) are JSON text, kept exactly as
//! given. States are typed: a driver parses stored state names once, and an unknown name is a
//! [`StoreError::Corrupt`](crate::StoreError::Corrupt), never a default.

use tasker_domain::{StepState, StepType, TaskState};
use uuid::Uuid;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A template version as registered: `definition` is the validated template as JSON, and
/// `digest` identifies that exact content. Tasks keep the digest they were created from, so a
/// template redeployed under the same version does not change how running tasks expand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub digest: String,
    pub definition: String,
}

/// `namespace/name@version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateKey {
    pub namespace: String,
    pub name: String,
    pub version: String,
}

/// A task to insert.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub task_uuid: Uuid,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub template_digest: String,
    pub state: TaskState,
    pub context: String,
    pub idempotency_key: Option<String>,
    pub total_steps: i64,
    /// The creator's trace context (JSON text of a W3C carrier), if any.
    pub trace_context: Option<String>,
    /// -1000..=1000, higher first; its steps get it when they are inserted.
    pub priority: i64,
    /// Who and what the task is for (docs/task-metadata.md). Its tags are also inserted, one
    /// row per tag, when the task is.
    pub metadata: TaskMetadata,
    /// Set for a task whose template dedupes on its context (`identity_strategy: strict`):
    /// a task with the same template key and hash is not inserted (docs/identity.md).
    pub identity_hash: Option<String>,
    /// Its template's lifecycle limits, as they were when it was created (docs/lifecycle.md).
    pub lifecycle: LifecycleLimits,
}

/// A task's lifecycle limits in milliseconds (docs/lifecycle.md); `None`: no such limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleLimits {
    pub max_duration_ms: Option<i64>,
    pub max_in_process_ms: Option<i64>,
    pub max_dependencies_ms: Option<i64>,
    pub max_retry_wait_ms: Option<i64>,
}

/// An open task that may be past a lifecycle limit: how long since it started (was created, or
/// last retried out of `error` by an operator), how long since it last
/// made progress (one of its steps completed, or it changed state), whether one of its steps
/// is ready or running, and its limits. All times by the database's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleDue {
    pub task_uuid: Uuid,
    pub state: TaskState,
    pub age_ms: i64,
    pub idle_ms: i64,
    pub busy: bool,
    pub limits: LifecycleLimits,
}

/// A task's metadata, as stored (docs/task-metadata.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskMetadata {
    pub correlation_id: String,
    pub parent_correlation_id: Option<String>,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    /// Distinct, in the order given.
    pub tags: Vec<String>,
}

/// A step to insert. It gets its task's priority (insert the task first). A step with no pending dependencies is inserted `enqueued` (ready now).
#[derive(Debug, Clone)]
pub struct NewStep {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub name: String,
    pub template_step_name: String,
    pub handler_callable: String,
    pub step_type: StepType,
    pub state: StepState,
    pub dep_total: i64,
    pub pending_deps: i64,
    pub max_attempts: i64,
    pub inputs: String,
    /// An `enqueued` step becomes claimable this many milliseconds from now (0: at once).
    pub ready_in_ms: i64,
    /// The decision or batchable step whose outcome created this one (`None`: created with
    /// the task).
    pub created_by: Option<Uuid>,
    /// A signal step's timeout: its deadline is this long after it starts waiting (`None`:
    /// it waits for ever, or it is not a signal step).
    pub signal_timeout_ms: Option<i64>,
    /// The step's limit (`None`: unlimited), see docs/limits.md.
    pub limit: Option<StepLimit>,
}

/// A limited step's key and settings, stored on its row when it is created.
#[derive(Debug, Clone, PartialEq)]
pub struct StepLimit {
    /// `<callable>` or `<callable>:<resolved limit_key>`.
    pub key: String,
    pub concurrency: Option<i64>,
    pub per_second: Option<f64>,
    pub burst: Option<i64>,
}

impl ClaimRequest {
    /// The callables whose steps without a limit the plain claim takes.
    pub fn unlimited_callables(&self) -> Vec<String> {
        self.callables
            .iter()
            .filter(|c| !self.limited_only.contains(c))
            .cloned()
            .collect()
    }
}

/// A ready step without a limit, with its task's context (JSON text), for a worker that
/// limits its handler itself.
#[derive(Debug, Clone)]
pub struct UnlimitedStep {
    pub step_uuid: Uuid,
    pub handler_callable: String,
    pub context: String,
}

/// A dependency edge: `to` waits for `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub task_uuid: Uuid,
    pub from: Uuid,
    pub to: Uuid,
}

/// A state change, typed: drivers store `as_str()` of each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Task {
        from: Option<TaskState>,
        to: TaskState,
    },
    Step {
        step_uuid: Uuid,
        from: Option<StepState>,
        to: StepState,
    },
}

/// One audit row. A `from` of `None` means the entity was created. Its time is the database's
/// clock when it is written.
#[derive(Debug, Clone)]
pub struct NewTransition {
    pub task_uuid: Uuid,
    pub change: Change,
    pub worker_id: Option<String>,
    pub reason: Option<String>,
}

/// Claim up to `limit` ready steps (`enqueued`, or `waiting_for_retry` whose backoff has
/// elapsed) whose callable is one of `callables`, in claim order (the ready time less one
/// second per priority point, then the ready time; docs/priorities.md), under `claim_id`,
/// leased to `worker_id` for `lease_ms`. Never waits for rows another transaction is claiming.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub callables: Vec<String>,
    /// Callables (among `callables`) whose steps are claimed only once they carry a limit:
    /// the worker limits them itself (`createWorker({ limits })`) and gives them their limit
    /// first ([`Tx::set_step_limits`](crate::Tx::set_step_limits)).
    pub limited_only: Vec<String>,
    pub limit: usize,
    pub worker_id: String,
    pub lease_ms: i64,
    pub claim_id: Uuid,
}

/// A step now claimed (`in_progress`, `attempts` already counts this attempt), with what the
/// handler needs from its task.
#[derive(Debug, Clone)]
pub struct ClaimedRow {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub name: String,
    pub template_step_name: String,
    pub step_type: StepType,
    /// The state it was claimed from (`enqueued` or `waiting_for_retry`).
    pub from_state: StepState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub dep_total: i64,
    pub inputs: String,
    pub checkpoint: Option<String>,
    pub task_namespace: String,
    pub task_name: String,
    pub task_version: String,
    pub template_digest: String,
    pub context: String,
    /// The task creator's trace context (JSON text), if any.
    pub trace_context: Option<String>,
    /// Its task's metadata.
    pub task_metadata: TaskMetadata,
}

/// The steps whose results a claimed step receives: those of its task whose template step is one
/// of `dependencies` (its template step's declared dependencies).
#[derive(Debug, Clone)]
pub struct WantedDependencies<'a> {
    pub step_uuid: Uuid,
    pub dependencies: &'a [String],
}

/// The result of a completed dependency of `for_step`.
#[derive(Debug, Clone)]
pub struct DependencyResult {
    pub for_step: Uuid,
    pub step_uuid: Uuid,
    pub name: String,
    pub result: Option<String>,
}

/// A step whose current claim is `claim_id`, locked for recording its result, with its task
/// (locked too: tasks before steps, in uuid order, in every transaction that locks both).
#[derive(Debug, Clone)]
pub struct LockedStep {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub claim_id: Uuid,
    pub name: String,
    pub template_step_name: String,
    pub step_type: StepType,
    pub attempts: i64,
    pub max_attempts: i64,
    pub task_state: TaskState,
    pub task_completed_steps: i64,
    pub task_total_steps: i64,
    pub template_digest: String,
}

/// A step of a task, as planning decision and batch outcomes needs it.
#[derive(Debug, Clone)]
pub struct TaskStepState {
    pub task_uuid: Uuid,
    pub step_uuid: Uuid,
    pub name: String,
    pub step_type: StepType,
    pub state: StepState,
}

/// A new state for a step. The claim is cleared unless the step stays `in_progress`.
/// With `expect_claim`, the change applies only while the step is `in_progress` under that
/// claim (the changed steps are returned).
#[derive(Debug, Clone)]
pub struct StepChange {
    pub step_uuid: Uuid,
    pub to: StepState,
    pub expect_claim: Option<Uuid>,
    /// Set the result (JSON). `None` leaves it unchanged.
    pub result: Option<String>,
    /// Set the error (JSON); `Some(None)` clears it. `None` leaves it unchanged.
    pub error: Option<Option<String>>,
    /// Set the metadata (JSON). `None` leaves it unchanged.
    pub metadata: Option<String>,
    /// `enqueued`/`waiting_for_retry`: ready this many ms from now (database clock).
    pub ready_in_ms: Option<i64>,
    /// Give back the attempt the claim counted (a released claim is not an attempt).
    pub uncount_attempt: bool,
}

/// A dependent step that became ready because its last pending dependency completed.
#[derive(Debug, Clone)]
pub struct ReadyStep {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub handler_callable: String,
    /// `enqueued`, or `waiting_for_signal` for a signal step.
    pub state: StepState,
    pub name: String,
    /// One of the completed steps it was waiting for (when several completed in the same
    /// batch, any one of them).
    pub after: Uuid,
}

/// Counter changes of one task.
#[derive(Debug, Clone, Copy)]
pub struct TaskCounts {
    pub task_uuid: Uuid,
    pub completed_delta: i64,
    pub total_delta: i64,
}

/// A task state change; with `expect`, only if the task is in that state (the changed tasks
/// are returned). Terminal states set `completed_at`.
#[derive(Debug, Clone, Copy)]
pub struct TaskChange {
    pub task_uuid: Uuid,
    pub to: TaskState,
    pub expect: Option<TaskState>,
}

/// A step that was moved to `cancelled`, and the state it left.
#[derive(Debug, Clone)]
pub struct CancelledStep {
    pub task_uuid: Uuid,
    pub step_uuid: Uuid,
    pub from: StepState,
}

/// What is going on in a task: steps ready or running, steps waiting out a backoff, and when
/// the earliest of those is due (ms from now).
/// A step reopened by an operator's retry: `to` is `enqueued` when nothing it depends on is
/// still pending, else `pending`.
#[derive(Debug, Clone, Copy)]
pub struct ReopenedStep {
    pub task_uuid: Uuid,
    pub step_uuid: Uuid,
    pub from: StepState,
    pub to: StepState,
}

/// Which finished tasks to delete.
#[derive(Debug, Clone)]
pub struct PruneFilter {
    /// Only tasks in one of these (terminal) states.
    pub states: Vec<TaskState>,
    /// Only tasks that finished at least this many milliseconds ago.
    pub finished_ms_ago: i64,
    /// At most this many tasks.
    pub limit: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct TaskActivity {
    pub task_uuid: Uuid,
    pub active: i64,
    pub waiting: i64,
    pub next_due_in_ms: Option<i64>,
}

/// A claim whose lease ran out (its worker crashed or hung).
#[derive(Debug, Clone)]
pub struct ExpiredClaim {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub claim_id: Uuid,
    pub claimed_by: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// A claim and the task state it belongs to (for releasing claims).
#[derive(Debug, Clone)]
pub struct HeldClaim {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub claim_id: Uuid,
    pub task_state: TaskState,
}

/// A task as stored.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub task_uuid: Uuid,
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub state: TaskState,
    pub context: String,
    pub idempotency_key: Option<String>,
    pub total_steps: i64,
    pub completed_steps: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub completed_at: Option<Millis>,
    pub priority: i64,
    pub metadata: TaskMetadata,
    pub identity_hash: Option<String>,
}

/// A step as stored, for task views.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub step_uuid: Uuid,
    pub name: String,
    pub step_type: StepType,
    pub state: StepState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub result: Option<String>,
    pub error: Option<String>,
    pub metadata: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The names of the steps this one depends on (its incoming edges), in no set order.
    pub dependencies: Vec<String>,
    /// The name of the decision or batchable step whose outcome created this one.
    pub created_by: Option<String>,
    /// Its task's priority.
    pub priority: i64,
    /// The step's own inputs (JSON text): a batch worker's cursor range, `{}` for most steps.
    pub inputs: String,
    /// The checkpoint its last attempt saved (JSON text), if any.
    pub checkpoint: Option<String>,
}

/// An audit row as stored.
#[derive(Debug, Clone)]
pub struct TransitionRow {
    pub step_uuid: Option<Uuid>,
    pub step_name: Option<String>,
    pub from_state: Option<String>,
    pub to_state: String,
    pub at: Millis,
    pub worker_id: Option<String>,
    pub reason: Option<String>,
}

/// A filter for listing tasks, newest first.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub state: Option<TaskState>,
    /// Only tasks created at or after this time (ms since the epoch).
    pub created_after: Option<Millis>,
    /// Only tasks created before this time (ms since the epoch).
    pub created_before: Option<Millis>,
    pub correlation_id: Option<String>,
    pub parent_correlation_id: Option<String>,
    /// Only tasks with every one of these tags (distinct; empty: any).
    pub tags: Vec<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Something other processes should hear about once a transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Steps may have become claimable.
    StepsReady,
    TaskFinished(Uuid),
    TaskCancelled(Uuid),
    /// The task failed past a lifecycle limit: its running steps' handlers are aborted.
    TaskExpired(Uuid),
}

/// What a store hears from other processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A signal another process sent.
    Signal(Signal),
    /// The listening connection was re-established: signals may have been missed.
    Reconnected,
}

/// Work counters of a store since it was opened (for benchmarks and operators).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub statements: u64,
    pub transactions: u64,
}

/// How many step executions ended one way in one minute (for activity charts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// The minute's start, ms since the epoch.
    pub minute: Millis,
    /// The state the executions ended in: `complete`, `resolved_manually`, `error` or
    /// `waiting_for_retry`.
    pub to_state: String,
    pub count: i64,
}

/// The claimable steps nobody has claimed yet (the queue's backlog, for a gauge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadyBacklog {
    /// Steps ready now and not claimed.
    pub count: i64,
    /// How long the oldest of them has been ready, in ms (`None` when there is none).
    pub oldest_ms: Option<i64>,
}

/// A schedule's definition, as a worker registers it (`missed` is `latest`, `skip` or `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub namespace: String,
    pub task_name: String,
    pub version: String,
    /// JSON text (an object).
    pub context: String,
    pub missed: String,
}

/// A schedule as stored: its definition and the latest fire time it handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub schedule: ScheduleRecord,
    /// The latest fire time handled (a task created for it, or skipped); `None` before the
    /// first, when fire times count from `created_at`.
    pub last_fire_at: Option<Millis>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Set a schedule's `last_fire_at` to `to`, only while it is still `expect` (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleAdvance {
    pub name: String,
    pub expect: Option<Millis>,
    pub to: Millis,
}

/// A signal received for a step (by task and step name), applied or kept for when the step
/// starts waiting.
#[derive(Debug, Clone)]
pub struct SignalRow {
    pub task_uuid: Uuid,
    pub step_name: String,
    /// JSON text.
    pub payload: String,
    pub received_at: Millis,
    pub applied_at: Option<Millis>,
}

/// A signal to store. `applied`: it completes its step in the same transaction.
#[derive(Debug, Clone)]
pub struct NewSignal {
    pub task_uuid: Uuid,
    pub step_name: String,
    pub payload: String,
    pub applied: bool,
}

/// A signal step waiting past its deadline.
#[derive(Debug, Clone)]
pub struct DueSignalWait {
    pub task_uuid: Uuid,
    pub step_uuid: Uuid,
    pub name: String,
    pub template_step_name: String,
    pub template_digest: String,
}

/// A subtask step the child sweep acts on: `waiting_for_child` with no child yet (to create
/// one) or with a finished child (to settle the step), or `waiting_for_retry` with its backoff
/// over (to create the next child). With its task's template digest and the child's state.
#[derive(Debug, Clone)]
pub struct DueChildStep {
    pub task_uuid: Uuid,
    pub step_uuid: Uuid,
    pub name: String,
    pub template_step_name: String,
    pub template_digest: String,
    pub state: StepState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub child_task_uuid: Option<Uuid>,
    /// The child's state (`None`: no child, or it was deleted).
    pub child_state: Option<TaskState>,
}

/// A child task just created for a subtask step: the child records its parent task and step
/// (and is one deeper than its parent), and the step records the child and counts an attempt.
#[derive(Debug, Clone, Copy)]
pub struct ChildLink {
    pub child_task_uuid: Uuid,
    pub parent_task_uuid: Uuid,
    pub parent_step_uuid: Uuid,
}

/// A task's place among parents and children.
#[derive(Debug, Clone, Default)]
pub struct TaskFamily {
    pub parent_task_uuid: Option<Uuid>,
    pub parent_step_uuid: Option<Uuid>,
    /// The name of the parent step (`None` without a parent, or when it was deleted).
    pub parent_step_name: Option<String>,
    /// 0 for a task without a parent, its parent's depth + 1 for a child.
    pub depth: i64,
    /// The creator's trace context (JSON text), if any.
    pub trace_context: Option<String>,
    /// Every child task, oldest first.
    pub children: Vec<ChildTaskRow>,
}

/// One child of a task.
#[derive(Debug, Clone)]
pub struct ChildTaskRow {
    pub task_uuid: Uuid,
    pub parent_step_uuid: Uuid,
    pub state: TaskState,
    pub created_at: Millis,
}
