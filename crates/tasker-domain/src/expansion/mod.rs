//! What decision and batch outcomes create (reference §4–5), as pure plans. The orchestration
//! applies a plan in the same transaction that completes the decision or batchable step.
//!
//! Outcomes arrive in the seed's wire form (`{"outcome_type": "CreateSteps", …}`) or the
//! reference's (`{"type": "create_steps", …}`). An outcome that cannot be acted on is an error
//! whose message names the step at fault; the caller fails the deciding step permanently with it
//! (the reference logs and ignores such outcomes).
//!
//! Split along its seams: `wire` reads an outcome object out of a result's JSON text, `decision`
//! and `batch` each parse their outcome and plan the steps it creates, and `graph` holds the
//! walks over a template's dependency graph that both plans use.

mod batch;
mod decision;
mod graph;
mod wire;

pub use batch::{parse_batch_outcome, plan_batches, BatchOutcome, CursorConfig};
pub use decision::{
    convergence_edges, parse_decision_outcome, plan_decision, plan_decision_with, DecisionOutcome,
};

use crate::template::{StepDefinition, StepType};

/// Limits on what one outcome may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpansionLimits {
    pub max_steps_per_decision: usize,
    pub max_batch_workers: usize,
}

impl Default for ExpansionLimits {
    fn default() -> Self {
        ExpansionLimits {
            max_steps_per_decision: 100,
            max_batch_workers: 1000,
        }
    }
}

/// A step to create, with the names (new or existing) it gets an edge from.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStep {
    pub name: String,
    pub template_step_name: String,
    pub definition: StepDefinition,
    pub step_type: StepType,
    /// JSON text of the step's inputs.
    pub inputs: String,
    pub depends_on: Vec<String>,
}

fn new_step(def: &StepDefinition, depends_on: Vec<String>) -> NewStep {
    NewStep {
        name: def.name.clone(),
        template_step_name: def.name.clone(),
        definition: def.clone(),
        step_type: def.step_type,
        inputs: "{}".to_string(),
        depends_on,
    }
}

#[cfg(test)]
mod test_support {
    use std::collections::HashSet;

    use super::NewStep;

    pub(super) fn existing(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    pub(super) fn names(plan: &[NewStep]) -> Vec<(&str, Vec<&str>)> {
        plan.iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }
}
