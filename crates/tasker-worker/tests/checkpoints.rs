//! Checkpoints saved through the worker, and claims lost to another process (cancelled there,
//! or reaped and claimed anew), which the worker notices at its next lease renewal and aborts.
//! Runs against both backends; the lost-claim tests share one database between engines or
//! connections (a temp-file SQLite database, where no notification crosses processes, or the
//! test's PostgreSQL database).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tasker_orchestration::{Engine, ErrorCode};
use tasker_worker::WorkerConfig;

backend_tests!(
    checkpoint_of_a_tracked_step_reaches_the_next_attempt,
    claim_cancelled_by_another_engine_is_aborted,
    renewal_of_a_replaced_claim_aborts_it_and_leaves_the_new_lease,
);

/// One step, retried at once.
const RESUMABLE: &str = r#"
name: resumable
namespace_name: test
version: 1.0.0
steps:
  - name: scan
    handler: { callable: Resumable.Scan }
    retry: { max_attempts: 3, backoff: none, backoff_base_ms: 0 }
"#;

const LOST: &str = "the step is no longer claimed by this worker (cancelled, failed or reclaimed)";

async fn checkpoint_of_a_tracked_step_reaches_the_next_attempt(db: TestDb) {
    let engine = open_engine(&db).await;
    let dir = template_dir(&[("resumable.yaml", RESUMABLE)]);
    let (worker, mut rt) = start(&engine, config("w1", dir.path(), &["Resumable.Scan"], 2)).await;
    let task = create(&engine, "resumable", json!({ "rows": 1000 })).await;

    let s1 = rt.step(5 * SECOND).await;
    assert_eq!(s1.task_uuid, task.task_uuid);
    assert_eq!(s1.payload["step"]["checkpoint"], json!(null));
    let saved =
        json!({ "cursor": 400, "items_processed": 400, "accumulated_results": { "sum": 12 } });
    assert!(worker
        .checkpoint(&s1.step_uuid, &s1.claim_id, &saved.to_string())
        .await
        .expect("checkpoint"));

    // Not this worker's current claim: false, nothing saved.
    assert!(!worker
        .checkpoint(&s1.step_uuid, "not-a-claim", "{\"cursor\": 1}")
        .await
        .unwrap());
    assert!(!worker
        .checkpoint(
            "00000000-0000-0000-0000-000000000000",
            &s1.claim_id,
            "{\"cursor\": 1}"
        )
        .await
        .unwrap());
    // Not a JSON object: an error.
    for bad in ["[1]", "7", "not json"] {
        match worker.checkpoint(&s1.step_uuid, &s1.claim_id, bad).await {
            Ok(v) => panic!("{bad:?}: expected an error, got {v}"),
            Err(e) => assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad:?}: {e}"),
        }
    }

    // The attempt fails; the retry is handed the checkpoint.
    worker.complete(vec![s1.failed(true)]);
    let s2 = rt.step(5 * SECOND).await;
    assert_eq!(s2.step_uuid, s1.step_uuid);
    assert_ne!(s2.claim_id, s1.claim_id);
    assert_eq!(s2.attempts(), 1);
    assert_eq!(s2.payload["step"]["checkpoint"], saved);
    // The first attempt's claim is gone.
    assert!(!worker
        .checkpoint(&s1.step_uuid, &s1.claim_id, "{\"cursor\": 666}")
        .await
        .unwrap());

    let later = json!({ "cursor": 800, "items_processed": 800 });
    assert!(worker
        .checkpoint(&s2.step_uuid, &s2.claim_id, &later.to_string())
        .await
        .unwrap());
    worker.complete(vec![s2.failed(true)]);
    let s3 = rt.step(5 * SECOND).await;
    assert_eq!(s3.attempts(), 2);
    assert_eq!(s3.payload["step"]["checkpoint"], later);
    worker.complete(vec![s3.ok(json!({ "items_processed": 1000 }))]);
    let done = finished(&engine, &task.task_uuid).await;
    assert_eq!(done.state, "complete");
    assert_eq!(step(&done, "scan").attempts, 3);
    // Once recorded, the step is no longer tracked.
    assert!(!worker
        .checkpoint(&s3.step_uuid, &s3.claim_id, "{\"cursor\": 1000}")
        .await
        .unwrap());
    worker.shutdown(SECOND).await.unwrap();
}

async fn open(url: &str) -> Arc<Engine> {
    Engine::open(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

async fn claim_cancelled_by_another_engine_is_aborted(db: TestDb) {
    let data = TempDir::new();
    let url = shared_url(&db, &data);
    let ours = open(&url).await;
    let theirs = open(&url).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let cfg = WorkerConfig {
        lease_ms: 300, // renewed every 100 ms
        ..config("w1", dir.path(), &["Single.Only"], 1)
    };
    let (worker, mut rt) = start(&ours, cfg).await;
    let doomed = create(&ours, "single", json!({})).await;
    let running = rt.step(5 * SECOND).await;
    assert_eq!(running.task_uuid, doomed.task_uuid);
    let waiting = create(&ours, "single", json!({})).await;
    rt.quiet_for(Duration::from_millis(150)).await; // concurrency 1: the second waits

    let cancelled_at = Instant::now();
    let t = theirs
        .cancel_task(&doomed.task_uuid, Some("cancelled elsewhere"))
        .await
        .expect("cancel from the other engine");
    assert_eq!(t.state, "cancelled");
    let reason = rt.abort(&running, 3 * SECOND).await;
    let took = cancelled_at.elapsed();
    match db.backend {
        // No notification reaches another SQLite process: the lease renewal finds it.
        Backend::Sqlite => assert_eq!(reason, LOST),
        // PostgreSQL also notifies; whichever comes first aborts it.
        Backend::Postgres => assert!(
            reason == LOST || reason == "the task was cancelled",
            "{reason}"
        ),
    }
    assert!(
        took < Duration::from_secs(1),
        "aborted {took:?} after the cancel; renewals run every 100 ms"
    );
    // The claim is no longer tracked: checkpoints are refused.
    assert!(!worker
        .checkpoint(&running.step_uuid, &running.claim_id, "{\"cursor\": 1}")
        .await
        .unwrap());

    // The aborted handler keeps its slot until it settles...
    rt.quiet_for(Duration::from_millis(200)).await;
    assert_eq!(worker.in_flight(), 0);
    // ... and once its (ignored) late result arrives, the other task's step is dispatched.
    worker.complete(vec![running.ok(json!("too late"))]);
    let next = rt.step(3 * SECOND).await;
    assert_eq!(next.task_uuid, waiting.task_uuid);
    worker.complete(vec![next.ok(json!("ok"))]);
    let done = finished(&ours, &waiting.task_uuid).await;
    assert_eq!(done.state, "complete");
    let t = details(&ours, &doomed.task_uuid).await;
    assert_eq!(t.state, "cancelled");
    let s = step(&t, "only");
    assert_eq!((s.state.as_str(), json_of(&s.result)), ("cancelled", None));
    let last = *step_transitions(&t, "only").last().unwrap();
    assert_eq!(last.to_state, "cancelled");
    assert_eq!(last.reason.as_deref(), Some("cancelled elsewhere"));
    assert_eq!(worker.stats().stale, 1, "the late result was ignored");
    rt.quiet_for(Duration::from_millis(150)).await;
    worker.shutdown(SECOND).await.unwrap();
    ours.close().await;
    theirs.close().await;
}

/// While the worker stalled, its step was reaped and claimed again under the same worker id
/// (its own reaper and claim loop after a pause, or another process with that id), with a new
/// claim and a long lease. The worker's renewals are for its old claim: they must abort that
/// handler and leave the new claim's lease alone (not shorten it to `leaseMs` from now).
async fn renewal_of_a_replaced_claim_aborts_it_and_leaves_the_new_lease(db: TestDb) {
    let data = TempDir::new();
    let url = shared_url(&db, &data);
    let engine = open(&url).await;
    let dir = template_dir(&[("single.yaml", SINGLE)]);
    let cfg = WorkerConfig {
        lease_ms: 300, // renewed every 100 ms
        ..config("w1", dir.path(), &["Single.Only"], 1)
    };
    let (worker, mut rt) = start(&engine, cfg).await;
    let task = create(&engine, "single", json!({})).await;
    let running = rt.step(5 * SECOND).await;

    let mut raw = RawConnection::open(&url).await;
    let new_lease = now_ms() + 600_000;
    let newer_claim = "0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee";
    raw.replace_claim(&running.step_uuid, newer_claim, 2, new_lease)
        .await;
    let reason = rt.abort(&running, 3 * SECOND).await;
    assert_eq!(reason, LOST);
    // Several renewal periods later the new claim still has its own lease.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(raw.lease_until(&running.step_uuid).await, Some(new_lease));
    assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 0);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        (step(&t, "only").state.as_str(), step(&t, "only").attempts),
        ("in_progress", 2)
    );

    // The old handler's late result is stale.
    worker.complete(vec![running.ok(json!("too late"))]);
    rt.quiet_for(Duration::from_millis(150)).await;
    assert_eq!(worker.stats().stale, 1);
    assert!(step(&details(&engine, &task.task_uuid).await, "only")
        .result
        .is_none());
    worker.shutdown(SECOND).await.unwrap();
    raw.close().await;
    engine.close().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
