//! Child tasks (subtask steps) on both backends: the child is created by the sweep with its
//! parent's context and dependency results, its completion completes the step with its final
//! steps' results, its failure retries the step with a new child after the backoff and then
//! fails it, cancelling the parent cancels the child, a context over the engine's limit fails
//! the step naming it, unknown child templates and cycles are refused, nesting is bounded,
//! and several engines sweeping at once create one child per step.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tasker_domain::{JsonLimits, StepState};
use tasker_orchestration::{
    Engine, EngineError, ErrorCode, Limits, RecordOutcome, TaskView, MAX_CHILD_DEPTH,
};

backend_tests!(
    the_child_runs_and_its_final_results_complete_the_step,
    a_failed_child_is_retried_with_a_new_child_after_the_backoff_then_fails_the_step,
    cancelling_the_parent_cancels_the_running_child,
    a_cancelled_child_fails_its_step_without_a_retry,
    the_result_that_readies_the_step_creates_the_child_and_claims_its_first_step,
    retrying_the_failed_parent_starts_a_new_child_and_resolving_a_waiting_step_is_refused,
    a_child_context_over_the_limit_fails_the_step_naming_it,
    unknown_child_templates_and_cycles_are_refused,
    templates_that_start_each_other_are_bounded_in_depth,
    a_new_engine_finishes_what_a_closed_one_left,
    several_engines_sweeping_create_one_child_per_step,
    the_signal_that_readies_the_step_creates_the_child,
);

/// `prepare` runs, then `ship` runs a `shipping` child task, then `notify` runs.
const PARENT: &str = r#"
name: parent
namespace_name: test
version: 1.0.0
steps:
  - name: prepare
    handler: { callable: Parent.Prepare }
  - name: ship
    type: subtask
    task: { namespace: test, name: shipping, version: 1.0.0 }
    depends_on: [prepare]
    retry: { max_attempts: 2, backoff: linear, backoff_base_ms: 400, max_backoff_ms: 400 }
  - name: notify
    handler: { callable: Parent.Notify }
    depends_on: [ship]
"#;

/// `pack`, then `label` and `track` (the final steps).
const SHIPPING: &str = r#"
name: shipping
namespace_name: test
version: 1.0.0
steps:
  - name: pack
    handler: { callable: Ship.Pack }
    retry: { retryable: false }
  - name: label
    handler: { callable: Ship.Label }
    depends_on: [pack]
  - name: track
    handler: { callable: Ship.Track }
    depends_on: [pack]
"#;

/// A subtask step that starts at once, with the parent's context only.
const DIRECT: &str = r#"
name: direct
namespace_name: test
version: 1.0.0
steps:
  - name: ship
    type: subtask
    task: { namespace: test, name: shipping, version: 1.0.0 }
    context: parent
"#;

/// A manager's approval (a signal step), then the shipping child.
const APPROVED: &str = r#"
name: approved
namespace_name: test
version: 1.0.0
steps:
  - name: approve
    type: signal
  - name: ship
    type: subtask
    task: { namespace: test, name: shipping, version: 1.0.0 }
    depends_on: [approve]
"#;

const ALL: &[(&str, &str)] = &[
    ("approved.yaml", APPROVED),
    ("parent.yaml", PARENT),
    ("shipping.yaml", SHIPPING),
    ("direct.yaml", DIRECT),
];

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

async fn sweep(engine: &Engine) -> usize {
    engine.settle_child_tasks("w1").await.expect("child sweep")
}

async fn complete(engine: &Engine, callable: &str, result: Value) {
    let c = claim_one(engine, &[callable], "w1").await;
    assert!(matches!(
        record(engine, success(&c, result)).await,
        RecordOutcome::Recorded {
            state: StepState::Complete,
            ..
        }
    ));
}

/// Run the shipping child's steps to completion.
async fn run_child(engine: &Engine, parcel: i64) {
    complete(engine, "Ship.Pack", json!({ "parcel": parcel })).await;
    let mut both = claim_all(engine, &["Ship.Label", "Ship.Track"]).await;
    assert_eq!(both.len(), 2);
    let track = both.pop().unwrap();
    let label = both.pop().unwrap();
    record(
        engine,
        success(&label, json!({ "label": format!("L-{parcel}") })),
    )
    .await;
    record(
        engine,
        success(&track, json!({ "tracking": format!("T-{parcel}") })),
    )
    .await;
}

fn child_of(t: &TaskView, n: usize) -> String {
    let children = t.children.as_ref().expect("details include children");
    children
        .get(n)
        .unwrap_or_else(|| panic!("no child #{n}: {children:?}"))
        .task_uuid
        .clone()
}

async fn the_child_runs_and_its_final_results_complete_the_step(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let trace = r#"{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#;
    let task = engine
        .create_task(tasker_orchestration::CreateTask {
            trace_context: Some(trace.to_string()),
            priority: Some(5.0),
            ..req(
                "parent",
                json!({ "order": 7, "prepare": "overwritten" }),
                None,
            )
        })
        .await
        .expect("create");
    complete(&engine, "Parent.Prepare", json!({ "weight": 3 })).await;

    // The transaction that made it ready created its child.
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "ship").state, "waiting_for_child");
    assert_eq!(
        moves(&step_transitions(&t, "ship")),
        ["-->pending", "pending->waiting_for_child"]
    );
    // Never claimable.
    assert!(claim(&engine, &["Parent.Notify", ""], 10, "w1")
        .await
        .is_empty());
    assert_eq!(sweep(&engine).await, 0, "the sweep has nothing to do");
    let t = details(&engine, &task.task_uuid).await;
    let child = child_of(&t, 0);
    assert_eq!(t.children.as_ref().unwrap().len(), 1);
    assert_eq!(t.children.as_ref().unwrap()[0].step_name, "ship");
    let s = step(&t, "ship");
    assert_eq!((s.state.as_str(), s.attempts), ("waiting_for_child", 1));
    assert_eq!(s.child_task_uuid.as_deref(), Some(child.as_str()));

    let c = details(&engine, &child).await;
    assert_eq!(
        (c.namespace.as_str(), c.name.as_str()),
        ("test", "shipping")
    );
    assert_eq!(c.parent_task_uuid.as_deref(), Some(task.task_uuid.as_str()));
    assert_eq!(c.parent_step_uuid.as_deref(), Some(s.step_uuid.as_str()));
    assert_eq!(c.parent_step_name.as_deref(), Some("ship"));
    // The parent's context, with each dependency's result under its name (replacing a field
    // of the same name).
    assert_eq!(
        value(&c.context),
        json!({ "order": 7, "prepare": { "weight": 3 } })
    );

    // The child carries its parent's trace context and priority to its steps.
    assert_eq!(c.priority, 5);
    // Its own correlation id; its parent correlation id is its parent's (docs/task-metadata.md).
    assert_eq!(
        c.parent_correlation_id.as_deref(),
        Some(task.correlation_id.as_str())
    );
    assert_ne!(c.correlation_id, task.correlation_id);
    let pack = claim_one(&engine, &["Ship.Pack"], "w1").await;
    assert_eq!(pack.trace_context.as_deref(), Some(trace));
    engine
        .release(
            &[(pack.step_uuid.clone(), pack.claim_id.clone())],
            "w1",
            "test",
        )
        .await
        .expect("release");
    run_child(&engine, 11).await;
    assert_eq!(details(&engine, &child).await.state, "complete");
    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "ship");
    assert_eq!(s.state, "complete");
    assert_eq!(
        json_of(&s.result),
        Some(json!({ "label": { "label": "L-11" }, "track": { "tracking": "T-11" } }))
    );
    assert!(step_transitions(&t, "ship")
        .last()
        .and_then(|tr| tr.reason.as_deref())
        .unwrap_or_default()
        .contains(&format!(
            "its child task {child} (test/shipping@1.0.0) completed"
        )));
    let notify = claim_one(&engine, &["Parent.Notify"], "w1").await;
    assert_eq!(
        payload(&notify)["dependency_results"]["ship"]["result"],
        json!({ "label": { "label": "L-11" }, "track": { "tracking": "T-11" } })
    );
    record(&engine, success(&notify, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");

    // A subtask step with no dependencies gets its child when its task is created, with the
    // parent's context alone.
    let direct = create(&engine, "direct", json!({ "order": 8 })).await;
    assert_eq!(sweep(&engine).await, 0);
    let t = details(&engine, &direct.task_uuid).await;
    let c = details(&engine, &child_of(&t, 0)).await;
    assert_eq!(value(&c.context), json!({ "order": 8 }));
    run_child(&engine, 12).await;
    sweep(&engine).await;
    assert_eq!(details(&engine, &direct.task_uuid).await.state, "complete");
}

async fn a_failed_child_is_retried_with_a_new_child_after_the_backoff_then_fails_the_step(
    db: TestDb,
) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "parent", json!({})).await;
    complete(&engine, "Parent.Prepare", json!({})).await;
    sweep(&engine).await;
    let first = child_of(&details(&engine, &task.task_uuid).await, 0);
    let pack = claim_one(&engine, &["Ship.Pack"], "w1").await;
    record(&engine, failure(&pack, false, None)).await;
    assert_eq!(details(&engine, &first).await.state, "error");

    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "ship");
    assert_eq!((s.state.as_str(), s.attempts), ("waiting_for_retry", 1));
    let err = s.error.clone().expect("error");
    assert_eq!(err["error_type"], json!("child_task_failed"));
    assert_eq!(err["child_task_uuid"], json!(first));
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "its child task {first} (test/shipping@1.0.0) failed: step 'pack' failed: boom on attempt 1"
        )),
        "{message}"
    );
    assert_eq!(t.state, "waiting_for_retry", "nothing else runs");

    // The backoff (400 ms) is honoured: no new child before it is over.
    assert_eq!(sweep(&engine).await, 0);
    assert_eq!(
        details(&engine, &task.task_uuid)
            .await
            .children
            .unwrap()
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "steps_in_process");
    let second = child_of(&t, 1);
    assert_ne!(second, first);
    let s = step(&t, "ship");
    assert_eq!((s.state.as_str(), s.attempts), ("waiting_for_child", 2));
    assert_eq!(s.child_task_uuid.as_deref(), Some(second.as_str()));
    assert_eq!(
        moves(&step_transitions(&t, "ship")),
        [
            "-->pending",
            "pending->waiting_for_child",
            "waiting_for_child->waiting_for_retry",
            "waiting_for_retry->waiting_for_child"
        ]
    );

    // The last attempt fails too: the step and its task fail, and its dependent is cancelled.
    let pack = claim_one(&engine, &["Ship.Pack"], "w1").await;
    record(&engine, failure(&pack, false, None)).await;
    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    assert_eq!(step(&t, "ship").state, "error");
    assert_eq!(step(&t, "notify").state, "cancelled");
    assert!(
        last_task_reason(&t).starts_with("step 'ship' failed permanently: its child task"),
        "{}",
        last_task_reason(&t)
    );
}

async fn cancelling_the_parent_cancels_the_running_child(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "parent", json!({})).await;
    complete(&engine, "Parent.Prepare", json!({})).await;
    sweep(&engine).await;
    let child = child_of(&details(&engine, &task.task_uuid).await, 0);
    let pack = claim_one(&engine, &["Ship.Pack"], "w1").await;

    let cancelled = engine
        .cancel_task(&task.task_uuid, Some("not needed"))
        .await
        .expect("cancel");
    assert_eq!(cancelled.state, "cancelled");
    assert_eq!(step(&cancelled, "ship").state, "cancelled");
    let c = details(&engine, &child).await;
    assert_eq!(c.state, "cancelled");
    assert!(
        last_task_reason(&c).contains(&format!("its parent task {} was cancelled", task.task_uuid))
    );
    assert_eq!(
        step_states(&c),
        states(&[
            ("pack", "cancelled"),
            ("label", "cancelled"),
            ("track", "cancelled")
        ])
    );
    // The child's running step's result is stale now; nothing is left to sweep.
    assert!(matches!(
        record(&engine, success(&pack, json!({}))).await,
        RecordOutcome::Stale { .. }
    ));
    assert_eq!(sweep(&engine).await, 0);
    assert_eq!(details(&engine, &task.task_uuid).await.state, "cancelled");
}

async fn a_cancelled_child_fails_its_step_without_a_retry(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "parent", json!({})).await;
    complete(&engine, "Parent.Prepare", json!({})).await;
    sweep(&engine).await;
    let child = child_of(&details(&engine, &task.task_uuid).await, 0);
    engine
        .cancel_task(&child, None)
        .await
        .expect("cancel child");
    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let s = step(&t, "ship");
    assert_eq!((s.state.as_str(), s.attempts), ("error", 1));
    let err = s.error.clone().unwrap();
    assert_eq!(err["error_type"], json!("child_task_cancelled"));
    assert_eq!(err["retryable"], json!(false));
    assert_eq!(t.children.unwrap().len(), 1, "no new child");
}

async fn retrying_the_failed_parent_starts_a_new_child_and_resolving_a_waiting_step_is_refused(
    db: TestDb,
) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "parent", json!({})).await;
    complete(&engine, "Parent.Prepare", json!({})).await;
    sweep(&engine).await;
    let child = child_of(&details(&engine, &task.task_uuid).await, 0);
    let err = expect_err(
        engine
            .resolve_step(&task.task_uuid, "ship", "{}".to_string(), None)
            .await,
    );
    assert_eq!(err.code(), ErrorCode::InvalidState);
    assert_eq!(
        err.to_string(),
        "step 'ship' is waiting for its child task: it completes when the child completes \
         (cancel the child to fail it)"
    );
    engine
        .cancel_task(&child, None)
        .await
        .expect("cancel child");
    sweep(&engine).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "error");

    // An operator's retry reopens the step; the sweep starts a new child for it.
    let retried = engine.retry_task(&task.task_uuid).await.expect("retry");
    assert_eq!(retried.state, "steps_in_process");
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "ship");
    assert_eq!((s.state.as_str(), s.attempts), ("waiting_for_child", 0));
    assert_eq!(step(&t, "notify").state, "pending");
    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    let second = child_of(&t, 1);
    assert_eq!(
        step(&t, "ship").child_task_uuid.as_deref(),
        Some(second.as_str())
    );
    run_child(&engine, 3).await;
    sweep(&engine).await;
    complete(&engine, "Parent.Notify", json!({})).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn the_result_that_readies_the_step_creates_the_child_and_claims_its_first_step(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "parent", json!({ "order": 3 })).await;
    let prepare = claim_one(&engine, &["Parent.Prepare"], "w1").await;
    let req = tasker_orchestration::ClaimRequest {
        callables: strings(&["Parent.Prepare", "Ship.Pack"]),
        limits: Default::default(),
        limit: 5,
        worker_id: "w1".to_string(),
        lease_ms: 60_000,
    };
    let (recorded, claimed) = engine
        .record_and_claim(vec![success(&prepare, json!({}))], "w1", Some(&req))
        .await
        .expect("record and claim");
    assert_eq!(recorded.len(), 1);
    // One transaction: `ship` became ready, its child was created, and the child's first step
    // was claimed.
    let t = details(&engine, &task.task_uuid).await;
    let child = child_of(&t, 0);
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].step_name.as_str(), claimed[0].task_uuid.as_str()),
        ("pack", child.as_str())
    );
}

async fn a_child_context_over_the_limit_fails_the_step_naming_it(db: TestDb) {
    let limits = Limits {
        json: JsonLimits {
            max_context_bytes: 100,
            ..JsonLimits::default()
        },
        ..Limits::default()
    };
    let engine = Engine::open_with(&db.url, limits).await.expect("open");
    engine
        .register_templates(&templates(ALL))
        .await
        .expect("register");
    let task = create(&engine, "parent", json!({ "order": 1 })).await;
    // The result is within maxResultBytes; with the context it is over maxContextBytes.
    complete(
        &engine,
        "Parent.Prepare",
        json!({ "notes": "x".repeat(200) }),
    )
    .await;
    assert_eq!(sweep(&engine).await, 1);
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let s = step(&t, "ship");
    assert_eq!(s.state, "error");
    let err = s.error.clone().unwrap();
    assert_eq!(err["error_type"], json!("child_task_not_started"));
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "step 'ship' of task template test/parent@1.0.0: the context of its child task \
             test/shipping@1.0.0 is "
        ) && message.ends_with("bytes; the limit is 100 bytes (maxContextBytes)"),
        "{message}"
    );
    assert_eq!(t.children.unwrap().len(), 0, "no child was created");
}

async fn unknown_child_templates_and_cycles_are_refused(db: TestDb) {
    let engine = open_engine(&db).await;
    let missing = r#"
name: orphan
namespace_name: test
version: 1.0.0
steps:
  - name: run_it
    type: subtask
    task: { namespace: test, name: missing, version: 2.0.0 }
"#;
    let err = expect_err(
        engine
            .register_templates(&templates(&[("orphan.yaml", missing)]))
            .await,
    );
    assert_eq!(err.code(), ErrorCode::TemplateNotFound);
    let message = err.to_string();
    assert!(
        message.contains("orphan.yaml: step 'run_it': field 'task': no task template test/missing@2.0.0 is loaded or registered"),
        "{message}"
    );

    // Registered by another worker first: accepted.
    engine
        .register_templates(&templates(&[("shipping.yaml", SHIPPING)]))
        .await
        .expect("register shipping");
    engine
        .register_templates(&templates(&[("direct.yaml", DIRECT)]))
        .await
        .expect("a child template already registered is accepted");

    // A template that starts itself, directly or through another, is refused when loaded.
    let selfish = r#"
name: selfish
namespace_name: test
version: 1.0.0
steps:
  - name: again
    type: subtask
    task: { namespace: test, name: selfish, version: 1.0.0 }
"#;
    let dir = template_dir(&[("selfish.yaml", selfish)]);
    let e = tasker_domain::load_templates(&[dir.path()]).expect_err("a cycle");
    assert_eq!(e.step.as_deref(), Some("again"));
    assert_eq!(e.field.as_deref(), Some("task"));
    assert!(
        e.message.ends_with(
            "selfish.yaml: step 'again': field 'task': test/selfish@1.0.0 would start itself \
             (test/selfish@1.0.0 → test/selfish@1.0.0): a task may not start a child task of \
             its own template, directly or through other templates"
        ),
        "{}",
        e.message
    );
    let a = "name: a\nnamespace_name: test\nversion: '1'\nsteps:\n  - name: to_b\n    type: subtask\n    task: { namespace: test, name: b, version: '1' }\n";
    let b = "name: b\nnamespace_name: test\nversion: '1'\nsteps:\n  - name: to_a\n    type: subtask\n    task: { namespace: test, name: a, version: '1' }\n";
    let dir = template_dir(&[("a.yaml", a), ("b.yaml", b)]);
    let report = tasker_domain::check_templates(&[dir.path()]);
    let messages: Vec<&str> = report.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].contains("test/a@1 would start itself (test/a@1 → test/b@1 → test/a@1)"),
        "{messages:?}"
    );
}

async fn templates_that_start_each_other_are_bounded_in_depth(db: TestDb) {
    let engine = open_engine(&db).await;
    // `loop` starts `inner`; `inner` is redeployed to start `loop` again: a cycle made of
    // templates registered at different times, which no single load sees.
    let looping = "name: looping\nnamespace_name: test\nversion: '1'\nsteps:\n  - name: down\n    type: subtask\n    task: { namespace: test, name: inner, version: '1' }\n    retry: { retryable: false }\n";
    let inner_v1 = "name: inner\nnamespace_name: test\nversion: '1'\nsteps:\n  - name: work\n    handler: { callable: Inner.Work }\n";
    let inner_v2 = "name: inner\nnamespace_name: test\nversion: '1'\nsteps:\n  - name: up\n    type: subtask\n    task: { namespace: test, name: looping, version: '1' }\n    retry: { retryable: false }\n";
    engine
        .register_templates(&templates(&[
            ("looping.yaml", looping),
            ("inner.yaml", inner_v1),
        ]))
        .await
        .expect("register");
    engine
        .register_templates(&templates(&[("inner.yaml", inner_v2)]))
        .await
        .expect("redeploy inner");
    let root = engine
        .create_task(tasker_orchestration::CreateTask {
            namespace: "test".into(),
            name: "looping".into(),
            version: "1".into(),
            context: "{}".into(),
            ..Default::default()
        })
        .await
        .expect("create");
    // One level per sweep, until the deepest task's step refuses to nest further.
    let mut task = root.task_uuid.clone();
    let mut depth = 0;
    loop {
        sweep(&engine).await;
        let t = details(&engine, &task).await;
        match t.children.as_ref().and_then(|c| c.first()) {
            Some(c) => {
                task = c.task_uuid.clone();
                depth += 1;
            }
            None => break,
        }
        assert!(depth <= MAX_CHILD_DEPTH, "nesting is bounded");
    }
    assert_eq!(depth, MAX_CHILD_DEPTH);
    let deepest = details(&engine, &task).await;
    assert_eq!(deepest.state, "error");
    let s = &deepest.steps.as_ref().unwrap()[0];
    let message = s.error.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(&format!(
            "it would be nested {} levels deep, and child tasks nest at most {MAX_CHILD_DEPTH} levels",
            MAX_CHILD_DEPTH + 1
        )),
        "{message}"
    );
}

async fn a_new_engine_finishes_what_a_closed_one_left(db: TestDb) {
    let (db, _dir) = shared(&db);
    let first = engine(&db, ALL).await;
    // A delayed start: the child is created by whoever sweeps once the delay is over.
    let task = first
        .create_task(tasker_orchestration::CreateTask {
            delay_ms: Some(300),
            ..req("direct", json!({}), None)
        })
        .await
        .expect("create");
    let t = details(&first, &task.task_uuid).await;
    assert_eq!(step(&t, "ship").state, "waiting_for_child");
    assert_eq!(t.children.as_ref().map(Vec::len), Some(0));
    assert_eq!(sweep(&first).await, 0, "not before the delay");
    first.close().await;
    drop(first);

    tokio::time::sleep(Duration::from_millis(350)).await;
    let second = engine(&db, ALL).await;
    assert_eq!(sweep(&second).await, 1);
    let child = child_of(&details(&second, &task.task_uuid).await, 0);
    run_child(&second, 5).await;
    second.close().await;
    drop(second);

    // The child finished; its parent step is settled by whoever sweeps next.
    let third = engine(&db, ALL).await;
    assert_eq!(details(&third, &child).await.state, "complete");
    assert_eq!(
        details(&third, &task.task_uuid).await.state,
        "steps_in_process"
    );
    assert_eq!(sweep(&third).await, 1);
    assert_eq!(details(&third, &task.task_uuid).await.state, "complete");
}

async fn several_engines_sweeping_create_one_child_per_step(db: TestDb) {
    let (db, _dir) = shared(&db);
    let engines = [
        engine(&db, ALL).await,
        engine(&db, ALL).await,
        engine(&db, ALL).await,
    ];
    let mut parents = Vec::new();
    // Delayed starts: their children are left to the sweeps, which all run at once.
    for i in 0..12 {
        let t = engines[0]
            .create_task(tasker_orchestration::CreateTask {
                delay_ms: Some(200),
                ..req("direct", json!({ "i": i }), None)
            })
            .await
            .expect("create");
        parents.push(t);
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    let sweeps: Vec<_> = engines
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, e)| {
            tokio::spawn(async move {
                for _ in 0..3 {
                    let worker = format!("w{i}");
                    match e.settle_child_tasks(&worker).await {
                        Ok(_) => {}
                        // Two SQLite processes may find the file busy: tried again next time.
                        Err(EngineError::Store(s)) if s.is_conflict() => {}
                        Err(other) => panic!("sweep: {other}"),
                    }
                }
            })
        })
        .collect();
    for s in sweeps {
        s.await.expect("sweep task");
    }
    // Whatever is left (a busy file) is done by one more sweep.
    sweep(&engines[0]).await;
    for p in &parents {
        let t = details(&engines[1], &p.task_uuid).await;
        assert_eq!(t.children.as_ref().unwrap().len(), 1, "one child per step");
        assert_eq!(step(&t, "ship").attempts, 1);
    }
    // Cancelling the parents cancels every child; the running ones' steps included.
    for p in &parents {
        engines[2]
            .cancel_task(&p.task_uuid, None)
            .await
            .expect("cancel");
    }
    for p in &parents {
        let t = details(&engines[0], &p.task_uuid).await;
        let child = details(&engines[0], &child_of(&t, 0)).await;
        assert_eq!(child.state, "cancelled");
    }
}

async fn the_signal_that_readies_the_step_creates_the_child(db: TestDb) {
    let engine = engine(&db, ALL).await;
    let task = create(&engine, "approved", json!({ "order": 7 })).await;
    engine
        .send_signal(&task.task_uuid, "approve", r#"{"by":"ada"}"#.to_string())
        .await
        .expect("send_signal");
    // No sweep: sendSignal's transaction created the child, whose first step is ready.
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "ship");
    assert_eq!(s.state, "waiting_for_child");
    let child = s.child_task_uuid.clone().expect("the child exists");
    let pack = claim_one(&engine, &["Ship.Pack"], "w1").await;
    assert_eq!(pack.task_uuid, child);
    assert_eq!(
        payload(&pack)["task"]["context"]["approve"],
        json!({ "by": "ada" })
    );
}
