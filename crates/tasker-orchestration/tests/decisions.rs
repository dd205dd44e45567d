//! Decision points (reference §1.3, §1.5, §4): the steps a decision outcome creates, deferred
//! convergence over the branches actually taken, nested decisions, and outcomes that are
//! rejected (the decision step fails permanently, nothing is created), on both backends.

mod common;

use common::*;
use serde_json::{json, Value};
use tasker_domain::StepState;
use tasker_orchestration::{
    ClaimedStep, Engine, ErrorCode, ExpansionLimits, RecordOutcome, TaskView,
};

backend_tests!(
    single_branch_creates_only_the_chosen_step_and_convergence,
    multiple_branches_make_convergence_wait_for_each,
    no_branches_completes_the_task_with_existing_steps,
    nested_decision_creates_its_own_leaves,
    invalid_outcomes_fail_the_decision_and_create_nothing,
    outcome_over_the_step_limit_fails_the_decision,
    stale_decision_result_creates_nothing_twice,
);

/// Reference example (b), plus `notify_finance` after `finance_review` (a non-deferred
/// descendant of a branch, created with it). `route` keeps the default retry settings (three
/// attempts), so a rejected outcome failing it on the first attempt shows the rejection is
/// permanent by itself.
const APPROVAL: &str = r#"
name: approval_routing
namespace_name: test
version: 1.0.0
steps:
  - name: validate
    handler: { callable: Approvals.Validate }
  - name: route
    type: decision
    dependencies: [validate]
    handler: { callable: Approvals.Route, initialization: { small: 1000, large: 5000 } }
  - name: auto_approve
    dependencies: [route]
    handler: { callable: Approvals.Auto }
  - name: manager_approval
    dependencies: [route]
    handler: { callable: Approvals.Manager }
  - name: finance_review
    dependencies: [route]
    handler: { callable: Approvals.Finance }
  - name: notify_finance
    dependencies: [finance_review]
    handler: { callable: Approvals.Notify }
  - name: finalize
    type: deferred_convergence
    dependencies: [auto_approve, manager_approval, finance_review]
    handler: { callable: Approvals.Finalize }
"#;

const VALIDATE: &str = "Approvals.Validate";
const ROUTE: &str = "Approvals.Route";
const AUTO: &str = "Approvals.Auto";
const MANAGER: &str = "Approvals.Manager";
const FINANCE: &str = "Approvals.Finance";
const NOTIFY: &str = "Approvals.Notify";
const FINALIZE: &str = "Approvals.Finalize";
const ALL: &[&str] = &[VALIDATE, ROUTE, AUTO, MANAGER, FINANCE, NOTIFY, FINALIZE];

/// A decision whose only choice is another decision.
const NESTED: &str = r#"
name: nested
namespace_name: test
version: 1.0.0
steps:
  - name: start
    handler: { callable: Nested.Start }
  - name: outer
    type: decision
    dependencies: [start]
    handler: { callable: Nested.Outer }
  - name: inner
    type: decision
    dependencies: [outer]
    handler: { callable: Nested.Inner }
  - name: leaf_a
    dependencies: [inner]
    handler: { callable: Nested.LeafA }
  - name: leaf_b
    dependencies: [inner]
    handler: { callable: Nested.LeafB }
  - name: join
    type: deferred_convergence
    dependencies: [leaf_a, leaf_b]
    handler: { callable: Nested.Join }
"#;
const NESTED_ALL: &[&str] = &[
    "Nested.Start",
    "Nested.Outer",
    "Nested.Inner",
    "Nested.LeafA",
    "Nested.LeafB",
    "Nested.Join",
];

/// The decision a route handler makes from the task context (reference example (b)).
fn route_choice(amount: i64) -> Vec<&'static str> {
    if amount < 1000 {
        vec!["auto_approve"]
    } else if amount < 5000 {
        vec!["manager_approval"]
    } else {
        vec!["manager_approval", "finance_review"]
    }
}

/// Create an approval task and run `validate`; returns the task and the claimed `route`.
async fn up_to_route(engine: &Engine, amount: i64) -> (TaskView, ClaimedStep) {
    let task = create(engine, "approval_routing", json!({ "amount": amount })).await;
    let t = details(engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[("validate", "enqueued"), ("route", "pending")]),
        "only the steps upstream of the decision exist at first"
    );
    let v = claim_one(engine, ALL, "w1").await;
    assert_eq!(v.step_name, "validate");
    record(
        engine,
        success(&v, json!({ "valid": true, "amount": amount })),
    )
    .await;
    let route = claim_one(engine, ALL, "w1").await;
    assert_eq!(route.step_name, "route");
    assert_eq!(dep_names(&route), ["validate"]);
    let p = payload(&route);
    assert_eq!(p["step"]["step_type"], json!("decision"));
    assert_eq!(p["task"]["context"]["amount"], json!(amount));
    (task, route)
}

async fn single_branch_creates_only_the_chosen_step_and_convergence(db: TestDb) {
    let engine = engine(&db, &[("approval.yaml", APPROVAL)]).await;
    let (task, route) = up_to_route(&engine, 500).await;
    let chosen = route_choice(
        payload(&route)["task"]["context"]["amount"]
            .as_i64()
            .unwrap(),
    );
    assert_eq!(chosen, ["auto_approve"]);
    // The seed's wire form.
    let route_result = json!({
        "decision_point_outcome": { "outcome_type": "CreateSteps", "step_names": chosen },
        "routing_context": { "route_type": "auto" },
    });
    assert_eq!(
        record(&engine, success(&route, route_result.clone())).await,
        RecordOutcome::Recorded {
            step_uuid: route.step_uuid.clone(),
            state: StepState::Complete
        }
    );

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "steps_in_process");
    // Unchosen branches (and their descendants) have no rows at all.
    assert_eq!(
        step_states(&t),
        states(&[
            ("validate", "complete"),
            ("route", "complete"),
            ("auto_approve", "enqueued"),
            ("finalize", "pending"),
        ])
    );
    // The view's edges, those of the steps the decision created included.
    let deps = |name: &str| step(&t, name).dependencies.clone();
    assert!(deps("validate").is_empty());
    assert_eq!(deps("route"), ["validate"]);
    assert_eq!(deps("auto_approve"), ["route"]);
    assert_eq!(deps("finalize"), ["auto_approve"]);
    // Which outcome created which step.
    for (name, by) in [
        ("validate", None),
        ("route", None),
        ("auto_approve", Some("route")),
        ("finalize", Some("route")),
    ] {
        assert_eq!(step(&t, name).created_by.as_deref(), by, "{name}");
    }
    assert_eq!(
        json_of(&step(&t, "route").result),
        Some(route_result.clone())
    );
    // Created (and the branch enqueued) by the transaction that completed the decision.
    let route_done = *step_transitions(&t, "route").last().unwrap();
    assert_eq!(route_done.to_state, "complete");
    for name in ["auto_approve", "finalize"] {
        let ts = step_transitions(&t, name);
        assert_eq!(
            ts[0].reason.as_deref(),
            Some("created by the outcome of step 'route'"),
            "{name}"
        );
        assert_eq!(ts[0].at, route_done.at, "{name} created with the decision");
    }
    assert_eq!(
        moves(&step_transitions(&t, "auto_approve")),
        ["-->pending", "pending->enqueued"]
    );
    assert_eq!(moves(&step_transitions(&t, "finalize")), ["-->pending"]);

    // The convergence step waits for the branch.
    assert!(claim(&engine, &[FINALIZE], 10, "w1").await.is_empty());
    let auto = claim_one(&engine, ALL, "w1").await;
    assert_eq!(auto.step_name, "auto_approve");
    // Its dependency (the decision), not the step before that, which the payload names.
    assert_eq!(dep_names(&auto), ["route"]);
    assert_eq!(payload(&auto)["step"]["dependencies"], json!(["route"]));
    assert_eq!(
        payload(&auto)["step"]["indirect_ancestors"],
        json!(["validate"])
    );
    assert_eq!(
        payload(&auto)["dependency_results"]["route"]["result"],
        route_result
    );
    record(&engine, success(&auto, json!({ "approved_by": "system" }))).await;

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "finalize").state, "enqueued");
    let finalize = claim_one(&engine, ALL, "w1").await;
    assert_eq!(finalize.step_name, "finalize");
    // Its dependencies that ran (the chosen branch; the other was never created), not the
    // decision and what came before: those are ancestors, not dependencies.
    assert_eq!(dep_names(&finalize), ["auto_approve"]);
    assert_eq!(
        payload(&finalize)["step"]["indirect_ancestors"],
        json!(["route", "validate"])
    );
    assert_eq!(
        payload(&finalize)["dependency_results"]["auto_approve"]["result"],
        json!({ "approved_by": "system" })
    );
    assert_eq!(
        payload(&finalize)["step"]["step_type"],
        json!("deferred_convergence")
    );
    record(&engine, success(&finalize, json!({ "final": "approved" }))).await;

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 4 steps complete");
    assert_eq!(
        step_names(&t),
        sorted(&["validate", "route", "auto_approve", "finalize"])
    );
    assert!(claim(&engine, ALL, 10, "w1").await.is_empty());
}

async fn multiple_branches_make_convergence_wait_for_each(db: TestDb) {
    let engine = engine(&db, &[("approval.yaml", APPROVAL)]).await;
    let (task, route) = up_to_route(&engine, 7500).await;
    let chosen = route_choice(7500);
    assert_eq!(chosen, ["manager_approval", "finance_review"]);
    // The reference's wire form.
    record(
        &engine,
        success(
            &route,
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": chosen } }),
        ),
    )
    .await;

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[
            ("validate", "complete"),
            ("route", "complete"),
            ("manager_approval", "enqueued"),
            ("finance_review", "enqueued"),
            ("notify_finance", "pending"),
            ("finalize", "pending"),
        ]),
        "both branches, the descendant of one, and the convergence; no auto_approve"
    );

    // Both branches run at once.
    let branches = claim_all(&engine, ALL).await;
    let names: Vec<&str> = branches.iter().map(|c| c.step_name.as_str()).collect();
    assert_eq!(names, ["finance_review", "manager_approval"]);
    let (finance, manager) = (&branches[0], &branches[1]);

    record(&engine, success(manager, json!({ "manager": "ok" }))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step(&t, "finalize").state,
        "pending",
        "finalize waits for finance_review too"
    );
    assert!(claim(&engine, &[FINALIZE], 10, "w1").await.is_empty());
    assert_eq!(t.state, "steps_in_process");

    record(&engine, success(finance, json!({ "finance": "ok" }))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(step(&t, "finalize").state, "enqueued");
    assert_eq!(step(&t, "notify_finance").state, "enqueued");

    let next = claim_all(&engine, ALL).await;
    let names: Vec<&str> = next.iter().map(|c| c.step_name.as_str()).collect();
    assert_eq!(names, ["finalize", "notify_finance"]);
    let (finalize, notify) = (&next[0], &next[1]);
    // Only the branches taken: no auto_approve, and not notify_finance (not a declared dep);
    // nor the decision and the step before it (ancestors, not dependencies).
    assert_eq!(dep_names(finalize), ["finance_review", "manager_approval"]);
    assert_eq!(
        payload(finalize)["dependency_results"]["manager_approval"]["result"],
        json!({ "manager": "ok" })
    );
    assert_eq!(dep_names(notify), ["finance_review"]);

    record(&engine, success(finalize, json!("final"))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        t.state, "steps_in_process",
        "notify_finance is still running: created steps count towards completion"
    );
    record(&engine, success(notify, json!("notified"))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 6 steps complete");
}

async fn no_branches_completes_the_task_with_existing_steps(db: TestDb) {
    let engine = engine(&db, &[("approval.yaml", APPROVAL)]).await;
    for outcome in [
        json!({ "type": "no_branches" }),
        json!({ "outcome_type": "NoBranches", "step_names": [] }),
    ] {
        let (task, route) = up_to_route(&engine, 10).await;
        let result = json!({ "decision_point_outcome": outcome, "reason": "nothing to approve" });
        assert_eq!(
            record(&engine, success(&route, result.clone())).await,
            RecordOutcome::Recorded {
                step_uuid: route.step_uuid.clone(),
                state: StepState::Complete
            },
            "{outcome}"
        );
        let t = details(&engine, &task.task_uuid).await;
        assert_eq!(t.state, "complete", "{outcome}");
        assert!(t.completed_at.is_some());
        assert_eq!(
            step_states(&t),
            states(&[("validate", "complete"), ("route", "complete")]),
            "{outcome}"
        );
        assert_eq!(json_of(&step(&t, "route").result), Some(result));
        assert_eq!(last_task_reason(&t), "all 2 steps complete");
        assert!(claim(&engine, ALL, 10, "w1").await.is_empty());
    }
}

async fn nested_decision_creates_its_own_leaves(db: TestDb) {
    let engine = engine(&db, &[("nested.yaml", NESTED)]).await;
    let task = create(&engine, "nested", json!({})).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[("start", "enqueued"), ("outer", "pending")]),
        "the inner decision is downstream of the outer one: not created at first"
    );
    let start = claim_one(&engine, NESTED_ALL, "w1").await;
    record(&engine, success(&start, json!({ "started": true }))).await;

    let outer = claim_one(&engine, NESTED_ALL, "w1").await;
    assert_eq!(outer.step_name, "outer");
    record(
        &engine,
        success(
            &outer,
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["inner"] } }),
        ),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[
            ("start", "complete"),
            ("outer", "complete"),
            ("inner", "enqueued"),
        ]),
        "the outer decision creates only the inner decision, not its leaves"
    );
    assert_eq!(
        step_transitions(&t, "inner")[0].reason.as_deref(),
        Some("created by the outcome of step 'outer'")
    );

    let inner = claim_one(&engine, NESTED_ALL, "w1").await;
    assert_eq!(inner.step_name, "inner");
    assert_eq!(dep_names(&inner), ["outer"]);
    assert_eq!(payload(&inner)["step"]["step_type"], json!("decision"));
    record(
        &engine,
        success(
            &inner,
            json!({ "decision_point_outcome": { "outcome_type": "CreateSteps", "step_names": ["leaf_b"] } }),
        ),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(
        step_states(&t),
        states(&[
            ("start", "complete"),
            ("outer", "complete"),
            ("inner", "complete"),
            ("leaf_b", "enqueued"),
            ("join", "pending"),
        ])
    );
    for name in ["leaf_b", "join"] {
        assert_eq!(
            step_transitions(&t, name)[0].reason.as_deref(),
            Some("created by the outcome of step 'inner'"),
            "{name} is created by the inner decision"
        );
    }

    let leaf = claim_one(&engine, NESTED_ALL, "w1").await;
    assert_eq!(leaf.step_name, "leaf_b");
    assert_eq!(dep_names(&leaf), ["inner"]);
    record(&engine, success(&leaf, json!("b"))).await;
    let join = claim_one(&engine, NESTED_ALL, "w1").await;
    assert_eq!(join.step_name, "join");
    // The leaf that ran (leaf_a was never created), not the decisions before it.
    assert_eq!(dep_names(&join), ["leaf_b"]);
    assert_eq!(
        payload(&join)["step"]["indirect_ancestors"],
        json!(["inner", "outer", "start"])
    );
    record(&engine, success(&join, json!("joined"))).await;

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 5 steps complete");
    assert_eq!(
        step_names(&t),
        sorted(&["start", "outer", "inner", "leaf_b", "join"])
    );

    // The outer decision cannot reach past the inner one.
    let task = create(&engine, "nested", json!({})).await;
    let start = claim_one(&engine, NESTED_ALL, "w1").await;
    record(&engine, success(&start, json!({}))).await;
    let outer = claim_one(&engine, NESTED_ALL, "w1").await;
    record(
        &engine,
        success(
            &outer,
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["leaf_a"] } }),
        ),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "error");
    let err = step(&t, "outer").error.clone().expect("outer has an error");
    assert_eq!(err["error_type"], json!("invalid_decision_outcome"));
    assert_eq!(
        err["message"],
        json!("decision step 'outer' chose step 'leaf_a', which is not downstream of the decision")
    );
    assert_eq!(step_names(&t), sorted(&["start", "outer"]));
}

/// Record `result` for a claimed decision step and check that it was rejected as an
/// invalid_decision_outcome whose message contains `msg`, creating nothing.
async fn assert_rejected(
    engine: &Engine,
    task: &TaskView,
    decision: &ClaimedStep,
    result: Value,
    msg: &str,
) {
    assert_outcome_rejected(
        engine,
        task,
        decision,
        result,
        "invalid_decision_outcome",
        msg,
    )
    .await;
}

async fn invalid_outcomes_fail_the_decision_and_create_nothing(db: TestDb) {
    let engine = engine(&db, &[("approval.yaml", APPROVAL)]).await;
    let cases: Vec<(Value, &str)> = vec![
        // A step that exists but is upstream of the decision, in both wire forms.
        (
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["validate"] } }),
            "decision step 'route' chose step 'validate', which is not downstream of the decision",
        ),
        (
            json!({ "decision_point_outcome": { "outcome_type": "CreateSteps", "step_names": ["auto_approve", "validate"] } }),
            "decision step 'route' chose step 'validate', which is not downstream of the decision",
        ),
        // A step that does not exist.
        (
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["nope"] } }),
            "decision step 'route' chose step 'nope', which is not a step of template test/approval_routing@1.0.0",
        ),
        (
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["auto_approve", "auto_approve"] } }),
            "decision step 'route' chose step 'auto_approve' more than once",
        ),
        // Missing or malformed outcomes.
        (
            json!({ "approved": true }),
            "decision step 'route' returned no decision_point_outcome",
        ),
        (
            json!({ "decision_point_outcome": { "type": "pick", "step_names": ["auto_approve"] } }),
            "decision step 'route': decision_point_outcome.type is \"pick\", an unknown outcome type; expected CreateSteps or NoBranches",
        ),
        (
            json!({ "decision_point_outcome": "auto_approve" }),
            "decision step 'route': decision_point_outcome must be an object, got \"auto_approve\"",
        ),
        (
            json!({ "decision_point_outcome": { "type": "no_branches", "outcome_type": "CreateSteps", "step_names": ["auto_approve"] } }),
            "decision step 'route': decision_point_outcome.type is \"no_branches\" but its outcome_type is \"CreateSteps\"; they must agree (set only one of them)",
        ),
        (
            json!({ "decision_point_outcome": { "type": "no_branches", "step_names": ["auto_approve"] } }),
            "decision step 'route': decision_point_outcome.step_names must be [] for NoBranches, got [\"auto_approve\"]",
        ),
        (
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": "auto_approve" } }),
            "decision step 'route': decision_point_outcome.step_names must be a list of step names",
        ),
        (
            json!({ "decision_point_outcome": { "type": "create_steps", "step_names": [42] } }),
            "decision step 'route': decision_point_outcome.step_names[0] must be a non-empty string, got 42",
        ),
        (
            json!({ "decision_point_outcome": { "outcome_type": "CreateSteps", "step_names": [] } }),
            "decision step 'route': CreateSteps needs at least one step name",
        ),
    ];
    for (result, msg) in cases {
        let (task, route) = up_to_route(&engine, 500).await;
        assert_rejected(&engine, &task, &route, result, msg).await;
        assert!(
            claim(&engine, ALL, 10, "w1").await.is_empty(),
            "nothing of the failed task runs"
        );
    }
}

async fn outcome_over_the_step_limit_fails_the_decision(db: TestDb) {
    let zero = ExpansionLimits {
        max_steps_per_decision: 0,
        ..Default::default()
    };
    match Engine::open_with(&db.url, zero).await {
        Ok(_) => panic!("a limit of 0 is rejected"),
        Err(e) => assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}"),
    }

    let limits = ExpansionLimits {
        max_steps_per_decision: 1,
        ..Default::default()
    };
    let engine = engine_with(&db, limits, &[("approval.yaml", APPROVAL)]).await;
    let (task, route) = up_to_route(&engine, 7500).await;
    assert_rejected(
        &engine,
        &task,
        &route,
        json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["manager_approval", "finance_review"] } }),
        "decision step 'route' chose 2 steps; the limit is 1 (maxStepsPerDecision)",
    )
    .await;
    // The limit counts every step the outcome creates: the branch and the convergence.
    let (task, route) = up_to_route(&engine, 500).await;
    assert_rejected(
        &engine,
        &task,
        &route,
        json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["auto_approve"] } }),
        "decision step 'route' would create 2 steps; the limit is 1 (maxStepsPerDecision)",
    )
    .await;
    // NoBranches creates nothing, so it is within any limit.
    let (task, route) = up_to_route(&engine, 500).await;
    record(
        &engine,
        success(
            &route,
            json!({ "decision_point_outcome": { "type": "no_branches" } }),
        ),
    )
    .await;
    assert_eq!(details(&engine, &task.task_uuid).await.state, "complete");
}

async fn stale_decision_result_creates_nothing_twice(db: TestDb) {
    let engine = engine(&db, &[("approval.yaml", APPROVAL)]).await;
    let (task, route) = up_to_route(&engine, 500).await;
    let result = json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["auto_approve"] } });
    // The same result twice in one batch, then once more on its own.
    record_twice_in_one_batch(&engine, &route, &result).await;
    let t = details(&engine, &task.task_uuid).await;
    let transitions = t.transitions.as_ref().unwrap().len();
    assert_eq!(
        record(&engine, success(&route, result.clone())).await,
        RecordOutcome::Stale {
            step_uuid: route.step_uuid.clone()
        }
    );
    // A different outcome under the old claim is ignored too.
    let other = json!({ "decision_point_outcome": { "type": "create_steps", "step_names": ["finance_review"] } });
    assert!(matches!(
        record(&engine, success(&route, other)).await,
        RecordOutcome::Stale { .. }
    ));
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.transitions.as_ref().unwrap().len(), transitions);
    assert_eq!(
        step_states(&t),
        states(&[
            ("validate", "complete"),
            ("route", "complete"),
            ("auto_approve", "enqueued"),
            ("finalize", "pending"),
        ])
    );
    let auto = claim_one(&engine, ALL, "w1").await;
    record(&engine, success(&auto, json!({}))).await;
    let fin = claim_one(&engine, ALL, "w1").await;
    assert_eq!(fin.step_name, "finalize");
    record(&engine, success(&fin, json!({}))).await;
    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.state, "complete");
    assert_eq!(last_task_reason(&t), "all 4 steps complete");
}
