//! Running one test body against a backend: in-memory SQLite, or a PostgreSQL database created
//! for the test and dropped after it.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use sqlx::Connection;

/// Upper bound for one test body; a hung test fails instead of stalling the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(40);

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
        tasker_orchestration::redact(&self.base)
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
