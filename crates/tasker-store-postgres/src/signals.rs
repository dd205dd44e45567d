//! Signals between processes: LISTEN/NOTIFY on one channel per schema.
//!
//! A transaction's signals travel as ONE notification (more only when they do not fit in
//! NOTIFY's 8000-byte payload), queued by one statement just before COMMIT, so they arrive
//! only if it commits. The payload is `<origin>|<item>,<item>,…`: the origin is the sending
//! store's id, so that a store skips its own signals (the engine has delivered them in-process
//! already); an item is `r` (steps may be ready), `f<task>` (finished) or `c<task>` (cancelled),
//! tasks as 32 hex digits.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tasker_store::{Heard, Signal, StoreError, StoreResult, Uuid};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::{connect_error, Server};

/// NOTIFY refuses payloads of 8000 bytes or more.
pub(crate) const MAX_PAYLOAD: usize = 7999;

/// The first retry after a lost listening connection, and the most it waits between tries
/// (listening resumes within about this long of the database answering again).
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_millis(500);

/// The channel of a schema (schema names are at most 50 characters, so this fits in an
/// identifier's 63).
pub(crate) fn channel(schema: &str) -> String {
    format!("{schema}_events")
}

/// The payloads that carry `signals` from `origin`, each under [`MAX_PAYLOAD`] bytes; none if
/// there is nothing to say. A signal repeated in one transaction is sent once.
pub(crate) fn encode(origin: &str, signals: &[Signal]) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut items = Vec::new();
    for s in signals {
        let (key, item) = match s {
            Signal::StepsReady => ((b'r', Uuid::nil()), "r".to_string()),
            Signal::TaskFinished(t) => ((b'f', *t), format!("f{}", t.simple())),
            Signal::TaskCancelled(t) => ((b'c', *t), format!("c{}", t.simple())),
            Signal::TaskExpired(t) => ((b'e', *t), format!("e{}", t.simple())),
        };
        if seen.insert(key) {
            items.push(item);
        }
    }
    let mut payloads = Vec::new();
    let mut current = String::new();
    for item in items {
        let separator = usize::from(!current.is_empty());
        if !current.is_empty() && current.len() + separator + item.len() > MAX_PAYLOAD {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(origin);
            current.push('|');
        } else {
            current.push(',');
        }
        current.push_str(&item);
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// The origin and signals of a payload (`None` if it is not one of ours). Unknown items are
/// skipped, so that a newer sender's additions do not silence the rest.
pub(crate) fn decode(payload: &str) -> Option<(&str, Vec<Signal>)> {
    let (origin, items) = payload.split_once('|')?;
    let mut signals = Vec::new();
    for item in items.split(',') {
        let task = |hex: &str| Uuid::try_parse(hex).ok();
        let signal = match item.as_bytes().first() {
            Some(b'r') if item.len() == 1 => Some(Signal::StepsReady),
            Some(b'f') => task(&item[1..]).map(Signal::TaskFinished),
            Some(b'c') => task(&item[1..]).map(Signal::TaskCancelled),
            Some(b'e') => task(&item[1..]).map(Signal::TaskExpired),
            _ => None,
        };
        match signal {
            Some(s) => signals.push(s),
            None => tracing::debug!("ignoring an unknown tasker signal item '{item}'"),
        }
    }
    Some((origin, signals))
}

/// Everything the listening task needs.
pub(crate) struct Listening {
    pub pool: PgPool,
    pub server: Arc<Server>,
    pub connect_timeout: Duration,
    pub channel: String,
    pub origin: String,
    pub heard: broadcast::Sender<Heard>,
    pub closed: CancellationToken,
}

/// Start listening (the first LISTEN is in place when this returns, so no signal sent after it
/// is missed), then keep listening on a task until `closed`.
pub(crate) async fn start(l: Listening) -> StoreResult<tokio::task::JoinHandle<()>> {
    let first = subscribe(&l).await?;
    Ok(tokio::spawn(run(l, first)))
}

async fn subscribe(l: &Listening) -> StoreResult<PgListener> {
    let mut listener = PgListener::connect_with(&l.pool)
        .await
        .map_err(|e| connect_error(&l.server, e, l.connect_timeout))?;
    // A lost connection makes `try_recv` return `Ok(None)` at once; `run` reconnects itself,
    // with its own backoff.
    listener.eager_reconnect(false);
    listener.listen(&l.channel).await.map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot LISTEN on {} at {}: {e}",
            l.channel,
            l.server.at()
        ))
    })?;
    Ok(listener)
}

async fn run(l: Listening, first: PgListener) {
    let mut listener = Some(first);
    let mut retry = FIRST_RETRY;
    loop {
        if let Some(mut current) = listener.take() {
            retry = FIRST_RETRY;
            loop {
                let received = tokio::select! {
                    _ = l.closed.cancelled() => return,
                    r = current.try_recv() => r,
                };
                match received {
                    Ok(Some(n)) => deliver(&l, n.payload()),
                    Ok(None) => {
                        tracing::warn!(
                            "the connection listening for tasker signals on {} was lost; reconnecting",
                            l.server.at()
                        );
                        break;
                    }
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) => {
                        tracing::warn!(
                            "listening for tasker signals on {} failed: {e}; reconnecting",
                            l.server.at()
                        );
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = l.closed.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(MAX_RETRY);
        match subscribe(&l).await {
            Ok(fresh) => {
                listener = Some(fresh);
                // Signals sent while nobody listened are lost: say so.
                let _ = l.heard.send(Heard::Reconnected);
            }
            Err(StoreError::Closed) => return,
            Err(e) => tracing::debug!("still cannot listen for tasker signals: {e}"),
        }
    }
}

fn deliver(l: &Listening, payload: &str) {
    match decode(payload) {
        Some((origin, _)) if origin == l.origin => {}
        Some((_, signals)) => {
            for s in signals {
                // No receiver is not an error: nobody is waiting.
                let _ = l.heard.send(Heard::Signal(s));
            }
        }
        None => tracing::debug!("ignoring a notification that is not a tasker signal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let signals = vec![
            Signal::StepsReady,
            Signal::TaskFinished(a),
            Signal::StepsReady,
            Signal::TaskCancelled(b),
            Signal::TaskFinished(a),
            Signal::TaskExpired(b),
        ];
        let payloads = encode("o1", &signals);
        assert_eq!(payloads.len(), 1);
        assert_eq!(
            payloads[0],
            format!("o1|r,f{},c{},e{}", a.simple(), b.simple(), b.simple())
        );
        assert_eq!(
            decode(&payloads[0]),
            Some((
                "o1",
                vec![
                    Signal::StepsReady,
                    Signal::TaskFinished(a),
                    Signal::TaskCancelled(b),
                    Signal::TaskExpired(b)
                ]
            ))
        );
        assert!(encode("o1", &[]).is_empty());
        assert_eq!(decode("no separator"), None);
        assert_eq!(
            decode("o2|x,r,fnothex"),
            Some(("o2", vec![Signal::StepsReady]))
        );
    }

    #[test]
    fn many_signals_split_under_the_payload_limit() {
        let origin = Uuid::new_v4().simple().to_string();
        let tasks: Vec<Uuid> = (0..1000).map(|_| Uuid::new_v4()).collect();
        let mut signals = vec![Signal::StepsReady];
        signals.extend(tasks.iter().map(|t| Signal::TaskFinished(*t)));
        let payloads = encode(&origin, &signals);
        assert!(payloads.len() > 1, "1000 tasks fit in one payload?");
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() <= MAX_PAYLOAD, "payload of {} bytes", p.len());
            let (o, s) = decode(p).unwrap();
            assert_eq!(o, origin);
            back.extend(s);
        }
        assert_eq!(back, signals);
    }
}
