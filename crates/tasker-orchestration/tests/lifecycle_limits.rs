//! Lifecycle limits (docs/lifecycle.md) on both backends: each limit fails an open task (state
//! and reason recorded, unfinished steps cancelled, running handlers told to abort), progress
//! restarts the clocks of the waiting limits, finished tasks and tasks without limits are never
//! touched, and several engines sweeping fail a task once.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tasker_orchestration::RecordOutcome;

backend_tests!(
    max_duration_fails_the_task_and_cancels_its_running_step,
    progress_restarts_the_steps_in_process_clock,
    a_task_waiting_to_retry_fails_past_its_retry_limit,
    a_task_waiting_on_a_signal_fails_past_its_dependencies_limit,
    finished_tasks_and_tasks_without_limits_are_left_alone,
    several_engines_sweeping_fail_a_task_once,
);

/// Open for at most 0.005 min (300 ms).
const SHORT_LIVED: &str = r#"
name: short_lived
namespace_name: test
version: 1.0.0
lifecycle:
  max_duration_minutes: 0.005
steps:
  - name: s1
    handler: { callable: Life.S1 }
  - name: s2
    handler: { callable: Life.S2 }
    depends_on: [s1]
"#;

/// At most 0.005 min (300 ms) without progress while a step is ready or running.
const STALLING: &str = r#"
name: stalling
namespace_name: test
version: 1.0.0
lifecycle:
  max_duration_minutes: 10
  max_steps_in_process_minutes: 0.005
steps:
  - name: s1
    handler: { callable: Stall.S1 }
  - name: s2
    handler: { callable: Stall.S2 }
    depends_on: [s1]
"#;

/// At most 0.005 min (300 ms) out a retry backoff; the backoff is a minute.
const RETRYING: &str = r#"
name: retrying
namespace_name: test
version: 1.0.0
lifecycle:
  max_waiting_for_retry_minutes: 0.005
  max_steps_in_process_minutes: 10
steps:
  - name: flaky
    handler: { callable: Retry.Flaky }
    retry: { max_attempts: 3, backoff: exponential, backoff_base_ms: 60000, max_backoff_ms: 60000 }
"#;

/// At most 0.005 min (300 ms) with every step waiting (here on a signal).
const WAITING: &str = r#"
name: waiting
namespace_name: test
version: 1.0.0
lifecycle:
  max_waiting_for_dependencies_minutes: 0.005
  max_steps_in_process_minutes: 10
steps:
  - name: approve
    type: signal
    timeout_seconds: 3600
  - name: order
    handler: { callable: Wait.Order }
    depends_on: [approve]
"#;

/// No limits.
const UNLIMITED: &str = r#"
name: unlimited
namespace_name: test
version: 1.0.0
steps:
  - name: s1
    handler: { callable: Free.S1 }
"#;

const ALL: &[(&str, &str)] = &[
    ("short_lived.yaml", SHORT_LIVED),
    ("stalling.yaml", STALLING),
    ("retrying.yaml", RETRYING),
    ("waiting.yaml", WAITING),
    ("unlimited.yaml", UNLIMITED),
];

async fn max_duration_fails_the_task_and_cancels_its_running_step(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "short_lived", json!({})).await;
    let s1 = claim_one(&engine, &["Life.S1"], "w1").await;
    let mut expirations = engine.subscribe_expirations();
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 0);

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let reason = last_task_reason(&t);
    assert!(
        reason.starts_with(
            "lifecycle.max_duration_minutes (0.005 min) exceeded: the task has been open for 0."
        ),
        "{reason}"
    );
    assert_eq!(step(&t, "s1").state, "cancelled");
    assert_eq!(step(&t, "s2").state, "cancelled");
    let last = *step_transitions(&t, "s1").last().unwrap();
    assert_eq!(moves(&[last]), ["in_progress->cancelled"]);
    assert_eq!(last.reason.as_deref(), Some(reason.as_str()));
    // Workers hear it (and abort s1's handler); its late result is stale.
    let heard = tokio::time::timeout(Duration::from_secs(2), expirations.recv())
        .await
        .expect("the expiration is heard")
        .expect("recv");
    assert_eq!(heard, task.task_uuid);
    assert!(matches!(
        record(&engine, success(&s1, json!({}))).await,
        RecordOutcome::Stale { .. }
    ));
    // Failed once.
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 0);

    // An operator's retry starts its time again: it fails only once it is past the limit anew.
    let t = engine.retry_task(&task.task_uuid).await.expect("retry");
    assert_eq!(t.state, "steps_in_process");
    assert_eq!(last_task_reason(&t), "retried by an operator");
    assert_eq!(step(&t, "s1").state, "enqueued");
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 0);
    assert_eq!(
        details(&engine, &task.task_uuid).await.state,
        "steps_in_process"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 1);
    assert_eq!(details(&engine, &task.task_uuid).await.state, "error");
}

async fn progress_restarts_the_steps_in_process_clock(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "stalling", json!({})).await;
    let s1 = claim_one(&engine, &["Stall.S1"], "w1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    record(&engine, success(&s1, json!({}))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 400 ms since the task started, but only 200 ms since s1 completed.
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let reason = last_task_reason(&t);
    assert!(
        reason.starts_with(
            "lifecycle.max_steps_in_process_minutes (0.005 min) exceeded: no progress for 0."
        ) && reason.ends_with(" s while its steps were ready or running"),
        "{reason}"
    );
    assert_eq!(step(&t, "s1").state, "complete");
    assert_eq!(step(&t, "s2").state, "cancelled");
}

async fn a_task_waiting_to_retry_fails_past_its_retry_limit(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "retrying", json!({})).await;
    let flaky = claim_one(&engine, &["Retry.Flaky"], "w1").await;
    record(&engine, failure(&flaky, true, None)).await;
    assert_eq!(
        details(&engine, &task.task_uuid).await.state,
        "waiting_for_retry"
    );
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let reason = last_task_reason(&t);
    assert!(
        reason.starts_with("lifecycle.max_waiting_for_retry_minutes (0.005 min) exceeded")
            && reason.ends_with(" s while it waited to retry a step"),
        "{reason}"
    );
    assert_eq!(step(&t, "flaky").state, "cancelled");
}

async fn a_task_waiting_on_a_signal_fails_past_its_dependencies_limit(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "waiting", json!({})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let reason = last_task_reason(&t);
    assert!(
        reason.starts_with("lifecycle.max_waiting_for_dependencies_minutes (0.005 min) exceeded")
            && reason.ends_with(
                " s while its steps waited (for dependencies, signals, child tasks or a delayed \
                 start)"
            ),
        "{reason}"
    );
    assert_eq!(step(&t, "approve").state, "cancelled");
    assert_eq!(step(&t, "order").state, "cancelled");
    // A signal now completes nothing.
    let sent = engine
        .send_signal(&task.task_uuid, "approve", "{}".to_string())
        .await
        .expect("a signal to a failed task is kept");
    assert!(!sent.applied);
    assert_eq!(sent.step_state.as_str(), "cancelled");
}

async fn finished_tasks_and_tasks_without_limits_are_left_alone(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let done = create(&engine, "short_lived", json!({})).await;
    for callable in ["Life.S1", "Life.S2"] {
        let s = claim_one(&engine, &[callable], "w1").await;
        record(&engine, success(&s, json!({}))).await;
    }
    assert_eq!(details(&engine, &done.task_uuid).await.state, "complete");
    let free = create(&engine, "unlimited", json!({})).await;
    let _running = claim_one(&engine, &["Free.S1"], "w1").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.enforce_lifecycles().await.expect("sweep"), 0);
    assert_eq!(details(&engine, &done.task_uuid).await.state, "complete");
    assert_eq!(
        details(&engine, &free.task_uuid).await.state,
        "steps_in_process"
    );
}

async fn several_engines_sweeping_fail_a_task_once(db: TestDb) {
    let dir = TempDir::new();
    let url = shared_url(&db, &dir);
    let shared = TestDb {
        url,
        backend: db.backend,
    };
    let a = engine(&shared, ALL).await;
    let b = engine(&shared, ALL).await;
    let tasks = [
        create(&a, "short_lived", json!({})).await,
        create(&a, "short_lived", json!({})).await,
        create(&a, "short_lived", json!({})).await,
    ];
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (x, y) = tokio::join!(a.enforce_lifecycles(), b.enforce_lifecycles());
    assert_eq!(x.expect("a sweeps") + y.expect("b sweeps"), tasks.len());
    for t in &tasks {
        let t = details(&b, &t.task_uuid).await;
        assert_eq!(t.state, "error");
        let errors = task_transitions(&t)
            .iter()
            .filter(|tr| tr.to_state == "error")
            .count();
        assert_eq!(errors, 1);
    }
}
