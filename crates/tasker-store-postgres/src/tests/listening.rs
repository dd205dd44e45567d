//! Signals between processes: one NOTIFY per transaction, heard by the other stores, skipped by
//! the sender, resumed after a lost listening connection.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::Executor;
use tasker_store::{Heard, Signal, Store, Uuid};
use tokio::sync::broadcast;

use super::fixtures::*;
use super::with_db;
use crate::signals::MAX_PAYLOAD;

async fn next(rx: &mut broadcast::Receiver<Heard>) -> Heard {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("nothing heard within 5 s")
        .expect("the channel closed")
}

async fn nothing_more(rx: &mut broadcast::Receiver<Heard>) {
    if let Ok(h) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        panic!("heard {h:?}");
    }
}

async fn send(store: &crate::PgStore, signals: Vec<Signal>) {
    write(store, move |tx| {
        Box::pin(async move {
            // Signalled in two calls: still one notification.
            let (a, b) = signals.split_at(signals.len() / 2);
            tx.signal(a).await?;
            tx.signal(b).await
        })
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn other_stores_hear_a_transactions_signals_and_the_sender_does_not() {
    with_db(|db| async move {
        let a = db.open().await;
        let b = db.open().await;
        let mut raw = PgListener::connect(&db.url).await.unwrap();
        raw.listen("tasker_events").await.unwrap();
        let mut heard_a = a.listen().unwrap();
        let mut heard_b = b.listen().unwrap();
        let (t1, t2) = (Uuid::new_v4(), Uuid::new_v4());
        send(
            &a,
            vec![
                Signal::StepsReady,
                Signal::TaskFinished(t1),
                Signal::StepsReady,
                Signal::TaskCancelled(t2),
            ],
        )
        .await;
        assert_eq!(next(&mut heard_b).await, Heard::Signal(Signal::StepsReady));
        assert_eq!(
            next(&mut heard_b).await,
            Heard::Signal(Signal::TaskFinished(t1))
        );
        assert_eq!(
            next(&mut heard_b).await,
            Heard::Signal(Signal::TaskCancelled(t2))
        );
        nothing_more(&mut heard_b).await;
        nothing_more(&mut heard_a).await;
        // One notification for the whole transaction.
        let n = tokio::time::timeout(Duration::from_secs(5), raw.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(n
            .payload()
            .ends_with(&format!("|r,f{},c{}", t1.simple(), t2.simple())));
        assert!(
            tokio::time::timeout(Duration::from_millis(200), raw.recv())
                .await
                .is_err(),
            "a second notification"
        );

        // A transaction that rolls back says nothing.
        let outcome = write(&a, |tx| {
            Box::pin(async move {
                tx.signal(&[Signal::StepsReady]).await?;
                tx.template_keys(1).await?;
                Err::<(), _>(tasker_store::StoreError::Database("give up".into()))
            })
        })
        .await;
        assert!(outcome.is_err());
        nothing_more(&mut heard_b).await;
        a.close().await;
        b.close().await;
    })
    .await;
}

/// When many tasks finish in one transaction the signals are split over payloads under
/// NOTIFY's limit, and every one arrives.
#[tokio::test]
async fn many_finished_tasks_fit_under_the_payload_limit() {
    with_db(|db| async move {
        let a = db.open().await;
        let b = db.open().await;
        let mut raw = PgListener::connect(&db.url).await.unwrap();
        raw.listen("tasker_events").await.unwrap();
        let mut heard = b.listen().unwrap();
        let tasks: Vec<Uuid> = (0..1000).map(|_| Uuid::new_v4()).collect();
        let signals: Vec<Signal> = tasks.iter().map(|t| Signal::TaskFinished(*t)).collect();
        send(&a, signals.clone()).await;
        for s in &signals {
            assert_eq!(next(&mut heard).await, Heard::Signal(s.clone()));
        }
        let mut payloads = 0;
        while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), raw.recv()).await {
            assert!(n.payload().len() <= MAX_PAYLOAD);
            payloads += 1;
        }
        assert_eq!(payloads, 5, "1000 × 33 bytes in payloads under 8000 bytes");
        a.close().await;
        b.close().await;
    })
    .await;
}

/// A listening connection that is lost comes back within about a second, says that signals
/// may have been missed, and hears again.
#[tokio::test]
async fn listening_resumes_after_the_connection_is_lost() {
    with_db(|db| async move {
        let a = db.open().await;
        let b = db.open().await;
        let mut heard = b.listen().unwrap();
        let mut admin = db.connect().await;
        let killed = admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'tasker-node listener'",
            )
            .await
            .unwrap();
        assert_eq!(killed.rows_affected(), 2, "two listening connections");
        let started = std::time::Instant::now();
        assert_eq!(next(&mut heard).await, Heard::Reconnected);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let t = Uuid::new_v4();
        send(&a, vec![Signal::TaskFinished(t)]).await;
        assert_eq!(
            next(&mut heard).await,
            Heard::Signal(Signal::TaskFinished(t))
        );

        // Closing stops listening.
        b.close().await;
        a.close().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name LIKE 'tasker-node%'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(left, 0, "connections left open after close");
    })
    .await;
}

/// Stores on different schemas of one database do not hear each other.
#[tokio::test]
async fn each_schema_has_its_own_channel() {
    with_db(|db| async move {
        let a = db.open().await;
        let other = crate::PgStore::open(
            &db.url,
            crate::PgOptions {
                schema: "other".into(),
                ..crate::PgOptions::default()
            },
        )
        .await
        .unwrap();
        let b = db.open().await;
        let mut heard_other = other.listen().unwrap();
        let mut heard_b = b.listen().unwrap();
        send(&a, vec![Signal::StepsReady]).await;
        assert_eq!(next(&mut heard_b).await, Heard::Signal(Signal::StepsReady));
        nothing_more(&mut heard_other).await;
        for s in [a, b, other] {
            s.close().await;
        }
    })
    .await;
}
