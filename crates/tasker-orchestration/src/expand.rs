//! Applying decision and batch outcomes: plan (pure, in tasker-domain) against the template the
//! task was created with and the task's steps, then lay out the planned steps and their edges
//! for the transaction that completes the deciding step.

use std::collections::{HashMap, HashSet};

use tasker_domain::{
    convergence_edges, parse_batch_outcome, parse_decision_outcome, plan_batches,
    plan_decision_with, ExpansionLimits, NewStep as PlannedStep, StepDefinition, StepState,
    StepType,
};
use tasker_store::{Edge, LockedStep, NewStep, Signal, TaskStepState, Uuid};

use crate::record::{TaskAcc, Writes};
use crate::templates::Snapshot;
use crate::work::Work;
use crate::EngineError;

/// What is wrong with an outcome: (error type, message naming the step at fault).
pub(crate) type Rejection = (&'static str, String);

/// What an outcome creates: new steps, and edges `(new step, existing convergence step)`.
#[derive(Default)]
pub(crate) struct Planned {
    pub steps: Vec<PlannedStep>,
    pub convergence: Vec<(String, String)>,
}

impl Planned {
    /// Whether a planned step resolves a `limit_key` from the task's context.
    pub(crate) fn needs_context(&self) -> bool {
        self.steps.iter().any(|s| {
            s.definition
                .limits
                .as_ref()
                .is_some_and(|l| l.limit_key.is_some())
        })
    }
}

/// Plan what the outcome in `result` (JSON text) creates.
pub(crate) fn plan(
    snapshot: &Snapshot,
    l: &LockedStep,
    def: &StepDefinition,
    steps: &[TaskStepState],
    result: &str,
    limits: &ExpansionLimits,
) -> Result<Planned, Rejection> {
    let decision = l.step_type == StepType::Decision;
    let kind = if decision {
        "invalid_decision_outcome"
    } else {
        "invalid_batch_outcome"
    };
    let template = &snapshot.template;
    let mut existing: HashSet<String> = HashSet::new();
    let mut undecided: HashSet<String> = HashSet::new();
    let mut waiting_convergence: HashSet<String> = HashSet::new();
    for s in steps {
        if s.step_type == StepType::Decision && s.name != l.name && !s.state.is_terminal() {
            undecided.insert(s.name.clone());
        }
        if s.step_type == StepType::DeferredConvergence && s.state == StepState::Pending {
            waiting_convergence.insert(s.name.clone());
        }
        existing.insert(s.name.clone());
    }
    let planned = if decision {
        parse_decision_outcome(&l.name, result)
            .and_then(|o| plan_decision_with(template, &l.name, &existing, &undecided, &o, limits))
            .map(|steps| {
                let convergence = convergence_edges(template, &waiting_convergence, &steps);
                Planned { steps, convergence }
            })
    } else {
        parse_batch_outcome(&l.name, result)
            .and_then(|o| plan_batches(template, def, &existing, &o, limits))
            .map(|steps| Planned {
                steps,
                convergence: Vec::new(),
            })
    };
    planned.map_err(|message| (kind, message))
}

/// Lay out the planned steps of `source`'s outcome: rows, edges, transitions. A step whose
/// dependencies are all complete is created ready. A `limit_key` resolves against `context`,
/// the task's context (given when a planned step has one). Returns how many steps were created.
pub(crate) fn create(
    source: &LockedStep,
    planned: &Planned,
    context: Option<&serde_json::Value>,
    acc: &mut TaskAcc,
    writes: &mut Writes,
    work: &mut Work,
) -> Result<i64, EngineError> {
    let task = source.task_uuid;
    let existing: HashMap<String, (Uuid, bool)> = acc
        .steps
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|s| (s.name.clone(), (s.step_uuid, s.state.is_done())))
        .collect();
    let new_uuids: HashMap<&str, Uuid> = planned
        .steps
        .iter()
        .map(|s| (s.name.as_str(), Uuid::now_v7()))
        .collect();
    let mut created = Vec::with_capacity(planned.steps.len());
    for s in &planned.steps {
        let step_uuid = new_uuids[s.name.as_str()];
        let mut pending = 0;
        let mut dep_total = 0;
        for dep in &s.depends_on {
            let (from, complete) = match (new_uuids.get(dep.as_str()), existing.get(dep)) {
                (Some(u), _) => (*u, false),
                (None, Some((u, complete))) => (*u, *complete),
                // The planner only names steps that exist or are new.
                (None, None) => continue,
            };
            dep_total += 1;
            if !complete {
                pending += 1;
            }
            let edge = Edge {
                task_uuid: task,
                from,
                to: step_uuid,
            };
            if from == source.step_uuid {
                writes.source_edges.push(edge);
            } else {
                writes.new_edges.push(edge);
            }
        }
        let state = match (pending == 0, s.step_type) {
            (false, _) => StepState::Pending,
            (true, StepType::Signal) => StepState::WaitingForSignal,
            (true, StepType::Subtask) => StepState::WaitingForChild,
            (true, _) => StepState::Enqueued,
        };
        writes.new_steps.push(NewStep {
            step_uuid,
            task_uuid: task,
            name: s.name.clone(),
            template_step_name: s.template_step_name.clone(),
            handler_callable: s.definition.handler.callable.clone(),
            step_type: s.step_type,
            state,
            dep_total,
            pending_deps: pending,
            max_attempts: i64::from(s.definition.retry.max_attempts),
            inputs: s.inputs.to_string(),
            ready_in_ms: 0,
            created_by: Some(source.step_uuid),
            signal_timeout_ms: crate::create::signal_timeout(&s.definition),
            limit: crate::create::step_limit(&s.definition, context),
        });
        work.step(
            task,
            step_uuid,
            None,
            StepState::Pending,
            None,
            Some(format!("created by the outcome of step '{}'", source.name)),
        );
        if state == StepState::WaitingForSignal {
            work.step(
                task,
                step_uuid,
                Some(StepState::Pending),
                StepState::WaitingForSignal,
                None,
                Some(crate::signals::waiting_reason(
                    &s.definition,
                    "dependencies complete",
                )),
            );
        }
        if state == StepState::WaitingForChild {
            work.step(
                task,
                step_uuid,
                Some(StepState::Pending),
                StepState::WaitingForChild,
                None,
                Some(format!(
                    "dependencies complete; {}",
                    crate::children::WAITING_REASON
                )),
            );
            // Its child is created in this transaction (or by the child sweep); the step
            // counts as active for its task.
            work.signal(Signal::StepsReady);
            writes.waiting_children.insert(task);
            acc.enqueued = true;
        }
        if state == StepState::Enqueued {
            work.step(
                task,
                step_uuid,
                Some(StepState::Pending),
                StepState::Enqueued,
                None,
                Some("dependencies complete".to_string()),
            );
            writes
                .enqueued_callables
                .push(s.definition.handler.callable.clone());
            work.signal(Signal::StepsReady);
            acc.enqueued = true;
        }
        created.push(TaskStepState {
            task_uuid: task,
            step_uuid,
            name: s.name.clone(),
            step_type: s.step_type,
            state,
        });
    }
    // New branches of a convergence step that waited for the decision that created them.
    for (from, to) in &planned.convergence {
        if let (Some(from), Some((to, _))) = (new_uuids.get(from.as_str()), existing.get(to)) {
            writes.convergence.push(Edge {
                task_uuid: task,
                from: *from,
                to: *to,
            });
        }
    }
    let n = created.len() as i64;
    acc.steps.get_or_insert_with(Vec::new).extend(created);
    Ok(n)
}
