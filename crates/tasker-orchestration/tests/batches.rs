//! Batch processing and checkpoints (reference §1.3, §1.6, §5): the workers and convergence a
//! batch outcome creates, the NoBatches placeholder, idempotency under stale results,
//! rejected outcomes, and checkpoints saved under a claim, on both backends.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tasker_domain::StepState;
use tasker_orchestration::{
    ClaimedStep, Engine, ErrorCode, ExpansionLimits, RecordOutcome, TaskView,
};

backend_tests!(
    create_batches_runs_every_worker_before_the_convergence,
    no_batches_runs_one_no_op_placeholder,
    stale_analyzer_result_creates_nothing_twice,
    invalid_batch_outcomes_fail_the_analyzer_and_create_nothing,
    batch_over_the_worker_limit_fails_the_analyzer,
    decision_branch_can_be_a_batchable_step,
    step_after_the_batch_convergence_waits_for_it,
    batch_convergence_waits_for_its_other_declared_dependencies,
    checkpoint_is_handed_to_the_next_attempt,
    checkpoint_needs_the_current_claim_and_a_json_object,
    checkpoint_renews_the_lease,
);

/// Reference example (c). Workers retry at once.
const CSV: &str = r#"
name: csv_inventory
namespace_name: test
version: 1.0.0
steps:
  - name: analyze_csv
    type: batchable
    handler:
      callable: Csv.Analyze
      initialization: { worker_template_name: process_csv_batch, batch_size: 200 }
  - name: process_csv_batch
    type: batch_worker
    dependencies: [analyze_csv]
    handler: { callable: Csv.Worker, initialization: { mode: inventory } }
    batch_config:
      batch_size: 200
      parallelism: 5
      cursor_field: row_number
      worker_template: process_csv_batch
      failure_strategy: continue_on_failure
    retry: { max_attempts: 3, backoff: none, backoff_base_ms: 0 }
  - name: aggregate_csv
    type: deferred_convergence
    dependencies: [analyze_csv, process_csv_batch]
    handler: { callable: Csv.Aggregate }
"#;
const ANALYZE: &str = "Csv.Analyze";
const WORKER: &str = "Csv.Worker";
const AGGREGATE: &str = "Csv.Aggregate";
const ALL: &[&str] = &[ANALYZE, WORKER, AGGREGATE];

/// A decision whose branches are a batchable step and a plain step.
const ROUTED: &str = r#"
name: routed_batch
namespace_name: test
version: 1.0.0
steps:
  - name: start
    handler: { callable: Routed.Start }
  - name: route
    type: decision
    dependencies: [start]
    handler: { callable: Routed.Route }
  - name: analyze
    type: batchable
    dependencies: [route]
    handler: { callable: Routed.Analyze }
  - name: skip
    dependencies: [route]
    handler: { callable: Routed.Skip }
  - name: chunk
    type: batch_worker
    dependencies: [analyze]
    handler: { callable: Routed.Chunk }
    batch_config: { cursor_field: offset }
  - name: merge
    type: deferred_convergence
    dependencies: [chunk]
    handler: { callable: Routed.Merge }
"#;
const ROUTED_ALL: &[&str] = &[
    "Routed.Start",
    "Routed.Route",
    "Routed.Analyze",
    "Routed.Skip",
    "Routed.Chunk",
    "Routed.Merge",
];

/// A standard step declared after the batch convergence step.
const REPORTED: &str = r#"
name: reported_batch
namespace_name: test
version: 1.0.0
steps:
  - name: analyze
    type: batchable
    handler: { callable: Reported.Analyze, initialization: { worker_template_name: work } }
  - name: work
    type: batch_worker
    dependencies: [analyze]
    handler: { callable: Reported.Work }
  - name: aggregate
    type: deferred_convergence
    dependencies: [work]
    handler: { callable: Reported.Aggregate }
  - name: report
    dependencies: [aggregate]
    handler: { callable: Reported.Report }
"#;
const REPORTED_ALL: &[&str] = &[
    "Reported.Analyze",
    "Reported.Work",
    "Reported.Aggregate",
    "Reported.Report",
];

/// A convergence step that also declares a sibling of the workers (not an ancestor of them).
const AUDITED: &str = r#"
name: audited_batch
namespace_name: test
version: 1.0.0
steps:
  - name: analyze
    type: batchable
    handler: { callable: Audited.Analyze, initialization: { worker_template_name: work } }
  - name: audit
    dependencies: [analyze]
    handler: { callable: Audited.Audit }
  - name: work
    type: batch_worker
    dependencies: [analyze]
    handler: { callable: Audited.Work }
  - name: aggregate
    type: deferred_convergence
    dependencies: [work, audit]
    handler: { callable: Audited.Aggregate }
"#;

fn cursor(id: &str, start: Value, end: Value, size: u64) -> Value {
    json!({ "batch_id": id, "start_cursor": start, "end_cursor": end, "batch_size": size })
}

/// Three cursor configs; cursors are arbitrary JSON (numbers, timestamps).
fn three_cursors() -> Vec<Value> {
    vec![
        cursor("001", json!(0), json!(334), 334),
        cursor("002", json!(334), json!(668), 334),
        cursor(
            "003",
            json!("2024-01-01T00:00:00Z"),
            json!("2024-02-01T00:00:00Z"),
            332,
        ),
    ]
}

fn create_batches(template: &str, count: usize, configs: Vec<Value>) -> Value {
    json!({
        "batch_processing_outcome": {
            "type": "create_batches",
            "worker_template_name": template,
            "worker_count": count,
            "cursor_configs": configs,
            "total_items": 1000,
        },
        "rows": 1000,
    })
}

/// `result` with `batch_processing_outcome.<field>` set to `value`.
fn with_field(mut result: Value, field: &str, value: Value) -> Value {
    result["batch_processing_outcome"][field] = value;
    result
}

fn batch_metadata() -> Value {
    json!({ "cursor_field": "row_number", "failure_strategy": "continue_on_failure" })
}

/// Create a csv task and claim its analyzer.
async fn claim_analyzer(engine: &Engine) -> (TaskView, ClaimedStep) {
    let task = create(engine, "csv_inventory", json!({ "file": "inventory.csv" })).await;
    let t = details(engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[("analyze_csv", "enqueued")]),
        "the worker template and the convergence step are not created with the task"
    );
    let a = claim_one(engine, &[ANALYZE], "w1").await;
    assert_eq!(a.step_name, "analyze_csv");
    assert_eq!(a.task_uuid, task.task_uuid);
    assert_eq!(payload(&a)["step"]["step_type"], json!("batchable"));
    (task, a)
}

async fn create_batches_runs_every_worker_before_the_convergence(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    let (task, analyzer) = claim_analyzer(&engine).await;
    let analyzer_result = create_batches("process_csv_batch", 3, three_cursors());
    assert_eq!(
        record(&engine, success(&analyzer, analyzer_result.clone())).await,
        RecordOutcome::Recorded {
            step_uuid: analyzer.step_uuid.clone(),
            state: StepState::Complete
        }
    );

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "steps_in_process");
    assert_eq!(
        step_states(&t),
        states(&[
            ("analyze_csv", "complete"),
            ("process_csv_batch_001", "enqueued"),
            ("process_csv_batch_002", "enqueued"),
            ("process_csv_batch_003", "enqueued"),
            ("aggregate_csv", "pending"),
        ]),
        "one worker per cursor config, all enqueued; no row for the template itself"
    );
    assert_eq!(
        json_of(&step(&t, "analyze_csv").result),
        Some(analyzer_result.clone())
    );
    let done_at = step_transitions(&t, "analyze_csv")
        .last()
        .unwrap()
        .at
        .clone();
    for name in [
        "process_csv_batch_001",
        "process_csv_batch_002",
        "process_csv_batch_003",
        "aggregate_csv",
    ] {
        let ts = step_transitions(&t, name);
        assert_eq!(
            ts[0].reason.as_deref(),
            Some("created by the outcome of step 'analyze_csv'"),
            "{name}"
        );
        assert_eq!(
            ts[0].at, done_at,
            "{name} created with the analyzer's result"
        );
        let s = step(&t, name);
        assert_eq!((s.attempts, s.max_attempts), (0, 3), "{name}");
        assert_eq!(s.created_by.as_deref(), Some("analyze_csv"), "{name}");
    }
    assert_eq!(step(&t, "analyze_csv").created_by, None);
    // The view carries each worker's own inputs: its cursor range.
    let inputs: serde_json::Value =
        serde_json::from_str(step(&t, "process_csv_batch_001").inputs.get()).unwrap();
    assert_eq!(inputs["cursor"]["batch_id"], "001", "{inputs}");
    assert_eq!(step(&t, "analyze_csv").inputs.get(), "{}");

    assert!(claim(&engine, &[AGGREGATE], 10, "w1").await.is_empty());
    let workers = claim_all(&engine, ALL).await;
    let names: Vec<&str> = workers.iter().map(|c| c.step_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "process_csv_batch_001",
            "process_csv_batch_002",
            "process_csv_batch_003"
        ],
        "the convergence step is not claimable while workers are outstanding"
    );
    for (w, cfg) in workers.iter().zip(three_cursors()) {
        let p = payload(w);
        assert_eq!(
            p["step"]["inputs"],
            json!({
                "cursor": cfg,
                "batch_metadata": batch_metadata(),
                "is_no_op": false,
                "__template_step_name": "process_csv_batch",
            }),
            "{}",
            w.step_name
        );
        assert_eq!(p["step"]["name"], json!(w.step_name));
        assert_eq!(p["step"]["template_step_name"], json!("process_csv_batch"));
        assert_eq!(p["step"]["handler_callable"], json!(WORKER));
        assert_eq!(
            p["step"]["handler_initialization"],
            json!({ "mode": "inventory" }),
            "the template's initialization, without the cursor"
        );
        assert_eq!(p["step"]["checkpoint"], Value::Null);
        assert_eq!((w.attempt, w.max_attempts), (1, 3));
        assert_eq!(dep_names(w), ["analyze_csv"]);
        assert_eq!(
            p["dependency_results"]["analyze_csv"]["result"],
            analyzer_result
        );
    }

    // The convergence step waits for all three workers.
    for (i, w) in workers.iter().enumerate() {
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(
            step(&t, "aggregate_csv").state,
            "pending",
            "after {i} of 3 workers"
        );
        assert_eq!(t.state, "steps_in_process");
        record(
            &engine,
            success(
                w,
                json!({ "items_processed": 100 + i, "batch": w.step_name }),
            ),
        )
        .await;
    }
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "aggregate_csv").state, "enqueued");
    let agg = claim_one(&engine, ALL, "w1").await;
    assert_eq!(agg.step_name, "aggregate_csv");
    assert_eq!(
        dep_names(&agg),
        [
            "analyze_csv",
            "process_csv_batch_001",
            "process_csv_batch_002",
            "process_csv_batch_003"
        ]
    );
    let p = payload(&agg);
    assert_eq!(p["step"]["step_type"], json!("deferred_convergence"));
    assert_eq!(
        p["dependency_results"]["analyze_csv"]["result"],
        analyzer_result
    );
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(
            p["dependency_results"][&w.step_name]["result"],
            json!({ "items_processed": 100 + i, "batch": w.step_name })
        );
        assert_eq!(
            p["dependency_results"][&w.step_name]["step_uuid"],
            json!(w.step_uuid)
        );
    }
    record(&engine, success(&agg, json!({ "total_processed": 303 }))).await;

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(
        last_task_reason(&t),
        "all 5 steps complete",
        "created steps count towards the task's total"
    );
    assert!(claim(&engine, ALL, 10, "w1").await.is_empty());
}

async fn no_batches_runs_one_no_op_placeholder(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    for outcome in [
        json!({ "type": "no_batches" }),
        json!({ "outcome_type": "NoBatches" }),
    ] {
        let (task, analyzer) = claim_analyzer(&engine).await;
        let result = json!({ "batch_processing_outcome": outcome, "rows": 0 });
        record(&engine, success(&analyzer, result.clone())).await;
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(
            step_states(&t),
            states(&[
                ("analyze_csv", "complete"),
                ("process_csv_batch_000", "enqueued"),
                ("aggregate_csv", "pending"),
            ]),
            "{outcome}"
        );
        let placeholder = claim_one(&engine, ALL, "w1").await;
        assert_eq!(placeholder.step_name, "process_csv_batch_000");
        let p = payload(&placeholder);
        assert_eq!(
            p["step"]["inputs"],
            json!({
                "cursor": cursor("000", json!(0), json!(0), 0),
                "batch_metadata": batch_metadata(),
                "is_no_op": true,
                "__template_step_name": "process_csv_batch",
            }),
            "{outcome}"
        );
        assert_eq!(p["step"]["template_step_name"], json!("process_csv_batch"));
        record(&engine, success(&placeholder, json!({ "no_op": true }))).await;
        let agg = claim_one(&engine, ALL, "w1").await;
        assert_eq!(agg.step_name, "aggregate_csv");
        assert_eq!(dep_names(&agg), ["analyze_csv", "process_csv_batch_000"]);
        assert_eq!(
            payload(&agg)["dependency_results"]["analyze_csv"]["result"],
            result
        );
        record(&engine, success(&agg, json!({ "worker_count": 0 }))).await;
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(t.state, "complete", "{outcome}");
        assert_eq!(last_task_reason(&t), "all 3 steps complete");
    }
}

async fn stale_analyzer_result_creates_nothing_twice(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    let (task, analyzer) = claim_analyzer(&engine).await;
    // The seed's wire form.
    let result = json!({
        "batch_processing_outcome": {
            "outcome_type": "CreateBatches",
            "worker_template_name": "process_csv_batch",
            "worker_count": 2,
            "cursor_configs": [cursor("a", json!(0), json!(5), 5), cursor("b", json!(5), json!(10), 5)],
            "total_items": 10,
        }
    });
    // The same result twice in one batch: the second is stale.
    record_twice_in_one_batch(&engine, &analyzer, &result).await;
    let expected = states(&[
        ("analyze_csv", "complete"),
        ("process_csv_batch_a", "enqueued"),
        ("process_csv_batch_b", "enqueued"),
        ("aggregate_csv", "pending"),
    ]);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step_states(&t), expected);
    let transitions = t.transitions.as_ref().unwrap().len();

    // Later, the same result again, and a different outcome, under the old claim.
    assert_eq!(
        record(&engine, success(&analyzer, result.clone())).await,
        RecordOutcome::Stale {
            step_uuid: analyzer.step_uuid.clone()
        }
    );
    let more = create_batches("process_csv_batch", 3, three_cursors());
    assert!(matches!(
        record(&engine, success(&analyzer, more)).await,
        RecordOutcome::Stale { .. }
    ));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step_states(&t), expected);
    assert_eq!(t.transitions.as_ref().unwrap().len(), transitions);
    assert_eq!(json_of(&step(&t, "analyze_csv").result), Some(result));

    // And the task still completes with exactly these steps.
    for w in claim_all(&engine, ALL).await {
        record(&engine, success(&w, json!({}))).await;
    }
    let agg = claim_one(&engine, ALL, "w1").await;
    record(&engine, success(&agg, json!({}))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 4 steps complete");
}

/// Record `result` for the claimed analyzer and check that it was rejected as an
/// invalid_batch_outcome whose message contains `msg`, creating nothing.
async fn assert_rejected(
    engine: &Engine,
    task: &TaskView,
    analyzer: &ClaimedStep,
    result: Value,
    msg: &str,
) {
    assert_outcome_rejected(engine, task, analyzer, result, "invalid_batch_outcome", msg).await;
}

async fn invalid_batch_outcomes_fail_the_analyzer_and_create_nothing(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    let two = || {
        vec![
            cursor("001", json!(0), json!(5), 5),
            cursor("002", json!(5), json!(10), 5),
        ]
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            create_batches("process_csv_batch", 0, vec![]),
            "batchable step 'analyze_csv': CreateBatches has no cursor_configs",
        ),
        (
            create_batches("process_csv_batch", 3, two()),
            "batchable step 'analyze_csv': worker_count is 3 but there are 2 cursor_configs",
        ),
        (
            create_batches("aggregate_csv", 2, two()),
            "batchable step 'analyze_csv': worker template 'aggregate_csv' has type deferred_convergence, expected batch_worker",
        ),
        (
            create_batches("analyze_csv", 2, two()),
            "worker template 'analyze_csv' has type batchable, expected batch_worker",
        ),
        (
            create_batches("nope", 2, two()),
            "batchable step 'analyze_csv': worker template 'nope' is not a step of template test/csv_inventory@1.0.0",
        ),
        (
            create_batches(
                "process_csv_batch",
                2,
                vec![cursor("001", json!(0), json!(5), 5), cursor("001", json!(5), json!(10), 5)],
            ),
            "batchable step 'analyze_csv': batch_id '001' appears more than once in cursor_configs",
        ),
        (
            create_batches(
                "process_csv_batch",
                1,
                vec![json!({ "batch_id": "001", "start_cursor": 0, "batch_size": 5 })],
            ),
            "batchable step 'analyze_csv': batch_processing_outcome.cursor_configs[0].end_cursor is missing",
        ),
        (
            json!({ "rows": 10 }),
            "batchable step 'analyze_csv' returned no batch_processing_outcome",
        ),
        (
            json!({ "batch_processing_outcome": { "type": "some_batches" } }),
            "batchable step 'analyze_csv': batch_processing_outcome.type is \"some_batches\", an unknown outcome type; expected CreateBatches or NoBatches",
        ),
        (
            with_field(create_batches("process_csv_batch", 2, two()), "worker_count", json!("2")),
            "batchable step 'analyze_csv': batch_processing_outcome.worker_count must be a whole number >= 1, got \"2\"",
        ),
        (
            with_field(create_batches("process_csv_batch", 2, two()), "worker_count", json!(null)),
            "batchable step 'analyze_csv': batch_processing_outcome.worker_count must be a whole number >= 1, got null",
        ),
        (
            with_field(create_batches("process_csv_batch", 2, two()), "total_items", json!(-5)),
            "batchable step 'analyze_csv': batch_processing_outcome.total_items must be a whole number >= 0, got -5",
        ),
        (
            json!({ "batch_processing_outcome": { "type": "no_batches", "outcome_type": "CreateBatches" } }),
            "batchable step 'analyze_csv': batch_processing_outcome.type is \"no_batches\" but its outcome_type is \"CreateBatches\"; they must agree (set only one of them)",
        ),
    ];
    for (result, msg) in cases {
        let (task, analyzer) = claim_analyzer(&engine).await;
        assert_rejected(&engine, &task, &analyzer, result, msg).await;
        assert!(claim(&engine, ALL, 10, "w1").await.is_empty());
    }
}

async fn batch_over_the_worker_limit_fails_the_analyzer(db: TestDb) {
    let zero = ExpansionLimits {
        max_batch_workers: 0,
        ..Default::default()
    };
    match Engine::open_with(&db.url, zero).await {
        Ok(_) => panic!("a limit of 0 is rejected"),
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}"),
    }
    let limits = ExpansionLimits {
        max_batch_workers: 2,
        ..Default::default()
    };
    let engine = engine_with(&db, limits, &[("csv.yaml", CSV)]).await;
    let (task, analyzer) = claim_analyzer(&engine).await;
    assert_rejected(
        &engine,
        &task,
        &analyzer,
        create_batches("process_csv_batch", 3, three_cursors()),
        "batchable step 'analyze_csv' asked for 3 batch workers; the limit is 2 (maxBatchWorkers)",
    )
    .await;
    // At the limit is fine.
    let (task, analyzer) = claim_analyzer(&engine).await;
    record(
        &engine,
        success(
            &analyzer,
            create_batches("process_csv_batch", 2, three_cursors()[..2].to_vec()),
        ),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_names(&t),
        sorted(&[
            "analyze_csv",
            "process_csv_batch_001",
            "process_csv_batch_002",
            "aggregate_csv"
        ])
    );
}

async fn decision_branch_can_be_a_batchable_step(db: TestDb) {
    let engine = engine(&db, &[("routed.yaml", ROUTED)]).await;
    let task = create(&engine, "routed_batch", json!({})).await;
    let start = claim_one(&engine, ROUTED_ALL, "w1").await;
    record(&engine, success(&start, json!({}))).await;
    let route = claim_one(&engine, ROUTED_ALL, "w1").await;
    assert_eq!(route.step_name, "route");
    record(
        &engine,
        success(
            &route,
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["analyze"] } }),
        ),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[
            ("start", "complete"),
            ("route", "complete"),
            ("analyze", "enqueued"),
        ]),
        "the decision creates the batchable step; its workers and convergence come from its own outcome"
    );
    let analyze = claim_one(&engine, ROUTED_ALL, "w1").await;
    assert_eq!(analyze.step_name, "analyze");
    record(
        &engine,
        success(
            &analyze,
            create_batches(
                "chunk",
                2,
                vec![
                    cursor("x", json!(0), json!(10), 10),
                    cursor("y", json!(10), json!(20), 10),
                ],
            ),
        ),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[
            ("start", "complete"),
            ("route", "complete"),
            ("analyze", "complete"),
            ("chunk_x", "enqueued"),
            ("chunk_y", "enqueued"),
            ("merge", "pending"),
        ])
    );
    let chunks = claim_all(&engine, ROUTED_ALL).await;
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        payload(&chunks[0])["step"]["inputs"]["batch_metadata"],
        json!({ "cursor_field": "offset", "failure_strategy": "continue_on_failure" }),
        "defaults for what batch_config leaves out"
    );
    for c in &chunks {
        record(&engine, success(c, json!({ "chunk": c.step_name }))).await;
    }
    let merge = claim_one(&engine, ROUTED_ALL, "w1").await;
    assert_eq!(merge.step_name, "merge");
    // Its dependencies only (every worker of `chunk`), not the steps upstream of them, which
    // the payload names instead.
    assert_eq!(dep_names(&merge), ["chunk_x", "chunk_y"]);
    let p = payload(&merge);
    assert_eq!(p["step"]["dependencies"], json!(["chunk"]));
    assert_eq!(
        p["step"]["indirect_ancestors"],
        json!(["analyze", "route", "start"])
    );
    assert_eq!(p["step"]["indirect_batch_workers"], json!([]));
    record(&engine, success(&merge, json!({}))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 6 steps complete");
}

/// `report` declares `dependencies: [aggregate]`, so it must not run before the convergence
/// step it depends on (docs/templates.md: "the step runs once all of them are complete").
async fn step_after_the_batch_convergence_waits_for_it(db: TestDb) {
    let engine = engine(&db, &[("reported.yaml", REPORTED)]).await;
    let task = create(&engine, "reported_batch", json!({})).await;
    let first = claim_all(&engine, REPORTED_ALL).await;
    let names: Vec<&str> = first.iter().map(|c| c.step_name.as_str()).collect();
    assert_eq!(
        names,
        ["analyze"],
        "only the analyzer is ready when the task starts; 'report' depends on 'aggregate'"
    );
    let analyze = &first[0];
    record(
        &engine,
        success(
            analyze,
            create_batches("work", 1, vec![cursor("001", json!(0), json!(1), 1)]),
        ),
    )
    .await;
    let w = claim_one(&engine, REPORTED_ALL, "w1").await;
    assert_eq!(w.step_name, "work_001");
    record(&engine, success(&w, json!({}))).await;
    let agg = claim_one(&engine, REPORTED_ALL, "w1").await;
    assert_eq!(agg.step_name, "aggregate");
    record(&engine, success(&agg, json!({ "total": 1 }))).await;
    let report = claim_one(&engine, REPORTED_ALL, "w1").await;
    assert_eq!(report.step_name, "report");
    // Its dependency; the analyzer and the workers are upstream of it, and the payload says
    // which of those is a worker template (whose steps are `work_<batch id>`).
    assert_eq!(dep_names(&report), ["aggregate"]);
    let p = payload(&report);
    assert_eq!(p["step"]["indirect_ancestors"], json!(["analyze", "work"]));
    assert_eq!(p["step"]["indirect_batch_workers"], json!(["work"]));
    record(&engine, success(&report, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

/// `aggregate` declares `dependencies: [work, audit]`; `audit` is a sibling of the workers, not
/// their ancestor, so the convergence step must wait for it as well.
async fn batch_convergence_waits_for_its_other_declared_dependencies(db: TestDb) {
    let engine = engine(&db, &[("audited.yaml", AUDITED)]).await;
    let task = create(&engine, "audited_batch", json!({})).await;
    let analyze = claim_one(&engine, &["Audited.Analyze"], "w1").await;
    record(
        &engine,
        success(
            &analyze,
            create_batches("work", 1, vec![cursor("001", json!(0), json!(1), 1)]),
        ),
    )
    .await;
    let w = claim_one(&engine, &["Audited.Work"], "w1").await;
    assert_eq!(w.step_name, "work_001");
    record(&engine, success(&w, json!({}))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "audit").state, "enqueued");
    assert_eq!(
        step(&t, "aggregate").state,
        "pending",
        "'aggregate' declares 'audit', which has not run yet"
    );
    let audit = claim_one(&engine, &["Audited.Audit"], "w1").await;
    record(&engine, success(&audit, json!({ "audited": true }))).await;
    let agg = claim_one(&engine, &["Audited.Aggregate"], "w1").await;
    // Its two declared dependencies (the worker template's steps, and `audit`, which has no edge
    // to it); `analyze`, upstream of both, is no dependency of it.
    assert_eq!(dep_names(&agg), ["audit", "work_001"]);
    assert_eq!(
        payload(&agg)["step"]["indirect_ancestors"],
        json!(["analyze"])
    );
    record(&engine, success(&agg, json!({}))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 4 steps complete");
}

/// Run the analyzer with one batch and claim the worker.
async fn one_worker(engine: &Engine) -> (TaskView, ClaimedStep) {
    let (task, analyzer) = claim_analyzer(engine).await;
    record(
        engine,
        success(
            &analyzer,
            create_batches(
                "process_csv_batch",
                1,
                vec![cursor("001", json!(0), json!(1000), 1000)],
            ),
        ),
    )
    .await;
    let w = claim_one(engine, &[WORKER], "w1").await;
    assert_eq!(w.step_name, "process_csv_batch_001");
    assert_eq!(payload(&w)["step"]["checkpoint"], Value::Null);
    (task, w)
}

async fn save(engine: &Engine, c: &ClaimedStep, checkpoint: &Value) -> bool {
    engine
        .save_checkpoint(&c.step_uuid, &c.claim_id, &checkpoint.to_string(), 60_000)
        .await
        .expect("save_checkpoint")
}

async fn checkpoint_is_handed_to_the_next_attempt(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    let (task, w1) = one_worker(&engine).await;
    let first = json!({ "cursor": 100, "items_processed": 100 });
    let latest = json!({
        "cursor": 250,
        "items_processed": 250,
        "accumulated_results": { "sum": 31337, "skus": ["a", "b"] },
        "history": [{ "cursor": 100 }, { "cursor": 250 }],
    });
    assert!(save(&engine, &w1, &first).await);
    assert!(save(&engine, &w1, &latest).await, "the last save wins");
    // A retryable failure: the next attempt resumes from the checkpoint.
    record(&engine, failure(&w1, true, None)).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "process_csv_batch_001").state, "waiting_for_retry");
    let w2 = claim_one(&engine, &[WORKER], "w1").await;
    assert_eq!(w2.step_uuid, w1.step_uuid);
    assert_eq!(w2.attempt, 2);
    let p = payload(&w2);
    assert_eq!(p["step"]["checkpoint"], latest);
    assert_eq!(p["step"]["attempts"], json!(1));
    // The step's inputs are unchanged by checkpoints.
    assert_eq!(p["step"]["inputs"]["cursor"]["end_cursor"], json!(1000));

    // Again from the second attempt to the third.
    let third = json!({ "cursor": 900, "items_processed": 900 });
    assert!(save(&engine, &w2, &third).await);
    record(&engine, failure(&w2, true, None)).await;
    let w3 = claim_one(&engine, &[WORKER], "w1").await;
    assert_eq!(payload(&w3)["step"]["checkpoint"], third);
    record(&engine, success(&w3, json!({ "items_processed": 1000 }))).await;
    let agg = claim_one(&engine, ALL, "w1").await;
    assert_eq!(
        payload(&agg)["dependency_results"]["process_csv_batch_001"]["result"],
        json!({ "items_processed": 1000 })
    );
    record(&engine, success(&agg, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn checkpoint_needs_the_current_claim_and_a_json_object(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    let (task, w1) = one_worker(&engine).await;
    let kept = json!({ "cursor": 10 });
    assert!(save(&engine, &w1, &kept).await);

    // Not a JSON object / not JSON at all: an error, and nothing is stored.
    for bad in [
        "[1, 2]",
        "42",
        "\"cursor\"",
        "null",
        "true",
        "{\"cursor\": ",
        "",
    ] {
        let e = expect_err(
            engine
                .save_checkpoint(&w1.step_uuid, &w1.claim_id, bad, 60_000)
                .await,
        );
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad:?}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains("checkpoint must be a JSON object")
                || msg.contains("checkpoint is not valid JSON"),
            "{bad:?}: {msg}"
        );
    }
    // A claim id that never was, and a step that does not exist.
    assert!(!engine
        .save_checkpoint(&w1.step_uuid, "not-a-claim", "{\"cursor\": 99}", 60_000)
        .await
        .unwrap());
    assert!(!engine
        .save_checkpoint(
            "00000000-0000-0000-0000-000000000000",
            &w1.claim_id,
            "{\"cursor\": 99}",
            60_000
        )
        .await
        .unwrap());

    // The step is retried: the first attempt's claim is stale and cannot overwrite.
    record(&engine, failure(&w1, true, None)).await;
    assert!(
        !save(&engine, &w1, &json!({ "cursor": 666 })).await,
        "no claim while waiting for the retry"
    );
    let w2 = claim_one(&engine, &[WORKER], "w1").await;
    assert_eq!(payload(&w2)["step"]["checkpoint"], kept);
    assert!(
        !save(&engine, &w1, &json!({ "cursor": 666 })).await,
        "the old claim is stale"
    );
    let newer = json!({ "cursor": 20 });
    assert!(save(&engine, &w2, &newer).await);
    record(&engine, failure(&w2, true, None)).await;
    let w3 = claim_one(&engine, &[WORKER], "w1").await;
    assert_eq!(payload(&w3)["step"]["checkpoint"], newer);

    // Once the step is complete no claim can save.
    record(&engine, success(&w3, json!({}))).await;
    assert!(!save(&engine, &w3, &json!({ "cursor": 30 })).await);
    // Nor once its task is cancelled.
    let (task2, w) = one_worker(&engine).await;
    engine.cancel_task(&task2.task_uuid, None).await.unwrap();
    assert!(!save(&engine, &w, &json!({ "cursor": 1 })).await);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "aggregate_csv").state, "enqueued");
}

async fn checkpoint_renews_the_lease(db: TestDb) {
    let engine = engine(&db, &[("csv.yaml", CSV)]).await;
    let (_task, analyzer) = claim_analyzer(&engine).await;
    record(
        &engine,
        success(
            &analyzer,
            create_batches(
                "process_csv_batch",
                1,
                vec![cursor("001", json!(0), json!(10), 10)],
            ),
        ),
    )
    .await;
    // A short lease, kept alive by checkpoints alone.
    let mut c = engine
        .claim(&strings(&[WORKER]), 1, "w1", 300)
        .await
        .expect("claim");
    let w = c.pop().expect("the worker is claimable");
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(engine
            .save_checkpoint(
                &w.step_uuid,
                &w.claim_id,
                &json!({ "cursor": i }).to_string(),
                300
            )
            .await
            .unwrap());
        assert_eq!(
            engine.reap_expired_leases("reaper-w").await.unwrap(),
            0,
            "save {i}"
        );
    }
    // Without further checkpoints, the lease runs out and the attempt is reaped.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(engine.reap_expired_leases("reaper-w").await.unwrap(), 1);
    assert!(
        !engine
            .save_checkpoint(&w.step_uuid, &w.claim_id, "{\"cursor\": 9}", 300)
            .await
            .unwrap(),
        "a reaped claim cannot save"
    );
    let again = claim_one(&engine, &[WORKER], "w1").await;
    assert_eq!(again.step_uuid, w.step_uuid);
    assert_eq!(
        payload(&again)["step"]["checkpoint"],
        json!({ "cursor": 2 })
    );
}
