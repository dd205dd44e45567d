//! Driver tests against the shared PostgreSQL server: each test creates its own database
//! (`tasker_pg_<random>`) and drops it `WITH (FORCE)` afterwards, panicked or not.
//!
//! Like the engine's integration tests, they are skipped with a notice when no server answers,
//! unless `TASKER_REQUIRE_POSTGRES=1` (CI) demands one.

mod connecting;
mod fixtures;
mod listening;
mod plan;
mod schema;
mod statements;
mod tx;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

use crate::{PgOptions, PgStore};

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The server the tests use: `postgres://user@host:port` and a `?query` (possibly empty).
pub(crate) fn server() -> (String, String) {
    let url = std::env::var("TASKER_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_string());
    let (rest, query) = match url.find('?') {
        Some(i) => (url[..i].to_string(), url[i..].to_string()),
        None => (url.clone(), String::new()),
    };
    let start = rest.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match rest[start..].find('/') {
        Some(i) => rest[..start + i].to_string(),
        None => rest,
    };
    (base, query)
}

/// `host:port` of the test server, as messages name it.
pub(crate) fn host_port() -> String {
    let (base, _) = server();
    let authority = base.split("://").nth(1).unwrap_or_default();
    let hp = authority.rsplit('@').next().unwrap_or_default();
    if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:5432")
    }
}

/// A URL for database `db` on the test server, with extra query parameters.
pub(crate) fn url_for(db: &str, params: &str) -> String {
    let (base, query) = server();
    let mut url = format!("{base}/{db}{query}");
    if !params.is_empty() {
        url.push(if query.is_empty() { '?' } else { '&' });
        url.push_str(params);
    }
    url
}

pub(crate) async fn admin() -> Result<PgConnection, String> {
    let url = url_for("postgres", "");
    match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".to_string()),
    }
}

/// A database created for one test.
#[derive(Debug, Clone)]
pub(crate) struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub(crate) async fn open(&self) -> PgStore {
        PgStore::open(&self.url, PgOptions::default())
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.name))
    }

    /// A direct connection to the test database, search_path on the tasker schema.
    pub(crate) async fn connect(&self) -> PgConnection {
        let mut c = PgConnection::connect(&self.url).await.unwrap();
        c.execute("SET search_path TO tasker").await.unwrap();
        c
    }
}

/// Drops the test database when the test ends, passed or panicked.
struct DropGuard {
    name: String,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let name = self.name.clone();
        // On a thread of its own: this may run while the test's runtime unwinds.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = admin().await?;
                // WITH (FORCE) ends the stores' pooled and LISTEN connections still open.
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        let outcome = match dropped {
            Ok(r) => r,
            Err(_) => Err("the dropping thread panicked".to_string()),
        };
        if let Err(e) = outcome {
            if !std::thread::panicking() {
                panic!("DROP DATABASE {}: {e}", self.name);
            }
        }
    }
}

/// Run `body` against a fresh database; drop it afterwards.
pub(crate) async fn with_db<F, Fut>(body: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut admin = match admin().await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("PostgreSQL not reachable at {} ({e})", server().0);
            if std::env::var("TASKER_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("{msg}; TASKER_REQUIRE_POSTGRES=1 requires it");
            }
            let _ = writeln!(std::io::stderr(), "SKIPPED: {msg}");
            return;
        }
    };
    let name = format!("tasker_pg_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let _ = admin.close().await;
    let _guard = DropGuard { name: name.clone() };
    let db = TestDb {
        url: url_for(&name, ""),
        name,
    };
    if tokio::time::timeout(TEST_TIMEOUT, body(db)).await.is_err() {
        panic!("test body did not finish within {TEST_TIMEOUT:?}");
    }
}
