//! Applying decision and batch outcomes: plan (pure, in tasker-domain) against the task's
//! template and existing steps, then create the planned steps and their edges in the
//! transaction that completes the deciding step.

use std::collections::{HashMap, HashSet};

use tasker_domain::{
    convergence_edges, parse_batch_outcome, parse_decision_outcome, plan_batches,
    plan_decision_with, ExpansionLimits, NewStep, StepDefinition, StepState, StepType,
    TaskTemplate,
};
use tasker_storage::{Dialect, Row, Sql, Tx, Val};

use crate::steps::{edge_row, NewRow, NewSteps};
use crate::transitions::Work;
use crate::EngineError;

/// What is wrong with an outcome: (error type, message naming the step at fault).
pub(crate) type Rejection = (&'static str, String);

/// What an outcome creates: new steps, and edges `(new step, existing convergence step)`.
pub(crate) type Planned = (Vec<NewStep>, Vec<(String, String)>);

/// Plan what the outcome in `result` (the step's JSON text) creates. The inner `Err` is a rejected outcome (the step
/// fails permanently with it); the outer one a database error.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn plan(
    tx: &mut Tx,
    d: Dialect,
    task_uuid: &str,
    step_name: &str,
    step_type: &str,
    definition: &str,
    result: &str,
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
    let mut new_steps = NewSteps::default();
    let mut source_edges = Vec::new();
    let mut any_ready = false;
    for s in &planned {
        let step_uuid = &new_uuids[s.name.as_str()];
        let mut pending = 0;
        let mut dep_total = 0;
        for dep in &s.depends_on {
            let (from, complete) = match (new_uuids.get(dep.as_str()), rows.get(dep)) {
                (Some(u), _) => (u.as_str(), false),
                (None, Some((u, complete))) => (u.as_str(), *complete),
                (None, None) => continue, // the planner only names steps that exist or are new
            };
            dep_total += 1;
            if !complete {
                pending += 1;
            }
            if from == source_uuid {
                source_edges.push(edge_row(task_uuid, from, step_uuid));
            } else {
                new_steps.edge(task_uuid, from, step_uuid);
            }
        }
        any_ready |= new_steps.add(
            NewRow {
                step_uuid,
                task_uuid,
                name: &s.name,
                template_step_name: &s.template_step_name,
                step_type: s.step_type,
                definition: &s.definition,
                dep_total,
                pending,
                inputs: s.inputs.to_string(),
            },
            now,
            Some(format!("created by the outcome of step '{source}'")),
            "dependencies complete",
            work,
        )?;
    }
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
            new_steps.edge(task_uuid, from_uuid, to_uuid);
        }
    }
    new_steps.insert(tx, d).await?;
    Ok((any_ready, source_edges))
}
