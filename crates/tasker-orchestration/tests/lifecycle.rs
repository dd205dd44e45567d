//! Task creation, dependency-driven enqueueing, completion, the audit trail, and the read side
//! (list_tasks, wait_for_task), on both backends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tasker_domain::StepState;
use tasker_orchestration::{CreateTask, ErrorCode, ListTasks, RecordOutcome};

backend_tests!(
    linear_workflow_runs_step_by_step,
    a_step_receives_its_dependencies_results_not_its_ancestors,
    diamond_join_waits_for_both_branches,
    idempotent_create_returns_the_same_task,
    concurrent_idempotent_creates_make_one_task,
    unknown_template_is_named_with_the_registered_ones,
    context_must_be_a_json_object,
    list_tasks_filters_pages_and_validates,
    list_and_count_tasks_by_creation_time,
    step_activity_counts_ended_executions_per_minute,
    wait_for_task_times_out_naming_task_and_state,
    wait_for_task_wakes_when_the_task_finishes,
);

const LINEAR_STEPS: [&str; 4] = ["s1", "s2", "s3", "s4"];

/// a → b → c, and d declaring both a and c.
const CHAIN: &str = r#"
name: chain
namespace_name: test
version: 1.0.0
steps:
  - name: a
    handler: { callable: Chain.A }
  - name: b
    dependencies: [a]
    handler: { callable: Chain.B }
  - name: c
    dependencies: [b]
    handler: { callable: Chain.C }
  - name: d
    dependencies: [a, c]
    handler: { callable: Chain.D }
"#;
const CHAIN_CALLABLES: &[&str] = &["Chain.A", "Chain.B", "Chain.C", "Chain.D"];

/// A large result goes to the steps that depend on it, not to every later step: `c` gets `b`'s
/// result and only the name of `a`; `d`, which declares `a`, gets it again.
async fn a_step_receives_its_dependencies_results_not_its_ancestors(db: TestDb) {
    let engine = engine(&db, &[("chain.yaml", CHAIN)]).await;
    let task = create(&engine, "chain", json!({})).await;
    let big = "x".repeat(4 << 20);
    let a = claim_one(&engine, CHAIN_CALLABLES, "w1").await;
    record(&engine, success(&a, json!({ "blob": big }))).await;

    let b = claim_one(&engine, CHAIN_CALLABLES, "w1").await;
    assert_eq!(b.step_name, "b");
    assert_eq!(dep_names(&b), ["a"]);
    assert_eq!(
        payload(&b)["dependency_results"]["a"]["result"]["blob"],
        json!(big)
    );
    record(&engine, success(&b, json!({ "b": 1 }))).await;

    let c = claim_one(&engine, CHAIN_CALLABLES, "w1").await;
    assert_eq!(c.step_name, "c");
    assert_eq!(dep_names(&c), ["b"]);
    let deps = c.dependencies.as_deref().unwrap_or_default();
    assert!(deps.len() < 1024, "c receives b's result only: {deps}");
    assert!(!c.payload.contains(&big[..64]));
    let p = payload(&c);
    assert_eq!(p["dependency_results"]["b"]["result"], json!({ "b": 1 }));
    assert_eq!(p["step"]["dependencies"], json!(["b"]));
    assert_eq!(p["step"]["indirect_ancestors"], json!(["a"]));
    assert_eq!(p["step"]["indirect_batch_workers"], json!([]));
    record(&engine, success(&c, json!({ "c": 1 }))).await;

    let d = claim_one(&engine, CHAIN_CALLABLES, "w1").await;
    assert_eq!(d.step_name, "d");
    assert_eq!(dep_names(&d), ["a", "c"]);
    let p = payload(&d);
    assert_eq!(p["dependency_results"]["a"]["result"]["blob"], json!(big));
    assert_eq!(p["step"]["dependencies"], json!(["a", "c"]));
    assert_eq!(p["step"]["indirect_ancestors"], json!(["b"]));
    record(&engine, success(&d, json!({}))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn linear_workflow_runs_step_by_step(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR)]).await;
    let ctx = json!({ "order_id": 42, "items": ["a", "b"] });
    let created = create(&engine, "linear", ctx.clone()).await;
    assert_eq!(created.state, "steps_in_process");
    assert_eq!(value(&created.context), ctx);
    assert_eq!(created.completed_at, None);

    let t = details(&engine, &created.task_uuid).await;
    assert_eq!(t.state, "steps_in_process");
    assert_eq!(
        step_states(&t),
        states(&[
            ("s1", "enqueued"),
            ("s2", "pending"),
            ("s3", "pending"),
            ("s4", "pending")
        ])
    );

    let mut ready = engine.subscribe_steps_ready();
    for (i, name) in LINEAR_STEPS.iter().enumerate() {
        // Only the next step in the chain is claimable, even when asking for every callable.
        let c = claim_one(&engine, LINEAR_CALLABLES, "w1").await;
        assert_eq!(c.step_name, *name);
        assert_eq!(c.task_uuid, created.task_uuid);
        assert_eq!((c.attempt, c.max_attempts), (1, 3));
        assert_eq!(c.timeout_ms, 30_000);
        let p = payload(&c);
        assert_eq!(p["task"]["task_uuid"], json!(created.task_uuid));
        assert_eq!(p["task"]["name"], json!("linear"));
        assert_eq!(p["task"]["context"], ctx);
        assert_eq!(p["step"]["name"], json!(name));
        assert_eq!(p["step"]["step_uuid"], json!(c.step_uuid));
        assert_eq!(p["step"]["attempts"], json!(0), "previous attempts");
        assert_eq!(p["step"]["max_attempts"], json!(3));
        if *name == "s1" {
            assert_eq!(p["step"]["handler_initialization"], json!({ "factor": 2 }));
        }
        // The result of its dependency (the step before it), and nothing else: the steps
        // before that are named as ancestors that are not dependencies.
        let deps = p["dependency_results"].as_object().expect("object");
        let dep_names: Vec<&str> = deps.keys().map(String::as_str).collect();
        let before = &LINEAR_STEPS[..i];
        assert_eq!(
            dep_names,
            before.last().map(|d| vec![*d]).unwrap_or_default()
        );
        if let Some(prev) = before.last() {
            assert_eq!(deps[*prev]["result"], json!({ "from": prev }));
            assert_eq!(deps[*prev]["success"], json!(true));
        }
        assert_eq!(
            p["step"]["dependencies"],
            json!(before.last().into_iter().collect::<Vec<_>>())
        );
        assert_eq!(
            p["step"]["indirect_ancestors"],
            json!(before[..i.saturating_sub(1)].to_vec())
        );
        // While it runs nothing else is claimable.
        assert!(claim(&engine, LINEAR_CALLABLES, 10, "w2").await.is_empty());
        let t = details(&engine, &created.task_uuid).await;
        assert_eq!(step(&t, name).state, "in_progress");
        assert_eq!(step(&t, name).attempts, 1);

        ready.borrow_and_update();
        let outcome = record(&engine, success(&c, json!({ "from": name }))).await;
        assert_eq!(
            outcome,
            RecordOutcome::Recorded {
                step_uuid: c.step_uuid.clone(),
                state: StepState::Complete
            }
        );
        let t = details(&engine, &created.task_uuid).await;
        assert_eq!(step(&t, name).state, "complete");
        assert_eq!(
            json_of(&step(&t, name).result),
            Some(json!({ "from": name }))
        );
        if let Some(next) = LINEAR_STEPS.get(i + 1) {
            // The dependent was enqueued by the very transaction that recorded the result:
            // it is claimable now, and its transition carries the same timestamp.
            assert_eq!(step(&t, next).state, "enqueued");
            let done = *step_transitions(&t, name).last().unwrap();
            assert_eq!(done.to_state, "complete");
            let enqueued = step_transitions(&t, next)
                .into_iter()
                .find(|tr| tr.to_state == "enqueued")
                .expect("enqueue transition");
            assert_eq!(enqueued.from_state.as_deref(), Some("pending"));
            assert_eq!(enqueued.at, done.at, "enqueued in the same transaction");
            assert_eq!(
                enqueued.reason.as_deref(),
                Some(format!("dependencies complete (last: '{name}')").as_str())
            );
            assert_eq!(enqueued.worker_id, None);
            assert!(
                ready.has_changed().unwrap(),
                "waiters hear that a step became ready"
            );
            assert_eq!(t.state, "steps_in_process");
            assert_eq!(t.completed_at, None);
        }
    }

    let t = details(&engine, &created.task_uuid).await;
    assert_eq!(t.state, "complete");
    let completed_at = t.completed_at.clone().expect("completed_at is set");
    assert!(
        completed_at >= t.created_at,
        "{completed_at} < {}",
        t.created_at
    );
    for s in t.steps.as_ref().unwrap() {
        assert_eq!(
            (s.state.as_str(), s.attempts, s.max_attempts),
            ("complete", 1, 3)
        );
        assert_eq!(s.error, None);
    }
    assert!(claim(&engine, LINEAR_CALLABLES, 10, "w1").await.is_empty());

    let task_moves = task_transitions(&t);
    assert_eq!(
        moves(&task_moves),
        [
            "-->pending",
            "pending->steps_in_process",
            "steps_in_process->complete"
        ]
    );
    assert_eq!(task_moves[1].reason.as_deref(), Some("4 steps created"));
    assert_eq!(
        task_moves[2].reason.as_deref(),
        Some("all 4 steps complete")
    );
    assert_eq!(task_moves[2].at, completed_at);

    for name in LINEAR_STEPS {
        let ts = step_transitions(&t, name);
        assert_eq!(
            moves(&ts),
            [
                "-->pending",
                "pending->enqueued",
                "enqueued->in_progress",
                "in_progress->complete"
            ],
            "transitions of {name}"
        );
        let workers: Vec<Option<&str>> = ts.iter().map(|t| t.worker_id.as_deref()).collect();
        assert_eq!(
            workers,
            [None, None, Some("w1"), Some("w1")],
            "workers of {name}"
        );
        assert_eq!(ts[2].reason.as_deref(), Some("attempt 1 of 3"));
        assert_eq!(
            ts[3].reason.as_deref(),
            Some("attempt 1 of 3 succeeded in 1.5 ms")
        );
    }
    assert_eq!(
        step_transitions(&t, "s1")[1].reason.as_deref(),
        Some("no dependencies")
    );
}

async fn diamond_join_waits_for_both_branches(db: TestDb) {
    let engine = engine(&db, &[("diamond.yaml", DIAMOND)]).await;

    // Branches completed one at a time.
    let task = create(&engine, "diamond", json!({ "x": 3 })).await;
    let start = claim_one(&engine, DIAMOND_CALLABLES, "w1").await;
    assert_eq!(start.step_name, "start");
    record(&engine, success(&start, json!(9))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[
            ("start", "complete"),
            ("left", "enqueued"),
            ("right", "enqueued"),
            ("join", "pending")
        ])
    );
    let branches = claim_all(&engine, DIAMOND_CALLABLES).await;
    let names: Vec<&str> = branches.iter().map(|c| c.step_name.as_str()).collect();
    assert_eq!(names, ["left", "right"], "both branches fan out at once");
    for b in &branches {
        assert_eq!(
            payload(b)["dependency_results"]["start"]["result"],
            json!(9)
        );
    }
    let (left, right) = (&branches[0], &branches[1]);

    record(&engine, success(left, json!("L"))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "join").state, "pending", "join waits for right");
    assert_eq!(t.state, "steps_in_process");
    assert!(claim(&engine, DIAMOND_CALLABLES, 10, "w1").await.is_empty());

    record(&engine, success(right, json!("R"))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "join").state, "enqueued");
    let enq: Vec<_> = step_transitions(&t, "join")
        .into_iter()
        .filter(|tr| tr.to_state == "enqueued")
        .collect();
    assert_eq!(enq.len(), 1);
    assert_eq!(
        enq[0].reason.as_deref(),
        Some("dependencies complete (last: 'right')")
    );
    let join = claim_one(&engine, DIAMOND_CALLABLES, "w1").await;
    assert_eq!(join.step_name, "join");
    let deps = payload(&join)["dependency_results"].clone();
    // Its dependencies' results; `start`, before both, is an ancestor, not a dependency.
    assert_eq!(deps.get("start"), None);
    assert_eq!(
        payload(&join)["step"]["indirect_ancestors"],
        json!(["start"])
    );
    assert_eq!(deps["left"]["result"], json!("L"));
    assert_eq!(deps["right"]["result"], json!("R"));
    record(&engine, success(&join, json!({ "sum": "LR" }))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert!(t.completed_at.is_some());

    // Both branches reported in one batch: the join is enqueued exactly once.
    let task = create(&engine, "diamond", json!({})).await;
    let start = claim_one(&engine, DIAMOND_CALLABLES, "w1").await;
    record(&engine, success(&start, json!(1))).await;
    let branches = claim(&engine, DIAMOND_CALLABLES, 10, "w1").await;
    assert_eq!(branches.len(), 2);
    let outcomes = engine
        .record_results(
            branches.iter().map(|b| success(b, json!(0))).collect(),
            "w1",
        )
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| matches!(
        o,
        RecordOutcome::Recorded {
            state: StepState::Complete,
            ..
        }
    )));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "join").state, "enqueued");
    assert_eq!(
        moves(&step_transitions(&t, "join")),
        ["-->pending", "pending->enqueued"]
    );
    let join = claim_one(&engine, DIAMOND_CALLABLES, "w1").await;
    assert_eq!(join.step_name, "join");
    record(&engine, success(&join, json!(null))).await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn idempotent_create_returns_the_same_task(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR), ("single.yaml", SINGLE)]).await;
    let first = engine
        .create_task(req("linear", json!({ "n": 1 }), Some("order-1")))
        .await
        .unwrap();
    assert_eq!(first.idempotency_key.as_deref(), Some("order-1"));
    let again = engine
        .create_task(req("linear", json!({ "n": 2 }), Some("order-1")))
        .await
        .unwrap();
    assert_eq!(again.task_uuid, first.task_uuid);
    assert_eq!(
        value(&again.context),
        json!({ "n": 1 }),
        "the first task is returned"
    );
    let linear = ListTasks {
        name: Some("linear".into()),
        ..Default::default()
    };
    assert_eq!(engine.list_tasks(&linear).await.unwrap().len(), 1);
    assert_eq!(
        details(&engine, &first.task_uuid)
            .await
            .steps
            .unwrap()
            .len(),
        4,
        "no duplicate steps"
    );

    // A second create after progress still returns the task as it is now.
    let c = claim_one(&engine, LINEAR_CALLABLES, "w1").await;
    record(&engine, success(&c, json!(1))).await;
    let again = engine
        .create_task(req("linear", json!({}), Some("order-1")))
        .await
        .unwrap();
    assert_eq!(again.task_uuid, first.task_uuid);
    assert_eq!(again.state, "steps_in_process");
    assert_eq!(
        claim(&engine, LINEAR_CALLABLES, 10, "w1").await.len(),
        1,
        "no new s1 was enqueued"
    );

    let other = engine
        .create_task(req("linear", json!({ "n": 1 }), Some("order-2")))
        .await
        .unwrap();
    assert_ne!(other.task_uuid, first.task_uuid);
    // The key is scoped to the template.
    let single = engine
        .create_task(req("single", json!({}), Some("order-1")))
        .await
        .unwrap();
    assert_ne!(single.task_uuid, first.task_uuid);
    // Without a key every create makes a task.
    let a = create(&engine, "linear", json!({})).await;
    let b = create(&engine, "linear", json!({})).await;
    assert_ne!(a.task_uuid, b.task_uuid);
    assert_eq!(engine.list_tasks(&linear).await.unwrap().len(), 4);
}

async fn concurrent_idempotent_creates_make_one_task(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let mut handles = Vec::new();
    for i in 0..8 {
        let engine = engine.clone();
        handles.push(tokio::spawn(async move {
            engine
                .create_task(req("single", json!({ "i": i }), Some("same-key")))
                .await
        }));
    }
    let mut uuids = Vec::new();
    for h in handles {
        uuids.push(h.await.unwrap().expect("create").task_uuid);
    }
    uuids.dedup();
    assert_eq!(uuids.len(), 1, "every create returned the same task");
    let all = engine.list_tasks(&ListTasks::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(claim(&engine, &["Single.Only"], 10, "w1").await.len(), 1);
}

async fn unknown_template_is_named_with_the_registered_ones(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR), ("diamond.yaml", DIAMOND)]).await;
    let e = expect_err(engine.create_task(req("nope", json!({}), None)).await);
    assert_eq!(e.code(), ErrorCode::TemplateNotFound);
    let msg = e.to_string();
    assert!(msg.contains("test/nope@1.0.0"), "{msg}");
    assert!(
        msg.contains("registered: test/diamond@1.0.0, test/linear@1.0.0"),
        "{msg}"
    );

    let mut wrong_version = req("linear", json!({}), None);
    wrong_version.version = "9.9.9".into();
    let e = expect_err(engine.create_task(wrong_version).await);
    assert_eq!(e.code(), ErrorCode::TemplateNotFound);
    assert!(e.to_string().contains("test/linear@9.9.9"), "{e}");
    assert!(engine
        .list_tasks(&ListTasks::default())
        .await
        .unwrap()
        .is_empty());

    // Nothing registered at all (a fresh in-memory database).
    if db.backend == Backend::Sqlite {
        let bare = tasker_orchestration::Engine::open("sqlite::memory:")
            .await
            .unwrap();
        let e = expect_err(bare.create_task(req("linear", json!({}), None)).await);
        assert!(e.to_string().contains("(registered: none)"), "{e}");
    }
}

async fn context_must_be_a_json_object(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let with_context = |context: &str| CreateTask {
        namespace: NS.into(),
        name: "single".into(),
        version: VERSION.into(),
        context: context.into(),
        idempotency_key: None,
        ..CreateTask::default()
    };
    for (context, kind) in [
        ("[1, 2]", "an array"),
        ("42", "a number"),
        ("\"text\"", "a string"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let e = expect_err(engine.create_task(with_context(context)).await);
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(
            e.to_string(),
            format!("the task context for test/single@1.0.0 must be a JSON object, got {kind}")
        );
    }
    let e = expect_err(engine.create_task(with_context("{oops")).await);
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(
        e.to_string()
            .starts_with("the task context for test/single@1.0.0 is not valid JSON: "),
        "{e}"
    );
    assert!(engine
        .list_tasks(&ListTasks::default())
        .await
        .unwrap()
        .is_empty());
    let ok = engine.create_task(with_context("{}")).await.unwrap();
    assert_eq!(value(&ok.context), json!({}));
}

async fn list_tasks_filters_pages_and_validates(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR), ("diamond.yaml", DIAMOND)]).await;
    let mut created = Vec::new();
    for name in ["linear", "diamond", "linear", "diamond", "linear"] {
        created.push(create(&engine, name, json!({})).await.task_uuid);
        // Distinct creation times, so that "newest first" is well defined.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    engine.cancel_task(&created[2], None).await.expect("cancel");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    let list = |f: ListTasks| {
        let engine = engine.clone();
        async move {
            engine
                .list_tasks(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|t| {
                    assert!(t.steps.is_none() && t.transitions.is_none());
                    t.task_uuid
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ListTasks::default()).await, newest_first);
    assert_eq!(
        list(ListTasks {
            name: Some("linear".into()),
            ..Default::default()
        })
        .await,
        [created[4].clone(), created[2].clone(), created[0].clone()]
    );
    assert_eq!(
        list(ListTasks {
            namespace: Some(NS.into()),
            name: Some("diamond".into()),
            ..Default::default()
        })
        .await,
        [created[3].clone(), created[1].clone()]
    );
    assert!(list(ListTasks {
        namespace: Some("other".into()),
        ..Default::default()
    })
    .await
    .is_empty());
    assert_eq!(
        list(ListTasks {
            state: Some("cancelled".into()),
            ..Default::default()
        })
        .await,
        [created[2].clone()]
    );
    assert_eq!(
        list(ListTasks {
            name: Some("linear".into()),
            state: Some("steps_in_process".into()),
            ..Default::default()
        })
        .await,
        [created[4].clone(), created[0].clone()]
    );
    // Paging.
    let page = |limit, offset| ListTasks {
        limit: Some(limit),
        offset: Some(offset),
        ..Default::default()
    };
    assert_eq!(list(page(2, 0)).await, newest_first[..2]);
    assert_eq!(list(page(2, 2)).await, newest_first[2..4]);
    assert_eq!(list(page(2, 4)).await, newest_first[4..]);
    assert!(list(page(2, 10)).await.is_empty());
    assert_eq!(list(page(1000, 0)).await.len(), 5);
    // Validation.
    for (limit, offset, message) in [
        (0, 0, "listTasks: limit must be between 1 and 1000, got 0"),
        (
            1001,
            0,
            "listTasks: limit must be between 1 and 1000, got 1001",
        ),
        (-5, 0, "listTasks: limit must be between 1 and 1000, got -5"),
        (10, -1, "listTasks: offset must be >= 0, got -1"),
    ] {
        let e = expect_err(engine.list_tasks(&page(limit, offset)).await);
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert_eq!(e.to_string(), message);
    }
}

async fn list_and_count_tasks_by_creation_time(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR), ("diamond.yaml", DIAMOND)]).await;
    let mut created = Vec::new();
    for name in ["linear", "diamond", "linear", "linear"] {
        created.push(create(&engine, name, json!({})).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine
        .cancel_task(&created[3].task_uuid, None)
        .await
        .expect("cancel");
    let at: Vec<i64> = created.iter().map(|t| ms_of(&t.created_at)).collect();
    let uuids = |tasks: Vec<tasker_orchestration::TaskView>| {
        tasks.into_iter().map(|t| t.task_uuid).collect::<Vec<_>>()
    };
    // At or after the second, before the fourth: the second and the third.
    let range = ListTasks {
        created_after: Some(at[1]),
        created_before: Some(at[3]),
        ..Default::default()
    };
    assert_eq!(
        uuids(engine.list_tasks(&range).await.unwrap()),
        [created[2].task_uuid.clone(), created[1].task_uuid.clone()]
    );
    let linear_after = ListTasks {
        name: Some("linear".into()),
        created_after: Some(at[1]),
        ..Default::default()
    };
    assert_eq!(
        uuids(engine.list_tasks(&linear_after).await.unwrap()),
        [created[3].task_uuid.clone(), created[2].task_uuid.clone()]
    );
    // Counting: every state, or the filter's one; the cap.
    let counts = engine
        .count_tasks(&ListTasks::default(), None)
        .await
        .unwrap();
    let count_of = |counts: &[(String, i64)], state: &str| {
        counts
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, n)| *n)
            .expect("a count for every state")
    };
    assert_eq!(counts.len(), 6);
    assert_eq!(count_of(&counts, "steps_in_process"), 3);
    assert_eq!(count_of(&counts, "cancelled"), 1);
    assert_eq!(count_of(&counts, "complete"), 0);
    let counts = engine.count_tasks(&linear_after, None).await.unwrap();
    assert_eq!(count_of(&counts, "steps_in_process"), 1);
    assert_eq!(count_of(&counts, "cancelled"), 1);
    let only = ListTasks {
        state: Some("steps_in_process".into()),
        ..Default::default()
    };
    assert_eq!(
        engine.count_tasks(&only, Some(2)).await.unwrap(),
        [("steps_in_process".to_string(), 2)],
        "a count stops at the cap"
    );
    // Validation.
    let backwards = ListTasks {
        created_after: Some(at[3]),
        created_before: Some(at[1]),
        ..Default::default()
    };
    let e = expect_err(engine.list_tasks(&backwards).await);
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(
        e.to_string(),
        format!(
            "listTasks: createdAfter ({}) is later than createdBefore ({})",
            created[3].created_at, created[1].created_at
        )
    );
    for (cap, message) in [
        (0, "countTasks: max must be between 1 and 1000000, got 0"),
        (
            1_000_001,
            "countTasks: max must be between 1 and 1000000, got 1000001",
        ),
    ] {
        let e = expect_err(engine.count_tasks(&ListTasks::default(), Some(cap)).await);
        assert_eq!(e.to_string(), message);
    }
    let e = expect_err(
        engine
            .count_tasks(
                &ListTasks {
                    state: Some("done".into()),
                    ..Default::default()
                },
                None,
            )
            .await,
    );
    assert!(
        e.to_string()
            .starts_with("countTasks: state must be one of pending, "),
        "{e}"
    );
}

async fn step_activity_counts_ended_executions_per_minute(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR)]).await;
    let empty = engine.step_activity(60).await.unwrap();
    assert_eq!(empty.len(), 60, "one entry per minute, zeros included");
    assert!(empty
        .iter()
        .all(|m| (m.completed, m.failed, m.retried) == (0, 0, 0)));
    assert!(empty.windows(2).all(|w| w[0].minute < w[1].minute));
    // Two tasks: one step completes in each; a third fails for good.
    for _ in 0..2 {
        create(&engine, "linear", json!({})).await;
    }
    let failing = create(&engine, "linear", json!({})).await;
    let claimed = claim(&engine, &["Linear.S1"], 10, "w1").await;
    assert_eq!(claimed.len(), 3);
    for c in &claimed {
        let outcome = if c.task_uuid == failing.task_uuid {
            failure(c, false, None)
        } else {
            success(c, json!({}))
        };
        record(&engine, outcome).await;
    }
    let activity = engine.step_activity(5).await.unwrap();
    assert_eq!(activity.len(), 5);
    let total =
        |f: fn(&tasker_orchestration::ActivityView) -> i64| activity.iter().map(f).sum::<i64>();
    assert_eq!(total(|m| m.completed), 2);
    assert_eq!(total(|m| m.failed), 1);
    assert_eq!(total(|m| m.retried), 0);
    // The newest minute is the current one.
    let last = ms_of(&activity[4].minute);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(now - last < 60_000 && now >= last, "{last} vs {now}");
    for minutes in [0, 1441] {
        let e = expect_err(engine.step_activity(minutes).await);
        assert_eq!(
            e.to_string(),
            format!("stepActivity: minutes must be between 1 and 1440, got {minutes}")
        );
    }
}

async fn wait_for_task_times_out_naming_task_and_state(db: TestDb) {
    let engine = engine(&db, &[("linear.yaml", LINEAR)]).await;
    let task = create(&engine, "linear", json!({})).await;
    let started = Instant::now();
    let e = expect_err(
        engine
            .wait_for_task(&task.task_uuid, Duration::from_millis(150))
            .await,
    );
    let took = started.elapsed();
    assert_eq!(e.code(), ErrorCode::Timeout);
    assert_eq!(
        e.to_string(),
        format!(
            "task {} did not finish within 150 ms (state: steps_in_process)",
            task.task_uuid
        )
    );
    assert!(
        took >= Duration::from_millis(150),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    let e = expect_err(
        engine
            .wait_for_task(
                "00000000-0000-0000-0000-000000000000",
                Duration::from_millis(50),
            )
            .await,
    );
    assert_eq!(e.code(), ErrorCode::TaskNotFound);
    assert!(e
        .to_string()
        .contains("00000000-0000-0000-0000-000000000000"));
}

async fn wait_for_task_wakes_when_the_task_finishes(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let task = create(&engine, "single", json!({})).await;
    let completer = {
        let engine = engine.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let c = claim_one(&engine, &["Single.Only"], "w1").await;
            record(&engine, success(&c, json!({ "done": true }))).await;
        })
    };
    let started = Instant::now();
    let done = engine
        .wait_for_task(&task.task_uuid, Duration::from_secs(10))
        .await
        .expect("task finishes");
    let took = started.elapsed();
    completer.await.unwrap();
    assert_eq!(done.state, "complete");
    assert_eq!(
        json_of(&done.steps.as_ref().expect("details")[0].result),
        Some(json!({ "done": true }))
    );
    // Event driven: well before the 1 s fallback poll.
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(
        took < Duration::from_millis(800),
        "not woken by the event: {took:?}"
    );

    // A finished task returns at once.
    let started = Instant::now();
    let again = engine
        .wait_for_task(&task.task_uuid, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(again.state, "complete");
    assert!(started.elapsed() < Duration::from_millis(500));
}
