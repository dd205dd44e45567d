//! Reading a `postgres://` URL (libpq's parameters: `sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`, `connect_timeout`, `application_name`, …), redacting it for messages, and opening
//! one connection with a deadline and a message that says why it failed.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgConnection};
use tasker_store::{StoreError, StoreResult};

use crate::error::{connect_error, no_answer, Server};

/// What a URL says, ready to connect.
pub(crate) struct Target {
    pub options: PgConnectOptions,
    pub server: Server,
    /// From the URL's `connect_timeout` (seconds, as libpq), if given.
    pub connect_timeout: Option<Duration>,
}

pub use tasker_store::redact;

/// Parse a `postgres://` or `postgresql://` URL.
pub(crate) fn parse(url: &str) -> StoreResult<Target> {
    let shown = redact(url);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::InvalidUrl(format!(
            "'{shown}' is not a PostgreSQL URL: use postgres://user@host:port/database"
        )));
    }
    // Parameters this driver reads itself are taken out before sqlx sees the URL (sqlx logs
    // the parameters it does not know, values included).
    let (base, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i + 1..]),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut connect_timeout = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "connect_timeout" => {
                let secs: f64 = value.parse().ok().filter(|s: &f64| *s > 0.0 && s.is_finite()).ok_or_else(|| {
                    StoreError::InvalidUrl(format!(
                        "connect_timeout={value} in '{shown}' is not a number of seconds greater than 0"
                    ))
                })?;
                connect_timeout = Some(Duration::from_secs_f64(secs));
            }
            "sslpassword" => {
                return Err(StoreError::InvalidUrl(format!(
                    "sslpassword in '{shown}' is not supported: this driver cannot read an \
                     encrypted client key. Decrypt it (openssl pkey -in client.key -out \
                     client.plain.key) and pass sslkey=client.plain.key"
                )))
            }
            _ => kept.push(pair),
        }
    }
    let stripped = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut options = PgConnectOptions::from_str(&stripped).map_err(|e| {
        StoreError::InvalidUrl(format!("cannot use the PostgreSQL URL '{shown}': {e}"))
    })?;
    if options.get_application_name().is_none() {
        options = options.application_name("tasker-node");
    }
    let root_cert = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| matches!(*k, "sslrootcert" | "ssl-root-cert" | "ssl-ca"))
        .map(|(_, v)| v.to_string());
    let server = Server {
        host: match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_string(),
        },
        port: options.get_port(),
        database: options
            .get_database()
            .unwrap_or(options.get_username())
            .to_string(),
        user: options.get_username().to_string(),
        ssl_mode: options.get_ssl_mode(),
        root_cert,
    };
    Ok(Target {
        options,
        server,
        connect_timeout,
    })
}

/// Check what can be checked before connecting: a root certificate that cannot be read.
pub(crate) fn check_files(server: &Server) -> StoreResult<()> {
    if let Some(path) = &server.root_cert {
        if !matches!(server.ssl_mode, PgSslMode::Disable) {
            std::fs::metadata(path).map_err(|e| {
                StoreError::InvalidUrl(format!(
                    "cannot read the sslrootcert file {path} given for {}: {e}",
                    server.at()
                ))
            })?;
        }
    }
    Ok(())
}

/// Open one connection, giving up after `timeout`.
pub(crate) async fn connect_once(
    options: &PgConnectOptions,
    server: &Server,
    timeout: Duration,
) -> StoreResult<PgConnection> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(connect_error(server, e, timeout)),
        Err(_) => Err(StoreError::Unavailable(no_answer(
            &format!(
                "cannot connect to {} (database \"{}\", user \"{}\")",
                server.at(),
                server.database,
                server.user
            ),
            timeout,
        ))),
    }
}

/// Open a connection and close it again: why connections cannot be made, if they cannot.
pub(crate) async fn probe(
    options: &PgConnectOptions,
    server: &Server,
    timeout: Duration,
) -> StoreResult<()> {
    let conn = connect_once(options, server, timeout).await?;
    let _ = conn.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_connect_timeout_and_refuses_sslpassword() {
        let t = parse("postgres://u@h:5433/d?connect_timeout=2&sslmode=require").unwrap();
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(t.server.host, "h");
        assert_eq!(t.server.port, 5433);
        assert_eq!(t.server.database, "d");
        assert!(matches!(t.server.ssl_mode, PgSslMode::Require));

        let Err(e) = parse("postgres://u:pw@h/d?sslkey=k.key&sslpassword=hunter2") else {
            panic!("sslpassword accepted")
        };
        assert_eq!(
            e.to_string(),
            "sslpassword in 'postgres://u:***@h/d?sslkey=k.key&sslpassword=***' is not \
             supported: this driver cannot read an encrypted client key. Decrypt it (openssl \
             pkey -in client.key -out client.plain.key) and pass sslkey=client.plain.key"
        );
        let Err(e) = parse("postgres://u:pw@h/d?connect_timeout=soon") else {
            panic!("bad connect_timeout accepted")
        };
        assert_eq!(
            e.to_string(),
            "connect_timeout=soon in 'postgres://u:***@h/d?connect_timeout=soon' is not a \
             number of seconds greater than 0"
        );
        let Err(e) = parse("mysql://u:pw@h/d") else {
            panic!("mysql accepted")
        };
        assert_eq!(
            e.to_string(),
            "'mysql://u:***@h/d' is not a PostgreSQL URL: use postgres://user@host:port/database"
        );
        let Err(e) = parse("postgres://u:pw@h/d?sslmode=sometimes") else {
            panic!("bad sslmode accepted")
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "cannot use the PostgreSQL URL 'postgres://u:***@h/d?sslmode=sometimes': "
            ),
            "{msg}"
        );
        assert!(!msg.contains("pw"), "{msg}");
    }
}
