//! Connecting to PostgreSQL within a time limit, and saying why it failed.
//!
//! sqlx's pool retries a failing connection until its acquire timeout and then reports only
//! "pool timed out while waiting for an open connection". So one connection is made directly
//! first, under `connect_timeout`, and its error names the server and the cause; the pools are
//! then built with the same limit as their acquire timeout.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::{redact, StorageError};

/// How long connecting to PostgreSQL (and, later, waiting for a pooled connection) may take
/// unless the caller says otherwise (`connectTimeoutMs`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(5_000);

/// How an engine connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Most time one PostgreSQL connection attempt, or the wait for a pooled connection, may
    /// take. Does not apply to SQLite.
    pub connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The parsed connection settings of a PostgreSQL URL.
pub(crate) fn pg_options(url: &str) -> Result<PgConnectOptions, StorageError> {
    PgConnectOptions::from_str(url).map_err(|e| StorageError::InvalidUrl {
        url: redact(url),
        reason: match e {
            sqlx::Error::Configuration(cause) => cause.to_string(),
            other => other.to_string(),
        },
    })
}

/// `host:port` (`[v6]:port`), or the Unix socket, that `options` connect to.
pub(crate) fn endpoint(options: &PgConnectOptions) -> String {
    let port = options.get_port();
    if let Some(dir) = options.get_socket() {
        return dir.join(format!(".s.PGSQL.{port}")).display().to_string();
    }
    let host = options.get_host();
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One connection, made within `timeout`, or an error that says why not.
pub(crate) async fn connect_once(
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<PgConnection, StorageError> {
    let failed = |reason: String| StorageError::Connect {
        endpoint: endpoint(options),
        reason,
    };
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(failed(describe(&e))),
        Err(_) => Err(failed(format!(
            "no answer within {} ms (connectTimeoutMs)",
            timeout.as_millis()
        ))),
    }
}

/// Check that the server answers (and lets us in), then close that connection.
pub(crate) async fn probe(
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<(), StorageError> {
    let conn = connect_once(options, timeout).await?;
    // Closing politely can itself stall on a bad network; it is only a courtesy.
    let _ = tokio::time::timeout(timeout, conn.close()).await;
    Ok(())
}

/// A one-connection pool for LISTEN (sqlx's `PgListener` reconnects through it), whose
/// connection attempts end within `timeout` instead of sqlx's default 30 s.
pub(crate) fn listen_pool(options: &PgConnectOptions, timeout: Duration) -> PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(options.clone())
}

/// The cause of a failed connection attempt, in a few words.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            std::io::ErrorKind::ConnectionReset => "the server closed the connection".to_string(),
            std::io::ErrorKind::UnexpectedEof => {
                "the server closed the connection during the handshake".to_string()
            }
            _ => io.to_string(),
        },
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // sqlstate 53300: max_connections, or a database's or role's CONNECTION LIMIT.
            Some("53300") => format!("too many connections (the server says: {})", db.message()),
            _ => db.message().to_string(),
        },
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        sqlx::Error::Protocol(p) => {
            format!("the server did not answer as PostgreSQL does ({p})")
        }
        other => other.to_string(),
    }
}
