//! Every statement of the driver, one file each in `queries/` (the tests prepare each one
//! against a migrated schema).

pub(crate) const ADD_PENDING_DEPENDENCY: &str =
    include_str!("../queries/add_pending_dependency.sql");
pub(crate) const DUE_CHILD_STEPS: &str = include_str!("../queries/due_child_steps.sql");
pub(crate) const LINK_CHILDREN: &str = include_str!("../queries/link_children.sql");
pub(crate) const ORPHAN_CHILDREN: &str = include_str!("../queries/orphan_children.sql");
pub(crate) const TASK_FAMILY: &str = include_str!("../queries/task_family.sql");
pub(crate) const APPLY_SIGNALS: &str = include_str!("../queries/apply_signals.sql");
pub(crate) const LIFECYCLE_DUE: &str = include_str!("../queries/lifecycle_due.sql");
pub(crate) const DUE_SIGNAL_WAITS: &str = include_str!("../queries/due_signal_waits.sql");
pub(crate) const INSERT_SIGNAL: &str = include_str!("../queries/insert_signal.sql");
pub(crate) const SIGNALS_OF: &str = include_str!("../queries/signals_of.sql");
pub(crate) const ADVANCE_SCHEDULES: &str = include_str!("../queries/advance_schedules.sql");
pub(crate) const DEPENDENCY_RESULTS: &str = include_str!("../queries/dependency_results.sql");
pub(crate) const BEGIN: &str = include_str!("../queries/begin.sql");
pub(crate) const CANCEL_STEPS: &str = include_str!("../queries/cancel_steps.sql");
pub(crate) const CHANGE_STEPS: &str = include_str!("../queries/change_steps.sql");
pub(crate) const CHANGE_TASKS: &str = include_str!("../queries/change_tasks.sql");
pub(crate) const CLAIM: &str = include_str!("../queries/claim.sql");
pub(crate) const CLAIM_LIMITED: &str = include_str!("../queries/claim_limited.sql");
pub(crate) const LIMITED_KEYS: &str = include_str!("../queries/limited_keys.sql");
pub(crate) const UNLIMITED_READY: &str = include_str!("../queries/unlimited_ready.sql");
pub(crate) const SET_STEP_LIMITS: &str = include_str!("../queries/set_step_limits.sql");
pub(crate) const LOCK_LIMIT: &str = include_str!("../queries/lock_limit.sql");
pub(crate) const INSERT_LIMIT: &str = include_str!("../queries/insert_limit.sql");
pub(crate) const LIMIT_RUNNING: &str = include_str!("../queries/limit_running.sql");
pub(crate) const SPEND_TOKENS: &str = include_str!("../queries/spend_tokens.sql");
pub(crate) const COMMIT: &str = include_str!("../queries/commit.sql");
pub(crate) const COUNT_DOWN_DEPENDENTS: &str = include_str!("../queries/count_down_dependents.sql");
pub(crate) const COUNT_TASKS: &str = include_str!("../queries/count_tasks.sql");
pub(crate) const CREATE_SCHEMA: &str = include_str!("../queries/create_schema.sql");
pub(crate) const CURRENT_TEMPLATES: &str = include_str!("../queries/current_templates.sql");
pub(crate) const EXPIRED_CLAIMS: &str = include_str!("../queries/expired_claims.sql");
pub(crate) const HELD_CLAIMS: &str = include_str!("../queries/held_claims.sql");
pub(crate) const INSERT_EDGES: &str = include_str!("../queries/insert_edges.sql");
pub(crate) const INSERT_STEPS: &str = include_str!("../queries/insert_steps.sql");
pub(crate) const INSERT_TASKS: &str = include_str!("../queries/insert_tasks.sql");
pub(crate) const LEGACY_TABLES: &str = include_str!("../queries/legacy_tables.sql");
pub(crate) const LIST_TASKS: &str = include_str!("../queries/list_tasks.sql");
pub(crate) const MATCHING_TASKS: &str = include_str!("../queries/matching_tasks.sql");
pub(crate) const LIST_SCHEDULES: &str = include_str!("../queries/list_schedules.sql");
pub(crate) const DELETE_SCHEDULE: &str = include_str!("../queries/delete_schedule.sql");
pub(crate) const LOCK_CLAIMS: &str = include_str!("../queries/lock_claims.sql");
pub(crate) const LOCK_TASK: &str = include_str!("../queries/lock_task.sql");
pub(crate) const NEXT_READY_IN: &str = include_str!("../queries/next_ready_in.sql");
pub(crate) const NOW: &str = include_str!("../queries/now.sql");
pub(crate) const NOTIFY: &str = include_str!("../queries/notify.sql");
pub(crate) const PUT_SCHEDULES: &str = include_str!("../queries/put_schedules.sql");
pub(crate) const PUT_TEMPLATES: &str = include_str!("../queries/put_templates.sql");
pub(crate) const RENEW_LEASES: &str = include_str!("../queries/renew_leases.sql");
pub(crate) const RECORD_TRANSITIONS_AND_NOTIFY: &str =
    include_str!("../queries/record_transitions_and_notify.sql");
pub(crate) const ROLLBACK: &str = include_str!("../queries/rollback.sql");
pub(crate) const SCHEDULES: &str = include_str!("../queries/schedules.sql");
pub(crate) const SAVE_CHECKPOINT: &str = include_str!("../queries/save_checkpoint.sql");
pub(crate) const SCHEMA_EXISTS: &str = include_str!("../queries/schema_exists.sql");
pub(crate) const SESSION: &str = include_str!("../queries/session.sql");
pub(crate) const STEP_ACTIVITY: &str = include_str!("../queries/step_activity.sql");
pub(crate) const STEPS_OF: &str = include_str!("../queries/steps_of.sql");
pub(crate) const TASK: &str = include_str!("../queries/task.sql");
pub(crate) const TASK_ACTIVITY: &str = include_str!("../queries/task_activity.sql");
pub(crate) const REOPEN_STEPS: &str = include_str!("../queries/reopen_steps.sql");
pub(crate) const PRUNE_TASKS: &str = include_str!("../queries/prune_tasks.sql");
pub(crate) const TASK_STATE: &str = include_str!("../queries/task_state.sql");
pub(crate) const TASK_STEPS: &str = include_str!("../queries/task_steps.sql");
pub(crate) const TASKS: &str = include_str!("../queries/tasks.sql");
pub(crate) const TASKS_BY_IDEMPOTENCY_KEY: &str =
    include_str!("../queries/tasks_by_idempotency_key.sql");
pub(crate) const TASKS_BY_IDENTITY_HASH: &str =
    include_str!("../queries/tasks_by_identity_hash.sql");
pub(crate) const TEMPLATE_KEYS: &str = include_str!("../queries/template_keys.sql");
pub(crate) const TEMPLATE_SNAPSHOT: &str = include_str!("../queries/template_snapshot.sql");
pub(crate) const TRANSITIONS_OF: &str = include_str!("../queries/transitions_of.sql");
// metrics
pub(crate) const PING: &str = include_str!("../queries/ping.sql");
pub(crate) const READY_STEPS: &str = include_str!("../queries/ready_steps.sql");

/// Every query, for the test that prepares them all.
#[cfg(test)]
pub(crate) const ALL: &[(&str, &str)] = &[
    ("add_pending_dependency", ADD_PENDING_DEPENDENCY),
    ("apply_signals", APPLY_SIGNALS),
    ("due_signal_waits", DUE_SIGNAL_WAITS),
    ("lifecycle_due", LIFECYCLE_DUE),
    ("insert_signal", INSERT_SIGNAL),
    ("signals_of", SIGNALS_OF),
    ("due_child_steps", DUE_CHILD_STEPS),
    ("link_children", LINK_CHILDREN),
    ("orphan_children", ORPHAN_CHILDREN),
    ("task_family", TASK_FAMILY),
    ("advance_schedules", ADVANCE_SCHEDULES),
    ("list_schedules", LIST_SCHEDULES),
    ("delete_schedule", DELETE_SCHEDULE),
    ("now", NOW),
    ("put_schedules", PUT_SCHEDULES),
    ("schedules", SCHEDULES),
    ("dependency_results", DEPENDENCY_RESULTS),
    ("begin", BEGIN),
    ("cancel_steps", CANCEL_STEPS),
    ("change_steps", CHANGE_STEPS),
    ("change_tasks", CHANGE_TASKS),
    ("claim", CLAIM),
    ("commit", COMMIT),
    ("count_down_dependents", COUNT_DOWN_DEPENDENTS),
    ("count_tasks", COUNT_TASKS),
    ("create_schema", CREATE_SCHEMA),
    ("current_templates", CURRENT_TEMPLATES),
    ("expired_claims", EXPIRED_CLAIMS),
    ("held_claims", HELD_CLAIMS),
    ("insert_edges", INSERT_EDGES),
    ("insert_steps", INSERT_STEPS),
    ("insert_tasks", INSERT_TASKS),
    ("legacy_tables", LEGACY_TABLES),
    ("list_tasks", LIST_TASKS),
    ("matching_tasks", MATCHING_TASKS),
    ("lock_claims", LOCK_CLAIMS),
    ("lock_task", LOCK_TASK),
    ("next_ready_in", NEXT_READY_IN),
    ("claim_limited", CLAIM_LIMITED),
    ("limited_keys", LIMITED_KEYS),
    ("unlimited_ready", UNLIMITED_READY),
    ("set_step_limits", SET_STEP_LIMITS),
    ("lock_limit", LOCK_LIMIT),
    ("insert_limit", INSERT_LIMIT),
    ("limit_running", LIMIT_RUNNING),
    ("spend_tokens", SPEND_TOKENS),
    ("notify", NOTIFY),
    ("put_templates", PUT_TEMPLATES),
    ("renew_leases", RENEW_LEASES),
    (
        "record_transitions_and_notify",
        RECORD_TRANSITIONS_AND_NOTIFY,
    ),
    ("rollback", ROLLBACK),
    ("save_checkpoint", SAVE_CHECKPOINT),
    ("schema_exists", SCHEMA_EXISTS),
    ("session", SESSION),
    ("step_activity", STEP_ACTIVITY),
    ("steps_of", STEPS_OF),
    ("task", TASK),
    ("task_activity", TASK_ACTIVITY),
    ("reopen_steps", REOPEN_STEPS),
    ("prune_tasks", PRUNE_TASKS),
    ("task_state", TASK_STATE),
    ("task_steps", TASK_STEPS),
    ("tasks", TASKS),
    ("tasks_by_idempotency_key", TASKS_BY_IDEMPOTENCY_KEY),
    ("tasks_by_identity_hash", TASKS_BY_IDENTITY_HASH),
    ("template_keys", TEMPLATE_KEYS),
    ("template_snapshot", TEMPLATE_SNAPSHOT),
    ("transitions_of", TRANSITIONS_OF),
    // metrics
    ("ping", PING),
    ("ready_steps", READY_STEPS),
];
