//! The worker core driven as the handler runtime drives it: `poll()` for events, `complete()`
//! with results. Runs against both backends.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tasker_orchestration::ErrorCode;
use tasker_worker::{Worker, WorkerConfig};

backend_tests!(
    workflow_completes_through_poll_and_complete,
    concurrency_limit_is_respected,
    timed_out_step_is_aborted_and_retried,
    failed_step_is_redispatched_when_its_backoff_ends,
    leases_are_renewed_while_a_step_runs,
    cancelled_task_aborts_its_in_flight_step,
    shutdown_drains_within_the_grace_period,
    shutdown_aborts_and_releases_in_flight_steps,
    unregistered_handlers_are_listed,
    invalid_templates_and_settings_are_rejected,
);

const FIVE: &str = r#"
name: five
namespace_name: test
version: 1.0.0
steps:
  - { name: p1, handler: { callable: Five.Run } }
  - { name: p2, handler: { callable: Five.Run } }
  - { name: p3, handler: { callable: Five.Run } }
  - { name: p4, handler: { callable: Five.Run } }
  - { name: p5, handler: { callable: Five.Run } }
"#;

/// A step with a 200 ms time limit, retried at once.
const SLOW: &str = r#"
name: slow
namespace_name: test
version: 1.0.0
steps:
  - name: slow
    handler: { callable: Slow.Run }
    timeout_seconds: 0.2
    retry: { max_attempts: 3, backoff_base_ms: 0 }
"#;

/// A step retried 300 ms (linear, before jitter) after a failure.
const RETRY: &str = r#"
name: retry
namespace_name: test
version: 1.0.0
steps:
  - name: flaky
    handler: { callable: Retry.Flaky }
    retry: { max_attempts: 2, backoff: linear, backoff_base_ms: 300, max_backoff_ms: 1000 }
"#;

async fn workflow_completes_through_poll_and_complete(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("diamond.yaml", DIAMOND)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), DIAMOND_CALLABLES, 4)).await;
    let task = create(&engine, "diamond", json!({ "x": 7 })).await;

    let mut order = Vec::new();
    let mut join_payload = None;
    while order.len() < 4 {
        let s = rt.step(5 * SECOND).await;
        assert_eq!(s.task_uuid, task.task_uuid);
        assert_eq!(s.payload["task"]["context"], json!({ "x": 7 }));
        assert_eq!(s.attempts(), 0);
        let name = s.name().to_string();
        if name == "join" {
            join_payload = Some(s.payload.clone());
        }
        worker.complete(vec![s.ok(json!({ "by": name }))]);
        order.push(name);
    }
    assert_eq!(order[0], "start");
    let mut middle = order[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["left", "right"]);
    assert_eq!(order[3], "join");
    // Its dependencies' results; start, before both, is an ancestor, not a dependency.
    let deps = &join_payload.unwrap()["dependency_results"];
    for dep in ["left", "right"] {
        assert_eq!(deps[dep]["result"], json!({ "by": dep }), "{dep}");
    }
    assert_eq!(deps.get("start"), None);

    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    for name in ["start", "left", "right", "join"] {
        let s = step(&done, name);
        assert_eq!((s.state.as_str(), s.attempts), ("complete", 1));
        assert_eq!(json_of(&s.result), Some(json!({ "by": name })));
        let claimed = step_transitions(&done, name)
            .into_iter()
            .find(|t| t.to_state == "in_progress")
            .unwrap();
        assert_eq!(claimed.worker_id.as_deref(), Some("w1"));
    }
    assert_eq!(worker.in_flight(), 0);
    worker.shutdown(SECOND).await.unwrap();
    rt.closed_within(SECOND).await;
}

async fn concurrency_limit_is_respected(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("five.yaml", FIVE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Five.Run"], 2)).await;
    let task = create(&engine, "five", json!({})).await;

    let mut outstanding: Vec<Dispatched> = Vec::new();
    let mut seen = HashSet::new();
    let mut max_outstanding = 0;
    let mut completed = 0;
    while completed < 5 {
        // Take what the worker hands out until it stops: never more than two at a time.
        while outstanding.len() < 2 && seen.len() < 5 {
            let s = rt.step(3 * SECOND).await;
            assert!(seen.insert(s.step_uuid.clone()), "dispatched twice");
            outstanding.push(s);
        }
        max_outstanding = max_outstanding.max(outstanding.len());
        rt.quiet_for(Duration::from_millis(250)).await;
        assert!(worker.in_flight() <= 2);
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(count_in(&t, "in_progress"), outstanding.len());
        assert_eq!(count_in(&t, "enqueued"), 5 - seen.len());

        let s = outstanding.remove(0);
        worker.complete(vec![s.ok(json!(s.name()))]);
        completed += 1;
    }
    assert_eq!(max_outstanding, 2);
    assert_eq!(seen.len(), 5);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    worker.shutdown(SECOND).await.unwrap();
}

async fn timed_out_step_is_aborted_and_retried(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("slow.yaml", SLOW)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Slow.Run"], 1)).await;
    let task = create(&engine, "slow", json!({})).await;

    let first = rt.step(5 * SECOND).await;
    let dispatched = Instant::now();
    assert_eq!(first.task_uuid, task.task_uuid);
    assert_eq!(first.attempts(), 0);
    assert_eq!(first.payload["step"]["timeout_ms"], json!(200));

    // Never completed: aborted when its time is up.
    let reason = rt.abort(&first, 3 * SECOND).await;
    let waited = dispatched.elapsed();
    assert!(reason.contains("timed out"), "{reason}");
    assert_eq!(
        reason,
        "step 'slow' timed out after 200 ms (attempt 1 of 3)"
    );
    assert!(
        waited >= Duration::from_millis(180) && waited < Duration::from_millis(1500),
        "aborted after {waited:?}"
    );
    // The operator is told, with the step, its task and the attempt.
    let told: Vec<_> = rt
        .logs
        .iter()
        .filter(|l| l.message.contains("timed out"))
        .collect();
    assert_eq!(told.len(), 1, "{:?}", rt.logs);
    assert_eq!(told[0].level, tasker_worker::LogLevel::Warn);
    assert_eq!(
        told[0].message,
        format!(
            "worker w1: step 'slow' timed out after 200 ms (attempt 1 of 3) in task {}; its \
             handler was aborted",
            task.task_uuid
        )
    );
    assert_eq!(
        serde_json::Value::Object(told[0].fields.clone()),
        json!({
            "workerId": "w1",
            "taskUuid": task.task_uuid,
            "stepUuid": first.step_uuid,
            "step": "slow",
            "attempt": 1,
        })
    );

    // The aborted handler keeps the only slot until it settles: nothing else is dispatched.
    rt.quiet_for(Duration::from_millis(400)).await;
    assert_eq!(worker.stats().in_flight, 0);

    // Its late result is ignored, frees the slot, and the step runs again as the next attempt.
    worker.complete(vec![first.ok(json!("late"))]);
    let second = rt.step(3 * SECOND).await;
    assert_eq!(second.step_uuid, first.step_uuid);
    assert_ne!(second.claim_id, first.claim_id);
    assert_eq!(second.attempts(), 1, "attempts incremented in the payload");
    worker.complete(vec![second.ok(json!("in time"))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    let s = step(&done, "slow");
    assert_eq!(
        (s.attempts, json_of(&s.result)),
        (2, Some(json!("in time")))
    );
    let timed_out = step_transitions(&done, "slow")
        .into_iter()
        .find(|t| t.to_state == "waiting_for_retry")
        .expect("the timeout failed the attempt");
    assert_eq!(timed_out.from_state.as_deref(), Some("in_progress"));
    assert!(
        timed_out
            .reason
            .as_deref()
            .unwrap()
            .contains("(timeout: step 'slow' timed out after 200 ms"),
        "{:?}",
        timed_out.reason
    );
    worker.shutdown(SECOND).await.unwrap();
}

async fn failed_step_is_redispatched_when_its_backoff_ends(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("retry.yaml", RETRY), ("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(
        &engine,
        config("w1", dir.path(), &["Retry.Flaky", "Single.Only"], 2),
    )
    .await;
    let task = create(&engine, "retry", json!({})).await;

    let first = rt.step(5 * SECOND).await;
    assert_eq!(first.attempts(), 0);
    let failed_at = Instant::now();
    worker.complete(vec![first.failed(true)]);
    // While the retry waits, other work arrives and is dispatched (and kept running).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let other_task = create(&engine, "single", json!({})).await;
    let other = rt.step(3 * SECOND).await;
    assert_eq!(other.task_uuid, other_task.task_uuid);

    // The retry is dispatched when its backoff (255..=300 ms) ends, not at the next
    // fallback poll (2 s).
    let second = rt.step(3 * SECOND).await;
    let waited = failed_at.elapsed();
    assert_eq!(second.step_uuid, first.step_uuid);
    assert_eq!(second.attempts(), 1);
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1200),
        "retry dispatched after {waited:?}"
    );

    // The last attempt fails too: the task fails.
    worker.complete(vec![second.failed(true), other.ok(json!(1))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "error");
    let s = step(&done, "flaky");
    assert_eq!((s.state.as_str(), s.attempts), ("error", 2));
    assert_eq!(
        s.error.as_ref().unwrap()["message"],
        json!("handler failed on attempt 2")
    );
    rt.quiet_for(Duration::from_millis(100)).await;
    worker.shutdown(SECOND).await.unwrap();
}

async fn leases_are_renewed_while_a_step_runs(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let cfg = WorkerConfig {
        lease_ms: 300,
        ..config("w1", dir.path(), &["Single.Only"], 1)
    };
    let (worker, mut rt) = start(&engine, cfg).await;
    let task = create(&engine, "single", json!({})).await;
    let s = rt.step(5 * SECOND).await;

    // Three lease lengths later the claim is still this worker's.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 0);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "only").state, "in_progress");
    assert_eq!(step(&t, "only").attempts, 1);
    worker.complete(vec![s.ok(json!("slow but alive"))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    assert_eq!(step(&done, "only").attempts, 1);
    rt.quiet_for(Duration::from_millis(50)).await;
    worker.shutdown(SECOND).await.unwrap();
}

async fn cancelled_task_aborts_its_in_flight_step(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Single.Only"], 1)).await;
    let doomed = create(&engine, "single", json!({})).await;
    let running = rt.step(5 * SECOND).await;
    assert_eq!(running.task_uuid, doomed.task_uuid);
    let waiting = create(&engine, "single", json!({})).await;
    rt.quiet_for(Duration::from_millis(150)).await; // concurrency 1: the second waits

    engine.cancel_task(&doomed.task_uuid, None).await.unwrap();
    let reason = rt.abort(&running, 3 * SECOND).await;
    assert_eq!(reason, "the task was cancelled");
    // The aborted handler holds its slot until it settles...
    rt.quiet_for(Duration::from_millis(200)).await;
    // ... and once it does, the other task's step is dispatched.
    worker.complete(vec![running.ok(json!("too late"))]);
    let next = rt.step(3 * SECOND).await;
    assert_eq!(next.task_uuid, waiting.task_uuid);

    worker.complete(vec![next.ok(json!("ok"))]);
    let done = finished(&engine, &waiting.task_uuid).await;
    assert_eq!(done.state, "complete");
    let t = details(&engine, &doomed.task_uuid).await;
    assert_eq!(t.state, "cancelled");
    assert_eq!(step(&t, "only").state, "cancelled");
    assert_eq!(json_of(&step(&t, "only").result), None);
    worker.shutdown(SECOND).await.unwrap();
}

async fn shutdown_drains_within_the_grace_period(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Single.Only"], 1)).await;
    let first = create(&engine, "single", json!({})).await;
    let running = rt.step(5 * SECOND).await;
    let second = create(&engine, "single", json!({})).await;

    let started = Instant::now();
    let stopping = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.shutdown(Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !stopping.is_finished(),
        "shutdown waits for the running step"
    );
    worker.complete(vec![running.ok(json!("finished while draining"))]);
    stopping.await.unwrap().unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");

    // No abort, no new claim: the stream simply ends.
    rt.closed_within(SECOND).await;
    let t = details(&engine, &first.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(
        json_of(&step(&t, "only").result),
        Some(json!("finished while draining"))
    );
    let t = details(&engine, &second.task_uuid).await;
    assert_eq!(
        step(&t, "only").state,
        "enqueued",
        "nothing claimed while stopping"
    );
    assert_eq!(step(&t, "only").attempts, 0);
    let e = worker.start().unwrap_err();
    assert_eq!(e.code(), ErrorCode::Closed);
}

async fn shutdown_aborts_and_releases_in_flight_steps(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Single.Only"], 1)).await;
    let task = create(&engine, "single", json!({})).await;
    let running = rt.step(5 * SECOND).await;
    assert_eq!(running.task_uuid, task.task_uuid);

    let started = Instant::now();
    let stopping = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.shutdown(Duration::from_millis(100)).await })
    };
    let reason = rt.abort(&running, 3 * SECOND).await;
    let aborted_after = started.elapsed();
    stopping.await.unwrap().unwrap();
    let took = started.elapsed();
    assert_eq!(
        reason,
        "worker w1 is shutting down; the step was released for another worker"
    );
    assert!(
        aborted_after >= Duration::from_millis(95),
        "aborted before the grace period ended: {aborted_after:?}"
    );
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    rt.closed_within(SECOND).await;

    // Released, not failed: back to enqueued with the attempt given back.
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "only");
    assert_eq!((s.state.as_str(), s.attempts), ("enqueued", 0));
    assert_eq!(s.error, None);
    let last = *step_transitions(&t, "only").last().unwrap();
    assert_eq!(
        (last.from_state.as_deref(), last.to_state.as_str()),
        (Some("in_progress"), "enqueued")
    );
    assert_eq!(last.worker_id.as_deref(), Some("w1"));
    assert_eq!(last.reason.as_deref(), Some(reason.as_str()));

    // A late result from the aborted handler changes nothing.
    worker.complete(vec![running.ok(json!("late"))]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        step(&details(&engine, &task.task_uuid).await, "only").state,
        "enqueued"
    );

    // Another worker picks it up at once, as the first attempt.
    let (other, mut rt2) = start(&engine, config("w2", dir.path(), &["Single.Only"], 1)).await;
    let again = rt2.step(3 * SECOND).await;
    assert_eq!(again.step_uuid, running.step_uuid);
    assert_eq!(again.attempts(), 0);
    other.complete(vec![again.ok(json!("second worker"))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    assert_eq!(step(&done, "only").attempts, 1);
    other.shutdown(SECOND).await.unwrap();
}

async fn unregistered_handlers_are_listed(db: TestDb) {
    let engine = open_engine(&db).await;
    let orders = r#"
name: orders
namespace_name: test
version: 1.0.0
steps:
  - name: validate
    handler: { callable: Orders.Validate }
  - name: charge
    dependencies: [validate]
    handler: { callable: Orders.Charge }
  - name: ship
    dependencies: [charge]
    handler: { callable: Orders.Ship }
"#;
    let dir = template_dir(&[("orders.yaml", orders), ("single.yaml", SINGLE)]);
    let cfg = config("w1", dir.path(), &["Orders.Validate", "Single.Only"], 1);
    let e = Worker::create(engine.clone(), cfg)
        .await
        .err()
        .expect("refused");
    assert_eq!(e.code(), ErrorCode::HandlerNotRegistered);
    let file = dir.path().join("orders.yaml").display().to_string();
    assert_eq!(
        e.to_string(),
        format!(
            "{file}: template test/orders@1.0.0 step 'charge' uses handler 'Orders.Charge', which is not registered; \
             {file}: template test/orders@1.0.0 step 'ship' uses handler 'Orders.Ship', which is not registered \
             (registered handlers: Orders.Validate, Single.Only)"
        )
    );
    // Nothing was registered in the database.
    let e = engine
        .create_task(req("single", json!({}), None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::TemplateNotFound);

    let cfg = config("w1", dir.path(), &[], 1);
    let e = Worker::create(engine.clone(), cfg)
        .await
        .err()
        .expect("refused");
    assert_eq!(e.code(), ErrorCode::HandlerNotRegistered);
    assert!(
        e.to_string().ends_with("(registered handlers: none)"),
        "{e}"
    );
    assert!(e.to_string().contains("uses handler 'Single.Only'"), "{e}");
}

async fn invalid_templates_and_settings_are_rejected(db: TestDb) {
    let engine = open_engine(&db).await;
    let bad = r#"
name: broken
namespace_name: test
version: 1.0.0
steps:
  - name: a
    handler: { callable: Broken.A }
  - name: b
    dependencies: [a, missing_step]
    handler: { callable: Broken.B }
"#;
    let dir = template_dir(&[("good.yaml", SINGLE), ("broken.yaml", bad)]);
    let e = Worker::create(
        engine.clone(),
        config(
            "w1",
            dir.path(),
            &["Single.Only", "Broken.A", "Broken.B"],
            1,
        ),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(e.code(), ErrorCode::TemplateInvalid);
    let msg = e.to_string();
    let file = dir.path().join("broken.yaml").display().to_string();
    assert!(msg.starts_with(&format!("{file}: step 'b'")), "{msg}");
    assert!(msg.contains("missing_step"), "{msg}");

    let empty = TempDir::new();
    let e = Worker::create(engine.clone(), config("w1", empty.path(), &["X"], 1))
        .await
        .err()
        .expect("refused");
    assert_eq!(e.code(), ErrorCode::TemplateInvalid);
    assert!(e.to_string().starts_with("no task templates"), "{e}");

    let missing = empty.path().join("does-not-exist");
    let e = Worker::create(engine.clone(), config("w1", &missing, &["X"], 1))
        .await
        .err()
        .expect("refused");
    assert_eq!(e.code(), ErrorCode::TemplateInvalid);
    assert_eq!(
        e.to_string(),
        format!("{}: no such file or directory", missing.display())
    );

    let good = template_dir(&[("single.yaml", SINGLE)]);
    let e = Worker::create(
        engine.clone(),
        config("w1", good.path(), &["Single.Only"], 0),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(e.to_string(), "concurrency must be at least 1");
    let e = Worker::create(
        engine.clone(),
        WorkerConfig {
            lease_ms: 50,
            ..config("w1", good.path(), &["Single.Only"], 1)
        },
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(e.to_string(), "leaseMs must be at least 100, got 50");

    // A worker that never started shuts down cleanly and ends its stream.
    let (w, _) = (
        Worker::create(
            engine.clone(),
            config("w1", good.path(), &["Single.Only"], 1),
        )
        .await
        .unwrap(),
        (),
    );
    w.shutdown(SECOND).await.unwrap();
    assert!(tokio::time::timeout(SECOND, w.poll())
        .await
        .unwrap()
        .is_none());
    let _unused: HashMap<(), ()> = HashMap::new();
}
