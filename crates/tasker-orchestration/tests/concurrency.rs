//! Engines racing each other: exclusive claims, concurrent fan-in, and (PostgreSQL) events
//! travelling between engines that share a database.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tasker_domain::StepState;
use tasker_orchestration::{ClaimedStep, Engine, RecordOutcome};

backend_tests!(
    concurrent_claimers_never_claim_a_step_twice,
    concurrent_fan_in_enqueues_each_join_once,
);
postgres_tests!(events_reach_other_engines_on_the_same_database);

const TASKS: usize = 50;

/// Two engines on PostgreSQL (two connection pools, as two processes would have); on SQLite,
/// whose in-memory database lives in one pool, one engine shared by the claim loops.
async fn two_engines(db: &TestDb, files: &[(&str, &str)]) -> [Arc<Engine>; 2] {
    let a = engine(db, files).await;
    let b = match db.backend {
        Backend::Postgres => engine(db, files).await,
        Backend::Sqlite => a.clone(),
    };
    [a, b]
}

async fn concurrent_claimers_never_claim_a_step_twice(db: TestDb) {
    let engines = two_engines(&db, &[("single.yaml", SINGLE)]).await;
    let mut tasks = Vec::new();
    // Mixed priorities (claims walk the claim order, not the ready order).
    for i in 0..TASKS {
        let request = tasker_orchestration::CreateTask {
            priority: Some(((i % 7) as f64) * 100.0 - 300.0),
            ..req("single", json!({ "i": i }), None)
        };
        tasks.push(
            engines[i % 2]
                .create_task(request)
                .await
                .expect("create")
                .task_uuid,
        );
    }

    // Four claim loops, two per engine, with different batch sizes, all at once.
    let claimed_total = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(tokio::sync::Barrier::new(4));
    let mut loops = Vec::new();
    for l in 0..4usize {
        let engine = engines[l % 2].clone();
        let claimed_total = claimed_total.clone();
        let start = start.clone();
        loops.push(tokio::spawn(async move {
            let worker = format!("worker-{l}");
            let mut mine: Vec<ClaimedStep> = Vec::new();
            start.wait().await;
            let deadline = Instant::now() + Duration::from_secs(15);
            while claimed_total.load(Ordering::SeqCst) < TASKS && Instant::now() < deadline {
                let got = engine
                    .claim(&strings(&["Single.Only"]), 1 + l % 3, &worker, 60_000)
                    .await
                    .expect("claim");
                claimed_total.fetch_add(got.len(), Ordering::SeqCst);
                mine.extend(got);
                tokio::task::yield_now().await;
            }
            (worker, mine)
        }));
    }
    let mut all: Vec<(String, ClaimedStep)> = Vec::new();
    for l in loops {
        let (worker, mine) = l.await.unwrap();
        all.extend(mine.into_iter().map(|c| (worker.clone(), c)));
    }

    let mut seen = HashSet::new();
    let duplicates: Vec<&str> = all
        .iter()
        .filter(|(_, c)| !seen.insert(c.step_uuid.clone()))
        .map(|(_, c)| c.step_uuid.as_str())
        .collect();
    assert!(duplicates.is_empty(), "claimed twice: {duplicates:?}");
    assert_eq!(all.len(), TASKS, "every step claimed exactly once");

    // The union is exactly the tasks' steps, each owned by the loop that claimed it.
    let mut expected = HashSet::new();
    for t in &tasks {
        let t = details(&engines[0], t).await;
        let s = step(&t, "only");
        assert_eq!((s.state.as_str(), s.attempts), ("in_progress", 1));
        let claimer = all
            .iter()
            .find(|(_, c)| c.step_uuid == s.step_uuid)
            .map(|(w, _)| w.clone())
            .unwrap_or_else(|| panic!("step {} was never claimed", s.step_uuid));
        let claim = step_transitions(&t, "only")
            .into_iter()
            .filter(|tr| tr.to_state == "in_progress")
            .collect::<Vec<_>>();
        assert_eq!(claim.len(), 1, "one claim transition");
        assert_eq!(claim[0].worker_id.as_deref(), Some(claimer.as_str()));
        expected.insert(s.step_uuid.clone());
    }
    assert_eq!(seen, expected);
    assert!(engines[1]
        .claim(&strings(&["Single.Only"]), 10, "late", 60_000)
        .await
        .unwrap()
        .is_empty());

    // Results from both engines at once: every task completes.
    let mut writers = Vec::new();
    for (i, (_, c)) in all.into_iter().enumerate() {
        let engine = engines[i % 2].clone();
        writers.push(tokio::spawn(async move {
            engine
                .record_results(vec![success(&c, json!(i))], "w")
                .await
                .expect("record")
        }));
    }
    for w in writers {
        let r = w.await.unwrap();
        assert!(matches!(
            r[0],
            RecordOutcome::Recorded {
                state: StepState::Complete,
                ..
            }
        ));
    }
    let complete = engines[0]
        .list_tasks(&tasker_orchestration::ListTasks {
            state: Some("complete".into()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(complete.len(), TASKS);
}

async fn concurrent_fan_in_enqueues_each_join_once(db: TestDb) {
    const N: usize = 15;
    let engines = two_engines(&db, &[("diamond.yaml", DIAMOND)]).await;
    let mut tasks = Vec::new();
    for _ in 0..N {
        tasks.push(create(&engines[0], "diamond", json!({})).await.task_uuid);
    }
    let starts = claim(&engines[0], &["Diamond.Start"], 100, "w").await;
    assert_eq!(starts.len(), N);
    engines[0]
        .record_results(starts.iter().map(|c| success(c, json!(0))).collect(), "w")
        .await
        .unwrap();
    let branches = claim(&engines[0], &["Diamond.Left", "Diamond.Right"], 100, "w").await;
    assert_eq!(branches.len(), 2 * N);

    // Lefts through one engine and rights through the other, one result per transaction,
    // racing task by task.
    let (lefts, rights): (Vec<ClaimedStep>, Vec<ClaimedStep>) =
        branches.into_iter().partition(|c| c.step_name == "left");
    let mut writers = Vec::new();
    for (engine, batch) in [(engines[0].clone(), lefts), (engines[1].clone(), rights)] {
        writers.push(tokio::spawn(async move {
            for c in batch {
                let r = engine
                    .record_results(vec![success(&c, json!(c.step_name))], "w")
                    .await
                    .expect("record");
                assert!(matches!(r[0], RecordOutcome::Recorded { .. }));
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }

    for t in &tasks {
        let t = details(&engines[1], t).await;
        assert_eq!(step(&t, "join").state, "enqueued");
        assert_eq!(
            moves(&step_transitions(&t, "join")),
            ["-->pending", "pending->enqueued"],
            "join enqueued exactly once"
        );
    }
    let joins = claim(&engines[1], &["Diamond.Join"], 100, "w").await;
    assert_eq!(joins.len(), N);
    for j in &joins {
        let deps = &payload(j)["dependency_results"];
        assert_eq!(deps["left"]["result"], json!("left"));
        assert_eq!(deps["right"]["result"], json!("right"));
    }
}

async fn events_reach_other_engines_on_the_same_database(db: TestDb) {
    let a = engine(&db, &[("single.yaml", SINGLE)]).await;
    let b = Engine::open(&db.url).await.unwrap();

    // Steps made ready by A wake B's claimers (once B's listener is up).
    let mut ready = b.subscribe_steps_ready();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut heard = false;
    while !heard && Instant::now() < deadline {
        ready.borrow_and_update();
        create(&a, "single", json!({})).await;
        heard = tokio::time::timeout(Duration::from_millis(200), ready.changed())
            .await
            .is_ok();
    }
    assert!(heard, "engine B never heard that engine A enqueued steps");

    // A cancellation made through A reaches B's subscribers.
    let task = create(&a, "single", json!({})).await;
    let mut cancellations = b.subscribe_cancellations();
    a.cancel_task(&task.task_uuid, None).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(2), cancellations.recv())
        .await
        .expect("B hears the cancellation")
        .unwrap();
    assert_eq!(got, task.task_uuid);

    // B waiting on a task that A finishes wakes at once, not at its fallback poll.
    let task = create(&a, "single", json!({})).await;
    let finisher = {
        let a = a.clone();
        let uuid = task.task_uuid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            for c in claim(&a, &["Single.Only"], 100, "w").await {
                if c.task_uuid == uuid {
                    record(&a, success(&c, json!("done"))).await;
                }
            }
        })
    };
    let started = Instant::now();
    let done = b
        .wait_for_task(&task.task_uuid, Duration::from_secs(10))
        .await
        .unwrap();
    let took = started.elapsed();
    finisher.await.unwrap();
    assert_eq!(done.state, "complete");
    assert!(
        took < Duration::from_millis(800),
        "B was not woken by A's NOTIFY: {took:?}"
    );
    a.close().await;
    b.close().await;
}
