//! The engine's LISTEN connection (PostgreSQL) gives up within the connect timeout and tries
//! again, and stops when the engine closes; it never waits sqlx's default 30 s. A TCP proxy in
//! front of the test server forwards connections until it is cut: then it drops every
//! forwarded connection and black-holes every new one (accepts it and never answers), which is
//! what the listener meets when it reconnects.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tasker_orchestration::{ConnectOptions, Engine, ExpansionLimits};
use tokio::net::{TcpListener, TcpStream};

postgres_tests!(listen_connection_gives_up_within_the_connect_timeout_and_stops_on_close);

/// A proxy to `upstream` that forwards connections until `cut`, then drops them and holds
/// every later one open without a byte, counting those.
struct Proxy {
    port: u16,
    black_holed: Arc<AtomicUsize>,
    cut: Arc<AtomicBool>,
    forwarded: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for t in self.forwarded.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

async fn proxy(upstream: String) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let black_holed = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    let forwarded: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let (counter, is_cut, tasks) = (black_holed.clone(), cut.clone(), forwarded.clone());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut client, _)) = listener.accept().await {
            if !is_cut.load(Ordering::SeqCst) {
                let upstream = upstream.clone();
                tasks.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            } else {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(client);
            }
        }
    });
    Proxy {
        port,
        black_holed,
        cut,
        forwarded,
        task,
    }
}

async fn listen_connection_gives_up_within_the_connect_timeout_and_stops_on_close(db: TestDb) {
    let mut url = url::Url::parse(&db.url).expect("test URL");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = proxy(upstream).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.port)).expect("port");
    let connect = ConnectOptions {
        connect_timeout: Duration::from_millis(100),
        ..ConnectOptions::default()
    };
    let engine = Engine::open_with_connect(url.as_str(), ExpansionLimits::default(), connect)
        .await
        .expect("the engine opens through the proxy");

    // Let the listener connect, then cut: it reconnects, and every try is black-holed. Each
    // must give up after 100 ms for the next to come (with sqlx's default the first would
    // still be waiting).
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    let started = Instant::now();
    while proxy.black_holed.load(Ordering::SeqCst) < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the listener tried only {} connection(s) in 10 s",
            proxy.black_holed.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Closing the engine ends the listener: no further attempts.
    let closing = Instant::now();
    engine.close().await;
    assert!(closing.elapsed() < Duration::from_secs(2));
    let tried = proxy.black_holed.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(proxy.black_holed.load(Ordering::SeqCst), tried);
    proxy.task.abort();
}
