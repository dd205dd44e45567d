//! Helpers for the worker core's integration tests: worker settings, and a driver that plays
//! the handler runtime through `poll()` / `complete()`. The backend harness (`backend_tests!`,
//! `TestDb`, one PostgreSQL database per test), temp and template dirs, the shared templates
//! and the task-view readers come from `tasker-test-support`.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tasker_orchestration::{Engine, StepError, TaskView};
pub use tasker_test_support::*;
use tasker_worker::{HandlerResult, LogLine, ResultOutcome, Worker, WorkerConfig, WorkerEvent};

pub const SECOND: Duration = Duration::from_secs(1);

pub fn config(worker_id: &str, dir: &Path, handlers: &[&str], concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        worker_id: worker_id.to_string(),
        template_paths: vec![dir.to_path_buf()],
        handler_names: handlers.iter().map(|h| h.to_string()).collect(),
        concurrency,
        lease_ms: 30_000,
        // Long, so that a test relying on the fallback poll instead of events is noticed.
        poll_interval_ms: 2_000,
        min_log_level: Some(tasker_worker::LogLevel::Debug),
        report_outcomes: false,
        schedules: Vec::new(),
        limits: Default::default(),
    }
}

/// Create and start a worker.
pub async fn start(engine: &Arc<Engine>, config: WorkerConfig) -> (Worker, Runtime) {
    let worker = Worker::create(engine.clone(), config)
        .await
        .unwrap_or_else(|e| panic!("create worker: {} {e}", e.code()));
    worker.start().expect("start worker");
    let runtime = Runtime {
        worker: worker.clone(),
        buffered: VecDeque::new(),
        logs: Vec::new(),
        recorded: Vec::new(),
    };
    (worker, runtime)
}

/// The task once it has finished (complete, error or cancelled), waiting at most 5 s.
pub async fn finished(engine: &Engine, task_uuid: &str) -> TaskView {
    engine
        .wait_for_task(task_uuid, 5 * SECOND)
        .await
        .unwrap_or_else(|e| panic!("wait_for_task {task_uuid}: {e}"))
}

/// A step handed to the runtime.
#[derive(Debug, Clone)]
pub struct Dispatched {
    pub step_uuid: String,
    pub task_uuid: String,
    pub claim_id: String,
    pub payload: Value,
}

impl Dispatched {
    pub fn name(&self) -> &str {
        self.payload["step"]["name"].as_str().expect("step name")
    }

    pub fn attempts(&self) -> i64 {
        self.payload["step"]["attempts"].as_i64().expect("attempts")
    }

    pub fn ok(&self, result: Value) -> HandlerResult {
        HandlerResult {
            step_uuid: self.step_uuid.clone(),
            claim_id: self.claim_id.clone(),
            success: true,
            result: Some(result.to_string()),
            error: None,
            metadata: None,
            duration_ms: Some(1.0),
        }
    }

    pub fn failed(&self, retryable: bool) -> HandlerResult {
        HandlerResult {
            step_uuid: self.step_uuid.clone(),
            claim_id: self.claim_id.clone(),
            success: false,
            result: None,
            error: Some(StepError {
                message: format!("handler failed on attempt {}", self.attempts() + 1),
                error_type: "TestError".into(),
                retryable,
                retry_after_ms: None,
                status_code: None,
                stack: None,
            }),
            metadata: None,
            duration_ms: Some(1.0),
        }
    }
}

/// Plays the handler runtime: reads the worker's events one at a time.
pub struct Runtime {
    worker: Worker,
    buffered: VecDeque<WorkerEvent>,
    /// The log lines received so far (kept apart from the step and abort events).
    pub logs: Vec<LogLine>,
    /// What became of reported results, as told so far (with `report_outcomes`): step uuid,
    /// claim id, outcome.
    pub recorded: Vec<(String, String, ResultOutcome)>,
}

impl Runtime {
    /// Keep a log line or a recorded outcome; any other event is given back.
    fn keep(&mut self, e: WorkerEvent) -> Option<WorkerEvent> {
        match e {
            WorkerEvent::Log(line) => self.logs.push(line),
            WorkerEvent::Recorded {
                step_uuid,
                claim_id,
                outcome,
            } => self.recorded.push((step_uuid, claim_id, outcome)),
            other => return Some(other),
        }
        None
    }

    /// The next event, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> WorkerEvent {
        if let Some(e) = self.buffered.pop_front() {
            return e;
        }
        match tokio::time::timeout(within, self.worker.poll()).await {
            Err(_) => panic!("no worker event within {within:?}"),
            Ok(None) => panic!("the worker closed its event stream"),
            Ok(Some(events)) => {
                assert!(!events.is_empty(), "poll() returned an empty batch");
                for e in events {
                    if let Some(other) = self.keep(e) {
                        self.buffered.push_back(other);
                    }
                }
                match self.buffered.pop_front() {
                    Some(e) => e,
                    // Only log lines: wait on for an event.
                    None => Box::pin(self.next(within)).await,
                }
            }
        }
    }

    /// The next event, which must be a Step.
    pub async fn step(&mut self, within: Duration) -> Dispatched {
        match self.next(within).await {
            WorkerEvent::Step {
                step_uuid,
                task_uuid,
                claim_id,
                payload,
                dependencies,
                ..
            } => {
                // The dependency results come apart from the payload; put them back under
                // `dependency_results` for the tests.
                let mut payload: Value = serde_json::from_str(&payload).expect("payload is JSON");
                payload["dependency_results"] = match dependencies {
                    Some(d) => serde_json::from_str(&d).expect("dependencies are JSON"),
                    None => serde_json::json!({}),
                };
                Dispatched {
                    step_uuid,
                    task_uuid,
                    claim_id,
                    payload,
                }
            }
            other => panic!("expected a Step event, got {other:?}"),
        }
    }

    /// The next event, which must be an Abort of `step` (its step, task and claim): the reason.
    pub async fn abort(&mut self, step: &Dispatched, within: Duration) -> String {
        match self.next(within).await {
            WorkerEvent::Abort {
                step_uuid,
                task_uuid,
                claim_id,
                reason,
            } => {
                assert_eq!(
                    (step_uuid, task_uuid, claim_id),
                    (
                        step.step_uuid.clone(),
                        step.task_uuid.clone(),
                        step.claim_id.clone()
                    ),
                    "an Abort for another step or claim ({reason})"
                );
                reason
            }
            other => panic!("expected an Abort event, got {other:?}"),
        }
    }

    /// What became of the result of `step` (its latest told outcome), waiting at most `within`
    /// for it to be told (needs `report_outcomes`). Other events are kept for `next()`.
    pub async fn recorded(&mut self, step: &Dispatched, within: Duration) -> ResultOutcome {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some((_, _, outcome)) = self
                .recorded
                .iter()
                .rev()
                .find(|(s, c, _)| *s == step.step_uuid && *c == step.claim_id)
            {
                return *outcome;
            }
            match tokio::time::timeout_at(deadline, self.worker.poll()).await {
                Err(_) => panic!("no outcome told for step {} within {within:?}", step.name()),
                Ok(None) => panic!("the worker closed its event stream"),
                Ok(Some(events)) => {
                    for e in events {
                        if let Some(other) = self.keep(e) {
                            self.buffered.push_back(other);
                        }
                    }
                }
            }
        }
    }

    /// No event arrives for `d`.
    pub async fn quiet_for(&mut self, d: Duration) {
        assert!(
            self.buffered.is_empty(),
            "unexpected events: {:?}",
            self.buffered
        );
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(events) = tokio::time::timeout_at(deadline, self.worker.poll()).await {
            for e in events.into_iter().flatten() {
                if let Some(other) = self.keep(e) {
                    panic!("expected no events for {d:?}, got {other:?}");
                }
            }
        }
    }

    /// `poll()` returns `None` (the worker has shut down) within `d`.
    pub async fn closed_within(&mut self, d: Duration) {
        assert!(
            self.buffered.is_empty(),
            "unexpected events: {:?}",
            self.buffered
        );
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.worker.poll()).await {
                Ok(None) => return,
                Ok(Some(events)) => {
                    for e in events {
                        if let Some(other) = self.keep(e) {
                            panic!("expected the stream to end, got {other:?}");
                        }
                    }
                }
                Err(_) => panic!("poll() did not return None within {d:?}"),
            }
        }
    }
}
