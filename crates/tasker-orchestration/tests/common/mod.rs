//! Helpers for the engine's integration tests that drive the `Engine` directly: opening it with
//! templates, claiming, reporting outcomes, and the templates only these tests use. The
//! backend harness (`backend_tests!`, `TestDb`, one PostgreSQL database per test), temp dirs,
//! the shared templates and the task-view readers come from `tasker-test-support`.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tasker_domain::{load_templates, StepState, TemplateSet};
use tasker_orchestration::{
    ClaimedStep, Engine, EngineError, ExpansionLimits, RecordOutcome, StepError, StepOutcome,
    TaskView,
};
pub use tasker_test_support::*;

/// Write the templates (`(file name, yaml)`) to a temp dir and load them as a worker would.
pub fn templates(files: &[(&str, &str)]) -> TemplateSet {
    let dir = template_dir(files);
    load_templates(&[dir.path()]).expect("test templates are valid")
}

/// Open an engine and register the templates.
pub async fn engine(db: &TestDb, files: &[(&str, &str)]) -> Arc<Engine> {
    engine_with(db, ExpansionLimits::default(), files).await
}

/// `engine`, with limits on what decision and batch outcomes may create.
pub async fn engine_with(
    db: &TestDb,
    limits: ExpansionLimits,
    files: &[(&str, &str)],
) -> Arc<Engine> {
    let engine = Engine::open_with(&db.url, limits)
        .await
        .unwrap_or_else(|e| panic!("open {:?} engine: {e}", db.backend));
    engine
        .register_templates(&templates(files))
        .await
        .expect("register templates");
    engine
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

pub async fn claim(
    engine: &Engine,
    callables: &[&str],
    limit: usize,
    worker: &str,
) -> Vec<ClaimedStep> {
    engine
        .claim(&strings(callables), limit, worker, 60_000)
        .await
        .expect("claim")
}

/// Claim exactly one step and return it.
pub async fn claim_one(engine: &Engine, callables: &[&str], worker: &str) -> ClaimedStep {
    let mut c = claim(engine, callables, 10, worker).await;
    assert_eq!(
        c.len(),
        1,
        "expected exactly one claimable step, got {:?}",
        c.iter().map(|s| &s.step_name).collect::<Vec<_>>()
    );
    c.pop().unwrap()
}

/// Claim every ready step for `callables`, sorted by step name.
pub async fn claim_all(engine: &Engine, callables: &[&str]) -> Vec<ClaimedStep> {
    let mut c = claim(engine, callables, 50, "w1").await;
    c.sort_by(|a, b| a.step_name.cmp(&b.step_name));
    c
}

/// A view's RFC 3339 time as milliseconds since the epoch.
pub fn ms_of(iso: &str) -> i64 {
    let t = time::OffsetDateTime::parse(iso, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{iso} is not an RFC 3339 time: {e}"));
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("a time in range")
}

pub fn success(c: &ClaimedStep, result: Value) -> StepOutcome {
    StepOutcome {
        step_uuid: c.step_uuid.clone(),
        task_uuid: c.task_uuid.clone(),
        claim_id: c.claim_id.clone(),
        success: true,
        result: Some(result.to_string()),
        error: None,
        metadata: None,
        duration_ms: Some(1.5),
    }
}

pub fn failure(c: &ClaimedStep, retryable: bool, retry_after_ms: Option<u64>) -> StepOutcome {
    StepOutcome {
        step_uuid: c.step_uuid.clone(),
        task_uuid: c.task_uuid.clone(),
        claim_id: c.claim_id.clone(),
        success: false,
        result: None,
        error: Some(StepError {
            message: format!("boom on attempt {}", c.attempt),
            error_type: "TestError".to_string(),
            retryable,
            retry_after_ms,
            status_code: None,
            stack: None,
        }),
        metadata: None,
        duration_ms: Some(2.0),
    }
}

pub async fn record(engine: &Engine, outcome: StepOutcome) -> RecordOutcome {
    let mut r = engine
        .record_results(vec![outcome], "w1")
        .await
        .expect("record_results");
    assert_eq!(r.len(), 1);
    r.pop().unwrap()
}

/// Record the same successful `result` twice in one `record_results` batch: the first is
/// recorded (the step completes), the second is stale.
pub async fn record_twice_in_one_batch(engine: &Engine, c: &ClaimedStep, result: &Value) {
    let out = engine
        .record_results(
            vec![success(c, result.clone()), success(c, result.clone())],
            "w1",
        )
        .await
        .expect("record_results");
    assert_eq!(
        out,
        [
            RecordOutcome::Recorded {
                step_uuid: c.step_uuid.clone(),
                state: StepState::Complete
            },
            RecordOutcome::Stale {
                step_uuid: c.step_uuid.clone()
            }
        ]
    );
}

/// Record `result` for a claimed decision or batchable step and check that the outcome was
/// rejected: the step is `error` (`error_type`, not retryable, message containing `msg`, no
/// result), its last transition says so, the task is `error` because of it, and no step was
/// created.
pub async fn assert_outcome_rejected(
    engine: &Engine,
    task: &TaskView,
    claimed: &ClaimedStep,
    result: Value,
    error_type: &str,
    msg: &str,
) {
    let names_before = step_names(&details(engine, &task.task_uuid).await);
    assert_eq!(
        record(engine, success(claimed, result.clone())).await,
        RecordOutcome::Recorded {
            step_uuid: claimed.step_uuid.clone(),
            state: StepState::Error
        },
        "{result}"
    );
    let t = details(engine, &task.task_uuid).await;
    assert_eq!(t.state, "error", "{result}");
    assert_eq!(step_names(&t), names_before, "nothing created for {result}");
    let s = step(&t, &claimed.step_name);
    assert_eq!((s.state.as_str(), s.attempts), ("error", 1), "{result}");
    assert_eq!(
        json_of(&s.result),
        None,
        "a rejected outcome is not stored as a result"
    );
    let err = s.error.clone().expect("the rejected step has an error");
    assert_eq!(err["error_type"], json!(error_type), "{result}");
    assert_eq!(err["retryable"], json!(false), "{result}");
    let message = err["message"].as_str().expect("message");
    assert!(
        message.contains(msg),
        "message {message:?} should contain {msg:?} (outcome {result})"
    );
    let last = *step_transitions(&t, &claimed.step_name).last().unwrap();
    assert_eq!(
        (last.from_state.as_deref(), last.to_state.as_str()),
        (Some("in_progress"), "error")
    );
    assert!(
        last.reason
            .as_deref()
            .unwrap_or_default()
            .contains(&format!("{error_type}: {message}")),
        "{:?}",
        last.reason
    );
    assert!(
        last_task_reason(&t).starts_with(&format!(
            "step '{}' failed permanently: ",
            claimed.step_name
        )),
        "{}",
        last_task_reason(&t)
    );
}

/// The claim's payload, with its dependency results (sent apart) under `dependency_results`.
pub fn payload(c: &ClaimedStep) -> Value {
    let mut p: Value = serde_json::from_str(&c.payload).expect("payload is JSON");
    let deps: Value = match &c.dependencies {
        Some(d) => serde_json::from_str(d).expect("dependencies are JSON"),
        None => serde_json::json!({}),
    };
    p["dependency_results"] = deps;
    p
}

/// The names in the claim payload's dependency_results, sorted.
pub fn dep_names(c: &ClaimedStep) -> Vec<String> {
    let mut v: Vec<String> = payload(c)["dependency_results"]
        .as_object()
        .expect("dependency_results is an object")
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn expect_err<T: std::fmt::Debug>(r: Result<T, EngineError>) -> EngineError {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Sleep until the wall clock reaches `at_ms` (plus a small margin).
pub async fn sleep_until_ms(at_ms: i64) {
    let wait = at_ms + 5 - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Templates only these tests use (namespace `test`, version `1.0.0`); DIAMOND and SINGLE are
// shared with the worker's tests.

pub const LINEAR: &str = r#"
name: linear
namespace_name: test
version: 1.0.0
steps:
  - name: s1
    handler: { callable: Linear.S1, initialization: { factor: 2 } }
  - name: s2
    dependencies: [s1]
    handler: { callable: Linear.S2 }
  - name: s3
    dependencies: [s2]
    handler: { callable: Linear.S3 }
  - name: s4
    dependencies: [s3]
    handler: { callable: Linear.S4 }
"#;
pub const LINEAR_CALLABLES: &[&str] = &["Linear.S1", "Linear.S2", "Linear.S3", "Linear.S4"];

/// One step, three attempts, linear backoff of 200 ms per failed attempt (before jitter).
pub const FLAKY: &str = r#"
name: flaky
namespace_name: test
version: 1.0.0
steps:
  - name: flaky
    handler: { callable: Flaky.Run }
    retry: { max_attempts: 3, backoff: linear, backoff_base_ms: 200, max_backoff_ms: 1000 }
"#;

/// One step, two attempts, no backoff.
pub const LEASED: &str = r#"
name: leased
namespace_name: test
version: 1.0.0
steps:
  - name: work
    handler: { callable: Leased.Work }
    retry: { max_attempts: 2, backoff_base_ms: 0 }
"#;
