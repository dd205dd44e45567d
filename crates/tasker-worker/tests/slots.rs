//! Concurrency slots belong to step executions (a step under one claim) and are freed only
//! when the database no longer counts the step as this worker's: after its result commits, or
//! once an aborted handler has settled. Together these keep both the handlers running and the
//! steps `in_progress` under this worker's claims at `concurrency` or fewer.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sqlx::Connection;
use tasker_orchestration::Engine;

backend_tests!(
    two_timed_out_attempts_of_one_step_each_keep_their_slot,
    a_step_claimed_again_aborts_its_earlier_execution,
);
postgres_tests!(slot_is_freed_only_after_the_result_commits);

const LOST: &str = "the step is no longer claimed by this worker (cancelled, failed or reclaimed)";

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

/// A step retried at once after a failure (here: its lease ran out).
const AGAIN: &str = r#"
name: again
namespace_name: test
version: 1.0.0
steps:
  - name: again
    handler: { callable: Again.Run }
    retry: { max_attempts: 3, backoff_base_ms: 0 }
"#;

/// Steps `in_progress` under claims of `worker_id`, as committed (seen from another connection).
async fn in_progress_of(conn: &mut sqlx::PgConnection, worker_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM tasker.steps WHERE state = 'in_progress' AND claimed_by = $1",
    )
    .bind(worker_id)
    .fetch_one(conn)
    .await
    .expect("count in_progress steps")
}

/// Wait (at most 5 s) until some session of this database is waiting for a lock.
async fn until_a_session_waits_for_a_lock(conn: &mut sqlx::PgConnection) {
    let deadline = Instant::now() + 5 * SECOND;
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("read pg_stat_activity");
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the result transaction never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// While a result's transaction is blocked (another connection holds its task's row lock),
/// the step stays `in_progress` and keeps its slot: the claim loop cannot claim into it, so the
/// worker never holds more than `concurrency` steps in the database. Once the result commits,
/// the same transaction claims the next step into that slot.
async fn slot_is_freed_only_after_the_result_commits(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("five.yaml", FIVE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Five.Run"], 2)).await;
    let task = create(&engine, "five", json!({})).await;
    let mut outstanding = vec![rt.step(5 * SECOND).await, rt.step(5 * SECOND).await];
    let mut watch = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    assert_eq!(in_progress_of(&mut watch, "w1").await, 2);

    let mut locker = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let mut lock = locker.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM tasker.tasks WHERE task_uuid = $1::uuid FOR UPDATE")
        .bind(&task.task_uuid)
        .fetch_one(&mut *lock)
        .await
        .expect("lock the task row");
    let done = outstanding.remove(0);
    worker.complete(vec![done.ok(json!(done.name()))]);
    until_a_session_waits_for_a_lock(&mut watch).await;

    // The result is not committed: its step is still this worker's, and holds its slot.
    rt.quiet_for(Duration::from_millis(300)).await;
    assert_eq!(in_progress_of(&mut watch, "w1").await, 2);
    assert_eq!(
        count_in(&details(&engine, &task.task_uuid).await, "enqueued"),
        3
    );

    lock.rollback().await.expect("release the lock");
    // The result commits; the slot it frees is filled by the same transaction's claim.
    outstanding.push(rt.step(3 * SECOND).await);
    assert_eq!(in_progress_of(&mut watch, "w1").await, 2);

    let mut completed = 1;
    while let Some(s) = (!outstanding.is_empty()).then(|| outstanding.remove(0)) {
        worker.complete(vec![s.ok(json!(s.name()))]);
        completed += 1;
        if completed <= 3 {
            outstanding.push(rt.step(3 * SECOND).await);
        }
        assert!(in_progress_of(&mut watch, "w1").await <= 2);
    }
    let t = finished(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(count_in(&t, "complete"), 5);
    rt.quiet_for(Duration::from_millis(100)).await;
    worker.shutdown(SECOND).await.unwrap();
    watch.close().await.ok();
    locker.close().await.ok();
}

/// A step times out, is retried, and times out again while the first attempt's handler is
/// still running: both handlers run, so both keep a slot, and the third attempt waits until
/// one of them settles.
async fn two_timed_out_attempts_of_one_step_each_keep_their_slot(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("slow.yaml", SLOW)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Slow.Run"], 2)).await;
    let task = create(&engine, "slow", json!({})).await;

    let first = rt.step(5 * SECOND).await;
    assert!(rt.abort(&first, 3 * SECOND).await.contains("timed out"));
    let second = rt.step(3 * SECOND).await;
    assert_eq!(second.step_uuid, first.step_uuid);
    assert_eq!(second.attempts(), 1);
    assert!(rt.abort(&second, 3 * SECOND).await.contains("timed out"));

    // Two handlers are running (neither honoured its signal): no slot is free.
    rt.quiet_for(Duration::from_millis(400)).await;
    worker.complete(vec![first.ok(json!("late"))]);
    let third = rt.step(3 * SECOND).await;
    assert_eq!(
        (third.step_uuid.as_str(), third.attempts()),
        (first.step_uuid.as_str(), 2)
    );
    worker.complete(vec![third.ok(json!("in time"))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    let s = step(&done, "slow");
    assert_eq!(
        (s.attempts, json_of(&s.result)),
        (3, Some(json!("in time")))
    );
    worker.complete(vec![second.ok(json!("late"))]);
    rt.quiet_for(Duration::from_millis(100)).await;
    assert_eq!(worker.stats().stale, 2);
    worker.shutdown(SECOND).await.unwrap();
}

/// A database URL a second connection can reach: a temp-file SQLite database, or the test's
/// PostgreSQL database.
fn shared_url(db: &TestDb, dir: &TempDir) -> String {
    match db.backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("shared.db").display()),
        Backend::Postgres => db.url.clone(),
    }
}

/// What a long stall looks like from the database: the claim's lease has run out.
async fn expire_lease(url: &str, step_uuid: &str) {
    let mut raw = RawConnection::open(url).await;
    raw.expire_lease(step_uuid).await;
    raw.close().await;
}

/// The worker's claim of a step is reaped (its lease ran out during a stall) and the retry is
/// claimed by the same worker while it still tracks the old claim: the old execution is
/// aborted as a lost claim, and its handler keeps its slot until it settles.
async fn a_step_claimed_again_aborts_its_earlier_execution(db: TestDb) {
    let data = TempDir::new();
    let url = shared_url(&db, &data);
    let engine: Arc<Engine> = Engine::open(&url).await.expect("open engine");
    let dir = template_dir(&[("again.yaml", AGAIN), ("single.yaml", SINGLE)]);
    let (worker, mut rt) = start(
        &engine,
        config("w1", dir.path(), &["Again.Run", "Single.Only"], 2),
    )
    .await;
    let task = create(&engine, "again", json!({})).await;
    let first = rt.step(5 * SECOND).await;

    expire_lease(&url, &first.step_uuid).await;
    assert_eq!(engine.reap_expired_leases("reaper").await.unwrap(), 1);
    assert_eq!(rt.abort(&first, 5 * SECOND).await, LOST);
    let second = rt.step(3 * SECOND).await;
    assert_eq!(second.step_uuid, first.step_uuid);
    assert_ne!(second.claim_id, first.claim_id);
    assert_eq!(second.attempts(), 1);

    // The first handler still runs and keeps its slot: with concurrency 2, other work waits.
    let other = create(&engine, "single", json!({})).await;
    rt.quiet_for(Duration::from_millis(300)).await;
    worker.complete(vec![first.ok(json!("late"))]);
    let next = rt.step(3 * SECOND).await;
    assert_eq!(next.task_uuid, other.task_uuid);

    worker.complete(vec![second.ok(json!("second")), next.ok(json!("other"))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    let s = step(&done, "again");
    assert_eq!((s.attempts, json_of(&s.result)), (2, Some(json!("second"))));
    assert_eq!(finished(&engine, &other.task_uuid).await.state, "complete");
    assert_eq!(
        worker.stats().stale,
        1,
        "the first execution's result was ignored"
    );
    worker.shutdown(SECOND).await.unwrap();
    engine.close().await;
}
