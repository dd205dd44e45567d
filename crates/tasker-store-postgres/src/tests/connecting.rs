//! Connecting: TLS with the libpq sslmode values, and failures that say host, port and cause,
//! quickly, with every password redacted.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, Row};
use tasker_store::{Store, StoreError};

use super::fixtures::*;
use super::{admin, url_for, with_db};
use crate::{PgOptions, PgStore};

async fn open_err(url: &str, options: PgOptions) -> (StoreError, Duration) {
    let started = Instant::now();
    match PgStore::open(url, options).await {
        Ok(_) => panic!("{url} opened"),
        Err(e) => (e, started.elapsed()),
    }
}

fn quick() -> PgOptions {
    PgOptions {
        connect_timeout: Duration::from_millis(1000),
        ..PgOptions::default()
    }
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

#[tokio::test]
async fn a_refused_connection_fails_at_once_naming_host_and_port() {
    let port = closed_port();
    let url = format!("postgres://bob:s3cret@127.0.0.1:{port}/app?password=s3cret2");
    let (e, took) = open_err(&url, PgOptions::default()).await;
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port} (database \"app\", user \"bob\"): \
             connection refused (is PostgreSQL running on 127.0.0.1, listening on port {port}?)"
        )
    );
    assert!(!e.to_string().contains("s3cret"));
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

/// A server that accepts the connection and never answers: the connect timeout ends it.
#[tokio::test]
async fn a_server_that_never_answers_fails_after_the_connect_timeout() {
    // The kernel completes the handshake for the backlog; nothing ever reads or writes.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let url = format!("postgres://bob:s3cret@127.0.0.1:{port}/app");
    let (e, took) = open_err(&url, quick()).await;
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port} (database \"app\", user \"bob\"): \
             no answer within 1000 ms (connectTimeoutMs; check the host and port, and that nothing \
             between here and the server drops the connection)"
        )
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "took {took:?}"
    );
    // libpq's connect_timeout in the URL (seconds) takes precedence.
    let url = format!("postgres://bob@127.0.0.1:{port}/app?connect_timeout=0.3");
    let (e, took) = open_err(&url, PgOptions::default()).await;
    assert!(e.to_string().contains("no answer within 300 ms"), "{e}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(hole);
}

#[tokio::test]
async fn too_many_connections_says_so() {
    let mut admin = match admin().await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("TASKER_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL not reachable ({e})");
            }
            return;
        }
    };
    // Superusers ignore connection limits: a throwaway role, and a database that allows it one
    // connection.
    let name = format!("tasker_pg_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE ROLE {name} LOGIN").as_str())
        .await
        .unwrap();
    admin
        .execute(format!("CREATE DATABASE {name} OWNER {name} CONNECTION LIMIT 1").as_str())
        .await
        .unwrap();
    let (base, query) = super::server();
    let url = format!(
        "{}/{name}{query}",
        base.replacen("://postgres@", &format!("://{name}:pw@"), 1)
    );
    let outcome = async {
        let held = sqlx::PgConnection::connect(&url).await.unwrap();
        let (e, took) = open_err(&url, quick()).await;
        drop(held);
        (e, took)
    }
    .await;
    admin
        .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    admin
        .execute(format!("DROP ROLE {name}").as_str())
        .await
        .unwrap();
    let (e, took) = outcome;
    assert!(e.is_unavailable(), "{e:?}");
    let host_port = super::host_port();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot connect to PostgreSQL at {host_port} (database \"{name}\", user \"{name}\"): \
             too many connections (the server said: too many connections for database \
             \"{name}\"). Close other connections, lower the pool size, or raise the server's \
             max_connections or the database's CONNECTION LIMIT"
        )
    );
    assert!(!e.to_string().contains(":pw"));
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn a_missing_database_says_how_to_create_it() {
    let url = url_for("tasker_pg_does_not_exist", "");
    let (e, _) = open_err(&url, quick()).await;
    let msg = e.to_string();
    assert!(
        msg.ends_with(
            "the database does not exist (the server said: database \"tasker_pg_does_not_exist\" \
             does not exist); create it with CREATE DATABASE \"tasker_pg_does_not_exist\", or \
             name another database in the URL"
        ),
        "{msg}"
    );
}

/// The certificate the local server presents (self-signed).
async fn server_certificate() -> String {
    let mut admin = admin().await.unwrap();
    let row = sqlx::query("SHOW ssl_cert_file")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    row.get(0)
}

/// Whether the store's connections use TLS.
async fn uses_tls(store: &PgStore) -> bool {
    let mut c = store.pool.acquire().await.unwrap();
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut *c)
        .await
        .unwrap()
}

#[tokio::test]
async fn sslmode_require_encrypts_and_disable_does_not() {
    with_db(|db| async move {
        let store = PgStore::open(&url_for(&db.name, "sslmode=require"), quick())
            .await
            .unwrap();
        assert!(uses_tls(&store).await);
        put_template(&store).await;
        store.close().await;
        let store = PgStore::open(&url_for(&db.name, "sslmode=disable"), quick())
            .await
            .unwrap();
        assert!(!uses_tls(&store).await);
        store.close().await;
    })
    .await;
}

/// verify-full and verify-ca check the self-signed certificate, and fail saying how to fix it.
#[tokio::test]
async fn verifying_the_certificate_fails_clearly_without_the_right_root() {
    with_db(|db| async move {
        let (e, _) = open_err(&url_for(&db.name, "sslmode=verify-full"), quick()).await;
        let msg = e.to_string();
        assert!(e.is_unavailable(), "{e:?}");
        assert!(
            msg.contains(
                "the server's TLS certificate could not be verified with sslmode=verify-full ("
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with(
                "it is not signed by an authority this client trusts: pass the certificate of the \
                 authority that signed it (for a self-signed server certificate, that certificate \
                 itself) as sslrootcert=/path/to/root.crt, or use sslmode=require to encrypt the \
                 connection without verifying the certificate"
            ),
            "{msg}"
        );
        let (e, _) = open_err(&url_for(&db.name, "sslmode=verify-ca"), quick()).await;
        assert!(
            e.to_string()
                .contains("could not be verified with sslmode=verify-ca ("),
            "{e}"
        );

        // With the server's own certificate as the root, verify-ca connects; verify-full
        // still checks the name, and a self-signed certificate does not name 127.0.0.1.
        let root = server_certificate().await;
        let url = url_for(&db.name, &format!("sslmode=verify-ca&sslrootcert={root}"));
        let store = PgStore::open(&url, quick()).await.unwrap();
        assert!(uses_tls(&store).await);
        store.close().await;
        if url.contains("@127.0.0.1") {
            let url = url_for(&db.name, &format!("sslmode=verify-full&sslrootcert={root}"));
            let (e, _) = open_err(&url, quick()).await;
            assert!(
                e.to_string().contains(
                    "it is not issued for the host name \"127.0.0.1\" (sslmode=verify-full checks \
                     the name): connect with a host name the certificate names, or use \
                     sslmode=verify-ca to check only who signed it, or use sslmode=require"
                ),
                "{e}"
            );
        }

        let url = url_for(
            &db.name,
            "sslmode=verify-ca&sslrootcert=/nonexistent/root.crt",
        );
        let (e, _) = open_err(&url, quick()).await;
        assert!(
            e.to_string().starts_with(
                "cannot read the sslrootcert file /nonexistent/root.crt given for PostgreSQL at "
            ),
            "{e}"
        );
    })
    .await;
}

/// A connection lost under a running store fails that unit of work as Unavailable; the next
/// one gets a new connection.
#[tokio::test]
async fn a_lost_connection_is_unavailable_and_the_next_unit_of_work_reconnects() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let mut admin = db.connect().await;
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'tasker-node' \
                 AND pid <> pg_backend_pid()",
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut failures = 0;
        for _ in 0..8 {
            // Each idle pooled connection fails once.
            match read(&store, |tx| {
                Box::pin(async move { tx.template_keys(1).await })
            })
            .await
            {
                Ok(keys) => {
                    assert_eq!(keys.len(), 1);
                    break;
                }
                Err(e) => {
                    assert!(e.is_unavailable(), "{e:?}");
                    assert!(
                        e.to_string()
                            .starts_with("lost the connection to PostgreSQL at "),
                        "{e}"
                    );
                    failures += 1;
                }
            }
        }
        assert!(failures >= 1, "the terminated connection was not noticed");
        let keys = read(&store, |tx| {
            Box::pin(async move { tx.template_keys(1).await })
        })
        .await
        .unwrap();
        assert_eq!(keys.len(), 1);
        store.close().await;
    })
    .await;
}
