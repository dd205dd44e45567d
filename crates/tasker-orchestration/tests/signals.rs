//! Signal steps on both backends: waiting, signals sent before the step waits, timeouts both
//! ways, retries, cancellation, several engines sweeping at once, and every refusal.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tasker_domain::{StepState, TaskState};
use tasker_orchestration::{Engine, ErrorCode, RecordOutcome};

backend_tests!(
    a_signal_completes_the_waiting_step_and_its_dependents_run,
    a_signal_sent_before_the_step_waits_is_kept_and_applied_when_it_waits,
    a_signal_step_without_dependencies_waits_from_the_start,
    a_timeout_fails_the_step_and_its_task_and_a_retry_waits_again,
    a_timeout_with_on_timeout_completes_the_step_with_its_default,
    cancelling_a_task_cancels_its_waiting_step,
    several_engines_sweeping_apply_each_timeout_once,
    signals_are_refused_with_clear_errors,
);

/// `check` runs, then `approve` waits for a signal, then `order` runs.
const APPROVAL: &str = r#"
name: approval
namespace_name: test
version: 1.0.0
steps:
  - name: check
    handler: { callable: Approval.Check }
  - name: approve
    type: signal
    depends_on: [check]
  - name: order
    handler: { callable: Approval.Order }
    depends_on: [approve]
"#;

/// `approve` waits at once, at most 0.3 s, then fails.
const SHORT: &str = r#"
name: short
namespace_name: test
version: 1.0.0
steps:
  - name: approve
    type: signal
    timeout_seconds: 0.3
  - name: order
    handler: { callable: Short.Order }
    depends_on: [approve]
"#;

/// `approve` waits at most 0.3 s, then completes with `{ approved: false }`.
const DEFAULTED: &str = r#"
name: defaulted
namespace_name: test
version: 1.0.0
steps:
  - name: approve
    type: signal
    timeout_seconds: 0.3
    on_timeout: { result: { approved: false, by: timeout } }
  - name: order
    handler: { callable: Defaulted.Order }
    depends_on: [approve]
"#;

const ALL: &[(&str, &str)] = &[
    ("approval.yaml", APPROVAL),
    ("short.yaml", SHORT),
    ("defaulted.yaml", DEFAULTED),
];

/// A database several engines (processes) share: on SQLite a file instead of the in-memory
/// database each engine would have to itself.
fn shared(db: &TestDb) -> (TestDb, TempDir) {
    let dir = TempDir::new();
    let url = shared_url(db, &dir);
    (
        TestDb {
            backend: db.backend,
            url,
        },
        dir,
    )
}

async fn send(engine: &Engine, task: &str, step: &str, payload: Value) -> (bool, StepState) {
    let sent = engine
        .send_signal(task, step, payload.to_string())
        .await
        .unwrap_or_else(|e| panic!("send_signal {step}: {e}"));
    (sent.applied, sent.step_state)
}

fn dependency_results(c: &tasker_orchestration::ClaimedStep) -> Value {
    serde_json::from_str(c.dependencies.as_deref().unwrap_or("{}")).expect("dependencies JSON")
}

async fn run_check(engine: &Engine) {
    let check = claim_one(engine, &["Approval.Check"], "w1").await;
    assert!(matches!(
        record(engine, success(&check, json!({ "amount": 5000 }))).await,
        RecordOutcome::Recorded {
            state: StepState::Complete,
            ..
        }
    ));
}

async fn a_signal_completes_the_waiting_step_and_its_dependents_run(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "approval", json!({})).await;
    run_check(&engine).await;

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "steps_in_process");
    assert_eq!(step(&t, "approve").state, "waiting_for_signal");
    assert_eq!(step(&t, "order").state, "pending");
    assert_eq!(
        moves(&step_transitions(&t, "approve")),
        ["-->pending", "pending->waiting_for_signal"]
    );
    // Never claimable: no worker has a handler for it, and nothing else is ready.
    assert!(claim(&engine, &["Approval.Order", ""], 10, "w1")
        .await
        .is_empty());

    let sent = engine
        .send_signal(
            &task.task_uuid,
            "approve",
            json!({ "approved": true, "by": "manager@example.com" }).to_string(),
        )
        .await
        .expect("send_signal");
    assert!(sent.applied);
    assert_eq!(sent.step_state, StepState::Complete);
    assert_eq!(sent.task_state, TaskState::StepsInProcess);
    assert!(sent.received_at > 0);

    let t = details(&engine, &task.task_uuid).await;
    let approve = step(&t, "approve");
    assert_eq!(approve.state, "complete");
    assert_eq!(
        json_of(&approve.result),
        Some(json!({ "approved": true, "by": "manager@example.com" }))
    );
    let last = *step_transitions(&t, "approve").last().unwrap();
    assert_eq!(moves(&[last]), ["waiting_for_signal->complete"]);
    assert_eq!(last.reason.as_deref(), Some("completed by a signal"));
    assert_eq!(step(&t, "order").state, "enqueued");

    let order = claim_one(&engine, &["Approval.Order"], "w1").await;
    assert_eq!(
        dependency_results(&order)["approve"]["result"],
        json!({ "approved": true, "by": "manager@example.com" })
    );
    record(&engine, success(&order, json!({ "ordered": true }))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn a_signal_sent_before_the_step_waits_is_kept_and_applied_when_it_waits(db: TestDb) {
    let (db, _dir) = shared(&db);
    let first = engine(&db, ALL).await;
    let task = create(&first, "approval", json!({})).await;
    let sent = first
        .send_signal(&task.task_uuid, "approve", json!({ "ok": 1 }).to_string())
        .await
        .expect("send_signal");
    assert!(!sent.applied);
    assert_eq!(sent.step_state, StepState::Pending);
    assert_eq!(
        step(&details(&first, &task.task_uuid).await, "approve").state,
        "pending"
    );
    // Every process restarts: the signal is in the database.
    first.close().await;
    let engine = engine(&db, ALL).await;

    // A second signal is refused, naming when the first arrived.
    let e = engine
        .send_signal(&task.task_uuid, "approve", "{}".to_string())
        .await
        .expect_err("second signal");
    assert_eq!(e.code(), ErrorCode::InvalidState, "{e}");
    let received = tasker_orchestration::iso8601(sent.received_at);
    assert_eq!(
        e.to_string(),
        format!(
            "step 'approve' of task {} already received a signal (at {received}; it is kept \
             until the step waits): a signal step takes one signal",
            task.task_uuid
        )
    );

    // Its dependency completes: it waits and completes with the signal in that transaction.
    run_check(&engine).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "approve").state, "complete");
    assert_eq!(
        json_of(&step(&t, "approve").result),
        Some(json!({ "ok": 1 }))
    );
    assert_eq!(
        moves(&step_transitions(&t, "approve")),
        [
            "-->pending",
            "pending->waiting_for_signal",
            "waiting_for_signal->complete"
        ]
    );
    let last = *step_transitions(&t, "approve").last().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some(
            format!("completed by the signal received at {received} (before the step waited)")
                .as_str()
        )
    );
    let order = claim_one(&engine, &["Approval.Order"], "w1").await;
    assert_eq!(
        dependency_results(&order)["approve"]["result"],
        json!({ "ok": 1 })
    );
    record(&engine, success(&order, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");

    // Completed by its signal: another one is refused.
    let e = engine
        .send_signal(&task.task_uuid, "approve", "{}".to_string())
        .await
        .expect_err("signal to a completed task");
    assert!(
        e.to_string().contains("already received a signal")
            && e.to_string().contains("it is complete"),
        "{e}"
    );
}

async fn a_signal_step_without_dependencies_waits_from_the_start(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "short", json!({})).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "approve").state, "waiting_for_signal");
    let last = *step_transitions(&t, "approve").last().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some("no dependencies; waiting for a signal (for 0.3 s, then it fails)")
    );
    assert_eq!(
        send(&engine, &task.task_uuid, "approve", json!({ "go": true })).await,
        (true, StepState::Complete)
    );
    let order = claim_one(&engine, &["Short.Order"], "w1").await;
    record(&engine, success(&order, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
    // Past its (former) deadline: nothing to settle.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.expire_signal_waits("w1").await.expect("sweep"), 0);
}

async fn a_timeout_fails_the_step_and_its_task_and_a_retry_waits_again(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "short", json!({})).await;
    assert_eq!(engine.expire_signal_waits("w1").await.expect("sweep"), 0);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        engine.expire_signal_waits("sweeper").await.expect("sweep"),
        1
    );

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let approve = step(&t, "approve");
    assert_eq!(approve.state, "error");
    let err = approve.error.clone().expect("error");
    assert_eq!(err["error_type"], json!("signal_timeout"));
    assert_eq!(err["message"], json!("no signal received within 0.3 s"));
    let last = *step_transitions(&t, "approve").last().unwrap();
    assert_eq!(moves(&[last]), ["waiting_for_signal->error"]);
    assert_eq!(last.worker_id.as_deref(), Some("sweeper"));
    assert_eq!(step(&t, "order").state, "cancelled");
    assert_eq!(
        last_task_reason(&t),
        "step 'approve' failed: no signal received within 0.3 s"
    );

    // Retrying the task: the step waits again, with a new deadline.
    let t = engine.retry_task(&task.task_uuid).await.expect("retry");
    assert_eq!(t.state, "steps_in_process");
    assert_eq!(step(&t, "approve").state, "waiting_for_signal");
    assert_eq!(
        send(&engine, &task.task_uuid, "approve", json!({ "late": true })).await,
        (true, StepState::Complete)
    );
    let order = claim_one(&engine, &["Short.Order"], "w1").await;
    record(&engine, success(&order, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn a_timeout_with_on_timeout_completes_the_step_with_its_default(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "defaulted", json!({})).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_transitions(&t, "approve").last().unwrap().reason.as_deref(),
        Some("no dependencies; waiting for a signal (for 0.3 s, then it completes with its on_timeout result)")
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(engine.expire_signal_waits("w1").await.expect("sweep"), 1);
    let t = details(&engine, &task.task_uuid).await;
    let approve = step(&t, "approve");
    assert_eq!(approve.state, "complete");
    assert_eq!(
        json_of(&approve.result),
        Some(json!({ "approved": false, "by": "timeout" }))
    );
    let last = *step_transitions(&t, "approve").last().unwrap();
    assert_eq!(
        last.reason.as_deref(),
        Some("no signal within 0.3 s: completed with its on_timeout result")
    );
    let order = claim_one(&engine, &["Defaulted.Order"], "w1").await;
    assert_eq!(
        dependency_results(&order)["approve"]["result"],
        json!({ "approved": false, "by": "timeout" })
    );
    // A signal after the default is refused.
    let e = engine
        .send_signal(&task.task_uuid, "approve", "{}".to_string())
        .await
        .expect_err("too late");
    assert_eq!(e.code(), ErrorCode::InvalidState);
    assert_eq!(
        e.to_string(),
        format!(
            "step 'approve' of task {} is already complete: no signal arrived within its \
             timeout and it completed with its on_timeout result",
            task.task_uuid
        )
    );
    record(&engine, success(&order, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn cancelling_a_task_cancels_its_waiting_step(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "short", json!({})).await;
    let t = engine
        .cancel_task(&task.task_uuid, None)
        .await
        .expect("cancel");
    assert_eq!(step(&t, "approve").state, "cancelled");
    let last = *step_transitions(&t, "approve").last().unwrap();
    assert_eq!(moves(&[last]), ["waiting_for_signal->cancelled"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.expire_signal_waits("w1").await.expect("sweep"), 0);
    let e = engine
        .send_signal(&task.task_uuid, "approve", "{}".to_string())
        .await
        .expect_err("cancelled");
    assert_eq!(
        e.to_string(),
        format!(
            "task {} is cancelled: its steps take no more signals",
            task.task_uuid
        )
    );
}

async fn several_engines_sweeping_apply_each_timeout_once(db: TestDb) {
    let (db, _dir) = shared(&db);
    let engines = [
        engine(&db, ALL).await,
        engine(&db, ALL).await,
        engine(&db, ALL).await,
    ];
    let mut tasks = Vec::new();
    for _ in 0..5 {
        tasks.push(create(&engines[0], "defaulted", json!({})).await);
        tasks.push(create(&engines[0], "short", json!({})).await);
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    let sweeps = engines.iter().enumerate().map(|(i, e)| {
        let e = e.clone();
        tokio::spawn(async move { e.expire_signal_waits(&format!("w{i}")).await })
    });
    let mut settled = 0;
    for s in sweeps {
        settled += s.await.expect("join").expect("sweep");
    }
    assert_eq!(settled, 10, "each of the 10 timeouts applied exactly once");
    for t in &tasks {
        let t = details(&engines[0], &t.task_uuid).await;
        let timeouts = step_transitions(&t, "approve")
            .into_iter()
            .filter(|tr| tr.from_state.as_deref() == Some("waiting_for_signal"))
            .count();
        assert_eq!(timeouts, 1);
        let expected = if t.name == "short" {
            "error"
        } else {
            "complete"
        };
        assert_eq!(step(&t, "approve").state, expected);
    }
    // Defaulted tasks' orders are ready, once each.
    let orders = claim(&engines[1], &["Defaulted.Order"], 50, "w1").await;
    assert_eq!(orders.len(), 5);
}

async fn signals_are_refused_with_clear_errors(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "approval", json!({})).await;
    let id = &task.task_uuid;
    let err = |e: tasker_orchestration::EngineError| (e.code(), e.to_string());

    let missing = "0190f0e4-0000-7000-8000-000000000000";
    assert_eq!(
        err(engine
            .send_signal(missing, "approve", "{}".into())
            .await
            .unwrap_err()),
        (
            ErrorCode::TaskNotFound,
            format!("task {missing} does not exist")
        )
    );
    assert_eq!(
        err(engine
            .send_signal("not-a-uuid", "approve", "{}".into())
            .await
            .unwrap_err()),
        (
            ErrorCode::TaskNotFound,
            "task not-a-uuid does not exist".to_string()
        )
    );
    assert_eq!(
        err(engine
            .send_signal(id, "aprove", "{}".into())
            .await
            .unwrap_err()),
        (
            ErrorCode::InvalidArgument,
            format!(
                "task {id} has no step 'aprove' (its steps: approve, check, order; signal \
                 steps: approve)"
            )
        )
    );
    assert_eq!(
        err(engine
            .send_signal(id, "check", "{}".into())
            .await
            .unwrap_err()),
        (
            ErrorCode::InvalidArgument,
            format!(
                "step 'check' of task {id} is a standard step, not a signal step: only a step \
                 of type signal takes signals"
            )
        )
    );
    assert_eq!(
        err(engine
            .send_signal(id, "approve", "[1]".into())
            .await
            .unwrap_err()),
        (
            ErrorCode::InvalidArgument,
            "the signal payload for step 'approve' must be a JSON object, got an array".to_string()
        )
    );
    assert_eq!(
        err(engine
            .send_signal(id, "approve", "{nope".into())
            .await
            .unwrap_err())
        .0,
        ErrorCode::InvalidArgument
    );
    let big = json!({ "blob": "x".repeat(17 * 1024 * 1024) }).to_string();
    let (code, message) = err(engine.send_signal(id, "approve", big).await.unwrap_err());
    assert_eq!(code, ErrorCode::InvalidArgument);
    assert!(
        message.starts_with("the signal payload for step 'approve' is 17825")
            && message.ends_with("bytes (maxResultBytes)"),
        "{message}"
    );
    // Refusals store nothing: a good signal is still accepted.
    assert_eq!(
        send(&engine, id, "approve", json!({})).await,
        (false, StepState::Pending)
    );
    // A waiting signal step cannot be resolved by hand: it takes a signal.
    let t2 = create(&engine, "short", json!({})).await;
    let e = engine
        .resolve_step(&t2.task_uuid, "approve", "{}".into(), None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "step 'approve' is waiting for a signal: send it one (client.sendSignal or `tasker \
         steps signal`) to complete it"
    );
}
