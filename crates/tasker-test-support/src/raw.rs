//! Reaching a test's database from outside the engine: a second connection that runs SQL the
//! engine would never run (to simulate another process or a stall), on a database that several
//! connections can share (a temp-file SQLite database, or the test's PostgreSQL database).

use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::backend::{Backend, TestDb};
use crate::fs::TempDir;

/// A database URL several engines and connections can share: a SQLite file in `dir`, or the
/// test's PostgreSQL database.
pub fn shared_url(db: &TestDb, dir: &TempDir) -> String {
    match db.backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("shared.db").display()),
        Backend::Postgres => db.url.clone(),
    }
}

/// A connection of its own to a shared database (see [`shared_url`]); the engine must have
/// opened (created and migrated) it first.
pub enum RawConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl RawConnection {
    pub async fn open(url: &str) -> RawConnection {
        if url.starts_with("sqlite:") {
            RawConnection::Sqlite(
                SqliteConnection::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("connect to {url}: {e}")),
            )
        } else {
            RawConnection::Postgres(
                PgConnection::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("connect to {url}: {e}")),
            )
        }
    }

    /// Run one statement (no parameters); panics on an error. (`sqlx::query`, not `raw_sql`,
    /// whose future rustc cannot prove `Send` inside a spawned test body.)
    pub async fn execute(&mut self, sql: &str) {
        let r = match self {
            RawConnection::Sqlite(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
            RawConnection::Postgres(c) => sqlx::query(sql).execute(c).await.map(|_| ()),
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// One BIGINT (or NULL) from a query without parameters.
    pub async fn fetch_i64(&mut self, sql: &str) -> Option<i64> {
        let r = match self {
            RawConnection::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            RawConnection::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        };
        r.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A table of the schema: `tasker_<name>` on SQLite, `tasker.<name>` on PostgreSQL.
    pub fn table(&self, name: &str) -> String {
        match self {
            RawConnection::Sqlite(_) => format!("tasker_{name}"),
            RawConnection::Postgres(_) => format!("tasker.{name}"),
        }
    }

    /// A time column as milliseconds since the epoch.
    fn millis(&self, column: &str) -> String {
        match self {
            RawConnection::Sqlite(_) => column.to_string(),
            RawConnection::Postgres(_) => {
                format!("(extract(epoch from {column}) * 1000)::bigint")
            }
        }
    }

    /// Milliseconds since the epoch as a value of a time column.
    fn time(&self, ms: i64) -> String {
        match self {
            RawConnection::Sqlite(_) => ms.to_string(),
            RawConnection::Postgres(_) => format!("to_timestamp({ms} / 1000.0)"),
        }
    }

    async fn step_time(&mut self, column: &str, step_uuid: &str) -> Option<i64> {
        let sql = format!(
            "SELECT {} FROM {} WHERE step_uuid = '{step_uuid}'",
            self.millis(column),
            self.table("steps")
        );
        self.fetch_i64(&sql).await
    }

    /// A step's `lease_until` (milliseconds since the epoch), `None` when it has no lease.
    pub async fn lease_until(&mut self, step_uuid: &str) -> Option<i64> {
        self.step_time("lease_until", step_uuid).await
    }

    /// A step's `ready_at` (milliseconds since the epoch), `None` when it has none.
    pub async fn ready_at(&mut self, step_uuid: &str) -> Option<i64> {
        self.step_time("ready_at", step_uuid).await
    }

    /// Move a step's `ready_at` to `ms_ago` milliseconds before the database's clock (as if
    /// it had been waiting that long).
    pub async fn set_ready_ago(&mut self, step_uuid: &str, ms_ago: i64) {
        let now = match self {
            RawConnection::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)".to_string(),
            RawConnection::Postgres(_) => {
                "(extract(epoch from statement_timestamp()) * 1000)".to_string()
            }
        };
        let sql = format!(
            "UPDATE {} SET ready_at = {} WHERE step_uuid = '{step_uuid}'",
            self.table("steps"),
            match self {
                RawConnection::Sqlite(_) => format!("{now} - {ms_ago}"),
                RawConnection::Postgres(_) => format!("to_timestamp(({now} - {ms_ago}) / 1000.0)"),
            }
        );
        self.execute(&sql).await;
    }

    /// Give a step another claim (as another process claiming it would), with this many
    /// attempts and a lease until `lease_until_ms`.
    pub async fn replace_claim(
        &mut self,
        step_uuid: &str,
        claim_id: &str,
        attempts: i64,
        lease_until_ms: i64,
    ) {
        let sql = format!(
            "UPDATE {} SET claim_id = '{claim_id}', attempts = {attempts}, lease_until = {}
             WHERE step_uuid = '{step_uuid}'",
            self.table("steps"),
            self.time(lease_until_ms)
        );
        self.execute(&sql).await;
    }

    /// What a long stall looks like from the database: the claim's lease has run out.
    pub async fn expire_lease(&mut self, step_uuid: &str) {
        let sql = format!(
            "UPDATE {} SET lease_until = {} WHERE step_uuid = '{step_uuid}'",
            self.table("steps"),
            self.time(0)
        );
        self.execute(&sql).await;
    }

    /// Stall every statement that writes `tasker_steps` until [`RawConnection::unblock`]: a
    /// transaction holding SQLite's write lock (writers wait for it, up to their busy timeout),
    /// or PostgreSQL's `ACCESS EXCLUSIVE` lock on the table.
    pub async fn block_step_writes(&mut self) {
        match self {
            RawConnection::Sqlite(_) => self.execute("BEGIN IMMEDIATE").await,
            RawConnection::Postgres(_) => {
                self.execute("BEGIN").await;
                self.execute("LOCK TABLE tasker.steps IN ACCESS EXCLUSIVE MODE")
                    .await;
            }
        }
    }

    /// End the stall of [`RawConnection::block_step_writes`] (nothing was changed).
    pub async fn unblock(&mut self) {
        self.execute("ROLLBACK").await;
    }

    pub async fn close(self) {
        let _ = match self {
            RawConnection::Sqlite(c) => c.close().await,
            RawConnection::Postgres(c) => c.close().await,
        };
    }
}
