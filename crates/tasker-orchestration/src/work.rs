//! Everything one transaction changes besides the rows it updates directly: the audit row of
//! every state transition, and the signals to send once it commits.
//!
//! This is the one place where transitions are checked: every transition a unit of work
//! records must be legal by the state machines in `tasker_domain::state`; an illegal one fails
//! the unit of work (and rolls it back) with an internal error naming it.

use tasker_domain::{StepState, TaskState};
use tasker_store::{Change, NewTransition, Signal, Tx, Uuid};

use crate::EngineError;

#[derive(Default)]
pub(crate) struct Work {
    transitions: Vec<NewTransition>,
    pub signals: Vec<Signal>,
    illegal: Option<String>,
}

impl Work {
    /// A task changed state (`from: None`: it was created).
    pub fn task(
        &mut self,
        task: Uuid,
        from: Option<TaskState>,
        to: TaskState,
        reason: Option<String>,
    ) {
        let legal = match from {
            None => to == TaskState::Pending,
            Some(f) => f.can_transition_to(to),
        };
        if !legal && self.illegal.is_none() {
            self.illegal = Some(format!(
                "task {task}: illegal transition {} -> {}",
                from.map_or("(new)", TaskState::as_str),
                to.as_str()
            ));
        }
        if to.is_terminal() {
            self.signal(Signal::TaskFinished(task));
        }
        self.transitions.push(NewTransition {
            task_uuid: task,
            change: Change::Task { from, to },
            worker_id: None,
            reason,
        });
    }

    /// A step changed state (`from: None`: it was created).
    pub fn step(
        &mut self,
        task: Uuid,
        step: Uuid,
        from: Option<StepState>,
        to: StepState,
        worker_id: Option<&str>,
        reason: Option<String>,
    ) {
        let legal = match from {
            None => to == StepState::Pending,
            Some(f) => f.can_transition_to(to),
        };
        if !legal && self.illegal.is_none() {
            self.illegal = Some(format!(
                "step {step} of task {task}: illegal transition {} -> {}",
                from.map_or("(new)", StepState::as_str),
                to.as_str()
            ));
        }
        self.transitions.push(NewTransition {
            task_uuid: task,
            change: Change::Step {
                step_uuid: step,
                from,
                to,
            },
            worker_id: worker_id.map(str::to_string),
            reason,
        });
    }

    pub fn signal(&mut self, s: Signal) {
        if !self.signals.contains(&s) {
            self.signals.push(s);
        }
    }

    pub fn transition_count(&self) -> usize {
        self.transitions.len()
    }

    /// Write the audit rows and queue the signals; call last, just before commit.
    pub async fn flush(&mut self, tx: &mut dyn Tx) -> Result<(), EngineError> {
        if let Some(illegal) = self.illegal.take() {
            return Err(EngineError::Internal(illegal));
        }
        tx.insert_transitions(&self.transitions).await?;
        self.transitions.clear();
        tx.signal(&self.signals).await?;
        Ok(())
    }
}
