//! Writing new step rows and dependency edges: one shape for the steps a task starts with and
//! for those an outcome creates later.

use tasker_domain::{StepDefinition, StepState, StepType};
use tasker_storage::{insert_many, AnyConnection, Dialect, Val};

use crate::events::Effect;
use crate::transitions::Work;
use crate::EngineError;

/// A step about to be inserted.
pub(crate) struct NewRow<'a> {
    pub step_uuid: &'a str,
    pub task_uuid: &'a str,
    pub name: &'a str,
    pub template_step_name: &'a str,
    pub step_type: StepType,
    pub definition: &'a StepDefinition,
    /// Dependency edges in all, and those whose source is not complete yet.
    pub dep_total: usize,
    pub pending: usize,
    /// JSON text of the step's inputs.
    pub inputs: String,
}

/// Steps and edges collected for one transaction, inserted together.
#[derive(Default)]
pub(crate) struct NewSteps {
    steps: Vec<Vec<Val>>,
    edges: Vec<Vec<Val>>,
}

impl NewSteps {
    /// Queue a step and record its creation; a step with nothing pending is enqueued at once.
    /// Returns whether it was.
    pub fn add(
        &mut self,
        r: NewRow<'_>,
        now: i64,
        created_reason: Option<String>,
        ready_reason: &str,
        work: &mut Work,
    ) -> Result<bool, EngineError> {
        let ready = r.pending == 0;
        let state = if ready {
            StepState::Enqueued
        } else {
            StepState::Pending
        };
        let definition = serde_json::to_string(r.definition)
            .map_err(|e| EngineError::InvalidArgument(format!("step '{}': {e}", r.name)))?;
        self.steps.push(vec![
            Val::Text(r.step_uuid.to_string()),
            Val::Text(r.task_uuid.to_string()),
            Val::Text(r.name.to_string()),
            Val::Text(r.template_step_name.to_string()),
            Val::Text(r.definition.handler.callable.clone()),
            Val::Text(r.step_type.as_str().to_string()),
            Val::Text(definition),
            Val::Text(state.as_str().to_string()),
            Val::Int(r.dep_total as i64),
            Val::Int(r.pending as i64),
            Val::Int(0),
            Val::Int(i64::from(r.definition.retry.max_attempts)),
            // Claimable from now by the database's clock, the one claims compare against.
            if ready { Val::DbNow } else { Val::OptInt(None) },
            Val::Text(r.inputs),
            Val::Int(now),
            Val::Int(now),
        ]);
        work.step(
            r.task_uuid,
            r.step_uuid,
            None,
            StepState::Pending.as_str(),
            None,
            created_reason,
        );
        if ready {
            work.step(
                r.task_uuid,
                r.step_uuid,
                Some(StepState::Pending.as_str()),
                StepState::Enqueued.as_str(),
                None,
                Some(ready_reason.to_string()),
            );
            work.enqueued_callables
                .push(r.definition.handler.callable.clone());
            work.effect(Effect::StepsReady);
        }
        Ok(ready)
    }

    /// Queue a dependency edge `from → to`.
    pub fn edge(&mut self, task_uuid: &str, from: &str, to: &str) {
        self.edges.push(edge_row(task_uuid, from, to));
    }

    pub async fn insert(self, conn: &mut AnyConnection, d: Dialect) -> Result<(), EngineError> {
        insert_many(
            conn,
            d,
            "tasker_steps (step_uuid, task_uuid, name, template_step_name, handler_callable,
                 step_type, definition, state, dep_total, pending_deps, attempts, max_attempts,
                 ready_at, inputs, created_at, updated_at)",
            &self.steps,
        )
        .await?;
        insert_edges(conn, d, &self.edges).await
    }
}

pub(crate) fn edge_row(task_uuid: &str, from: &str, to: &str) -> Vec<Val> {
    vec![
        Val::Text(task_uuid.to_string()),
        Val::Text(from.to_string()),
        Val::Text(to.to_string()),
    ]
}

pub(crate) async fn insert_edges(
    conn: &mut AnyConnection,
    d: Dialect,
    edges: &[Vec<Val>],
) -> Result<(), EngineError> {
    insert_many(
        conn,
        d,
        "tasker_step_edges (task_uuid, from_step, to_step)",
        edges,
    )
    .await?;
    Ok(())
}
