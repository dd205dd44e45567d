//! JSON the engine accepts: what `JSON.stringify` produces (any nesting up to `maxJsonDepth`,
//! lone surrogates) round-trips unchanged to the handler and to `get_task`; past a limit the
//! context, result, metadata or checkpoint is refused with a message naming the limit, on both
//! backends.

mod common;

use common::*;
use serde_json::json;
use tasker_domain::{JsonLimits, StepState};
use tasker_orchestration::{
    ClaimedStep, CreateTask, Engine, EngineError, ErrorCode, ExpansionLimits, Limits,
    RecordOutcome, StepError, StepOutcome,
};

backend_tests!(
    deep_json_and_lone_surrogates_round_trip_unchanged,
    json_past_a_limit_is_refused_naming_the_limit,
    json_limits_are_validated,
);

/// `depth` nested arrays around a string holding a lone surrogate, as `JSON.stringify` writes it.
fn nested(depth: usize) -> String {
    format!(r#"{}"\ud800"{}"#, "[".repeat(depth), "]".repeat(depth))
}

fn request(context: String) -> CreateTask {
    CreateTask {
        namespace: NS.into(),
        name: "diamond".into(),
        version: VERSION.into(),
        context,
        idempotency_key: None,
        ..CreateTask::default()
    }
}

fn raw_success(c: &ClaimedStep, result: String, metadata: Option<String>) -> StepOutcome {
    StepOutcome {
        metadata,
        ..success(c, json!({}))
    }
    .with_result(result)
}

/// Claim the `start` step of `task` (other tasks' ready steps are claimed too, and left).
async fn claim_start(engine: &Engine, task_uuid: &str) -> ClaimedStep {
    claim_all(engine, &["Diamond.Start"])
        .await
        .into_iter()
        .find(|c| c.task_uuid == task_uuid)
        .expect("the task's start step is ready")
}

trait WithResult {
    fn with_result(self, result: String) -> Self;
}

impl WithResult for StepOutcome {
    fn with_result(mut self, result: String) -> Self {
        self.result = Some(result);
        self
    }
}

async fn deep_json_and_lone_surrogates_round_trip_unchanged(db: TestDb) {
    let engine = engine(&db, &[("diamond.yaml", DIAMOND)]).await;
    // 200 levels: past serde_json's own recursion limit (128), within the default 1000.
    let context = format!(r#"{{"deep":{},"s":"a\udc00b"}}"#, nested(199));
    let task = engine
        .create_task(request(context.clone()))
        .await
        .expect("create");
    assert_eq!(task.context.get(), context);

    let start = claim_one(&engine, &["Diamond.Start"], "w1").await;
    assert!(
        start.payload.contains(&format!(r#""context":{context}"#)),
        "the handler gets the context as it was written"
    );
    // A step with no ancestors has no dependency results to send; they never go in the payload.
    assert_eq!(start.dependencies, None);
    assert!(!start.payload.contains("dependency_results"));
    let result = format!(r#"{{"tree":{},"note":"\udbff"}}"#, nested(199));
    let metadata = format!(r#"{{"trace":{}}}"#, nested(150));
    assert_eq!(
        record(
            &engine,
            raw_success(&start, result.clone(), Some(metadata.clone()))
        )
        .await,
        RecordOutcome::Recorded {
            step_uuid: start.step_uuid.clone(),
            state: StepState::Complete
        }
    );
    let left = claim_all(&engine, &["Diamond.Left"]).await;
    assert!(
        left[0]
            .dependencies
            .as_deref()
            .is_some_and(|d| d.contains(&format!(r#""result":{result}"#))),
        "a dependent gets the result as it was written"
    );

    let t = details(&engine, &task.task_uuid).await;
    assert_eq!(t.context.get(), context);
    let s = step(&t, "start");
    assert_eq!(s.result.as_deref().map(|r| r.get()), Some(result.as_str()));
    assert_eq!(
        s.metadata.as_deref().map(|r| r.get()),
        Some(metadata.as_str())
    );
    // And so does the JSON the TypeScript client parses.
    let view = serde_json::to_string(&t).expect("view");
    assert!(
        view.contains(&format!(r#""context":{context}"#)),
        "{}",
        &view[..200]
    );
    assert!(view.contains(&format!(r#""result":{result}"#)));
}

async fn json_past_a_limit_is_refused_naming_the_limit(db: TestDb) {
    let limits = Limits {
        expansion: ExpansionLimits::default(),
        json: JsonLimits {
            max_depth: 50,
            max_result_bytes: 1_000,
            max_context_bytes: 500,
        },
    };
    let engine = Engine::open_with(&db.url, limits).await.expect("open");
    engine
        .register_templates(&templates(&[("diamond.yaml", DIAMOND)]))
        .await
        .expect("register");

    // Contexts: refused by create_task, naming the limit and the actual value.
    let invalid = |e: EngineError| (e.code(), e.to_string());
    let deep = format!(r#"{{"deep":{}}}"#, nested(50));
    let big = format!(r#"{{"s":"{}"}}"#, "x".repeat(600));
    for (context, message) in [
        (
            deep.clone(),
            "the task context for test/diamond@1.0.0 is nested 51 levels deep; the limit is 50 (maxJsonDepth)".to_string(),
        ),
        (
            big.clone(),
            format!("the task context for test/diamond@1.0.0 is {} bytes; the limit is 500 bytes (maxContextBytes)", big.len()),
        ),
    ] {
        let e = engine.create_task(request(context)).await.map(|_| ()).map_err(invalid);
        assert_eq!(e, Err((ErrorCode::InvalidArgument, message)));
    }
    // 50 levels are fine.
    engine
        .create_task(request(format!(r#"{{"deep":{}}}"#, nested(49))))
        .await
        .expect("50 levels");

    // Results: the step fails permanently, named with its template.
    let deep_result = nested(51);
    let big_result = format!(r#""{}""#, "y".repeat(1_200));
    for (result, error_type, message) in [
        (
            deep_result,
            "result_too_deep",
            "step 'start' of task template test/diamond@1.0.0 returned a result nested 51 levels deep; the limit is 50 (maxJsonDepth)".to_string(),
        ),
        (
            big_result.clone(),
            "result_too_large",
            format!("step 'start' of task template test/diamond@1.0.0 returned a result of {} bytes; the limit is 1000 bytes (maxResultBytes)", big_result.len()),
        ),
        (
            "{\"a\":".to_string(),
            "serialization_error",
            "step 'start' of task template test/diamond@1.0.0 returned a result that is not valid JSON: EOF while parsing a value at line 1 column 5".to_string(),
        ),
    ] {
        let task = engine.create_task(request("{}".into())).await.expect("create");
        let start = claim_start(&engine, &task.task_uuid).await;
        assert_eq!(
            record(&engine, raw_success(&start, result, None)).await,
            RecordOutcome::Recorded {
                step_uuid: start.step_uuid.clone(),
                state: StepState::Error
            }
        );
        let t = details(&engine, &task.task_uuid).await;
        let s = step(&t, "start");
        assert_eq!(json_of(&s.result), None);
        let err = s.error.clone().expect("error");
        assert_eq!(
            (&err["error_type"], &err["message"], &err["retryable"]),
            (&json!(error_type), &json!(message), &json!(false))
        );
        assert_eq!(t.state, "error");
        assert_eq!(
            last_task_reason(&t),
            format!("step 'start' failed permanently: {message}")
        );
    }

    // Metadata past a limit: a success is refused; a failure keeps its error, without it.
    let deep_meta = format!(r#"{{"m":{}}}"#, nested(50));
    let task = engine
        .create_task(request("{}".into()))
        .await
        .expect("create");
    let start = claim_start(&engine, &task.task_uuid).await;
    record(
        &engine,
        raw_success(&start, "{}".into(), Some(deep_meta.clone())),
    )
    .await;
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "start");
    assert_eq!((s.state.as_str(), json_of(&s.metadata)), ("error", None));
    assert_eq!(
        s.error.as_ref().map(|e| e["message"].clone()),
        Some(json!("step 'start' of task template test/diamond@1.0.0 returned metadata nested 51 levels deep; the limit is 50 (maxJsonDepth)"))
    );

    let task = engine
        .create_task(request("{}".into()))
        .await
        .expect("create");
    let start = claim_start(&engine, &task.task_uuid).await;
    let failed = StepOutcome {
        metadata: Some(deep_meta),
        error: Some(StepError {
            message: "upstream said no".into(),
            error_type: "TestError".into(),
            retryable: true,
            retry_after_ms: None,
            status_code: None,
            stack: None,
        }),
        ..failure(&start, true, None)
    };
    assert_eq!(
        record(&engine, failed).await,
        RecordOutcome::Recorded {
            step_uuid: start.step_uuid.clone(),
            state: StepState::WaitingForRetry
        }
    );
    let t = details(&engine, &task.task_uuid).await;
    let s = step(&t, "start");
    assert_eq!(json_of(&s.metadata), None);
    assert_eq!(
        s.error.as_ref().map(|e| e["message"].clone()),
        Some(json!("upstream said no (its metadata was dropped: the handler returned metadata nested 51 levels deep; the limit is 50 (maxJsonDepth))"))
    );

    // Checkpoints: refused, naming the limit.
    let task = engine
        .create_task(request("{}".into()))
        .await
        .expect("create");
    let start = claim_start(&engine, &task.task_uuid).await;
    let e = engine
        .save_checkpoint(
            &start.step_uuid,
            &start.claim_id,
            &format!(r#"{{"cursor":{}}}"#, nested(50)),
            60_000,
        )
        .await
        .map_err(invalid);
    assert_eq!(
        e,
        Err((
            ErrorCode::InvalidArgument,
            "checkpoint is nested 51 levels deep; the limit is 50 (maxJsonDepth)".to_string()
        ))
    );
    let e = engine
        .save_checkpoint(&start.step_uuid, &start.claim_id, &big_result, 60_000)
        .await
        .map_err(invalid);
    assert_eq!(
        e,
        Err((
            ErrorCode::InvalidArgument,
            format!(
                "checkpoint is {} bytes; the limit is 1000 bytes (maxResultBytes)",
                big_result.len()
            )
        ))
    );
}

async fn json_limits_are_validated(db: TestDb) {
    for (json, message) in [
        (
            JsonLimits {
                max_depth: 0,
                ..JsonLimits::default()
            },
            "maxJsonDepth must be between 1 and 100000, got 0",
        ),
        (
            JsonLimits {
                max_result_bytes: 1_000_000_001,
                ..JsonLimits::default()
            },
            "maxResultBytes must be between 1 and 1000000000, got 1000000001",
        ),
    ] {
        let limits = Limits {
            json,
            ..Limits::default()
        };
        match Engine::open_with(&db.url, limits).await {
            Ok(_) => panic!("expected {message}"),
            Err(e) => assert_eq!(
                (e.code(), e.to_string()),
                (ErrorCode::InvalidArgument, message.to_string())
            ),
        }
    }
}
