//! Applying decision and batch outcomes: plan (pure, in tasker-domain) against the task's
//! template and existing steps, then create the planned steps and their edges in the
//! transaction that completes the deciding step.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tasker_domain::{
    convergence_edges, parse_batch_outcome, parse_decision_outcome, plan_batches,
    plan_decision_with, ExpansionLimits, NewStep, StepDefinition, StepState, StepType,
    TaskTemplate,
};
use tasker_storage::{insert_many, Dialect, Row, Sql, Tx, Val};

use crate::events::Effect;
use crate::transitions::Work;
use crate::EngineError;

/// What is wrong with an outcome: (error type, message naming the step at fault).
pub(crate) type Rejection = (&'static str, String);

/// What an outcome creates: new steps, and edges `(new step, existing convergence step)`.
pub(crate) type Planned = (Vec<NewStep>, Vec<(String, String)>);

/// Plan what the outcome in `result` creates. The inner `Err` is a rejected outcome (the step
/// fails permanently with it); the outer one a database error.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan(
    tx: &mut Tx,
    d: Dialect,
    task_uuid: &str,
    step_name: &str,
    step_type: &str,
    definition: &str,
    result: &Value,
    limits: &ExpansionLimits,
) -> Result<Result<Planned, Rejection>, EngineError> {
    static TEMPLATE: Sql = Sql::new(
        "SELECT t.definition FROM tasker_templates t
         JOIN tasker_tasks k ON k.namespace = t.namespace AND k.name = t.name AND k.version = t.version
         WHERE k.task_uuid = $1",
    );
    static STEPS: Sql =
        Sql::new("SELECT name, step_type, state FROM tasker_steps WHERE task_uuid = $1");
    let kind = if step_type == "decision" {
        "invalid_decision_outcome"
    } else {
        "invalid_batch_outcome"
    };
    let template: Option<String> = sqlx::query_scalar(TEMPLATE.for_dialect(d))
        .bind(task_uuid)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(template) = template else {
        return Ok(Err((
            kind,
            format!("the template of task {task_uuid} is no longer registered"),
        )));
    };
    let template: TaskTemplate = match serde_json::from_str(&template) {
        Ok(t) => t,
        Err(e) => return Ok(Err((kind, format!("stored template is unreadable: {e}")))),
    };
    let mut existing: HashSet<String> = HashSet::new();
    let mut undecided: HashSet<String> = HashSet::new();
    let mut waiting_convergence: HashSet<String> = HashSet::new();
    for r in sqlx::query(STEPS.for_dialect(d))
        .bind(task_uuid)
        .fetch_all(&mut **tx)
        .await?
    {
        let name: String = r.try_get("name")?;
        let kind: String = r.try_get("step_type")?;
        let state: String = r.try_get("state")?;
        if kind == StepType::Decision.as_str()
            && name != step_name
            && !matches!(state.as_str(), "complete" | "error" | "cancelled")
        {
            undecided.insert(name.clone());
        }
        if kind == StepType::DeferredConvergence.as_str() && state == "pending" {
            waiting_convergence.insert(name.clone());
        }
        existing.insert(name);
    }
    let planned = if step_type == "decision" {
        parse_decision_outcome(step_name, result)
            .and_then(|o| {
                plan_decision_with(&template, step_name, &existing, &undecided, &o, limits)
            })
            .map(|steps| {
                let edges = convergence_edges(&template, &waiting_convergence, &steps);
                (steps, edges)
            })
    } else {
        let step: StepDefinition = match serde_json::from_str(definition) {
            Ok(s) => s,
            Err(e) => {
                return Ok(Err((
                    kind,
                    format!("step '{step_name}' has an unreadable definition: {e}"),
                )))
            }
        };
        parse_batch_outcome(step_name, result)
            .and_then(|o| plan_batches(&template, &step, &existing, &o, limits))
            .map(|steps| (steps, Vec::new()))
    };
    Ok(planned.map_err(|message| (kind, message)))
}

/// Create planned steps with their edges; a step whose dependencies are all complete is
/// enqueued at once. `source` (name, uuid) is the (complete) step whose outcome planned them;
/// the edges from it are returned rather than inserted, for the caller to add after it has
/// counted down the source's existing dependents. `extra_edges` wire new steps into existing
/// convergence steps that are still pending. Returns whether any step was enqueued, and the
/// source's edges.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn create_steps(
    tx: &mut Tx,
    d: Dialect,
    now: i64,
    task_uuid: &str,
    (source, source_uuid): (&str, &str),
    planned: Vec<NewStep>,
    extra_edges: Vec<(String, String)>,
    work: &mut Work,
) -> Result<(bool, Vec<Vec<Val>>), EngineError> {
    static EXISTING: Sql =
        Sql::new("SELECT name, step_uuid, state FROM tasker_steps WHERE task_uuid = $1");
    let mut rows: HashMap<String, (String, bool)> = HashMap::new();
    for r in sqlx::query(EXISTING.for_dialect(d))
        .bind(task_uuid)
        .fetch_all(&mut **tx)
        .await?
    {
        let state: String = r.try_get("state")?;
        rows.insert(
            r.try_get("name")?,
            (
                r.try_get("step_uuid")?,
                state == StepState::Complete.as_str(),
            ),
        );
    }
    let new_uuids: HashMap<&str, String> = planned
        .iter()
        .map(|s| (s.name.as_str(), uuid::Uuid::now_v7().to_string()))
        .collect();
    let mut step_rows = Vec::with_capacity(planned.len());
    let mut edge_rows = Vec::new();
    let mut source_edges = Vec::new();
    let mut any_ready = false;
    for s in &planned {
        let step_uuid = &new_uuids[s.name.as_str()];
        let mut pending = 0;
        for dep in &s.depends_on {
            let (from, complete) = match (new_uuids.get(dep.as_str()), rows.get(dep)) {
                (Some(u), _) => (u.clone(), false),
                (None, Some((u, complete))) => (u.clone(), *complete),
                (None, None) => continue, // the planner only names steps that exist or are new
            };
            if !complete {
                pending += 1;
            }
            let edge = vec![
                Val::Text(task_uuid.to_string()),
                Val::Text(from.clone()),
                Val::Text(step_uuid.clone()),
            ];
            if from == source_uuid {
                source_edges.push(edge);
            } else {
                edge_rows.push(edge);
            }
        }
        let ready = pending == 0;
        let definition = serde_json::to_string(&s.definition)
            .map_err(|e| EngineError::InvalidArgument(format!("step '{}': {e}", s.name)))?;
        step_rows.push(vec![
            Val::Text(step_uuid.clone()),
            Val::Text(task_uuid.to_string()),
            Val::Text(s.name.clone()),
            Val::Text(s.template_step_name.clone()),
            Val::Text(s.definition.handler.callable.clone()),
            Val::Text(s.step_type.as_str().to_string()),
            Val::Text(definition),
            Val::Text(if ready { "enqueued" } else { "pending" }.to_string()),
            Val::Int(s.depends_on.len() as i64),
            Val::Int(pending),
            Val::Int(0),
            Val::Int(i64::from(s.definition.retry.max_attempts)),
            Val::OptInt(ready.then_some(now)),
            Val::Text(s.inputs.to_string()),
            Val::Int(now),
            Val::Int(now),
        ]);
        work.step(
            task_uuid,
            step_uuid,
            None,
            StepState::Pending.as_str(),
            None,
            Some(format!("created by the outcome of step '{source}'")),
        );
        if ready {
            work.step(
                task_uuid,
                step_uuid,
                Some(StepState::Pending.as_str()),
                StepState::Enqueued.as_str(),
                None,
                Some("dependencies complete".to_string()),
            );
            work.enqueued_callables
                .push(s.definition.handler.callable.clone());
            any_ready = true;
        }
    }
    insert_many(
        tx,
        d,
        "tasker_steps (step_uuid, task_uuid, name, template_step_name, handler_callable,
             step_type, definition, state, dep_total, pending_deps, attempts, max_attempts,
             ready_at, inputs, created_at, updated_at)",
        &step_rows,
    )
    .await?;

    // New branches of a convergence step that waited for the decision that created them.
    static WAIT_MORE: Sql = Sql::new(
        "UPDATE tasker_steps SET pending_deps = pending_deps + 1, dep_total = dep_total + 1,
            updated_at = $2
         WHERE step_uuid = $1 AND state = 'pending'
         RETURNING step_uuid",
    );
    for (from, to) in extra_edges {
        let (Some(from_uuid), Some((to_uuid, _))) = (new_uuids.get(from.as_str()), rows.get(&to))
        else {
            continue;
        };
        let bumped: Option<String> = sqlx::query_scalar(WAIT_MORE.for_dialect(d))
            .bind(to_uuid)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?;
        if bumped.is_some() {
            edge_rows.push(vec![
                Val::Text(task_uuid.to_string()),
                Val::Text(from_uuid.clone()),
                Val::Text(to_uuid.clone()),
            ]);
        }
    }
    insert_many(
        tx,
        d,
        "tasker_step_edges (task_uuid, from_step, to_step)",
        &edge_rows,
    )
    .await?;
    if any_ready {
        work.effect(Effect::StepsReady);
    }
    Ok((any_ready, source_edges))
}
