//! Priorities (docs/priorities.md): claims take the highest priority first, equal priorities
//! in ready order, and one second of waiting is worth one priority point, so age wins in the
//! end; steps created later by decisions have their task's priority; out-of-range and
//! fractional priorities are refused with the field and the value. On both backends.

mod common;

use common::*;
use serde_json::json;
use tasker_orchestration::{CreateTask, Engine, ErrorCode, TaskView};

backend_tests!(
    a_higher_priority_is_claimed_before_an_older_lower_one,
    equal_priorities_are_claimed_in_ready_order,
    waiting_long_enough_beats_a_higher_priority,
    steps_created_by_a_decision_have_the_task_priority,
    priorities_outside_the_range_are_refused,
);

const ONLY: &str = "Single.Only";

/// The test's database, reachable from a second connection too.
fn shared(db: &TestDb, dir: &TempDir) -> TestDb {
    TestDb {
        backend: db.backend,
        url: shared_url(db, dir),
    }
}

fn with_priority(label: &str, priority: Option<f64>) -> CreateTask {
    CreateTask {
        priority,
        ..req("single", json!({ "label": label }), None)
    }
}

async fn create_with(engine: &Engine, label: &str, priority: Option<f64>) -> TaskView {
    engine
        .create_task(with_priority(label, priority))
        .await
        .unwrap_or_else(|e| panic!("create {label}: {e}"))
}

/// The only step of a `single` task.
fn only_step(engine_task: &TaskView) -> String {
    step(engine_task, "only").step_uuid.clone()
}

/// Claim one step at a time until none is left; the labels of their tasks in claim order.
async fn claim_order(engine: &Engine, labels: &[(String, String)]) -> Vec<String> {
    let mut order = Vec::new();
    loop {
        let got = claim(engine, &[ONLY], 1, "w1").await;
        let Some(c) = got.first() else { break };
        let label = labels
            .iter()
            .find(|(task, _)| *task == c.task_uuid)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| panic!("a step of an unknown task {}", c.task_uuid));
        order.push(label);
    }
    order
}

/// Create `single` tasks (label, priority, ms it has been ready) and return (task, label).
async fn tasks_ready(
    engine: &Engine,
    raw: &mut RawConnection,
    specs: &[(&str, Option<f64>, i64)],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (label, priority, ago) in specs {
        let t = create_with(engine, label, *priority).await;
        let t = details(engine, &t.task_uuid).await;
        raw.set_ready_ago(&only_step(&t), *ago).await;
        out.push((t.task_uuid.clone(), label.to_string()));
    }
    out
}

async fn a_higher_priority_is_claimed_before_an_older_lower_one(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let mut raw = RawConnection::open(&db.url).await;
    // `old` has waited 5 s at the default priority 0; `urgent` (10) and `low` (-3) are new.
    let labels = tasks_ready(
        &engine,
        &mut raw,
        &[
            ("old", None, 5_000),
            ("urgent", Some(10.0), 0),
            ("low", Some(-3.0), 0),
        ],
    )
    .await;
    assert_eq!(
        claim_order(&engine, &labels).await,
        ["urgent", "old", "low"]
    );

    // The views show the priorities, on the task and on its steps.
    let urgent = details(&engine, &labels[1].0).await;
    assert_eq!(urgent.priority, 10);
    assert_eq!(step(&urgent, "only").priority, 10);
    assert_eq!(details(&engine, &labels[0].0).await.priority, 0);
    let listed = engine
        .list_tasks(&Default::default())
        .await
        .expect("list tasks");
    let mut priorities: Vec<i64> = listed.iter().map(|t| t.priority).collect();
    priorities.sort();
    assert_eq!(priorities, [-3, 0, 10]);
}

async fn equal_priorities_are_claimed_in_ready_order(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let mut raw = RawConnection::open(&db.url).await;
    // Created in another order than they became ready.
    let labels = tasks_ready(
        &engine,
        &mut raw,
        &[
            ("third", Some(7.0), 1_000),
            ("first", Some(7.0), 3_000),
            ("fourth", Some(7.0), 500),
            ("second", Some(7.0), 2_000),
        ],
    )
    .await;
    assert_eq!(
        claim_order(&engine, &labels).await,
        ["first", "second", "third", "fourth"]
    );

    // Tasks created in one call are ready at the same time (on PostgreSQL, the same statement
    // time): they are claimed in the order of the call.
    let batch: Vec<String> = (0..6).map(|i| format!("batch-{i}")).collect();
    let created = engine
        .create_tasks(batch.iter().map(|l| with_priority(l, Some(7.0))).collect())
        .await
        .expect("create tasks");
    let labels: Vec<(String, String)> = created
        .iter()
        .zip(&batch)
        .map(|(t, l)| (t.task_uuid.clone(), l.clone()))
        .collect();
    assert_eq!(claim_order(&engine, &labels).await, batch);
}

async fn waiting_long_enough_beats_a_higher_priority(db: TestDb) {
    let dir = TempDir::new();
    let db = shared(&db, &dir);
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let mut raw = RawConnection::open(&db.url).await;
    // `patient` (-1000, the lowest) has waited 2001 s: more than the 2000 points between the
    // lowest and the highest priority. `aged` (0) has waited 100 s, more than the 50 points
    // of `fifty`, less than the 200 of `two_hundred`.
    let labels = tasks_ready(
        &engine,
        &mut raw,
        &[
            ("fifty", Some(50.0), 0),
            ("aged", Some(0.0), 100_000),
            ("two_hundred", Some(200.0), 0),
            ("highest", Some(1000.0), 0),
            ("patient", Some(-1000.0), 2_001_000),
        ],
    )
    .await;
    assert_eq!(
        claim_order(&engine, &labels).await,
        ["patient", "highest", "two_hundred", "aged", "fifty"]
    );
}

/// A decision whose outcome creates `after`.
const DECIDE: &str = r#"
name: decide
namespace_name: test
version: 1.0.0
steps:
  - name: start
    handler: { callable: Decide.Start }
  - name: choose
    type: decision
    dependencies: [start]
    handler: { callable: Decide.Choose }
  - name: after
    dependencies: [choose]
    handler: { callable: Decide.After }
"#;

async fn steps_created_by_a_decision_have_the_task_priority(db: TestDb) {
    let engine = engine(&db, &[("decide.yaml", DECIDE)]).await;
    let task = engine
        .create_task(CreateTask {
            priority: Some(-42.0),
            ..req("decide", json!({}), None)
        })
        .await
        .expect("create");
    assert_eq!(task.priority, -42);
    let start = claim_one(&engine, &["Decide.Start"], "w1").await;
    record(&engine, success(&start, json!({}))).await;
    let choose = claim_one(&engine, &["Decide.Choose"], "w1").await;
    let outcome = json!({
        "decision_point_outcome": { "outcome_type": "CreateSteps", "step_names": ["after"] },
    });
    record(&engine, success(&choose, outcome)).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "after").created_by.as_deref(), Some("choose"));
    assert_eq!(step(&t, "after").priority, -42);
    assert_eq!(step(&t, "choose").priority, -42);
}

async fn priorities_outside_the_range_are_refused(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    for (priority, shown) in [
        (1001.0, "1001"),
        (-1001.0, "-1001"),
        (1.5, "1.5"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
    ] {
        let e = engine
            .create_task(with_priority("bad", Some(priority)))
            .await
            .expect_err("an invalid priority is refused");
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "the priority of test/single@1.0.0 must be an integer from -1000 to 1000 \
                 (higher first), got {shown}"
            )
        );
    }
    // In a batch the request is named, and nothing is created.
    let e = engine
        .create_tasks(vec![
            with_priority("fine", Some(1000.0)),
            with_priority("bad", Some(2000.0)),
        ])
        .await
        .expect_err("an invalid priority is refused");
    assert_eq!(
        e.to_string(),
        "request 1: the priority of test/single@1.0.0 must be an integer from -1000 to 1000 \
         (higher first), got 2000"
    );
    let listed = engine
        .list_tasks(&Default::default())
        .await
        .expect("list tasks");
    assert!(listed.is_empty(), "nothing was created");
    // The limits themselves are accepted.
    for p in [-1000.0, 1000.0, 0.0] {
        assert_eq!(
            create_with(&engine, "edge", Some(p)).await.priority,
            p as i64
        );
    }
}
