//! Template parsing, validation and loading (reference §1).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use tasker_domain::{
    load_templates, parse_template, BackoffKind, HandlerSpec, RetryConfig, StepType, TaskTemplate,
};

const SRC: &str = "templates/x.yaml";

const DIAMOND: &str = r#"
name: diamond_calc
namespace_name: math_ts
version: 1.0.0
steps:
  - name: start
    handler: { callable: Math.Start, initialization: { op: square } }
  - name: left
    dependencies: [start]
    handler: { callable: Math.Left }
    retry: { retryable: true, max_attempts: 3 }
  - name: right
    dependencies: [start]
    handler: { callable: Math.Right }
  - name: finish
    dependencies: [left, right]            # waits for both (Complete or ResolvedManually)
    handler: { callable: Math.Finish }
    timeout_seconds: 30
environments:
  test:
    steps:
      - name: ALL
        retry: { max_attempts: 2 }          # replaces retry block of every step
"#;

const DECISION: &str = r#"
name: approval_routing
namespace_name: approvals_ts
version: 1.0.0
steps:
  - name: validate
    handler: { callable: Approvals.Validate }
  - name: route
    type: decision
    dependencies: [validate]                # decision needs ≥1 dependency
    handler: { callable: Approvals.Route, initialization: { small: 1000, large: 5000 } }
    retry: { retryable: false, max_attempts: 1 }   # keep decisions deterministic
  - name: auto_approve                      # candidate branches: depend on the decision
    dependencies: [route]
    handler: { callable: Approvals.Auto }
  - name: manager_approval
    dependencies: [route]
    handler: { callable: Approvals.Manager }
  - name: finance_review
    dependencies: [route]
    handler: { callable: Approvals.Finance }
  - name: finalize
    type: deferred_convergence              # waits only for the branches that were actually created
    dependencies: [auto_approve, manager_approval, finance_review]
    handler: { callable: Approvals.Finalize }
"#;

const BATCH: &str = r#"
name: csv_inventory
namespace_name: csv_ts
version: 1.0.0
steps:
  - name: analyze_csv
    type: batchable
    handler:
      callable: Csv.Analyzer
      initialization:
        worker_template_name: process_csv_batch   # REQUIRED for the NoBatches path (placeholder worker)
        batch_size: 200
  - name: process_csv_batch
    type: batch_worker                      # template only; instances named process_csv_batch_<batch_id>
    dependencies: [analyze_csv]
    handler: { callable: Csv.Worker, initialization: { mode: inventory } }
    batch_config:
      batch_size: 200
      parallelism: 5
      cursor_field: row_number
      worker_template: process_csv_batch
      failure_strategy: continue_on_failure
    retry: { retryable: true, max_attempts: 3 }
  - name: aggregate_csv
    type: deferred_convergence
    dependencies: [process_csv_batch]       # depends on the TEMPLATE name
    handler: { callable: Csv.Aggregate }
"#;

fn header() -> &'static str {
    "name: t\nnamespace_name: ns\nversion: 1.0.0\n"
}

/// A template with the standard header and the given `steps:` body.
fn with_steps(steps: &str) -> String {
    format!("{}steps:\n{steps}", header())
}

fn err(yaml: &str) -> String {
    match parse_template(yaml, SRC) {
        Ok(t) => panic!("expected an error, parsed {t:?}\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn diamond_example_parses() {
    let t = parse_template(DIAMOND, "examples/diamond.yaml").expect("diamond");
    assert_eq!(t.key(), "math_ts/diamond_calc@1.0.0");
    assert_eq!(t.source, "examples/diamond.yaml");
    assert_eq!(t.description, None);
    let names: Vec<&str> = t.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["start", "left", "right", "finish"]);
    let start = t.step("start").expect("start");
    assert_eq!(
        start.handler,
        HandlerSpec {
            callable: "Math.Start".into(),
            method: None,
            resolver: None,
            initialization: serde_json::json!({"op": "square"}),
        }
    );
    assert_eq!(start.step_type, StepType::Standard);
    assert!(start.dependencies.is_empty());
    let finish = t.step("finish").expect("finish");
    assert_eq!(finish.dependencies, ["left", "right"]);
    assert_eq!(finish.timeout_seconds, Some(30.0));
    assert_eq!(finish.timeout_ms(), 30_000);
    assert_eq!(t.step("right").expect("right").timeout_ms(), 30_000);
    assert_eq!(
        t.step("right").expect("right").handler.initialization,
        serde_json::json!({})
    );
    // `environments` is accepted and ignored: retry is the step's own.
    assert_eq!(t.step("left").expect("left").retry, RetryConfig::default());
}

#[test]
fn decision_example_parses() {
    let t = parse_template(DECISION, SRC).expect("decision");
    let route = t.step("route").expect("route");
    assert_eq!(route.step_type, StepType::Decision);
    assert_eq!(route.dependencies, ["validate"]);
    assert!(!route.retry.retryable);
    assert_eq!(route.retry.max_attempts, 1);
    assert_eq!(
        route.handler.initialization,
        serde_json::json!({"small": 1000, "large": 5000})
    );
    let finalize = t.step("finalize").expect("finalize");
    assert_eq!(finalize.step_type, StepType::DeferredConvergence);
    assert_eq!(finalize.dependencies.len(), 3);
}

#[test]
fn batch_example_parses() {
    let t = parse_template(BATCH, SRC).expect("batch");
    assert_eq!(
        t.step("analyze_csv").expect("a").step_type,
        StepType::Batchable
    );
    let worker = t.step("process_csv_batch").expect("worker");
    assert_eq!(worker.step_type, StepType::BatchWorker);
    assert_eq!(
        worker.batch_config,
        Some(serde_json::json!({
            "batch_size": 200,
            "parallelism": 5,
            "cursor_field": "row_number",
            "worker_template": "process_csv_batch",
            "failure_strategy": "continue_on_failure",
        }))
    );
    assert_eq!(
        t.step("aggregate_csv").expect("agg").step_type,
        StepType::DeferredConvergence
    );
}

#[test]
fn serialized_form_round_trips() {
    for yaml in [DIAMOND, DECISION, BATCH] {
        let t = parse_template(yaml, SRC).expect("parse");
        let json = serde_json::to_string(&t).expect("to json");
        let back: TaskTemplate = serde_json::from_str(&json).expect("from json");
        assert_eq!(back, t);
    }
}

#[test]
fn defaults_and_aliases() {
    let t = parse_template(
        &with_steps(
            "  - name: a\n    handler: { callable: A }\n\
             \x20 - name: b\n    step_type: decision\n    depends_on: [a]\n    handler: { callable: B, method: run, resolver: r }\n    retry: {}\n\
             \x20 - name: c\n    depends_on: [b]\n    handler: { callable: C }\n    retry: { backoff: fibonacci, backoff_base_ms: 0, max_backoff_ms: 0 }\n    timeout_seconds: 0.5\n\
             \x20 - name: d\n    dependencies: ~\n    handler: { callable: D }\n    retry: { retryable: false }\n",
        ),
        SRC,
    )
    .expect("parse");
    let default = RetryConfig {
        retryable: true,
        max_attempts: 3,
        backoff: BackoffKind::Exponential,
        backoff_base_ms: 1000,
        max_backoff_ms: 30_000,
    };
    assert_eq!(RetryConfig::default(), default);
    assert_eq!(t.steps[0].retry, default);
    assert_eq!(t.steps[1].retry, default);
    assert_eq!(t.steps[1].step_type, StepType::Decision);
    assert_eq!(t.steps[1].dependencies, ["a"]);
    assert_eq!(t.steps[1].handler.method.as_deref(), Some("run"));
    assert_eq!(t.steps[1].handler.resolver.as_deref(), Some("r"));
    assert_eq!(
        t.steps[2].retry,
        RetryConfig {
            backoff: BackoffKind::Fibonacci,
            backoff_base_ms: 0,
            max_backoff_ms: 0,
            ..default.clone()
        }
    );
    assert_eq!(t.steps[2].timeout_ms(), 500);
    assert!(t.steps[3].dependencies.is_empty());
    // `retryable: false` without max_attempts means a single attempt.
    assert_eq!(
        t.steps[3].retry,
        RetryConfig {
            retryable: false,
            max_attempts: 1,
            ..default
        }
    );
}

#[test]
fn ignored_reference_keys_are_accepted() {
    let yaml = format!(
        "{}description: demo\nmetadata: {{ author: me, tags: [a] }}\nsystem_dependencies: {{ primary: default }}\n\
         domain_events: [{{ name: e }}]\ninput_schema: {{ type: object }}\nenvironments: {{}}\n\
         steps:\n\
         \x20 - name: a\n    description: first\n    handler: {{ callable: A }}\n    publishes_events: [{{ name: e }}]\n\
         \x20   system_dependency: x\n    result_schema: {{ type: object }}\n    composition: {{}}\n",
        header()
    );
    let t = parse_template(&yaml, SRC).expect("parse");
    assert_eq!(t.description.as_deref(), Some("demo"));
    assert_eq!(t.steps[0].description.as_deref(), Some("first"));
}

/// The `lifecycle` block (docs/lifecycle.md): four limits in minutes, fractions allowed; what
/// tasker-core does to a stale task is noticed and ignored (here it always fails); anything
/// else is an error naming the field.
#[test]
fn lifecycle_limits_are_read_and_checked() {
    let block = |body: &str| {
        format!(
            "{}lifecycle:\n{body}steps:\n  - name: a\n    handler: {{ callable: A }}\n",
            header()
        )
    };
    let t = parse_template(
        &block(
            "  max_duration_minutes: 30\n  max_steps_in_process_minutes: 2\n  \
             max_waiting_for_dependencies_minutes: 0.5\n  max_waiting_for_retry_minutes: 1440\n  \
             staleness_action: dlq\n  auto_fail_on_timeout: true\n",
        ),
        SRC,
    )
    .expect("parse");
    let l = t.lifecycle.clone().expect("lifecycle");
    assert_eq!(l.max_duration_ms(), Some(1_800_000));
    assert_eq!(l.max_steps_in_process_ms(), Some(120_000));
    assert_eq!(l.max_waiting_for_dependencies_ms(), Some(30_000));
    assert_eq!(l.max_waiting_for_retry_ms(), Some(86_400_000));
    let notices: Vec<&str> = t.notices.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        notices,
        [
            format!(
                "{SRC}: ignoring 'lifecycle.staleness_action': a task past a lifecycle limit \
                 always fails (state error, with the limit as its reason; docs/lifecycle.md)"
            ),
            format!(
                "{SRC}: ignoring 'lifecycle.auto_fail_on_timeout': a task past a lifecycle limit \
                 always fails (state error, with the limit as its reason; docs/lifecycle.md)"
            ),
        ]
    );
    // Stored with the template (its digest changes with its limits); absent when empty.
    let json = serde_json::to_value(&t).expect("json");
    assert_eq!(json["lifecycle"]["max_steps_in_process_minutes"], 2.0);
    assert!(parse_template(
        &block("  {}\n").replace("lifecycle:\n  {}", "lifecycle: {}"),
        SRC
    )
    .expect("parse")
    .lifecycle
    .is_none());

    for (body, message) in [
        (
            "  max_duration_minutes: 0\n",
            "field 'lifecycle.max_duration_minutes': must be > 0 and <= 43200, got 0",
        ),
        (
            "  max_duration_minutes: 50000\n",
            "field 'lifecycle.max_duration_minutes': must be > 0 and <= 43200, got 50000",
        ),
        (
            "  max_waiting_for_retry_minutes: 20000\n",
            "field 'lifecycle.max_waiting_for_retry_minutes': must be > 0 and <= 10080, got 20000",
        ),
        (
            "  max_steps_in_process_minutes: soon\n",
            "field 'lifecycle.max_steps_in_process_minutes': expected a number of minutes, got \
             string 'soon'",
        ),
        ("  max_duration_minute: 5\n", "max_duration_minute"),
    ] {
        let e = err(&block(body));
        assert!(e.starts_with(SRC) && e.contains(message), "{body}: {e}");
    }
    let e = err(&block("  max_duration_minute: 5\n"));
    assert!(
        e.contains("unknown field 'lifecycle.max_duration_minute' (did you mean 'lifecycle.max_duration_minutes'?)"),
        "{e}"
    );
    let e = err(&format!(
        "{}lifecycle: [10]\nsteps:\n  - name: a\n    handler: {{ callable: A }}\n",
        header()
    ));
    assert!(
        e.contains("field 'lifecycle': expected a mapping of limits, got a list"),
        "{e}"
    );
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let yaml = with_steps(
        "  - name: a\n    handler: { callable: A }\n    retry: &r { max_attempts: 5, backoff: linear }\n\
         \x20 - name: b\n    dependencies: [a]\n    handler: { callable: B }\n    retry: { <<: *r, backoff_base_ms: 10 }\n",
    );
    let t = parse_template(&yaml, SRC).expect("parse");
    assert_eq!(t.steps[1].retry.max_attempts, 5);
    assert_eq!(t.steps[1].retry.backoff, BackoffKind::Linear);
    assert_eq!(t.steps[1].retry.backoff_base_ms, 10);
}

/// One valid step `a` followed by the given steps.
fn after_a(steps: &str) -> String {
    with_steps(&format!(
        "  - name: a\n    handler: {{ callable: A }}\n{steps}"
    ))
}

#[test]
fn validation_errors() {
    let long = "n".repeat(256);
    let cases: Vec<(String, String)> = vec![
        // --- top level
        ("".into(), "templates/x.yaml: the template is empty".into()),
        ("- a\n".into(), "templates/x.yaml: expected a mapping of template fields, got a list".into()),
        (
            "namespace_name: ns\nversion: 1.0.0\nsteps: []\n".into(),
            "templates/x.yaml: missing required field 'name'".into(),
        ),
        (
            "name: t\nversion: 1.0.0\nsteps: []\n".into(),
            "templates/x.yaml: missing required field 'namespace_name'".into(),
        ),
        (
            "name: t\nnamespace_name: ns\nsteps: []\n".into(),
            "templates/x.yaml: missing required field 'version'".into(),
        ),
        (
            "name: ''\nnamespace_name: ns\nversion: 1.0.0\n".into(),
            "templates/x.yaml: field 'name': must not be empty".into(),
        ),
        (
            format!("name: {long}\nnamespace_name: ns\nversion: 1.0.0\n"),
            "templates/x.yaml: field 'name': must be at most 255 characters, got 256".into(),
        ),
        (
            format!("name: t\nnamespace_name: ns\nversion: v{}\n", "1".repeat(50)),
            "templates/x.yaml: field 'version': must be at most 50 characters, got 51".into(),
        ),
        (
            "name: t\nnamespace_name: ns\nversion: 1.5\n".into(),
            "templates/x.yaml: field 'version': expected a string, got number 1.5 (put the value in quotes)".into(),
        ),
        (
            "name: [t]\nnamespace_name: ns\nversion: 1.0.0\n".into(),
            "templates/x.yaml: field 'name': expected a string, got a list".into(),
        ),
        (format!("{}steps: []\n", header()), "templates/x.yaml: template has no steps".into()),
        (header().into(), "templates/x.yaml: template has no steps".into()),
        (
            format!("{}steps: {{ a: 1 }}\n", header()),
            "templates/x.yaml: field 'steps': expected a list of steps, got a mapping".into(),
        ),
        (
            format!("{}stepz: []\n", header()),
            "templates/x.yaml: unknown field 'stepz' (did you mean 'steps'?)".into(),
        ),
        (
            format!("{}owner: me\n", header()),
            "templates/x.yaml: unknown field 'owner'".into(),
        ),
        (
            format!("{}1: x\n", header()),
            "templates/x.yaml: unexpected key number 1".into(),
        ),
        // --- step shape and unknown keys
        (
            with_steps("  - just_a_string\n"),
            "templates/x.yaml: step #1: expected a mapping of step fields, got string 'just_a_string'".into(),
        ),
        (
            with_steps("  - handler: { callable: A }\n"),
            "templates/x.yaml: step #1: missing required field 'name'".into(),
        ),
        (
            after_a("  - name: '  '\n    handler: { callable: B }\n"),
            "templates/x.yaml: step #2: field 'name': must not be empty".into(),
        ),
        (
            after_a("  - name: charge\n    dependecies: [a]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'charge': unknown field 'dependecies' (did you mean 'dependencies'?)".into(),
        ),
        (
            // (A step-level `lifecycle`, which tasker-core ignores, is ignored with a notice:
            // tests/porting.rs.)
            after_a("  - name: charge\n    owner: ops\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'charge': unknown field 'owner'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B, initialisation: {} }\n"),
            "templates/x.yaml: step 'charge': unknown field 'handler.initialisation' (did you mean 'handler.initialization'?)".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { max_attempt: 2 }\n"),
            "templates/x.yaml: step 'charge': unknown field 'retry.max_attempt' (did you mean 'retry.max_attempts'?)".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { jitter: true }\n"),
            "templates/x.yaml: step 'charge': unknown field 'retry.jitter'".into(),
        ),
        // --- handler
        (
            after_a("  - name: charge\n"),
            "templates/x.yaml: step 'charge': missing required field 'handler'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: Pay.Charge\n"),
            "templates/x.yaml: step 'charge': field 'handler': expected a mapping with 'callable', got string 'Pay.Charge'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { method: run }\n"),
            "templates/x.yaml: step 'charge': missing required field 'handler.callable'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: '' }\n"),
            "templates/x.yaml: step 'charge': field 'handler.callable': must not be empty".into(),
        ),
        (
            after_a(&format!("  - name: charge\n    handler: {{ callable: {} }}\n", "c".repeat(501))),
            "templates/x.yaml: step 'charge': field 'handler.callable': must be at most 500 characters, got 501".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B, initialization: [1] }\n"),
            "templates/x.yaml: step 'charge': field 'handler.initialization': expected a mapping, got a list".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    batch_config: [1]\n"),
            "templates/x.yaml: step 'charge': field 'batch_config': expected a mapping, got a list".into(),
        ),
        // --- type
        (
            after_a("  - name: join\n    type: deferred\n    dependencies: [a]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'join': field 'type': unknown step type 'deferred', expected one of standard, decision, deferred_convergence, batchable, batch_worker, signal, subtask ('deferred' is spelled 'deferred_convergence')".into(),
        ),
        (
            after_a("  - name: join\n    step_type: Decision\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'join': field 'step_type': unknown step type 'Decision', expected one of standard, decision, deferred_convergence, batchable, batch_worker, signal, subtask".into(),
        ),
        (
            after_a("  - name: join\n    type: decision\n    step_type: decision\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'join': fields 'type' and 'step_type' are aliases; use only one".into(),
        ),
        // --- dependencies
        (
            after_a("  - name: b\n    dependencies: [x]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': field 'dependencies': unknown step 'x'".into(),
        ),
        (
            after_a("  - name: b\n    depends_on: [a, x]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': field 'depends_on': unknown step 'x'".into(),
        ),
        (
            after_a("  - name: b\n    dependencies: [b]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': field 'dependencies': a step cannot depend on itself".into(),
        ),
        (
            after_a("  - name: b\n    dependencies: [a, a]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': field 'dependencies': step 'a' is listed more than once".into(),
        ),
        (
            after_a("  - name: b\n    dependencies: a\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': field 'dependencies': expected a list of step names, got string 'a'".into(),
        ),
        (
            after_a("  - name: b\n    dependencies: [[a]]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': field 'dependencies': expected step names, got a list".into(),
        ),
        (
            after_a("  - name: b\n    dependencies: [a]\n    depends_on: [a]\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'b': fields 'dependencies' and 'depends_on' are aliases; use only one".into(),
        ),
        (
            after_a("  - name: b\n    handler: { callable: B }\n  - name: a\n    handler: { callable: C }\n"),
            "templates/x.yaml: step 'a': duplicate step name (steps #1 and #3)".into(),
        ),
        (
            after_a("  - name: route\n    type: decision\n    handler: { callable: B }\n"),
            "templates/x.yaml: step 'route': field 'dependencies': a decision step must have at least one dependency".into(),
        ),
        // --- cycles: "x -> y" reads "x depends on y"
        (
            with_steps(
                "  - name: a\n    dependencies: [c]\n    handler: { callable: A }\n\
                 \x20 - name: b\n    dependencies: [a]\n    handler: { callable: B }\n\
                 \x20 - name: c\n    dependencies: [b]\n    handler: { callable: C }\n",
            ),
            "templates/x.yaml: dependency cycle: a -> c -> b -> a".into(),
        ),
        (
            after_a(
                "  - name: z\n    dependencies: [a, y]\n    handler: { callable: Z }\n\
                 \x20 - name: y\n    dependencies: [z]\n    handler: { callable: Y }\n",
            ),
            "templates/x.yaml: dependency cycle: z -> y -> z".into(),
        ),
        // --- retry
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { max_attempts: 101 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_attempts': must be between 1 and 100, got 101".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { max_attempts: -1 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_attempts': must be between 1 and 100, got -1".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { max_attempts: 2.5 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_attempts': expected a whole number, got number 2.5".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { max_attempts: '3' }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_attempts': expected a whole number, got string '3'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { backoff: expo }\n"),
            "templates/x.yaml: step 'charge': field 'retry.backoff': must be one of none, linear, exponential, fibonacci, got 'expo'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { backoff_base_ms: 3600001 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.backoff_base_ms': must be between 0 and 3600000, got 3600001".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { max_backoff_ms: 4000000 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_backoff_ms': must be between 0 and 3600000, got 4000000".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { backoff_base_ms: 5000, max_backoff_ms: 1000 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_backoff_ms': must be >= retry.backoff_base_ms (5000), got 1000".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { backoff_base_ms: 60000 }\n"),
            "templates/x.yaml: step 'charge': field 'retry.max_backoff_ms': must be >= retry.backoff_base_ms (60000), got the default 30000; set it explicitly".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: { retryable: 'no' }\n"),
            "templates/x.yaml: step 'charge': field 'retry.retryable': expected true or false, got string 'no'".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    retry: 3\n"),
            "templates/x.yaml: step 'charge': field 'retry': expected a mapping, got number 3".into(),
        ),
        // --- timeout
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    timeout_seconds: 0\n"),
            "templates/x.yaml: step 'charge': field 'timeout_seconds': must be > 0 and <= 86400, got 0".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    timeout_seconds: -1.5\n"),
            "templates/x.yaml: step 'charge': field 'timeout_seconds': must be > 0 and <= 86400, got -1.5".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    timeout_seconds: 86400.5\n"),
            "templates/x.yaml: step 'charge': field 'timeout_seconds': must be > 0 and <= 86400, got 86400.5".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    timeout_seconds: .nan\n"),
            "templates/x.yaml: step 'charge': field 'timeout_seconds': must be > 0 and <= 86400, got .nan".into(),
        ),
        (
            after_a("  - name: charge\n    handler: { callable: B }\n    timeout_seconds: 30s\n"),
            "templates/x.yaml: step 'charge': field 'timeout_seconds': expected a number of seconds, got string '30s'".into(),
        ),
    ];
    let mut failures = Vec::new();
    for (yaml, want) in &cases {
        let got = err(yaml);
        if &got != want {
            failures.push(format!("want: {want}\n got: {got}\nyaml:\n{yaml}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn timeout_boundaries_are_accepted() {
    for t in ["86400", "0.001", "1"] {
        let yaml = with_steps(&format!(
            "  - name: a\n    handler: {{ callable: A }}\n    timeout_seconds: {t}\n"
        ));
        parse_template(&yaml, SRC).unwrap_or_else(|e| panic!("{t}: {e}"));
    }
}

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let msg =
        err("name: t\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: a\n   handler: x\n");
    assert!(msg.starts_with("templates/x.yaml: invalid YAML: "), "{msg}");
    assert!(msg.contains("line 6 column"), "{msg}");
}

// ---------------------------------------------------------------- load_templates

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tasker-domain-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn named(name: &str, version: &str) -> String {
    format!(
        "name: {name}\nnamespace_name: ns\nversion: {version}\nsteps:\n  - name: a\n    handler: {{ callable: A }}\n"
    )
}

fn load_err<P: AsRef<Path>>(paths: &[P]) -> String {
    match load_templates(paths) {
        Ok(set) => panic!("expected an error, loaded {set:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loads_directories_sorted_and_files() {
    let dir = TempDir::new();
    let d = dir.path().display().to_string();
    dir.write("b.yml", &named("b", "1.0.0"));
    dir.write("a.yaml", &named("a", "1.0.0"));
    dir.write("c.YAML", &named("c", "1.0.0"));
    dir.write("notes.txt", "not a template");
    dir.write("nested/d.yaml", &named("d", "1.0.0")); // not recursive
    let extra = dir.write("extra/e.tmpl", &named("e", "1.0.0")); // explicit file: any extension
    let set = load_templates(&[
        dir.path().to_path_buf(),
        extra.clone(),
        dir.path().join("a.yaml"),
    ])
    .expect("load");
    let keys: Vec<String> = set.templates.iter().map(|t| t.key()).collect();
    // Sorted by file name; a.yaml reached twice is loaded once.
    assert_eq!(
        keys,
        ["ns/a@1.0.0", "ns/b@1.0.0", "ns/c@1.0.0", "ns/e@1.0.0"]
    );
    assert_eq!(set.templates[0].source, format!("{d}/a.yaml"));
    assert!(set.find("ns", "b", "1.0.0").is_some());
    assert!(set.find("ns", "b", "2.0.0").is_none());
    assert_eq!(set.namespaces(), ["ns"]);
    assert_eq!(set.callables().len(), 4);
}

#[test]
fn load_errors() {
    let dir = TempDir::new();
    let d = dir.path().display().to_string();

    let missing = dir.path().join("nope");
    assert_eq!(
        load_err(&[&missing]),
        format!("{d}/nope: no such file or directory")
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    dir.write("empty/readme.md", "hi");
    assert_eq!(
        load_err(&[&empty]),
        format!("no task templates (*.yaml, *.yml) found in {d}/empty")
    );
    assert_eq!(
        load_err::<&Path>(&[]),
        "no task templates (*.yaml, *.yml) found in (no paths given)"
    );

    dir.write("dup/one.yaml", &named("t", "1.0.0"));
    dir.write("dup/two.yaml", &named("t", "1.0.0"));
    dir.write("dup/three.yaml", &named("t", "2.0.0"));
    assert_eq!(
        load_err(&[dir.path().join("dup")]),
        format!("{d}/dup/two.yaml: template ns/t@1.0.0 is already defined in {d}/dup/one.yaml")
    );

    dir.write("bad/ok.yaml", &named("ok", "1.0.0"));
    dir.write(
        "bad/x.yaml",
        &after_a("  - name: charge\n    dependecies: [a]\n    handler: { callable: B }\n"),
    );
    assert_eq!(
        load_err(&[dir.path().join("bad")]),
        format!("{d}/bad/x.yaml: step 'charge': unknown field 'dependecies' (did you mean 'dependencies'?)")
    );
}

#[test]
fn environment_overrides_apply_to_named_steps_and_all() {
    let yaml = r#"
name: env_demo
namespace_name: demo
version: 1.0.0
steps:
  - name: a
    handler: { callable: A, initialization: { url: prod, keep: 1 } }
    retry: { max_attempts: 5, backoff_base_ms: 2000 }
  - name: b
    dependencies: [a]
    handler: { callable: B }
    timeout_seconds: 60
environments:
  test:
    steps:
      - name: ALL
        retry: { max_attempts: 2 }
      - name: a
        handler: { initialization: { url: local } }
        timeout_seconds: 1
"#;
    let base = tasker_domain::parse_template(yaml, "env.yaml").unwrap();
    assert_eq!(base.steps[0].retry.max_attempts, 5);
    let t = tasker_domain::parse_template_for_env(yaml, "env.yaml", Some("test")).unwrap();
    let a = &t.steps[0];
    assert_eq!(a.handler.initialization["url"], "local");
    assert_eq!(a.handler.initialization["keep"], 1);
    assert_eq!(a.timeout_seconds, Some(1.0));
    // `retry` replaces the whole block: omitted keys take their defaults.
    assert_eq!(a.retry.max_attempts, 2);
    assert_eq!(a.retry.backoff_base_ms, 1000);
    assert_eq!(t.steps[1].retry.max_attempts, 2);
    assert_eq!(t.steps[1].timeout_seconds, Some(60.0));
    // An environment without overrides changes nothing.
    let prod = tasker_domain::parse_template_for_env(yaml, "env.yaml", Some("production")).unwrap();
    assert_eq!(prod, base);

    let bad = yaml.replace(
        "      - name: a\n        handler",
        "      - name: zz\n        handler",
    );
    let err = tasker_domain::parse_template_for_env(&bad, "env.yaml", Some("test")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "env.yaml: field 'environments.test.steps[1]': override names step 'zz', which is not a step of this template"
    );
    let bad = yaml.replace("        timeout_seconds: 1\n", "        timeout: 1\n");
    let err = tasker_domain::parse_template_for_env(&bad, "env.yaml", Some("test")).unwrap_err();
    assert!(err.to_string().contains("unknown field 'timeout'"), "{err}");
    // Overrides are validated like the rest of the template.
    let bad = yaml.replace("retry: { max_attempts: 2 }", "retry: { max_attempts: 101 }");
    let err = tasker_domain::parse_template_for_env(&bad, "env.yaml", Some("test")).unwrap_err();
    assert!(
        err.to_string()
            .contains("field 'retry.max_attempts': must be between 1 and 100, got 101"),
        "{err}"
    );
}

// ---------------------------------------------------------------- pathological files

#[test]
fn deeply_nested_files_are_rejected_before_they_are_parsed() {
    // 100,000 nested flow lists took the YAML parser minutes to reject (its cost grows with the
    // square of the nesting); the nesting guard stops at the limit.
    let dir = TempDir::new();
    let file = dir.write(
        "deep.yaml",
        &format!("{}steps: {}", header(), "[".repeat(100_000)),
    );
    assert_eq!(
        load_err(&[&file]),
        format!(
            "{}: lists and mappings are nested more than 64 levels deep (at line 4 column 71); \
             a template may nest them at most 64 levels deep",
            file.display()
        )
    );
    // Flow mappings and block nesting count the same way.
    let msg = err(&format!("{}steps: {}", header(), "{a: ".repeat(100_000)));
    assert_eq!(
        msg,
        "templates/x.yaml: lists and mappings are nested more than 64 levels deep (at line 4 column 260); \
         a template may nest them at most 64 levels deep"
    );
    let mut block =
        with_steps("  - name: a\n    handler:\n      callable: A\n      initialization:\n");
    for depth in 0..70 {
        block.push_str(&format!("{}k{depth}:\n", " ".repeat(8 + 2 * depth)));
    }
    assert!(
        err(&block).contains("nested more than 64 levels deep (at line 69 column 129)"),
        "{}",
        err(&block)
    );
    // 64 levels are fine.
    let mut ok =
        with_steps("  - name: a\n    handler:\n      callable: A\n      initialization:\n");
    for depth in 0..59 {
        ok.push_str(&format!("{}k{depth}:\n", " ".repeat(8 + 2 * depth)));
    }
    ok.push_str(&format!("{}leaf: 1\n", " ".repeat(8 + 2 * 59)));
    parse_template(&ok, SRC).expect("64 levels");
}

#[test]
fn files_over_the_size_limit_are_rejected_unread() {
    let dir = TempDir::new();
    let big = format!("{}# {}\n", named("big", "1.0.0"), "x".repeat(1_048_576));
    let file = dir.write("big.yaml", &big);
    assert_eq!(
        load_err(&[&file]),
        format!(
            "{}: the file is {} bytes; a template may be at most 1048576 bytes (1 MiB)",
            file.display(),
            big.len()
        )
    );
    assert_eq!(
        err(&big),
        format!(
            "templates/x.yaml: the file is {} bytes; a template may be at most 1048576 bytes (1 MiB)",
            big.len()
        )
    );
}

#[test]
fn a_utf8_byte_order_mark_is_accepted() {
    let dir = TempDir::new();
    let file = dir.write("bom.yaml", &format!("\u{feff}{}", named("bom", "1.0.0")));
    let set = load_templates(&[&file]).expect("a file starting with a BOM loads");
    assert_eq!(set.templates[0].key(), "ns/bom@1.0.0");
    let t = parse_template(&format!("\u{feff}{}", named("bom", "1.0.0")), SRC).expect("parse");
    assert_eq!(t.name, "bom");
}

#[test]
fn huge_values_are_cut_short_in_messages() {
    let huge = "n".repeat(1_000_000);
    let cut = format!("{}… (1000000 characters)", "n".repeat(100));
    let cases = [
        (
            with_steps(&format!("  - name: {huge}\n    handler: {{ callable: A }}\n")),
            format!("templates/x.yaml: step '{cut}': field 'name': must be at most 255 characters, got 1000000"),
        ),
        (
            after_a(&format!("  - name: b\n    dependencies: [{huge}]\n    handler: {{ callable: B }}\n")),
            format!("templates/x.yaml: step 'b': field 'dependencies': unknown step '{cut}'"),
        ),
        (
            // (a key longer than 1024 characters must be written as an explicit `? key`)
            after_a(&format!("  - name: b\n    ? {huge}\n    : 1\n    handler: {{ callable: B }}\n")),
            format!("templates/x.yaml: step 'b': unknown field '{cut}'"),
        ),
        (
            after_a(&format!("  - name: b\n    type: {huge}\n    handler: {{ callable: B }}\n")),
            format!(
                "templates/x.yaml: step 'b': field 'type': unknown step type '{cut}', expected one of \
                 standard, decision, deferred_convergence, batchable, batch_worker, signal, subtask"
            ),
        ),
        (
            after_a(&format!("  - name: b\n    timeout_seconds: '{huge}'\n    handler: {{ callable: B }}\n")),
            format!("templates/x.yaml: step 'b': field 'timeout_seconds': expected a number of seconds, got string '{cut}'"),
        ),
    ];
    for (yaml, expected) in cases {
        assert_eq!(err(&yaml), expected);
    }
}
