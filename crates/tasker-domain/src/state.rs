//! Step and task states, with the reference's state names (tasker-core §2).

use std::fmt;
use std::str::FromStr;

/// The state of one workflow step.
///
/// Life of a step: `pending` (waiting for dependencies) → `enqueued` (ready, claimable) →
/// `in_progress` (claimed by a worker, under a lease) → `complete`, or `waiting_for_retry`
/// (claimable again once its backoff has elapsed), or `error` (permanent). Steps that never
/// started when their task was cancelled or failed become `cancelled`. An operator can complete
/// a failed or stuck step by hand (`resolved_manually`, which counts as done for its
/// dependents), and retrying a failed task reopens its `error` and `cancelled` steps.
/// A signal step has no handler: once its dependencies are done it is `waiting_for_signal`
/// (never claimable) until a signal completes it, its timeout fails it (`error`) or completes
/// it with a default, or its task is cancelled.
/// A subtask step has no handler either: once its dependencies are done it is
/// `waiting_for_child` (never claimable, holding no worker slot) while a child task runs; the
/// child's completion completes it, the child's failure fails it or sends it to
/// `waiting_for_retry` (the next attempt is a new child), and cancelling its task cancels it
/// (and the child).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepState {
    Pending,
    Enqueued,
    InProgress,
    WaitingForRetry,
    Complete,
    Error,
    Cancelled,
    ResolvedManually,
    WaitingForSignal,
    WaitingForChild,
}

impl StepState {
    pub const ALL: [StepState; 10] = [
        StepState::Pending,
        StepState::Enqueued,
        StepState::InProgress,
        StepState::WaitingForRetry,
        StepState::Complete,
        StepState::Error,
        StepState::Cancelled,
        StepState::ResolvedManually,
        StepState::WaitingForSignal,
        StepState::WaitingForChild,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Enqueued => "enqueued",
            StepState::InProgress => "in_progress",
            StepState::WaitingForRetry => "waiting_for_retry",
            StepState::Complete => "complete",
            StepState::Error => "error",
            StepState::Cancelled => "cancelled",
            StepState::ResolvedManually => "resolved_manually",
            StepState::WaitingForSignal => "waiting_for_signal",
            StepState::WaitingForChild => "waiting_for_child",
        }
    }

    /// Nothing happens to the step any more unless an operator retries its task.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepState::Complete
                | StepState::Error
                | StepState::Cancelled
                | StepState::ResolvedManually
        )
    }

    /// The step has its result: it ran to completion or an operator resolved it. Its
    /// dependents count it as done.
    pub fn is_done(self) -> bool {
        matches!(self, StepState::Complete | StepState::ResolvedManually)
    }

    /// Whether `self → to` is a legal step transition.
    pub fn can_transition_to(self, to: StepState) -> bool {
        use StepState::*;
        matches!(
            (self, to),
            (Pending, Enqueued)
                | (Enqueued, InProgress)
                | (WaitingForRetry, InProgress)
                // lease expiry or graceful release hands the step back
                | (InProgress, Enqueued)
                | (InProgress, Complete)
                | (InProgress, WaitingForRetry)
                | (InProgress, Error)
                | (Pending, Cancelled)
                | (Enqueued, Cancelled)
                | (WaitingForRetry, Cancelled)
                | (InProgress, Cancelled)
                // an operator resolves a failed or stuck step
                | (Error, ResolvedManually)
                | (Enqueued, ResolvedManually)
                | (WaitingForRetry, ResolvedManually)
                | (InProgress, ResolvedManually)
                // retrying a failed task reopens what failed and what its failure cancelled
                | (Error, Enqueued)
                | (Cancelled, Pending)
                | (Cancelled, Enqueued)
                // signal steps: they wait instead of being enqueued
                | (Pending, WaitingForSignal)
                | (WaitingForSignal, Complete)
                | (WaitingForSignal, Error)
                | (WaitingForSignal, Cancelled)
                | (Error, WaitingForSignal)
                | (Cancelled, WaitingForSignal)
                // subtask steps: they wait for a child task; a retry waits out a backoff and
                // starts a new child
                | (Pending, WaitingForChild)
                | (WaitingForChild, Complete)
                | (WaitingForChild, Error)
                | (WaitingForChild, WaitingForRetry)
                | (WaitingForChild, Cancelled)
                | (WaitingForRetry, WaitingForChild)
                // a subtask step whose next child cannot start
                | (WaitingForRetry, Error)
                | (Error, WaitingForChild)
                | (Cancelled, WaitingForChild)
        )
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown step state '{s}'"))
    }
}

/// The state of a task.
///
/// `pending` (created) → `steps_in_process` → `complete`; `waiting_for_retry` while every
/// unfinished step waits out a backoff; `error` as soon as one step fails permanently;
/// `cancelled` on request. An operator can take a task out of `error` (retrying it, or
/// resolving its failed steps): it goes back to `steps_in_process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    Pending,
    StepsInProcess,
    WaitingForRetry,
    Complete,
    Error,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 6] = [
        TaskState::Pending,
        TaskState::StepsInProcess,
        TaskState::WaitingForRetry,
        TaskState::Complete,
        TaskState::Error,
        TaskState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::StepsInProcess => "steps_in_process",
            TaskState::WaitingForRetry => "waiting_for_retry",
            TaskState::Complete => "complete",
            TaskState::Error => "error",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Complete | TaskState::Error | TaskState::Cancelled
        )
    }

    pub fn can_transition_to(self, to: TaskState) -> bool {
        use TaskState::*;
        if self == to || matches!(self, Complete | Cancelled) {
            return false;
        }
        if self == Error {
            return to == StepsInProcess;
        }
        match to {
            Pending => false,
            StepsInProcess => matches!(self, Pending | WaitingForRetry),
            WaitingForRetry => self == StepsInProcess,
            Complete => matches!(self, Pending | StepsInProcess),
            Error => true,
            Cancelled => true,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown task state '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in StepState::ALL {
            assert_eq!(s.as_str().parse::<StepState>(), Ok(s));
        }
        for s in TaskState::ALL {
            assert_eq!(s.as_str().parse::<TaskState>(), Ok(s));
        }
        assert!("deferred".parse::<StepState>().is_err());
    }

    #[test]
    fn step_transitions_table() {
        use StepState::*;
        let legal = [
            (Pending, Enqueued),
            (Enqueued, InProgress),
            (WaitingForRetry, InProgress),
            (InProgress, Enqueued),
            (InProgress, Complete),
            (InProgress, WaitingForRetry),
            (InProgress, Error),
            (Pending, Cancelled),
            (Enqueued, Cancelled),
            (WaitingForRetry, Cancelled),
            (InProgress, Cancelled),
            (Error, ResolvedManually),
            (Enqueued, ResolvedManually),
            (WaitingForRetry, ResolvedManually),
            (InProgress, ResolvedManually),
            (Error, Enqueued),
            (Cancelled, Pending),
            (Cancelled, Enqueued),
            (Pending, WaitingForSignal),
            (WaitingForSignal, Complete),
            (WaitingForSignal, Error),
            (WaitingForSignal, Cancelled),
            (Error, WaitingForSignal),
            (Cancelled, WaitingForSignal),
            (Pending, WaitingForChild),
            (WaitingForChild, Complete),
            (WaitingForChild, Error),
            (WaitingForChild, WaitingForRetry),
            (WaitingForChild, Cancelled),
            (WaitingForRetry, WaitingForChild),
            (WaitingForRetry, Error),
            (Error, WaitingForChild),
            (Cancelled, WaitingForChild),
        ];
        for from in StepState::ALL {
            for to in StepState::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    legal.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        for t in [Complete, Error, Cancelled, ResolvedManually] {
            assert!(t.is_terminal());
        }
        assert!(Complete.is_done() && ResolvedManually.is_done() && !Error.is_done());
        assert!(!WaitingForSignal.is_terminal() && !WaitingForSignal.is_done());
        assert!(!WaitingForChild.is_terminal() && !WaitingForChild.is_done());
    }

    #[test]
    fn task_transitions_table() {
        use TaskState::*;
        let cases = [
            (Pending, StepsInProcess, true),
            (Pending, Complete, true),
            (StepsInProcess, WaitingForRetry, true),
            (WaitingForRetry, StepsInProcess, true),
            (StepsInProcess, Complete, true),
            (WaitingForRetry, Complete, false),
            (StepsInProcess, Error, true),
            (WaitingForRetry, Cancelled, true),
            (Complete, Error, false),
            (Error, Cancelled, false),
            (Error, StepsInProcess, true),
            (Error, Complete, false),
            (Complete, StepsInProcess, false),
            (Cancelled, StepsInProcess, false),
            (StepsInProcess, Pending, false),
        ];
        for (from, to, ok) in cases {
            assert_eq!(from.can_transition_to(to), ok, "{from} -> {to}");
        }
    }
}
