//! Wake-ups. In-process: a watch counter for "steps may be ready" and broadcasts for finished
//! and cancelled tasks. Across processes (PostgreSQL): the same events travel as NOTIFY on the
//! `tasker_events` channel, sent inside the transaction so they arrive only after commit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use sqlx::postgres::PgListener;
use tasker_storage::{Db, Dialect, PgPool, Tx};

pub(crate) const CHANNEL: &str = "tasker_events";

/// Something other waiters should hear about once a transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    StepsReady,
    TaskFinished(String),
    TaskCancelled(String),
}

impl Effect {
    /// `<origin>|<event>`: the origin (the sending engine) lets a process skip its own
    /// notifications, which it has already delivered in-process.
    fn encode(&self, origin: &str) -> String {
        match self {
            Effect::StepsReady => format!("{origin}|ready"),
            Effect::TaskFinished(t) => format!("{origin}|finished:{t}"),
            Effect::TaskCancelled(t) => format!("{origin}|cancelled:{t}"),
        }
    }

    fn decode(payload: &str) -> Option<(&str, Effect)> {
        let (origin, event) = payload.split_once('|')?;
        Some((origin, Effect::decode_event(event)?))
    }

    fn decode_event(s: &str) -> Option<Effect> {
        if s == "ready" {
            Some(Effect::StepsReady)
        } else if let Some(t) = s.strip_prefix("finished:") {
            Some(Effect::TaskFinished(t.to_string()))
        } else {
            s.strip_prefix("cancelled:")
                .map(|t| Effect::TaskCancelled(t.to_string()))
        }
    }
}

#[derive(Clone)]
pub(crate) struct Events {
    origin: Arc<str>,
    steps_ready: Arc<watch::Sender<u64>>,
    finished: broadcast::Sender<String>,
    cancelled: broadcast::Sender<String>,
    closed: CancellationToken,
}

impl Events {
    pub(crate) fn new() -> Events {
        let (steps_ready, _) = watch::channel(0);
        let (finished, _) = broadcast::channel(1024);
        let (cancelled, _) = broadcast::channel(1024);
        Events {
            origin: uuid::Uuid::new_v4().to_string().into(),
            steps_ready: Arc::new(steps_ready),
            finished,
            cancelled,
            closed: CancellationToken::new(),
        }
    }

    pub(crate) fn subscribe_steps_ready(&self) -> watch::Receiver<u64> {
        self.steps_ready.subscribe()
    }

    pub(crate) fn subscribe_finished(&self) -> broadcast::Receiver<String> {
        self.finished.subscribe()
    }

    pub(crate) fn subscribe_cancellations(&self) -> broadcast::Receiver<String> {
        self.cancelled.subscribe()
    }

    /// Deliver effects to this process's waiters (call after commit).
    pub(crate) fn emit(&self, effects: &[Effect]) {
        for e in effects {
            match e {
                Effect::StepsReady => {
                    self.steps_ready.send_modify(|v| *v = v.wrapping_add(1));
                }
                Effect::TaskFinished(t) => {
                    let _ = self.finished.send(t.clone());
                }
                Effect::TaskCancelled(t) => {
                    let _ = self.cancelled.send(t.clone());
                }
            }
        }
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn close(&self) {
        self.closed.cancel();
    }
}

/// Queue NOTIFYs for other processes inside the transaction (PostgreSQL only).
pub(crate) async fn notify_in_tx(
    tx: &mut Tx,
    dialect: Dialect,
    origin: &str,
    effects: &[Effect],
) -> Result<(), sqlx::Error> {
    if dialect != Dialect::Postgres {
        return Ok(());
    }
    let mut sent_ready = false;
    for e in effects {
        if *e == Effect::StepsReady {
            if sent_ready {
                continue;
            }
            sent_ready = true;
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(e.encode(origin))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Listen for other processes' events and re-emit them locally. Reconnects after errors; the
/// workers' slow fallback poll covers any gap. `pool` (one connection) bounds every connection
/// attempt by the engine's connect timeout, and closing the engine ends the task at once, even
/// mid-attempt; nothing waits for this task.
pub(crate) fn spawn_pg_listener(pool: PgPool, db: Db, events: Events) {
    tokio::spawn(async move {
        while !events.closed.is_cancelled() {
            let connected = tokio::select! {
                _ = events.closed.cancelled() => break,
                r = PgListener::connect_with(&pool) => r,
            };
            match connected {
                Ok(mut listener) => {
                    let listening = tokio::select! {
                        _ = events.closed.cancelled() => break,
                        r = listener.listen(CHANNEL) => r,
                    };
                    if let Err(e) = listening {
                        tracing::warn!("LISTEN {CHANNEL} failed: {e}");
                    } else {
                        // A reconnect may have missed events: wake everyone once.
                        events.emit(&[Effect::StepsReady]);
                        loop {
                            tokio::select! {
                                _ = events.closed.cancelled() => break,
                                msg = listener.try_recv() => match msg {
                                    Ok(Some(n)) => match Effect::decode(n.payload()) {
                                        Some((origin, _)) if origin == events.origin() => {}
                                        Some((_, e)) => events.emit(&[e]),
                                        None => {}
                                    },
                                    Ok(None) => continue, // connection lost; try_recv reconnects
                                    Err(e) => {
                                        let why = cause(&db, e).await;
                                        tracing::warn!("LISTEN {CHANNEL} error: {why}");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    let why = cause(&db, e).await;
                    tracing::warn!("cannot LISTEN on {CHANNEL}: {why}");
                }
            }
            tokio::select! {
                _ = events.closed.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        pool.close().await;
    });
}

/// The pool reports only that it timed out; a direct attempt says why.
async fn cause(db: &Db, e: sqlx::Error) -> String {
    if matches!(e, sqlx::Error::PoolTimedOut) {
        if let Some(why) = db.connect_error().await {
            return why.to_string();
        }
    }
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_round_trip() {
        for e in [
            Effect::StepsReady,
            Effect::TaskFinished("abc".into()),
            Effect::TaskCancelled("def".into()),
        ] {
            assert_eq!(Effect::decode(&e.encode("o1")), Some(("o1", e)));
        }
        assert_eq!(Effect::decode("o1|nonsense"), None);
        assert_eq!(Effect::decode("ready"), None);
    }
}
