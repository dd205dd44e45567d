//! Walks over a template's dependency graph, shared by decision and batch planning.

use std::collections::{BTreeSet, HashSet};

use crate::template::{StepDefinition, StepType, TaskTemplate};

/// Steps reachable downstream of `decision` (through dependents), not looking past other
/// decision steps, without batch-worker templates.
pub(super) fn downstream_of(template: &TaskTemplate, decision: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut frontier = vec![decision.to_string()];
    while let Some(parent) = frontier.pop() {
        for child in template
            .steps
            .iter()
            .filter(|s| s.dependencies.contains(&parent))
        {
            if child.step_type == StepType::BatchWorker || !seen.insert(child.name.clone()) {
                continue;
            }
            if child.step_type != StepType::Decision {
                frontier.push(child.name.clone());
            }
        }
    }
    seen
}

fn depends_on_batch_worker(template: &TaskTemplate, step: &StepDefinition) -> bool {
    step.dependencies.iter().any(|d| {
        template
            .step(d)
            .is_some_and(|s| s.step_type == StepType::BatchWorker)
    })
}

/// Grow `created` (mirrored in `in_set`) to a fixpoint with the steps that can now exist:
/// with `with_convergence`, every deferred-convergence step with a dependency among the created
/// ones (except those fed by batch workers, which only batch processing creates); and every
/// other step whose dependencies all exist, at least one of them just created (a direct child of
/// a decision is left to that decision).
pub(super) fn add_downstream(
    template: &TaskTemplate,
    existing: &HashSet<String>,
    in_set: &mut HashSet<String>,
    created: &mut Vec<String>,
    with_convergence: bool,
) {
    loop {
        let mut added = false;
        for s in &template.steps {
            if in_set.contains(&s.name)
                || existing.contains(&s.name)
                || s.step_type == StepType::BatchWorker
            {
                continue;
            }
            let take = match s.step_type {
                StepType::DeferredConvergence => {
                    with_convergence
                        && !depends_on_batch_worker(template, s)
                        && s.dependencies.iter().any(|d| in_set.contains(d))
                }
                _ => {
                    !s.dependencies.is_empty()
                        && s.dependencies
                            .iter()
                            .all(|d| in_set.contains(d) || existing.contains(d))
                        && s.dependencies.iter().any(|d| in_set.contains(d))
                        && !s.dependencies.iter().any(|d| {
                            template
                                .step(d)
                                .is_some_and(|p| p.step_type == StepType::Decision)
                        })
                }
            };
            if take {
                in_set.insert(s.name.clone());
                created.push(s.name.clone());
                added = true;
            }
        }
        if !added {
            break;
        }
    }
}

/// Every step downstream of `step`, through nested decisions too.
pub(super) fn descendants(template: &TaskTemplate, step: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut frontier = vec![step.to_string()];
    while let Some(parent) = frontier.pop() {
        for child in template
            .steps
            .iter()
            .filter(|s| s.dependencies.contains(&parent))
        {
            if seen.insert(child.name.clone()) {
                frontier.push(child.name.clone());
            }
        }
    }
    seen
}
