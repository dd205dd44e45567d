//! Wake-ups. In-process: a watch counter for "steps may be ready" and broadcasts for finished
//! and cancelled tasks. Across processes, the store carries the same signals (PostgreSQL
//! LISTEN/NOTIFY, sent inside the transaction so they arrive only after commit); this module
//! re-emits what other processes sent.

use std::sync::Arc;

use tasker_store::{Heard, Signal};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub(crate) struct Events {
    steps_ready: Arc<watch::Sender<u64>>,
    finished: broadcast::Sender<String>,
    cancelled: broadcast::Sender<String>,
    expired: broadcast::Sender<String>,
    closed: CancellationToken,
}

impl Events {
    pub(crate) fn new() -> Events {
        let (steps_ready, _) = watch::channel(0);
        let (finished, _) = broadcast::channel(1024);
        let (cancelled, _) = broadcast::channel(1024);
        let (expired, _) = broadcast::channel(1024);
        Events {
            steps_ready: Arc::new(steps_ready),
            finished,
            cancelled,
            expired,
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

    pub(crate) fn subscribe_expirations(&self) -> broadcast::Receiver<String> {
        self.expired.subscribe()
    }

    /// Deliver signals to this process's waiters (call after commit).
    pub(crate) fn emit(&self, signals: &[Signal]) {
        for s in signals {
            match s {
                Signal::StepsReady => self.steps_ready.send_modify(|v| *v = v.wrapping_add(1)),
                Signal::TaskFinished(t) => {
                    let _ = self.finished.send(t.to_string());
                }
                Signal::TaskCancelled(t) => {
                    let _ = self.cancelled.send(t.to_string());
                }
                Signal::TaskExpired(t) => {
                    let _ = self.expired.send(t.to_string());
                }
            }
        }
    }

    /// Re-emit what other processes send, until closed.
    pub(crate) fn forward(&self, mut heard: broadcast::Receiver<Heard>) {
        let events = self.clone();
        tokio::spawn(async move {
            loop {
                let h = tokio::select! {
                    _ = events.closed.cancelled() => return,
                    h = heard.recv() => h,
                };
                match h {
                    Ok(Heard::Signal(s)) => events.emit(&[s]),
                    // Something may have been missed: everyone looks again.
                    Ok(Heard::Reconnected) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        events.emit(&[Signal::StepsReady])
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    pub(crate) fn close(&self) {
        self.closed.cancel();
    }
}
