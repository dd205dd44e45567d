//! sqlx errors, classified for the engine, with messages that name the server (never its
//! password) and say what to do.

use std::time::Duration;

use sqlx::postgres::PgSslMode;
use tasker_store::StoreError;

/// The server a store talks to, as messages name it.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub ssl_mode: PgSslMode,
    pub root_cert: Option<String>,
}

impl Server {
    /// `PostgreSQL at host:port`
    pub(crate) fn at(&self) -> String {
        format!("PostgreSQL at {}:{}", self.host, self.port)
    }

    /// `PostgreSQL database "x" at host:port`
    pub(crate) fn database_at(&self) -> String {
        format!(
            "PostgreSQL database \"{}\" at {}:{}",
            self.database, self.host, self.port
        )
    }
}

pub(crate) fn ssl_mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// Why a connection could not be made, as a user-facing message.
pub(crate) fn connect_error(server: &Server, e: sqlx::Error, timeout: Duration) -> StoreError {
    let prefix = format!(
        "cannot connect to {} (database \"{}\", user \"{}\")",
        server.at(),
        server.database,
        server.user
    );
    match e {
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(no_answer(&prefix, timeout)),
        sqlx::Error::PoolClosed => StoreError::Closed,
        sqlx::Error::Configuration(c) => {
            StoreError::InvalidUrl(format!("{prefix}: the connection options are invalid: {c}"))
        }
        sqlx::Error::Io(io) => {
            StoreError::Unavailable(format!("{prefix}: {}", io_cause(server, &io)))
        }
        sqlx::Error::Tls(t) => {
            StoreError::Unavailable(format!("{prefix}: {}", tls_cause(server, &t.to_string())))
        }
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let said = db.message().to_string();
            let cause = match code.as_str() {
                "53300" => format!(
                    "too many connections (the server said: {said}). Close other connections, \
                     lower the pool size, or raise the server's max_connections or the \
                     database's CONNECTION LIMIT"
                ),
                "28P01" | "28000" => format!(
                    "the server refused the credentials of user \"{}\" (it said: {said})",
                    server.user
                ),
                "3D000" => format!(
                    "the database does not exist (the server said: {said}); create it with \
                     CREATE DATABASE \"{}\", or name another database in the URL",
                    server.database
                ),
                "57P03" => format!("the server is not accepting connections yet (it said: {said})"),
                _ => format!("the server said: {said} (SQLSTATE {code})"),
            };
            StoreError::Unavailable(format!("{prefix}: {cause}"))
        }
        other => StoreError::Unavailable(format!("{prefix}: {other}")),
    }
}

pub(crate) fn no_answer(prefix: &str, timeout: Duration) -> String {
    format!(
        "{prefix}: no answer within {} ms (connectTimeoutMs; check the host and port, and that \
         nothing between here and the server drops the connection)",
        timeout.as_millis()
    )
}

fn io_cause(server: &Server, io: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let text = io.to_string();
    // rustls reports a refused certificate through the socket, as an I/O error.
    if text.contains("certificate") || text.contains("Certificate") {
        return tls_cause(server, &text);
    }
    match io.kind() {
        ConnectionRefused => format!(
            "connection refused (is PostgreSQL running on {}, listening on port {}?)",
            server.host, server.port
        ),
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe => {
            format!("the server closed the connection ({text})")
        }
        TimedOut => format!("the connection attempt timed out ({text})"),
        NotFound if server.root_cert.is_some() => format!(
            "cannot read the sslrootcert file {} ({text})",
            server.root_cert.as_deref().unwrap_or_default()
        ),
        _ if text.contains("lookup address") || text.contains("Name or service not known") => {
            format!("cannot resolve the host name \"{}\" ({text})", server.host)
        }
        _ => text,
    }
}

/// A TLS failure, with how to fix it.
fn tls_cause(server: &Server, detail: &str) -> String {
    let mode = ssl_mode_name(server.ssl_mode);
    if detail.contains("server does not support TLS") {
        return format!(
            "the server does not accept TLS connections, but sslmode={mode} requires one; \
             enable ssl on the server, or use sslmode=prefer or sslmode=disable"
        );
    }
    if detail.contains("certificate") || detail.contains("Certificate") {
        let why = if detail.contains("NotValidForName") {
            format!(
                "it is not issued for the host name \"{}\" (sslmode=verify-full checks the \
                 name): connect with a host name the certificate names, or use \
                 sslmode=verify-ca to check only who signed it",
                server.host
            )
        } else if server.root_cert.is_some() {
            format!(
                "it is not signed by the certificate in sslrootcert={}: pass the certificate of \
                 the authority that signed the server's certificate",
                server.root_cert.as_deref().unwrap_or_default()
            )
        } else {
            "it is not signed by an authority this client trusts: pass the certificate of the \
             authority that signed it (for a self-signed server certificate, that certificate \
             itself) as sslrootcert=/path/to/root.crt"
                .to_string()
        };
        return format!(
            "the server's TLS certificate could not be verified with sslmode={mode} ({detail}); \
             {why}, or use sslmode=require to encrypt the connection without verifying the \
             certificate"
        );
    }
    format!("the TLS handshake failed with sslmode={mode}: {detail}")
}

/// A failed statement, classified.
pub(crate) fn sql_error(server: &Server, e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let message = db.message().to_string();
            match code.as_str() {
                "40001" => StoreError::Conflict(format!(
                    "the transaction conflicted with a concurrent one (serialization failure): \
                     {message}"
                )),
                "40P01" => StoreError::Conflict(format!(
                    "the transaction conflicted with a concurrent one (deadlock detected): \
                     {message}"
                )),
                "55P03" => StoreError::Conflict(format!("a row lock is not available: {message}")),
                "23505" => StoreError::Duplicate(message),
                // undefined table/column/function/schema, invalid schema name
                "42P01" | "42703" | "42883" | "3F000" => StoreError::Schema(format!(
                    "the tasker schema in {} does not match this version of tasker-node: \
                     {message}",
                    server.database_at()
                )),
                c if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "53300") => {
                    StoreError::Unavailable(format!(
                        "lost the connection to {}: {message}",
                        server.at()
                    ))
                }
                _ => StoreError::Database(format!("{message} (SQLSTATE {code})")),
            }
        }
        sqlx::Error::Io(io) => StoreError::Unavailable(format!(
            "lost the connection to {}: {}",
            server.at(),
            io_cause(server, &io)
        )),
        sqlx::Error::Tls(t) => StoreError::Unavailable(format!(
            "lost the connection to {}: {}",
            server.at(),
            tls_cause(server, &t.to_string())
        )),
        sqlx::Error::PoolClosed => StoreError::Closed,
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable(format!("no connection to {} became available", server.at()))
        }
        sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!(
            "lost the connection to {}: its worker stopped",
            server.at()
        )),
        sqlx::Error::ColumnDecode { index, source } => {
            StoreError::Corrupt(format!("column {index}: {source}"))
        }
        sqlx::Error::Decode(source) => StoreError::Corrupt(source.to_string()),
        other => StoreError::Database(other.to_string()),
    }
}

/// A stored value that cannot be read back.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}
