//! Shared helpers for the engine's integration tests: one test body, run against both
//! backends (in-memory SQLite and a fresh PostgreSQL database per test).
//!
//! PostgreSQL: `TASKER_TEST_DATABASE_URL` names the server (default
//! `postgres://postgres@127.0.0.1:5432`); each test creates `tasker_rs_<random>` through the
//! `postgres` database and drops it at the end, pass or fail. When the server cannot be reached
//! the PostgreSQL variants print `SKIPPED: …` and pass, unless `TASKER_REQUIRE_POSTGRES=1`, in
//! which case they fail.

#![allow(dead_code)]

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use tasker_domain::{load_templates, TemplateSet};
use tasker_orchestration::{
    ClaimedStep, CreateTask, Engine, EngineError, StepError, StepOutcome, StepView, TaskView,
    TransitionView,
};

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

/// Generates only `<name>::postgres` (for behaviour that needs a shared server).
#[allow(unused_macros)]
macro_rules! postgres_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
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

/// Write the templates (`(file name, yaml)`) to a temp dir and load them as a worker would.
pub fn templates(files: &[(&str, &str)]) -> TemplateSet {
    let dir = TempDir::new();
    for (file, yaml) in files {
        dir.write(file, yaml);
    }
    load_templates(&[dir.path()]).expect("test templates are valid")
}

/// Open an engine and register the templates.
pub async fn engine(db: &TestDb, files: &[(&str, &str)]) -> Arc<Engine> {
    let engine = Engine::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {:?} engine: {e}", db.backend));
    engine
        .register_templates(&templates(files))
        .await
        .expect("register templates");
    engine
}

pub fn req(name: &str, context: Value, key: Option<&str>) -> CreateTask {
    CreateTask {
        namespace: NS.to_string(),
        name: name.to_string(),
        version: VERSION.to_string(),
        context: context.to_string(),
        idempotency_key: key.map(str::to_string),
    }
}

pub async fn create(engine: &Engine, name: &str, context: Value) -> TaskView {
    engine
        .create_task(req(name, context, None))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
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
        }),
        metadata: None,
        duration_ms: Some(2.0),
    }
}

pub async fn record(engine: &Engine, outcome: StepOutcome) -> tasker_orchestration::RecordOutcome {
    let mut r = engine
        .record_results(vec![outcome], "w1")
        .await
        .expect("record_results");
    assert_eq!(r.len(), 1);
    r.pop().unwrap()
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

/// `name → state` for every step, sorted by name.
pub fn step_states(task: &TaskView) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = task
        .steps
        .as_ref()
        .expect("task details")
        .iter()
        .map(|s| (s.name.clone(), s.state.clone()))
        .collect();
    v.sort();
    v
}

pub fn states(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// The step's transitions, in order.
pub fn step_transitions<'a>(task: &'a TaskView, name: &str) -> Vec<&'a TransitionView> {
    task.transitions
        .as_ref()
        .expect("task details")
        .iter()
        .filter(|t| t.entity == "step" && t.step_name.as_deref() == Some(name))
        .collect()
}

pub fn task_transitions(task: &TaskView) -> Vec<&TransitionView> {
    task.transitions
        .as_ref()
        .expect("task details")
        .iter()
        .filter(|t| t.entity == "task")
        .collect()
}

/// `(from, to)` of transitions, `-` for no from-state.
pub fn moves(ts: &[&TransitionView]) -> Vec<String> {
    ts.iter()
        .map(|t| format!("{}->{}", t.from_state.as_deref().unwrap_or("-"), t.to_state))
        .collect()
}

pub fn payload(c: &ClaimedStep) -> Value {
    serde_json::from_str(&c.payload).expect("payload is JSON")
}

pub fn now_ms() -> i64 {
    tasker_orchestration::now_ms()
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
// Templates (namespace `test`, version `1.0.0`).

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

pub const DIAMOND: &str = r#"
name: diamond
namespace_name: test
version: 1.0.0
steps:
  - name: start
    handler: { callable: Diamond.Start }
  - name: left
    dependencies: [start]
    handler: { callable: Diamond.Left }
  - name: right
    dependencies: [start]
    handler: { callable: Diamond.Right }
  - name: join
    dependencies: [left, right]
    handler: { callable: Diamond.Join }
"#;
pub const DIAMOND_CALLABLES: &[&str] = &[
    "Diamond.Start",
    "Diamond.Left",
    "Diamond.Right",
    "Diamond.Join",
];

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

/// One step, for the many-tasks tests.
pub const SINGLE: &str = r#"
name: single
namespace_name: test
version: 1.0.0
steps:
  - name: only
    handler: { callable: Single.Only }
"#;
