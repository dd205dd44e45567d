//! One SQL layer over two backends.
//!
//! Both backends share one schema (ids are TEXT UUIDs, times are BIGINT milliseconds since the
//! Unix epoch, JSON is TEXT), so every statement is written once, with `$1`-style placeholders.
//! The few real differences (row locking, placeholder syntax, connection pooling) live in
//! [`Dialect`] and in this file.

mod connect;
mod migrations;
mod redact;

pub use connect::{ConnectOptions, DEFAULT_CONNECT_TIMEOUT};
pub use migrations::now_ms;
pub use redact::{is_secret_parameter, redact};
pub use sqlx::postgres::PgPool;

use std::sync::OnceLock;
use std::time::Duration;

pub use sqlx::any::{AnyPoolOptions, AnyRow};
pub use sqlx::{AnyConnection, AnyPool, Row, Transaction};

/// A database transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL is shown redacted.
    #[error("unsupported database URL '{0}': use sqlite::memory:, sqlite://path/to/file.db or postgres://user@host/db")]
    UnsupportedUrl(String),
    /// The URL (shown redacted) could not be read.
    #[error("invalid database URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    /// PostgreSQL could not be reached, or refused the connection; `endpoint` is `host:port`.
    #[error("cannot connect to PostgreSQL at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    /// The SQLite database (URL shown redacted) could not be opened.
    #[error("cannot open {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl StorageError {
    /// A transient conflict between concurrent transactions (PostgreSQL deadlock or
    /// serialization failure, SQLite busy): the transaction can simply be run again.
    pub fn is_retryable_conflict(&self) -> bool {
        match self {
            StorageError::Sql(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                Some("40P01") | Some("40001") | Some("5") | Some("6")
            ),
            _ => false,
        }
    }

    /// A unique constraint was violated.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StorageError::Sql(sqlx::Error::Database(db)) => {
                matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
            }
            _ => false,
        }
    }
}

/// A connected, migrated database.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
    /// PostgreSQL: the settings of the URL and the connect timeout, for the LISTEN connection.
    listen: Option<(sqlx::postgres::PgConnectOptions, Duration)>,
}

impl Db {
    /// Connect and run migrations. `url` is `sqlite::memory:`, `sqlite://path` (created when
    /// missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, StorageError> {
        Db::connect_with(url, ConnectOptions::default()).await
    }

    /// `connect`, within `options.connect_timeout` on PostgreSQL: a server that refuses, does
    /// not answer, or has no connection to spare fails with [`StorageError::Connect`] naming
    /// the server and the cause.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Db, StorageError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl(redact(url)));
        };
        let timeout = options.connect_timeout;
        let mut listen = None;
        if dialect == Dialect::Postgres {
            let pg = connect::pg_options(url)?;
            // One direct connection first: the pool would hide why it failed.
            connect::probe(&pg, timeout).await?;
            listen = Some((pg, timeout));
        }
        let pool = match dialect {
            // SQLite allows one writer at a time; a single long-lived connection serialises
            // every transaction in-process (no SQLITE_BUSY) and keeps an in-memory database
            // alive for as long as the pool lives.
            Dialect::Sqlite => {
                let connect_url = sqlite_url_with_create(url);
                AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect(&connect_url)
                    .await
            }
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(timeout)
                    .connect(url)
                    .await
            }
        }
        .map_err(|source| StorageError::Open {
            url: redact(url),
            source,
        })?;
        if dialect == Dialect::Sqlite {
            // The pool holds its one connection for its whole life, so these stick.
            sqlx::raw_sql(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
            )
            .execute(&pool)
            .await?;
        }
        let db = Db {
            pool,
            dialect,
            listen,
        };
        migrations::run(&db).await?;
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// PostgreSQL: a lazily connecting one-connection pool for LISTEN, on the same server
    /// with the same connect timeout (each call makes a new one).
    pub fn listen_pool(&self) -> Option<PgPool> {
        self.listen
            .as_ref()
            .map(|(options, timeout)| connect::listen_pool(options, *timeout))
    }

    /// PostgreSQL: why a connection cannot be made right now (for a log line when the LISTEN
    /// pool reports only a timeout), or `None` when one can.
    pub async fn connect_error(&self) -> Option<StorageError> {
        let (options, timeout) = self.listen.as_ref()?;
        connect::probe(options, *timeout).await.err()
    }

    pub async fn begin(&self) -> Result<Tx, StorageError> {
        Ok(self.pool.begin().await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The database's current time in milliseconds since the Unix epoch, as a token in statement
/// text: `lease_until = DB_NOW_MS + $2`. [`Sql`] and [`placeholders`] replace it with the
/// dialect's expression, evaluated by the database when the statement runs (not when Rust built
/// it), so that deadlines and ready times come from one clock, however long the statement waited
/// for a connection or a lock, and whatever the clocks of the hosts say.
pub const DB_NOW_MS: &str = "DB_NOW_MS";

impl Dialect {
    /// The SQL expression [`DB_NOW_MS`] stands for. A scalar subquery, so that it is evaluated
    /// once per statement (PostgreSQL turns it into an init plan, which an index condition can
    /// use) and truncated to whole milliseconds like [`now_ms`].
    pub fn now_ms_sql(self) -> &'static str {
        match self {
            // `clock_timestamp()`: the time at execution, after any wait for a table lock
            // (`now()` would be the start of the transaction).
            Dialect::Postgres => {
                "(SELECT (extract(epoch FROM date_trunc('milliseconds', clock_timestamp())) * 1000)::bigint)"
            }
            // `unixepoch('subsec')` (SQLite 3.42+; the bundled one is newer) has millisecond
            // precision; rounding undoes the binary fraction.
            Dialect::Sqlite => "(SELECT CAST(round(unixepoch('subsec') * 1000) AS INTEGER))",
        }
    }
}

/// A statement written once with `$n` placeholders (and [`DB_NOW_MS`] for the database's
/// clock), rewritten once per process for each dialect (SQLite spells placeholders `?n`).
pub struct Sql {
    text: &'static str,
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

impl Sql {
    pub const fn new(text: &'static str) -> Sql {
        Sql {
            text,
            postgres: OnceLock::new(),
            sqlite: OnceLock::new(),
        }
    }

    pub fn for_dialect(&self, dialect: Dialect) -> &str {
        let cell = match dialect {
            Dialect::Postgres => &self.postgres,
            Dialect::Sqlite => &self.sqlite,
        };
        cell.get_or_init(|| placeholders(dialect, self.text))
    }
}

/// Rewrite a statement built at run time for `dialect`: `$1` placeholders become `?1` on
/// SQLite, and [`DB_NOW_MS`] becomes the database's clock.
pub fn placeholders(dialect: Dialect, text: &str) -> String {
    let text = text.replace(DB_NOW_MS, dialect.now_ms_sql());
    match dialect {
        Dialect::Postgres => text,
        Dialect::Sqlite => to_sqlite_placeholders(&text),
    }
}

fn to_sqlite_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_url_with_create(url: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// `$k, $k+1, …` for `n` values starting at placeholder `start` (for `IN (…)` lists).
pub fn placeholder_list(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_placeholders_for_sqlite_only() {
        let q = Sql::new("SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '$'");
        assert_eq!(
            q.for_dialect(Dialect::Sqlite),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '$'"
        );
        assert_eq!(q.for_dialect(Dialect::Postgres), q.text);
    }

    #[test]
    fn db_now_becomes_each_dialects_clock() {
        let q = Sql::new("UPDATE t SET lease_until = DB_NOW_MS + $1 WHERE a < DB_NOW_MS");
        assert_eq!(
            q.for_dialect(Dialect::Sqlite),
            format!(
                "UPDATE t SET lease_until = {0} + ?1 WHERE a < {0}",
                Dialect::Sqlite.now_ms_sql()
            )
        );
        assert_eq!(
            q.for_dialect(Dialect::Postgres),
            format!(
                "UPDATE t SET lease_until = {0} + $1 WHERE a < {0}",
                Dialect::Postgres.now_ms_sql()
            )
        );
    }

    #[tokio::test]
    async fn sqlite_clock_is_milliseconds_since_the_epoch() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        let before = now_ms();
        let sql = placeholders(Dialect::Sqlite, "SELECT DB_NOW_MS");
        let db_now: i64 = sqlx::query_scalar(&sql).fetch_one(db.pool()).await.unwrap();
        let after = now_ms();
        assert!(
            (before..=after).contains(&db_now),
            "{before} <= {db_now} <= {after}"
        );
    }

    #[test]
    fn placeholder_lists() {
        assert_eq!(placeholder_list(3, 3), "$3, $4, $5");
        assert_eq!(placeholder_list(1, 0), "");
    }

    #[tokio::test]
    async fn rejects_unknown_urls_without_showing_their_secrets() {
        let err = Db::connect("mysql://bob:s3cret@db/x?password=other")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported database URL 'mysql://bob:***@db/x?password=***': use sqlite::memory:, \
             sqlite://path/to/file.db or postgres://user@host/db"
        );
    }

    #[tokio::test]
    async fn rejects_unreadable_postgres_urls_without_showing_their_secrets() {
        let err = Db::connect("postgres://bob:s3cret@db:99999/x?password=other")
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid database URL 'postgres://***@db:99999/x?password=***': invalid port number"
        );
    }

    #[tokio::test]
    async fn migrates_in_memory_sqlite_idempotently() {
        let db = Db::connect("sqlite::memory:").await.unwrap();
        migrations::run(&db).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasker_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, migrations::MIGRATIONS.len() as i64);
    }
}

/// One value of a multi-row insert.
#[derive(Debug, Clone)]
pub enum Val {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    /// The database's clock when the statement runs ([`DB_NOW_MS`]); binds nothing.
    DbNow,
}

/// `INSERT INTO <head> VALUES (…), (…)` for many rows at once, in chunks that stay well under
/// both backends' bound-parameter limits. `head` is e.g. `tasker_step_edges (a, b, c)`.
pub async fn insert_many(
    conn: &mut AnyConnection,
    dialect: Dialect,
    head: &str,
    rows: &[Vec<Val>],
) -> Result<(), sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let cols = first.len();
    let per_chunk = (4000 / cols.max(1)).max(1);
    for chunk in rows.chunks(per_chunk) {
        let mut sql = format!("INSERT INTO {head} VALUES ");
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            debug_assert_eq!(row.len(), cols);
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    sql.push_str(", ");
                }
                if matches!(v, Val::DbNow) {
                    sql.push_str(DB_NOW_MS);
                } else {
                    n += 1;
                    sql.push_str(&format!("${n}"));
                }
            }
            sql.push(')');
        }
        let sql = placeholders(dialect, &sql);
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = match v {
                    Val::Text(s) => q.bind(s.clone()),
                    Val::OptText(s) => q.bind(s.clone()),
                    Val::Int(i) => q.bind(*i),
                    Val::OptInt(i) => q.bind(*i),
                    Val::DbNow => q,
                };
            }
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
