//! What a worker tells its operator and the runtime's telemetry: what became of each result
//! (`WorkerEvent::Recorded`, with `report_outcomes`) and the counters in `stats()`, stale
//! results, reaped leases and the phases of a shutdown as log lines, log lines below the
//! configured level kept in Rust, and the backlog of ready steps. Runs against both backends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use tasker_orchestration::Engine;
use tasker_worker::{LogLevel, ResultOutcome, Worker, WorkerConfig};

backend_tests!(
    outcomes_are_told_and_counted,
    a_result_whose_claim_was_lost_unnoticed_is_logged_as_stale,
    reaped_leases_are_logged_and_counted,
    shutdown_tells_its_phases,
    log_lines_below_the_level_are_not_sent,
    the_backlog_counts_ready_unclaimed_steps_and_ping_answers,
    template_notices_are_told_once_per_file_and_key_and_limit_counts_attempts,
);

/// A template written for tasker-core: keys it ignores, and its spelling of retry settings.
const PORTED: &str = r#"
name: ported
namespace_name: test
version: 1.0.0
loaded_from: /srv/tasker-core/config/tasks/ported.yaml
steps:
  - name: first
    handler: { callable: Ported.First }
    retry: { limit: 2, initial_delay: 0 }
  - name: second
    dependencies: [first]
    handler: { callable: Ported.Second }
    retry: { limit: 3, initial_delay: 0 }
"#;

/// A step tried twice, at once.
const TWICE: &str = r#"
name: twice
namespace_name: test
version: 1.0.0
steps:
  - name: flaky
    handler: { callable: Twice.Flaky }
    retry: { max_attempts: 2, backoff_base_ms: 0 }
"#;

const OTHER: &str = r#"
name: other
namespace_name: test
version: 1.0.0
steps:
  - name: elsewhere
    handler: { callable: Other.Run }
"#;

fn reporting(worker_id: &str, dir: &TempDir, handlers: &[&str]) -> WorkerConfig {
    WorkerConfig {
        report_outcomes: true,
        schedules: Vec::new(),
        ..config(worker_id, dir.path(), handlers, 1)
    }
}

fn lines_containing<'a>(rt: &'a Runtime, text: &str) -> Vec<&'a tasker_worker::LogLine> {
    rt.logs
        .iter()
        .filter(|l| l.message.contains(text))
        .collect()
}

async fn outcomes_are_told_and_counted(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE), ("twice.yaml", TWICE)]);
    let (worker, mut rt) = start(
        &engine,
        reporting("w1", &dir, &["Single.Only", "Twice.Flaky"]),
    )
    .await;

    create(&engine, "single", json!({})).await;
    let s = rt.step(5 * SECOND).await;
    worker.complete(vec![s.ok(json!("done"))]);
    assert_eq!(rt.recorded(&s, 5 * SECOND).await, ResultOutcome::Completed);

    let task = create(&engine, "twice", json!({})).await;
    let first = rt.step(5 * SECOND).await;
    worker.complete(vec![first.failed(true)]);
    assert_eq!(rt.recorded(&first, 5 * SECOND).await, ResultOutcome::Retry);
    let second = rt.step(5 * SECOND).await;
    assert_eq!(second.attempts(), 1);
    worker.complete(vec![second.failed(true)]);
    assert_eq!(
        rt.recorded(&second, 5 * SECOND).await,
        ResultOutcome::Failed
    );
    assert_eq!(finished(&engine, &task.task_uuid).await.state, "error");

    let stats = worker.stats();
    assert_eq!(
        (
            stats.claimed,
            stats.recorded,
            stats.completed,
            stats.retried,
            stats.failed,
            stats.stale,
            stats.reaped
        ),
        (3, 3, 1, 1, 1, 0, 0)
    );
    assert_eq!(rt.recorded.len(), 3, "one outcome per result");
    worker.shutdown(SECOND).await.unwrap();
}

async fn a_result_whose_claim_was_lost_unnoticed_is_logged_as_stale(db: TestDb) {
    let data = TempDir::new();
    let url = shared_url(&db, &data);
    let engine: Arc<Engine> = Engine::open(&url).await.expect("open engine");
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(&engine, reporting("w1", &dir, &["Single.Only"])).await;
    let task = create(&engine, "single", json!({})).await;
    let s = rt.step(5 * SECOND).await;

    // Another process claims the step meanwhile; the worker (renewing every 10 s) has not
    // noticed when its handler reports.
    let mut raw = RawConnection::open(&url).await;
    let in_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        + 3_600_000;
    raw.replace_claim(
        &s.step_uuid,
        "00000000-0000-4000-8000-000000000001",
        2,
        in_an_hour,
    )
    .await;
    raw.close().await;
    worker.complete(vec![s.ok(json!("late"))]);
    assert_eq!(rt.recorded(&s, 5 * SECOND).await, ResultOutcome::Stale);

    let told = lines_containing(&rt, "was ignored");
    assert_eq!(told.len(), 1, "{:?}", rt.logs);
    assert_eq!(told[0].level, LogLevel::Info);
    assert_eq!(
        told[0].message,
        format!(
            "worker w1: the result of step 'only' (attempt 1) of task {} was ignored: the step \
             is no longer claimed by this worker (cancelled, failed or reclaimed)",
            task.task_uuid
        )
    );
    assert_eq!(
        serde_json::Value::Object(told[0].fields.clone()),
        json!({
            "workerId": "w1",
            "taskUuid": task.task_uuid,
            "stepUuid": s.step_uuid,
            "step": "only",
            "attempt": 1,
        })
    );
    assert_eq!((worker.stats().stale, worker.stats().recorded), (1, 0));
    worker.shutdown(SECOND).await.unwrap();
    engine.close().await;
}

async fn reaped_leases_are_logged_and_counted(db: TestDb) {
    let data = TempDir::new();
    let url = shared_url(&db, &data);
    let engine: Arc<Engine> = Engine::open(&url).await.expect("open engine");
    let ours = template_dir(&[("twice.yaml", TWICE)]);
    let (stalled, mut stalled_rt) =
        start(&engine, config("w1", ours.path(), &["Twice.Flaky"], 2)).await;
    create(&engine, "twice", json!({})).await;
    let s = stalled_rt.step(5 * SECOND).await;

    // A worker for other steps reaps the stalled claim: its lease loop runs every 100 ms.
    let theirs = template_dir(&[("other.yaml", OTHER)]);
    let (reaper, mut reaper_rt) = start(
        &engine,
        WorkerConfig {
            lease_ms: 300,
            ..config("reaper", theirs.path(), &["Other.Run"], 1)
        },
    )
    .await;
    let mut raw = RawConnection::open(&url).await;
    raw.expire_lease(&s.step_uuid).await;
    raw.close().await;
    // The reaped step is retried: the stalled worker loses its claim and claims it anew.
    stalled_rt.abort(&s, 5 * SECOND).await;
    let again = stalled_rt.step(5 * SECOND).await;
    assert_eq!(again.step_uuid, s.step_uuid);

    // Told right after the reap commits (which the retry needed): soon, if not yet.
    for _ in 0..100 {
        if !lines_containing(&reaper_rt, "reaped").is_empty() {
            break;
        }
        reaper_rt.quiet_for(Duration::from_millis(50)).await;
    }
    let told = lines_containing(&reaper_rt, "reaped");
    assert_eq!(told.len(), 1, "{:?}", reaper_rt.logs);
    assert_eq!(told[0].level, LogLevel::Info);
    assert_eq!(
        told[0].message,
        "worker reaper: reaped 1 expired lease: a worker stopped renewing its claim (crashed or \
         hung); the step goes through its retry rules"
    );
    assert_eq!(
        serde_json::Value::Object(told[0].fields.clone()),
        json!({ "workerId": "reaper", "reaped": 1 })
    );
    assert_eq!(reaper.stats().reaped, 1);
    assert_eq!(stalled.stats().reaped, 0);
    stalled.complete(vec![s.ok(json!("late")), again.ok(json!("again"))]);
    reaper.shutdown(SECOND).await.unwrap();
    stalled.shutdown(SECOND).await.unwrap();
    engine.close().await;
}

async fn shutdown_tells_its_phases(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Single.Only"], 1)).await;
    let task = create(&engine, "single", json!({})).await;
    let running = rt.step(5 * SECOND).await;

    let stopping = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.shutdown(Duration::from_millis(100)).await })
    };
    rt.abort(&running, 3 * SECOND).await;
    stopping.await.unwrap().unwrap();
    rt.closed_within(SECOND).await;

    let told: Vec<(LogLevel, &str)> = rt
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        told,
        [
            (
                LogLevel::Info,
                "worker w1: shutting down: claiming stopped; waiting up to 100 ms for 1 step \
                 in flight"
            ),
            (
                LogLevel::Warn,
                "worker w1: shutting down: 1 step still running after the 100 ms grace period; \
                 its handler was aborted and released for another worker"
            ),
            (LogLevel::Info, "worker w1: shut down"),
        ]
    );
    assert_eq!(
        serde_json::Value::Object(rt.logs[0].fields.clone()),
        json!({ "workerId": "w1", "inFlight": 1, "graceMs": 100 })
    );
    assert_eq!(
        rt.logs[1].fields["steps"],
        json!([{
            "taskUuid": task.task_uuid,
            "stepUuid": running.step_uuid,
            "step": "only",
            "attempt": 1,
        }])
    );

    // With nothing in flight, there is nothing to wait for.
    let other = template_dir(&[("other.yaml", OTHER)]);
    let (idle, mut idle_rt) = start(&engine, config("w2", other.path(), &["Other.Run"], 1)).await;
    idle.shutdown(SECOND).await.unwrap();
    idle_rt.closed_within(SECOND).await;
    let told: Vec<&str> = idle_rt.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        told,
        [
            "worker w2: shutting down: claiming stopped, no step in flight",
            "worker w2: shut down"
        ]
    );
}

async fn log_lines_below_the_level_are_not_sent(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    for (level, expected) in [
        (Some(LogLevel::Info), 2),
        (Some(LogLevel::Warn), 0),
        (None, 0),
    ] {
        let (worker, mut rt) = start(
            &engine,
            WorkerConfig {
                min_log_level: level,
                ..config("w1", dir.path(), &["Single.Only"], 1)
            },
        )
        .await;
        worker.shutdown(SECOND).await.unwrap();
        rt.closed_within(SECOND).await;
        assert_eq!(rt.logs.len(), expected, "at {level:?}: {:?}", rt.logs);
    }
}

async fn the_backlog_counts_ready_unclaimed_steps_and_ping_answers(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("single.yaml", SINGLE), ("other.yaml", OTHER)]);
    let worker = Worker::create(
        engine.clone(),
        config("w1", dir.path(), &["Single.Only", "Other.Run"], 1),
    )
    .await
    .expect("create worker");
    let empty = worker.ready_backlog().await.unwrap();
    assert_eq!((empty.count, empty.oldest_ms), (0, None));

    for _ in 0..3 {
        create(&engine, "single", json!({})).await;
    }
    create(&engine, "other", json!({})).await;
    let backlog = worker.ready_backlog().await.unwrap();
    assert_eq!(backlog.count, 4);
    assert!(backlog.oldest_ms.is_some_and(|ms| ms >= 0), "{backlog:?}");
    // Only the steps of the given handlers count.
    let singles = engine
        .ready_backlog(&["Single.Only".to_string()])
        .await
        .unwrap();
    assert_eq!(singles.count, 3);
    assert_eq!(engine.ready_backlog(&[]).await.unwrap().count, 0);

    // Claimed steps are no longer waiting.
    let claimed = engine
        .claim(&["Single.Only".to_string()], 2, "w9", 30_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(worker.ready_backlog().await.unwrap().count, 2);

    let latency = engine.ping().await.unwrap();
    assert!(latency < Duration::from_secs(5), "{latency:?}");
    worker.shutdown(SECOND).await.unwrap();
}

async fn template_notices_are_told_once_per_file_and_key_and_limit_counts_attempts(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("ported.yaml", PORTED)]);
    let file = dir.path().join("ported.yaml").display().to_string();
    let (worker, mut rt) = start(
        &engine,
        reporting("w1", &dir, &["Ported.First", "Ported.Second"]),
    )
    .await;

    // `retry.limit: 2` is read as `retry.max_attempts: 2`: two attempts, then the step fails.
    let task = create(&engine, "ported", json!({})).await;
    let first = rt.step(5 * SECOND).await;
    worker.complete(vec![first.failed(true)]);
    assert_eq!(rt.recorded(&first, 5 * SECOND).await, ResultOutcome::Retry);
    let again = rt.step(5 * SECOND).await;
    assert_eq!((again.name(), again.attempts()), ("first", 1));
    worker.complete(vec![again.failed(true)]);
    assert_eq!(rt.recorded(&again, 5 * SECOND).await, ResultOutcome::Failed);
    assert_eq!(finished(&engine, &task.task_uuid).await.state, "error");
    worker.shutdown(SECOND).await.unwrap();
    rt.closed_within(SECOND).await;

    let told: Vec<_> = rt
        .logs
        .iter()
        .filter(|l| l.message.contains("tasker-core"))
        .map(|l| {
            (
                l.level,
                l.message.clone(),
                l.fields.get("file").cloned(),
                l.fields.get("field").cloned(),
            )
        })
        .collect();
    let line = |message: String, field: &str| {
        (
            LogLevel::Warn,
            format!("worker w1: {file}: {message}"),
            Some(json!(file)),
            Some(json!(field)),
        )
    };
    assert_eq!(
        told,
        vec![
            line(
                "ignoring 'loaded_from' (tasker-core ignores it too)".into(),
                "loaded_from"
            ),
            line(
                "reading 'retry.limit' in steps 'first', 'second' as 'retry.max_attempts' \
                 (tasker-core's spelling)"
                    .into(),
                "retry.limit"
            ),
            line(
                "reading 'retry.initial_delay' in steps 'first', 'second' as \
                 'retry.backoff_base_ms': seconds, times 1000 (tasker-core's spelling)"
                    .into(),
                "retry.initial_delay"
            ),
        ],
        "{:?}",
        rt.logs
    );
}
