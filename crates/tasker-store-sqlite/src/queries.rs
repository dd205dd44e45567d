//! Every statement of the driver, one file each in `queries/` (checked against a migrated
//! database by the tests: each one must prepare).

pub(crate) const APPLY_SIGNAL: &str = include_str!("../queries/apply_signal.sql");
pub(crate) const LIFECYCLE_DUE: &str = include_str!("../queries/lifecycle_due.sql");
pub(crate) const DUE_SIGNAL_WAITS: &str = include_str!("../queries/due_signal_waits.sql");
pub(crate) const INSERT_SIGNAL: &str = include_str!("../queries/insert_signal.sql");
pub(crate) const SIGNALS_OF: &str = include_str!("../queries/signals_of.sql");
pub(crate) const ADVANCE_SCHEDULE: &str = include_str!("../queries/advance_schedule.sql");
pub(crate) const ADD_PENDING_DEPENDENCY: &str =
    include_str!("../queries/add_pending_dependency.sql");
pub(crate) const DEPENDENCY_RESULTS: &str = include_str!("../queries/dependency_results.sql");
pub(crate) const CANCEL_STEP: &str = include_str!("../queries/cancel_step.sql");
pub(crate) const CHANGE_STEP: &str = include_str!("../queries/change_step.sql");
pub(crate) const CHANGE_TASK: &str = include_str!("../queries/change_task.sql");
pub(crate) const CLAIM_STEP: &str = include_str!("../queries/claim_step.sql");
pub(crate) const CLAIMABLE: &str = include_str!("../queries/claimable.sql");
pub(crate) const CLAIMABLE_LIMITED: &str = include_str!("../queries/claimable_limited.sql");
pub(crate) const LIMITED_KEYS: &str = include_str!("../queries/limited_keys.sql");
pub(crate) const LOCK_LIMIT: &str = include_str!("../queries/lock_limit.sql");
pub(crate) const LIMIT_RUNNING: &str = include_str!("../queries/limit_running.sql");
pub(crate) const SPEND_TOKENS: &str = include_str!("../queries/spend_tokens.sql");
pub(crate) const UNLIMITED_READY: &str = include_str!("../queries/unlimited_ready.sql");
pub(crate) const SET_STEP_LIMIT: &str = include_str!("../queries/set_step_limit.sql");
pub(crate) const COUNT_DOWN_DEPENDENTS: &str = include_str!("../queries/count_down_dependents.sql");
pub(crate) const COUNT_TASK: &str = include_str!("../queries/count_task.sql");
pub(crate) const CURRENT_TEMPLATE: &str = include_str!("../queries/current_template.sql");
pub(crate) const EXPIRED_CLAIMS: &str = include_str!("../queries/expired_claims.sql");
pub(crate) const HELD_CLAIM: &str = include_str!("../queries/held_claim.sql");
pub(crate) const INSERT_EDGE: &str = include_str!("../queries/insert_edge.sql");
pub(crate) const INSERT_STEP: &str = include_str!("../queries/insert_step.sql");
pub(crate) const INSERT_TASK: &str = include_str!("../queries/insert_task.sql");
pub(crate) const INSERT_TRANSITIONS: &str = include_str!("../queries/insert_transitions.sql");
pub(crate) const LIST_TASKS: &str = include_str!("../queries/list_tasks.sql");
pub(crate) const MATCHING_TASKS: &str = include_str!("../queries/matching_tasks.sql");
pub(crate) const LIST_SCHEDULES: &str = include_str!("../queries/list_schedules.sql");
pub(crate) const DELETE_SCHEDULE: &str = include_str!("../queries/delete_schedule.sql");
pub(crate) const LOCK_CLAIMS: &str = include_str!("../queries/lock_claims.sql");
pub(crate) const NEXT_READY_IN: &str = include_str!("../queries/next_ready_in.sql");
pub(crate) const NOW: &str = include_str!("../queries/now.sql");
pub(crate) const OPEN_STEPS: &str = include_str!("../queries/open_steps.sql");
pub(crate) const PRUNE_TASKS: &str = include_str!("../queries/prune_tasks.sql");
pub(crate) const PUT_SCHEDULE: &str = include_str!("../queries/put_schedule.sql");
pub(crate) const PUT_SNAPSHOT: &str = include_str!("../queries/put_snapshot.sql");
pub(crate) const PUT_TEMPLATE: &str = include_str!("../queries/put_template.sql");
pub(crate) const REOPEN_STEP: &str = include_str!("../queries/reopen_step.sql");
pub(crate) const RENEW_LEASE: &str = include_str!("../queries/renew_lease.sql");
pub(crate) const SAVE_CHECKPOINT: &str = include_str!("../queries/save_checkpoint.sql");
pub(crate) const SCHEDULE: &str = include_str!("../queries/schedule.sql");
pub(crate) const STEP_STATE: &str = include_str!("../queries/step_state.sql");
pub(crate) const STEP_ACTIVITY: &str = include_str!("../queries/step_activity.sql");
pub(crate) const STEPS_OF: &str = include_str!("../queries/steps_of.sql");
pub(crate) const TASK: &str = include_str!("../queries/task.sql");
pub(crate) const TASK_ACTIVITY: &str = include_str!("../queries/task_activity.sql");
pub(crate) const TASK_BY_IDEMPOTENCY_KEY: &str =
    include_str!("../queries/task_by_idempotency_key.sql");
pub(crate) const TASK_BY_IDENTITY_HASH: &str = include_str!("../queries/task_by_identity_hash.sql");
pub(crate) const INSERT_TASK_TAG: &str = include_str!("../queries/insert_task_tag.sql");
pub(crate) const TASK_STATE: &str = include_str!("../queries/task_state.sql");
pub(crate) const TASK_STEPS: &str = include_str!("../queries/task_steps.sql");
pub(crate) const TEMPLATE_KEYS: &str = include_str!("../queries/template_keys.sql");
pub(crate) const TEMPLATE_SNAPSHOT: &str = include_str!("../queries/template_snapshot.sql");
pub(crate) const TRANSITIONS_OF: &str = include_str!("../queries/transitions_of.sql");
// metrics
pub(crate) const DUE_CHILD_STEPS: &str = include_str!("../queries/due_child_steps.sql");
pub(crate) const LINK_CHILD_TASK: &str = include_str!("../queries/link_child_task.sql");
pub(crate) const LINK_CHILD_STEP: &str = include_str!("../queries/link_child_step.sql");
pub(crate) const ORPHAN_CHILDREN: &str = include_str!("../queries/orphan_children.sql");
pub(crate) const TASK_PARENT: &str = include_str!("../queries/task_parent.sql");
pub(crate) const TASK_CHILDREN: &str = include_str!("../queries/task_children.sql");
pub(crate) const PING: &str = include_str!("../queries/ping.sql");
pub(crate) const READY_STEPS: &str = include_str!("../queries/ready_steps.sql");

/// A multi-row statement: `/*rows*/` in `sql` becomes `rows` groups of `columns` placeholders.
pub(crate) fn rows(sql: &str, columns: usize, rows: usize) -> String {
    let group = format!("({})", vec!["?"; columns].join(", "));
    sql.replace("/*rows*/", &vec![group; rows].join(", "))
}

/// Every query, for the test that prepares them all.
#[cfg(test)]
pub(crate) const ALL: &[(&str, &str)] = &[
    ("add_pending_dependency", ADD_PENDING_DEPENDENCY),
    ("apply_signal", APPLY_SIGNAL),
    ("due_signal_waits", DUE_SIGNAL_WAITS),
    ("lifecycle_due", LIFECYCLE_DUE),
    ("insert_signal", INSERT_SIGNAL),
    ("signals_of", SIGNALS_OF),
    ("due_child_steps", DUE_CHILD_STEPS),
    ("link_child_task", LINK_CHILD_TASK),
    ("link_child_step", LINK_CHILD_STEP),
    ("orphan_children", ORPHAN_CHILDREN),
    ("task_parent", TASK_PARENT),
    ("task_children", TASK_CHILDREN),
    ("advance_schedule", ADVANCE_SCHEDULE),
    ("list_schedules", LIST_SCHEDULES),
    ("delete_schedule", DELETE_SCHEDULE),
    ("put_schedule", PUT_SCHEDULE),
    ("schedule", SCHEDULE),
    ("dependency_results", DEPENDENCY_RESULTS),
    ("cancel_step", CANCEL_STEP),
    ("change_step", CHANGE_STEP),
    ("change_task", CHANGE_TASK),
    ("claim_step", CLAIM_STEP),
    ("claimable", CLAIMABLE),
    ("claimable_limited", CLAIMABLE_LIMITED),
    ("limited_keys", LIMITED_KEYS),
    ("unlimited_ready", UNLIMITED_READY),
    ("set_step_limit", SET_STEP_LIMIT),
    ("lock_limit", LOCK_LIMIT),
    ("limit_running", LIMIT_RUNNING),
    ("spend_tokens", SPEND_TOKENS),
    ("count_down_dependents", COUNT_DOWN_DEPENDENTS),
    ("count_task", COUNT_TASK),
    ("current_template", CURRENT_TEMPLATE),
    ("expired_claims", EXPIRED_CLAIMS),
    ("held_claim", HELD_CLAIM),
    ("insert_edge", INSERT_EDGE),
    ("insert_step", INSERT_STEP),
    ("insert_task", INSERT_TASK),
    ("insert_transitions", INSERT_TRANSITIONS),
    ("list_tasks", LIST_TASKS),
    ("matching_tasks", MATCHING_TASKS),
    ("lock_claims", LOCK_CLAIMS),
    ("next_ready_in", NEXT_READY_IN),
    ("now", NOW),
    ("open_steps", OPEN_STEPS),
    ("prune_tasks", PRUNE_TASKS),
    ("put_snapshot", PUT_SNAPSHOT),
    ("put_template", PUT_TEMPLATE),
    ("reopen_step", REOPEN_STEP),
    ("renew_lease", RENEW_LEASE),
    ("save_checkpoint", SAVE_CHECKPOINT),
    ("step_state", STEP_STATE),
    ("step_activity", STEP_ACTIVITY),
    ("steps_of", STEPS_OF),
    ("task", TASK),
    ("task_activity", TASK_ACTIVITY),
    ("task_by_idempotency_key", TASK_BY_IDEMPOTENCY_KEY),
    ("task_by_identity_hash", TASK_BY_IDENTITY_HASH),
    ("insert_task_tag", INSERT_TASK_TAG),
    ("task_state", TASK_STATE),
    ("task_steps", TASK_STEPS),
    ("template_keys", TEMPLATE_KEYS),
    ("template_snapshot", TEMPLATE_SNAPSHOT),
    ("transitions_of", TRANSITIONS_OF),
    // metrics
    ("ping", PING),
    ("ready_steps", READY_STEPS),
];
