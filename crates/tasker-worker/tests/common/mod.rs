//! Shared helpers for the worker core's integration tests: one test body, run against both
//! backends (in-memory SQLite and a fresh PostgreSQL database per test), templates written to
//! a temp dir, and a driver that plays the handler runtime through `poll()` / `complete()`.
//!
//! PostgreSQL: `TASKER_TEST_DATABASE_URL` names the server (default
//! `postgres://postgres@127.0.0.1:5432`); each test creates `tasker_rs_<random>` through the
//! `postgres` database and drops it at the end, pass or fail. When the server cannot be reached
//! the PostgreSQL variants print `SKIPPED: …` and pass, unless `TASKER_REQUIRE_POSTGRES=1`, in
//! which case they fail.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tasker_orchestration::{CreateTask, Engine, StepError, StepView, TaskView, TransitionView};
use tasker_worker::{HandlerResult, Worker, WorkerConfig, WorkerEvent};

/// Generates `<name>::sqlite` and `<name>::postgres` tests for each `async fn <name>(TestDb)`.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                crate::common::run_sqlite(super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                crate::common::run_postgres(super::$name).await;
            }
        }
    )+};
}

/// Upper bound for one test body; a hung test fails instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(40);

pub const NS: &str = "test";
pub const VERSION: &str = "1.0.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database a test body runs against.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
}

pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = TestDb {
        backend: Backend::Sqlite,
        url: "sqlite::memory:".to_string(),
    };
    if let Err(panic) = run_body(test(db)).await {
        std::panic::resume_unwind(panic);
    }
}

pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = PgServer::from_env();
    let mut admin = match connect_admin(&server).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("PostgreSQL not reachable at {} ({e})", server.redacted());
            if std::env::var("TASKER_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("{msg}; TASKER_REQUIRE_POSTGRES=1 requires it");
            }
            // Written to the stream directly so that the notice shows even when the test
            // harness captures output.
            let _ = writeln!(std::io::stderr(), "SKIPPED: {msg}");
            return;
        }
    };
    let name = format!("tasker_rs_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let db = TestDb {
        backend: Backend::Postgres,
        url: server.database_url(&name),
    };
    let outcome = run_body(test(db)).await;
    // WITH (FORCE) ends the engines' pooled and LISTEN connections still open.
    let dropped = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    dropped.unwrap_or_else(|e| panic!("DROP DATABASE {name}: {e}"));
}

/// Run the body as its own task so that a panic is caught and cleanup still happens.
async fn run_body<Fut>(body: Fut) -> Result<(), Box<dyn std::any::Any + Send>>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = tokio::spawn(async move {
        if tokio::time::timeout(TEST_TIMEOUT, body).await.is_err() {
            panic!("test body did not finish within {TEST_TIMEOUT:?}");
        }
    });
    match handle.await {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => Err(e.into_panic()),
        Err(e) => Err(Box::new(format!("test task failed: {e}"))),
    }
}

struct PgServer {
    /// `postgres://user@host:port`
    base: String,
    /// `?sslmode=…` or empty.
    query: String,
}

impl PgServer {
    fn from_env() -> PgServer {
        let url = std::env::var("TASKER_TEST_DATABASE_URL")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_string());
        let (rest, query) = match url.find('?') {
            Some(i) => (url[..i].to_string(), url[i..].to_string()),
            None => (url.clone(), String::new()),
        };
        let authority_start = rest.find("://").map(|i| i + 3).unwrap_or(0);
        let base = match rest[authority_start..].find('/') {
            Some(i) => rest[..authority_start + i].to_string(),
            None => rest,
        };
        PgServer { base, query }
    }

    fn database_url(&self, db: &str) -> String {
        format!("{}/{db}{}", self.base, self.query)
    }

    fn redacted(&self) -> String {
        redact(&self.base)
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}***{}", &url[..s + 3 + c + 1], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

async fn connect_admin(server: &PgServer) -> Result<sqlx::PgConnection, String> {
    let url = server.database_url("postgres");
    match tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connection attempt timed out after 5 s".to_string()),
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("tasker-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn engine(db: &TestDb) -> Arc<Engine> {
    Engine::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {:?} engine: {e}", db.backend))
}

/// A template directory holding the given `(file name, yaml)` files.
pub fn template_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new();
    for (file, yaml) in files {
        dir.write(file, yaml);
    }
    dir
}

pub fn config(worker_id: &str, dir: &Path, handlers: &[&str], concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        worker_id: worker_id.to_string(),
        template_paths: vec![dir.to_path_buf()],
        handler_names: handlers.iter().map(|h| h.to_string()).collect(),
        concurrency,
        lease_ms: 30_000,
        // Long, so that a test relying on the fallback poll instead of events is noticed.
        poll_interval_ms: 2_000,
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
    };
    (worker, runtime)
}

pub async fn create(engine: &Engine, name: &str, context: Value) -> TaskView {
    engine
        .create_task(CreateTask {
            namespace: "test".into(),
            name: name.into(),
            version: "1.0.0".into(),
            context: context.to_string(),
            idempotency_key: None,
        })
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
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
}

impl Runtime {
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
                self.buffered.extend(events);
                self.buffered.pop_front().unwrap()
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
            } => Dispatched {
                step_uuid,
                task_uuid,
                claim_id,
                payload: serde_json::from_str(&payload).expect("payload is JSON"),
            },
            other => panic!("expected a Step event, got {other:?}"),
        }
    }

    /// The next event, which must be an Abort: `(step_uuid, task_uuid, claim_id, reason)`.
    pub async fn abort(&mut self, within: Duration) -> (String, String, String, String) {
        match self.next(within).await {
            WorkerEvent::Abort {
                step_uuid,
                task_uuid,
                claim_id,
                reason,
            } => (step_uuid, task_uuid, claim_id, reason),
            other => panic!("expected an Abort event, got {other:?}"),
        }
    }

    /// No event arrives for `d`.
    pub async fn quiet_for(&mut self, d: Duration) {
        assert!(
            self.buffered.is_empty(),
            "unexpected events: {:?}",
            self.buffered
        );
        if let Ok(events) = tokio::time::timeout(d, self.worker.poll()).await {
            panic!("expected no events for {d:?}, got {events:?}");
        }
    }

    /// `poll()` returns `None` (the worker has shut down) within `d`.
    pub async fn closed_within(&mut self, d: Duration) {
        assert!(
            self.buffered.is_empty(),
            "unexpected events: {:?}",
            self.buffered
        );
        match tokio::time::timeout(d, self.worker.poll()).await {
            Ok(None) => {}
            Ok(Some(events)) => panic!("expected the stream to end, got {events:?}"),
            Err(_) => panic!("poll() did not return None within {d:?}"),
        }
    }
}

/// The task with its steps and transitions.
pub async fn details(engine: &Engine, task_uuid: &str) -> TaskView {
    engine
        .get_task(task_uuid, true)
        .await
        .expect("get_task")
        .unwrap_or_else(|| panic!("task {task_uuid} not found"))
}

pub fn step<'a>(task: &'a TaskView, name: &str) -> &'a StepView {
    task.steps
        .as_ref()
        .expect("task details")
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("task has no step '{name}'"))
}

pub fn step_transitions<'a>(task: &'a TaskView, name: &str) -> Vec<&'a TransitionView> {
    task.transitions
        .as_ref()
        .expect("task details")
        .iter()
        .filter(|t| t.entity == "step" && t.step_name.as_deref() == Some(name))
        .collect()
}

/// How many of the task's steps are in `state`.
pub fn count_in(task: &TaskView, state: &str) -> usize {
    task.steps
        .as_ref()
        .expect("task details")
        .iter()
        .filter(|s| s.state == state)
        .count()
}

pub const SECOND: Duration = Duration::from_secs(1);
