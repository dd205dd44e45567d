//! What operators measure: the database's health (one round trip) and the backlog of ready
//! steps nobody has claimed yet (queue lag).

use std::time::{Duration, Instant};

use tasker_store::{run_read, ReadyBacklog};

use crate::{Engine, EngineError};

impl Engine {
    /// One round trip to the database (on PostgreSQL also the wait for a pooled connection,
    /// bounded by the connect timeout); how long it took.
    pub async fn ping(&self) -> Result<Duration, EngineError> {
        let started = Instant::now();
        run_read(self.store(), |tx| {
            Box::pin(async move { tx.ping().await.map_err(EngineError::from) })
        })
        .await?;
        Ok(started.elapsed())
    }

    /// The steps for these handler callables that are ready now but not claimed: how many, and
    /// how long the oldest has waited.
    pub async fn ready_backlog(&self, callables: &[String]) -> Result<ReadyBacklog, EngineError> {
        if callables.is_empty() {
            return Ok(ReadyBacklog::default());
        }
        let callables = callables.to_vec();
        run_read(self.store(), move |tx| {
            Box::pin(async move {
                tx.ready_backlog(&callables)
                    .await
                    .map_err(EngineError::from)
            })
        })
        .await
    }
}
