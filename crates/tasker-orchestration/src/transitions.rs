//! Everything one transaction changes besides the rows it updates directly: audit rows for
//! every state transition, and the wake-ups to send once it commits.

use tasker_storage::{insert_many, Dialect, Tx, Val};

use crate::events::Effect;

pub(crate) struct Transition {
    pub task_uuid: String,
    pub step_uuid: Option<String>,
    pub from: Option<&'static str>,
    pub to: &'static str,
    pub worker_id: Option<String>,
    pub reason: Option<String>,
}

/// What a transaction accumulates: transitions to record and effects to announce.
#[derive(Default)]
pub(crate) struct Work {
    pub transitions: Vec<Transition>,
    pub effects: Vec<Effect>,
    /// Handler callables of the steps this transaction enqueued.
    pub enqueued_callables: Vec<String>,
    /// This transaction scheduled a retry (workers must learn the new due time).
    pub retry_scheduled: bool,
}

impl Work {
    pub fn task(
        &mut self,
        task: &str,
        from: Option<&'static str>,
        to: &'static str,
        reason: Option<String>,
    ) {
        self.transitions.push(Transition {
            task_uuid: task.to_string(),
            step_uuid: None,
            from,
            to,
            worker_id: None,
            reason,
        });
    }

    pub fn step(
        &mut self,
        task: &str,
        step: &str,
        from: Option<&'static str>,
        to: &'static str,
        worker_id: Option<&str>,
        reason: Option<String>,
    ) {
        self.transitions.push(Transition {
            task_uuid: task.to_string(),
            step_uuid: Some(step.to_string()),
            from,
            to,
            worker_id: worker_id.map(str::to_string),
            reason,
        });
    }

    pub fn effect(&mut self, e: Effect) {
        if !self.effects.contains(&e) {
            self.effects.push(e);
        }
    }

    /// Write the audit rows and queue NOTIFYs; call just before commit.
    pub async fn flush(
        &mut self,
        tx: &mut Tx,
        dialect: Dialect,
        now: i64,
        origin: &str,
    ) -> Result<(), sqlx::Error> {
        let rows: Vec<Vec<Val>> = self
            .transitions
            .drain(..)
            .map(|t| {
                vec![
                    Val::Text(uuid::Uuid::now_v7().to_string()),
                    Val::Text(t.task_uuid),
                    Val::OptText(t.step_uuid),
                    Val::OptText(t.from.map(str::to_string)),
                    Val::Text(t.to.to_string()),
                    Val::Int(now),
                    Val::OptText(t.worker_id),
                    Val::OptText(t.reason),
                ]
            })
            .collect();
        insert_many(
            tx,
            dialect,
            "tasker_transitions (transition_uuid, task_uuid, step_uuid, from_state, to_state, at, worker_id, reason)",
            &rows,
        )
        .await?;
        crate::events::notify_in_tx(tx, dialect, origin, &self.effects).await
    }
}
