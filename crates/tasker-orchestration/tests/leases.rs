//! Leases are conditional on the claim they belong to, and their deadlines (and the ready
//! times claims compare against) come from the database's clock when the statement runs, on
//! both backends.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tasker_domain::StepState;
use tasker_orchestration::RecordOutcome;

backend_tests!(
    stale_renewal_leaves_the_newer_claim_alone,
    deadlines_are_computed_when_the_statement_runs,
);

/// The test's database, reachable from a second connection too.
fn shared(db: &TestDb, dir: &TempDir) -> TestDb {
    TestDb {
        backend: db.backend,
        url: shared_url(db, dir),
    }
}

/// A worker stalls past its lease; its step is reaped and claimed again (here by the same
/// worker, the worst case: `claimed_by` alone cannot tell the claims apart). The renewal it
/// computed for the old claim then lands: it must not touch the new claim's lease, and must
/// report the old claim as lost.
async fn stale_renewal_leaves_the_newer_claim_alone(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("leased.yaml", LEASED)]).await;
    let mut raw = RawConnection::open(&db.url).await;
    let task = create(&engine, "leased", json!({})).await;
    let work = strings(&["Leased.Work"]);

    let old = engine.claim(&work, 1, "w1", 100).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(engine.reap_expired_leases("w1").await.unwrap(), 1);
    let new = engine
        .claim(&work, 1, "w1", 60_000)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(new.step_uuid, old.step_uuid);
    assert_ne!(new.claim_id, old.claim_id);
    assert_eq!(new.attempt, 2);
    let new_lease = raw.lease_until(&new.step_uuid).await.expect("a lease");

    // The late renewal of the old claim (with a lease of 0 ms, the shortest possible).
    let stale = [(old.step_uuid.clone(), old.claim_id.clone())];
    assert_eq!(
        engine.renew_leases("w1", &stale, 0).await.unwrap(),
        Vec::<(String, String)>::new(),
        "the old claim is reported lost"
    );
    assert_eq!(
        raw.lease_until(&new.step_uuid).await,
        Some(new_lease),
        "the new claim's lease is untouched"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        engine.reap_expired_leases("w1").await.unwrap(),
        0,
        "the new claim is not reaped"
    );

    // The new claim itself is renewed, and its result is recorded.
    let current = [(new.step_uuid.clone(), new.claim_id.clone())];
    assert_eq!(
        engine.renew_leases("w1", &current, 60_000).await.unwrap(),
        current
    );
    assert!(matches!(
        record(&engine, success(&new, json!("done"))).await,
        RecordOutcome::Recorded {
            state: StepState::Complete,
            ..
        }
    ));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(step(&t, "work").attempts, 2);
    raw.close().await;
    engine.close().await;
}

/// Statements that wait (for the database's lock, or, on SQLite's single connection, for the
/// connection) compute lease deadlines and ready times when they finally run, from the
/// database's clock, not from a time Rust took before they waited.
async fn deadlines_are_computed_when_the_statement_runs(db: TestDb) {
    const LEASE: u64 = 1_000;
    const STALL: Duration = Duration::from_millis(400);
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("leased.yaml", LEASED), ("single.yaml", SINGLE)]).await;
    let mut raw = RawConnection::open(&db.url).await;
    let work = strings(&["Leased.Work"]);
    for _ in 0..3 {
        create(&engine, "leased", json!({})).await;
    }
    let mut claimed = engine.claim(&work, 3, "w1", LEASE).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let (renewed, checkpointed, failed) = (claimed.remove(0), claimed.remove(0), claimed.remove(0));
    let fresh = create(&engine, "single", json!({})).await;

    raw.block_step_writes().await;
    let renewal = [(renewed.step_uuid.clone(), renewed.claim_id.clone())];
    let single = strings(&["Single.Only"]);
    let (held, ((saved, recorded, claim), released)) = tokio::join!(
        // The renewal waits first: on SQLite it holds the engine's only connection while it
        // waits for the lock, so the other calls wait for the connection.
        engine.renew_leases("w1", &renewal, LEASE),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::join!(
                async {
                    tokio::join!(
                        engine.save_checkpoint(
                            &checkpointed.step_uuid,
                            &checkpointed.claim_id,
                            "{\"cursor\": 1}",
                            LEASE
                        ),
                        engine.record_results(vec![failure(&failed, true, None)], "w1"),
                        engine.claim(&single, 1, "w1", LEASE),
                    )
                },
                async {
                    tokio::time::sleep(STALL).await;
                    let released = now_ms();
                    raw.unblock().await;
                    released
                },
            )
        },
    );

    assert_eq!(held.expect("renew_leases"), renewal);
    assert!(saved.expect("save_checkpoint"));
    assert_eq!(
        recorded.expect("record_results"),
        [RecordOutcome::Recorded {
            step_uuid: failed.step_uuid.clone(),
            state: StepState::WaitingForRetry
        }]
    );
    let claimed = claim.expect("claim").remove(0);
    assert_eq!(claimed.task_uuid, fresh.task_uuid);

    let lease = LEASE as i64;
    for (what, step_uuid) in [
        ("renewed", &renewed.step_uuid),
        ("checkpointed", &checkpointed.step_uuid),
        ("claimed", &claimed.step_uuid),
    ] {
        let until = raw.lease_until(step_uuid).await.expect("a lease");
        assert!(
            until >= released + lease,
            "the {what} step's lease ends {} ms after the stall ended; expected at least {lease}",
            until - released
        );
    }
    // The failed step is retried at once (no backoff): ready from when it was recorded.
    let ready_at = raw.ready_at(&failed.step_uuid).await.expect("a ready time");
    assert!(
        ready_at >= released,
        "the retry is ready {} ms before the stall ended",
        released - ready_at
    );
    assert_eq!(engine.reap_expired_leases("w1").await.unwrap(), 0);
    raw.close().await;
    engine.close().await;
}
