//! Per-handler limits (docs/limits.md): `concurrency` caps the steps of a key in progress,
//! `rate_limit` spaces their starts by a token bucket on the database clock, `limit_key` gives
//! each key its own limit; a held-back step stays enqueued with its attempts untouched. On both
//! backends, with two engines on one database claiming at once.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;

use tasker_domain::parse_worker_limits;
use tasker_orchestration::{ClaimRequest, ClaimedStep, Engine};

backend_tests!(
    a_concurrency_of_two_is_never_exceeded,
    two_engines_never_exceed_the_concurrency_together,
    a_rate_limit_spaces_claims_by_the_database_clock,
    each_limit_key_has_its_own_limit,
    held_back_steps_are_due_again_soon_not_at_once,
    steps_a_decision_creates_key_their_limit_on_the_task_context,
    a_workers_limits_hold_for_steps_their_template_leaves_unlimited,
    a_workers_limit_key_gives_each_customer_a_limit,
    a_templates_own_limits_win_over_a_workers,
);

const CHARGE: &str = "Payments.Charge";

const LIMITED: &str = r#"
name: limited
namespace_name: test
version: 1.0.0
steps:
  - name: charge
    handler: { callable: Payments.Charge }
    concurrency: 2
"#;

const RATED: &str = r#"
name: limited
namespace_name: test
version: 1.0.0
steps:
  - name: charge
    handler: { callable: Payments.Charge }
    rate_limit: { per_second: 1, burst: 2 }
"#;

const PER_CUSTOMER: &str = r#"
name: limited
namespace_name: test
version: 1.0.0
steps:
  - name: charge
    handler: { callable: Payments.Charge }
    concurrency: 1
    limit_key: "customer:{{customer.id}}"
"#;

/// `charge` is created by `route`'s decision, keyed by a JSONPath into the context.
const DECIDED: &str = r#"
name: limited
namespace_name: test
version: 1.0.0
steps:
  - name: start
    handler: { callable: Payments.Start }
  - name: route
    type: decision
    dependencies: [start]
    handler: { callable: Payments.Route }
  - name: charge
    dependencies: [route]
    handler: { callable: Payments.Charge }
    concurrency: 1
    limit_key: "$.customer.id"
"#;

const UNLIMITED: &str = r#"
name: limited
namespace_name: test
version: 1.0.0
steps:
  - name: charge
    handler: { callable: Payments.Charge }
"#;

/// Claim as a worker created with `createWorker({ limits })` (JSON, template field names).
async fn claim_under(engine: &Engine, limits: &str, worker: &str) -> Vec<ClaimedStep> {
    let limits = parse_worker_limits(limits, "createWorker limits").expect("limits parse");
    engine
        .claim_for(&ClaimRequest {
            callables: strings(&[CHARGE]),
            limits: Arc::new(limits),
            limit: 10,
            worker_id: worker.to_string(),
            lease_ms: 60_000,
        })
        .await
        .expect("claim")
}

fn shared(db: &TestDb, dir: &TempDir) -> TestDb {
    TestDb {
        backend: db.backend,
        url: shared_url(db, dir),
    }
}

async fn tasks(engine: &Engine, contexts: &[serde_json::Value]) -> Vec<String> {
    let mut out = Vec::new();
    for c in contexts {
        out.push(create(engine, "limited", c.clone()).await.task_uuid);
    }
    out
}

/// (state, attempts) of each task's `charge` step.
async fn charges(engine: &Engine, tasks: &[String]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in tasks {
        let v = details(engine, t).await;
        let s = step(&v, "charge");
        out.push((s.state.clone(), s.attempts));
    }
    out
}

async fn a_concurrency_of_two_is_never_exceeded(db: TestDb) {
    let engine = engine(&db, &[("limited.yaml", LIMITED)]).await;
    let ids = tasks(&engine, &vec![json!({}); 5]).await;
    let first = claim(&engine, &[CHARGE], 10, "w1").await;
    assert_eq!(first.len(), 2, "two may run at once");
    assert!(claim(&engine, &[CHARGE], 10, "w1").await.is_empty());
    // The three held back are still enqueued and have used no attempt.
    let mut states = charges(&engine, &ids).await;
    states.sort();
    assert_eq!(
        states,
        [
            ("enqueued".to_string(), 0),
            ("enqueued".to_string(), 0),
            ("enqueued".to_string(), 0),
            ("in_progress".to_string(), 1),
            ("in_progress".to_string(), 1),
        ]
    );
    // A completion frees a slot; a failure that will be retried frees one too.
    record(&engine, success(&first[0], json!({ "ok": true }))).await;
    let next = claim(&engine, &[CHARGE], 10, "w1").await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].attempt, 1);
    record(&engine, failure(&first[1], false, None)).await;
    assert_eq!(claim(&engine, &[CHARGE], 10, "w1").await.len(), 1);
    assert!(claim(&engine, &[CHARGE], 10, "w1").await.is_empty());
}

async fn two_engines_never_exceed_the_concurrency_together(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let a = engine(&db, &[("limited.yaml", LIMITED)]).await;
    let b = engine(&db, &[("limited.yaml", LIMITED)]).await;
    tasks(&a, &vec![json!({}); 8]).await;
    for _round in 0..5 {
        let (x, y) = tokio::join!(
            claim(&a, &[CHARGE], 10, "wa"),
            claim(&b, &[CHARGE], 10, "wb")
        );
        assert!(
            x.len() + y.len() <= 2,
            "{} + {} steps in progress at once",
            x.len(),
            y.len()
        );
        // Finish what they hold, so the next round can claim again.
        for c in x {
            record(&a, success(&c, json!({}))).await;
        }
        for c in y {
            record(&b, success(&c, json!({}))).await;
        }
    }
}

async fn a_rate_limit_spaces_claims_by_the_database_clock(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("limited.yaml", RATED)]).await;
    let ids = tasks(&engine, &vec![json!({}); 6]).await;
    // A burst of two, then nothing until the bucket refills (one a second).
    assert_eq!(claim(&engine, &[CHARGE], 10, "w1").await.len(), 2);
    assert!(claim(&engine, &[CHARGE], 10, "w1").await.is_empty());
    // 2.5 s later by the database clock the bucket holds 2 tokens again (2.5, capped at the
    // burst of 2).
    let mut raw = RawConnection::open(&db.url).await;
    let back = match raw {
        RawConnection::Sqlite(_) => "refilled_at - 2500".to_string(),
        RawConnection::Postgres(_) => "refilled_at - interval '2500 milliseconds'".to_string(),
    };
    let sql = format!("UPDATE {} SET refilled_at = {back}", raw.table("limits"));
    raw.execute(&sql).await;
    assert_eq!(claim(&engine, &[CHARGE], 10, "w1").await.len(), 2);
    assert!(claim(&engine, &[CHARGE], 10, "w1").await.is_empty());
    let held = charges(&engine, &ids)
        .await
        .into_iter()
        .filter(|(s, _)| s == "enqueued")
        .collect::<Vec<_>>();
    assert_eq!(held, vec![("enqueued".to_string(), 0); 2]);
    // 1.5 s: one and a half tokens, one claim.
    let sql = format!(
        "UPDATE {} SET refilled_at = {}",
        raw.table("limits"),
        back.replace("2500", "1500")
    );
    raw.execute(&sql).await;
    assert_eq!(claim(&engine, &[CHARGE], 10, "w1").await.len(), 1);
}

async fn each_limit_key_has_its_own_limit(db: TestDb) {
    let engine = engine(&db, &[("limited.yaml", PER_CUSTOMER)]).await;
    let a = json!({ "customer": { "id": "A" } });
    let b = json!({ "customer": { "id": "B" } });
    let ids = tasks(&engine, &[a.clone(), a, b]).await;
    let got = claim(&engine, &[CHARGE], 10, "w1").await;
    assert_eq!(got.len(), 2, "one of customer A and one of customer B");
    let mut claimed: Vec<&str> = got.iter().map(|c| c.task_uuid.as_str()).collect();
    claimed.sort();
    let mut expected = vec![ids[2].as_str()];
    expected.push(if claimed.contains(&ids[0].as_str()) {
        ids[0].as_str()
    } else {
        ids[1].as_str()
    });
    expected.sort();
    assert_eq!(claimed, expected, "B's step is not held back by A's");
    assert!(claim(&engine, &[CHARGE], 10, "w1").await.is_empty());
    // The stored key is the callable and the resolved limit_key.
    let v = details(&engine, &ids[2]).await;
    assert_eq!(step(&v, "charge").state, "in_progress");
}

async fn held_back_steps_are_due_again_soon_not_at_once(db: TestDb) {
    let engine = engine(&db, &[("limited.yaml", LIMITED)]).await;
    tasks(&engine, &vec![json!({}); 3]).await;
    assert_eq!(claim(&engine, &[CHARGE], 10, "w1").await.len(), 2);
    let due = engine
        .next_ready_in(&strings(&[CHARGE]))
        .await
        .expect("next_ready_in")
        .expect("a step is waiting");
    assert!(
        (50..=100).contains(&due),
        "a held-back step is looked at again in about 100 ms, got {due}"
    );
}

async fn steps_a_decision_creates_key_their_limit_on_the_task_context(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("limited.yaml", DECIDED)]).await;
    let a = json!({ "customer": { "id": "A" } });
    let b = json!({ "customer": { "id": "B" } });
    let ids = tasks(&engine, &[a.clone(), a, b]).await;
    let decide = json!({
        "decision_point_outcome": { "type": "create_steps", "step_names": ["charge"] }
    });
    for c in claim(&engine, &["Payments.Start"], 10, "w1").await {
        record(&engine, success(&c, json!({}))).await;
    }
    for c in claim(&engine, &["Payments.Route"], 10, "w1").await {
        record(&engine, success(&c, decide.clone())).await;
    }
    // One charge of customer A and the one of customer B: keyed per customer, not shared.
    let got = claim(&engine, &[CHARGE], 10, "w1").await;
    let mut claimed: Vec<&str> = got.iter().map(|c| c.task_uuid.as_str()).collect();
    claimed.sort();
    assert_eq!(claimed.len(), 2, "one per customer: {claimed:?}");
    assert!(
        claimed.contains(&ids[2].as_str()),
        "B's charge is not held back by A's"
    );
    assert!(claim(&engine, &[CHARGE], 10, "w1").await.is_empty());
    let mut raw = RawConnection::open(&db.url).await;
    for (key, n) in [("Payments.Charge:A", 2), ("Payments.Charge:B", 1)] {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE limit_key = '{key}'",
            raw.table("steps")
        );
        assert_eq!(raw.fetch_i64(&sql).await, Some(n), "steps keyed {key}");
    }
}

async fn a_workers_limits_hold_for_steps_their_template_leaves_unlimited(db: TestDb) {
    let engine = engine(&db, &[("limited.yaml", UNLIMITED)]).await;
    let ids = tasks(&engine, &vec![json!({}); 5]).await;
    let two = r#"{ "Payments.Charge": { "concurrency": 2 } }"#;
    let first = claim_under(&engine, two, "w1").await;
    assert_eq!(first.len(), 2, "the worker's limit of two holds");
    assert!(claim_under(&engine, two, "w1").await.is_empty());
    // The ready steps now carry the limit: a worker without limits is held back by it too.
    assert!(claim(&engine, &[CHARGE], 10, "w2").await.is_empty());
    let mut held: Vec<(String, i64)> = charges(&engine, &ids)
        .await
        .into_iter()
        .filter(|(s, _)| s != "in_progress")
        .collect();
    held.sort();
    assert_eq!(
        held,
        vec![("enqueued".to_string(), 0); 3],
        "held back, no attempt used"
    );
    record(&engine, success(&first[0], json!({}))).await;
    assert_eq!(claim_under(&engine, two, "w1").await.len(), 1);
}

async fn a_workers_limit_key_gives_each_customer_a_limit(db: TestDb) {
    let engine = engine(&db, &[("limited.yaml", UNLIMITED)]).await;
    let a = json!({ "customer": { "id": "A" } });
    let b = json!({ "customer": { "id": "B" } });
    let ids = tasks(&engine, &[a.clone(), a, b]).await;
    let per_customer =
        r#"{ "Payments.Charge": { "concurrency": 1, "limit_key": "$.customer.id" } }"#;
    let got = claim_under(&engine, per_customer, "w1").await;
    let claimed: Vec<&str> = got.iter().map(|c| c.task_uuid.as_str()).collect();
    assert_eq!(claimed.len(), 2, "one of each customer: {claimed:?}");
    assert!(claimed.contains(&ids[2].as_str()));
    assert!(claim_under(&engine, per_customer, "w1").await.is_empty());
}

async fn a_templates_own_limits_win_over_a_workers(db: TestDb) {
    let engine = engine(&db, &[("limited.yaml", LIMITED)]).await;
    tasks(&engine, &vec![json!({}); 4]).await;
    let one = r#"{ "Payments.Charge": { "concurrency": 1 } }"#;
    assert_eq!(
        claim_under(&engine, one, "w1").await.len(),
        2,
        "the template's concurrency of 2 applies to its steps"
    );
}
