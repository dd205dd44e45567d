//! What decision and batch outcomes create (reference §4–5), as pure plans. The orchestration
//! applies a plan in the same transaction that completes the decision or batchable step.
//!
//! Outcomes arrive in the seed's wire form (`{"outcome_type": "CreateSteps", …}`) or the
//! reference's (`{"type": "create_steps", …}`). An outcome that cannot be acted on is an error
//! whose message names the step at fault; the caller fails the deciding step permanently with it
//! (the reference logs and ignores such outcomes).

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};

use crate::template::{StepDefinition, StepType, TaskTemplate};

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

#[derive(Debug, Clone, PartialEq)]
pub enum DecisionOutcome {
    CreateSteps(Vec<String>),
    NoBranches,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CursorConfig {
    pub batch_id: String,
    pub start_cursor: Value,
    pub end_cursor: Value,
    pub batch_size: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BatchOutcome {
    NoBatches,
    CreateBatches {
        worker_template_name: String,
        worker_count: u64,
        cursor_configs: Vec<CursorConfig>,
        total_items: u64,
    },
}

/// A step to create, with the names (new or existing) it gets an edge from.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStep {
    pub name: String,
    pub template_step_name: String,
    pub definition: StepDefinition,
    pub step_type: StepType,
    pub inputs: Value,
    pub depends_on: Vec<String>,
}

/// The tag of an outcome in either wire form: `outcome_type` (seed) or `type` (reference).
fn outcome_kind(v: &Value) -> Option<String> {
    v.get("outcome_type")
        .or_else(|| v.get("type"))
        .and_then(Value::as_str)
        .map(|s| s.to_ascii_lowercase().replace('_', ""))
}

/// The decision outcome in a decision step's result (`result.decision_point_outcome`).
pub fn parse_decision_outcome(step: &str, result: &Value) -> Result<DecisionOutcome, String> {
    let Some(v) = result.get("decision_point_outcome") else {
        return Err(format!(
            "decision step '{step}' returned no decision_point_outcome; return decisionSuccess(...) or decisionNoBranches(...)"
        ));
    };
    match outcome_kind(v).as_deref() {
        Some("createsteps") => {
            let names = v
                .get("step_names")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("decision step '{step}': decision_point_outcome.step_names must be a list of step names"))?;
            let mut out = Vec::with_capacity(names.len());
            for (i, n) in names.iter().enumerate() {
                match n.as_str() {
                    Some(s) if !s.is_empty() => out.push(s.to_string()),
                    _ => {
                        return Err(format!(
                            "decision step '{step}': decision_point_outcome.step_names[{i}] must be a non-empty string, got {n}"
                        ))
                    }
                }
            }
            if out.is_empty() {
                return Err(format!(
                    "decision step '{step}': CreateSteps needs at least one step name (use NoBranches to create none)"
                ));
            }
            Ok(DecisionOutcome::CreateSteps(out))
        }
        Some("nobranches") => Ok(DecisionOutcome::NoBranches),
        _ => Err(format!(
            "decision step '{step}': decision_point_outcome has an unknown outcome type {}; expected CreateSteps or NoBranches",
            v.get("outcome_type").or_else(|| v.get("type")).unwrap_or(&Value::Null)
        )),
    }
}

/// The batch outcome in a batchable step's result (`result.batch_processing_outcome`).
pub fn parse_batch_outcome(step: &str, result: &Value) -> Result<BatchOutcome, String> {
    let Some(v) = result.get("batch_processing_outcome") else {
        return Err(format!(
            "batchable step '{step}' returned no batch_processing_outcome; return createBatchesOutcome(...) or noBatchesOutcome(...)"
        ));
    };
    let field = |name: &str| format!("batchable step '{step}': batch_processing_outcome.{name}");
    match outcome_kind(v).as_deref() {
        Some("nobatches") => Ok(BatchOutcome::NoBatches),
        Some("createbatches") => {
            let worker_template_name = v
                .get("worker_template_name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{} must name the batch_worker step", field("worker_template_name")))?
                .to_string();
            let configs = v
                .get("cursor_configs")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{} must be a list", field("cursor_configs")))?;
            let mut cursor_configs = Vec::with_capacity(configs.len());
            for (i, c) in configs.iter().enumerate() {
                let batch_id = c
                    .get("batch_id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("{} must be a non-empty string", field(&format!("cursor_configs[{i}].batch_id"))))?;
                let batch_size = c
                    .get("batch_size")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("{} must be a whole number >= 0", field(&format!("cursor_configs[{i}].batch_size"))))?;
                for key in ["start_cursor", "end_cursor"] {
                    if c.get(key).is_none_or(Value::is_null) {
                        return Err(format!("{} is missing", field(&format!("cursor_configs[{i}].{key}"))));
                    }
                }
                cursor_configs.push(CursorConfig {
                    batch_id: batch_id.to_string(),
                    start_cursor: c["start_cursor"].clone(),
                    end_cursor: c["end_cursor"].clone(),
                    batch_size,
                });
            }
            let worker_count = v
                .get("worker_count")
                .and_then(Value::as_u64)
                .unwrap_or(cursor_configs.len() as u64);
            let total_items = v.get("total_items").and_then(Value::as_u64).unwrap_or(0);
            Ok(BatchOutcome::CreateBatches {
                worker_template_name,
                worker_count,
                cursor_configs,
                total_items,
            })
        }
        _ => Err(format!(
            "batchable step '{step}': batch_processing_outcome has an unknown outcome type {}; expected CreateBatches or NoBatches",
            v.get("outcome_type").or_else(|| v.get("type")).unwrap_or(&Value::Null)
        )),
    }
}

/// Steps reachable downstream of `decision` (through dependents), not looking past other
/// decision steps, without batch-worker templates.
fn downstream_of(template: &TaskTemplate, decision: &str) -> BTreeSet<String> {
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
fn add_downstream(
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

fn new_step(def: &StepDefinition, depends_on: Vec<String>) -> NewStep {
    NewStep {
        name: def.name.clone(),
        template_step_name: def.name.clone(),
        definition: def.clone(),
        step_type: def.step_type,
        inputs: json!({}),
        depends_on,
    }
}

/// The steps a decision outcome creates:
/// - the chosen steps, which must be downstream of the decision;
/// - every non-deferred step downstream of a chosen one (not past a nested decision, which
///   decides for itself when it runs); a dependency that is not created is satisfied by the
///   decision step instead;
/// - each deferred-convergence step with at least one dependency among them, waiting only for
///   the dependencies that exist (the branches actually taken);
/// - then, downstream of those, every step all of whose dependencies exist.
pub fn plan_decision(
    template: &TaskTemplate,
    decision: &str,
    existing: &HashSet<String>,
    outcome: &DecisionOutcome,
    limits: &ExpansionLimits,
) -> Result<Vec<NewStep>, String> {
    plan_decision_with(
        template,
        decision,
        existing,
        &HashSet::new(),
        outcome,
        limits,
    )
}

/// `plan_decision`, knowing which existing decision steps have not decided yet (`undecided`,
/// without `decision` itself). A deferred-convergence step also waits for every undecided
/// decision — existing, or created by this outcome — that could still create one of its
/// declared dependencies; when that decision decides, `convergence_edges` wires the new
/// branches to it.
pub fn plan_decision_with(
    template: &TaskTemplate,
    decision: &str,
    existing: &HashSet<String>,
    undecided: &HashSet<String>,
    outcome: &DecisionOutcome,
    limits: &ExpansionLimits,
) -> Result<Vec<NewStep>, String> {
    let chosen = match outcome {
        DecisionOutcome::NoBranches => return Ok(Vec::new()),
        DecisionOutcome::CreateSteps(names) => names,
    };
    if chosen.len() > limits.max_steps_per_decision {
        return Err(format!(
            "decision step '{decision}' chose {} steps; the limit is {} (maxStepsPerDecision)",
            chosen.len(),
            limits.max_steps_per_decision
        ));
    }
    let graph = downstream_of(template, decision);
    let mut seen = HashSet::new();
    for name in chosen {
        if !seen.insert(name.as_str()) {
            return Err(format!(
                "decision step '{decision}' chose step '{name}' more than once"
            ));
        }
        if template.step(name).is_none() {
            return Err(format!(
                "decision step '{decision}' chose step '{name}', which is not a step of template {}",
                template.key()
            ));
        }
        if !graph.contains(name) {
            return Err(format!(
                "decision step '{decision}' chose step '{name}', which is not downstream of the decision"
            ));
        }
    }

    // The chosen steps and their non-deferred descendants within the decision's graph.
    let mut created: Vec<String> = Vec::new();
    let mut in_set: HashSet<String> = HashSet::new();
    let mut frontier: Vec<String> = chosen
        .iter()
        .filter(|n| !existing.contains(*n))
        .cloned()
        .collect();
    while let Some(name) = frontier.pop() {
        if existing.contains(&name) || !in_set.insert(name.clone()) {
            continue;
        }
        created.push(name.clone());
        let is_decision = template
            .step(&name)
            .is_some_and(|s| s.step_type == StepType::Decision);
        if is_decision {
            continue; // a nested decision creates its own branches
        }
        for child in &template.steps {
            if child.dependencies.contains(&name)
                && graph.contains(&child.name)
                && !matches!(
                    child.step_type,
                    StepType::DeferredConvergence | StepType::BatchWorker
                )
            {
                frontier.push(child.name.clone());
            }
        }
    }

    // Deferred convergence, then whatever becomes complete downstream of it.
    add_downstream(template, existing, &mut in_set, &mut created, true);
    if created.len() > limits.max_steps_per_decision {
        return Err(format!(
            "decision step '{decision}' would create {} steps; the limit is {} (maxStepsPerDecision)",
            created.len(),
            limits.max_steps_per_decision
        ));
    }

    let mut plan = Vec::with_capacity(created.len());
    for name in &created {
        let Some(def) = template.step(name) else {
            continue;
        };
        let mut deps: Vec<String> = Vec::new();
        for d in &def.dependencies {
            let from: Vec<String> = if in_set.contains(d) || existing.contains(d) {
                vec![d.clone()]
            } else if def.step_type == StepType::DeferredConvergence {
                // Not created (yet): wait for any undecided decision that could still create it.
                template
                    .steps
                    .iter()
                    .filter(|n| {
                        n.step_type == StepType::Decision
                            && n.name != decision
                            && (in_set.contains(&n.name) || undecided.contains(&n.name))
                            && descendants(template, &n.name).contains(d)
                    })
                    .map(|n| n.name.clone())
                    .collect()
            } else {
                vec![decision.to_string()]
            };
            for f in from {
                if !deps.contains(&f) {
                    deps.push(f);
                }
            }
        }
        plan.push(new_step(def, deps));
    }
    Ok(plan)
}

/// Every step downstream of `step`, through nested decisions too.
fn descendants(template: &TaskTemplate, step: &str) -> BTreeSet<String> {
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

/// Edges `(new step, existing convergence step)` for deferred-convergence steps that already
/// exist and declare a dependency on a step this outcome creates (they were created earlier,
/// waiting for the decision that has now decided).
pub fn convergence_edges(
    template: &TaskTemplate,
    waiting_convergence: &HashSet<String>,
    created: &[NewStep],
) -> Vec<(String, String)> {
    let mut edges = Vec::new();
    for conv in template.steps.iter().filter(|s| {
        s.step_type == StepType::DeferredConvergence && waiting_convergence.contains(&s.name)
    }) {
        for new in created {
            if conv.dependencies.contains(&new.name) {
                edges.push((new.name.clone(), conv.name.clone()));
            }
        }
    }
    edges
}

/// The steps a batch outcome creates: one worker per cursor config named
/// `{worker_template}_{batch_id}` (or the single no-op placeholder `{worker_template}_000` for
/// NoBatches), each depending on the batchable step with its cursor in its inputs, and every
/// deferred-convergence step that depends on the worker template, depending on every worker.
pub fn plan_batches(
    template: &TaskTemplate,
    batchable: &StepDefinition,
    existing: &HashSet<String>,
    outcome: &BatchOutcome,
    limits: &ExpansionLimits,
) -> Result<Vec<NewStep>, String> {
    let step = &batchable.name;
    let (worker_template, configs, no_op) = match outcome {
        BatchOutcome::CreateBatches {
            worker_template_name,
            worker_count,
            cursor_configs,
            ..
        } => {
            if cursor_configs.is_empty() {
                return Err(format!(
                    "batchable step '{step}': CreateBatches has no cursor_configs (return NoBatches when there is nothing to process)"
                ));
            }
            if *worker_count != cursor_configs.len() as u64 {
                return Err(format!(
                    "batchable step '{step}': worker_count is {worker_count} but there are {} cursor_configs",
                    cursor_configs.len()
                ));
            }
            if cursor_configs.len() > limits.max_batch_workers {
                return Err(format!(
                    "batchable step '{step}' asked for {} batch workers; the limit is {} (maxBatchWorkers)",
                    cursor_configs.len(),
                    limits.max_batch_workers
                ));
            }
            (worker_template_name.clone(), cursor_configs.clone(), false)
        }
        BatchOutcome::NoBatches => {
            let name = match batchable
                .handler
                .initialization
                .get("worker_template_name")
                .and_then(Value::as_str)
            {
                Some(n) => n.to_string(),
                None => {
                    let candidates: Vec<&StepDefinition> = template
                        .steps
                        .iter()
                        .filter(|s| {
                            s.step_type == StepType::BatchWorker && s.dependencies.contains(step)
                        })
                        .collect();
                    match candidates.as_slice() {
                        [one] => one.name.clone(),
                        _ => {
                            return Err(format!(
                                "batchable step '{step}' returned NoBatches but its batch_worker step is ambiguous; set handler.initialization.worker_template_name"
                            ))
                        }
                    }
                }
            };
            let placeholder = CursorConfig {
                batch_id: "000".to_string(),
                start_cursor: json!(0),
                end_cursor: json!(0),
                batch_size: 0,
            };
            (name, vec![placeholder], true)
        }
    };
    let Some(worker_def) = template.step(&worker_template) else {
        return Err(format!(
            "batchable step '{step}': worker template '{worker_template}' is not a step of template {}",
            template.key()
        ));
    };
    if worker_def.step_type != StepType::BatchWorker {
        return Err(format!(
            "batchable step '{step}': worker template '{worker_template}' has type {}, expected batch_worker",
            worker_def.step_type.as_str()
        ));
    }
    let batch_config = worker_def.batch_config.clone().unwrap_or(Value::Null);
    let batch_metadata = json!({
        "cursor_field": batch_config.get("cursor_field").cloned().unwrap_or(json!("id")),
        "failure_strategy": batch_config.get("failure_strategy").cloned().unwrap_or(json!("continue_on_failure")),
    });
    let mut plan = Vec::with_capacity(configs.len() + 1);
    let mut ids = HashSet::new();
    let mut worker_names = Vec::with_capacity(configs.len());
    for c in &configs {
        if !ids.insert(c.batch_id.as_str()) {
            return Err(format!(
                "batchable step '{step}': batch_id '{}' appears more than once in cursor_configs",
                c.batch_id
            ));
        }
        let name = format!("{worker_template}_{}", c.batch_id);
        if existing.contains(&name) {
            continue; // already created: nothing is created twice
        }
        worker_names.push(name.clone());
        plan.push(NewStep {
            name,
            template_step_name: worker_template.clone(),
            definition: worker_def.clone(),
            step_type: StepType::BatchWorker,
            inputs: json!({
                "cursor": {
                    "batch_id": c.batch_id,
                    "start_cursor": c.start_cursor,
                    "end_cursor": c.end_cursor,
                    "batch_size": c.batch_size,
                },
                "batch_metadata": batch_metadata,
                "is_no_op": no_op,
                "__template_step_name": worker_template,
            }),
            depends_on: vec![step.clone()],
        });
    }
    if worker_names.is_empty() {
        return Ok(plan);
    }
    // Convergence: waits for every worker, and for its other declared dependencies that exist.
    let mut in_set: HashSet<String> = worker_names.iter().cloned().collect();
    let mut created: Vec<String> = Vec::new();
    for conv in template.steps.iter().filter(|s| {
        s.step_type == StepType::DeferredConvergence && s.dependencies.contains(&worker_template)
    }) {
        if existing.contains(&conv.name) {
            continue;
        }
        let mut deps = worker_names.clone();
        deps.extend(
            conv.dependencies
                .iter()
                .filter(|d| **d != worker_template && existing.contains(*d))
                .cloned(),
        );
        in_set.insert(conv.name.clone());
        created.push(conv.name.clone());
        plan.push(new_step(conv, deps));
    }
    // Then the steps downstream of the convergence whose dependencies now all exist.
    let converged = created.len();
    add_downstream(template, existing, &mut in_set, &mut created, false);
    for name in &created[converged..] {
        if let Some(def) = template.step(name) {
            plan.push(new_step(def, def.dependencies.clone()));
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_template;

    const APPROVAL: &str = r#"
name: approval_routing
namespace_name: approvals
version: 1.0.0
steps:
  - name: validate
    handler: { callable: V }
  - name: route
    type: decision
    dependencies: [validate]
    handler: { callable: R }
  - name: auto_approve
    dependencies: [route]
    handler: { callable: A }
  - name: manager_approval
    dependencies: [route]
    handler: { callable: M }
  - name: finance_review
    dependencies: [route]
    handler: { callable: F }
  - name: notify_finance
    dependencies: [finance_review]
    handler: { callable: N }
  - name: finalize
    type: deferred_convergence
    dependencies: [auto_approve, manager_approval, finance_review]
    handler: { callable: Z }
  - name: archive
    dependencies: [finalize]
    handler: { callable: X }
"#;

    const BATCH: &str = r#"
name: csv
namespace_name: csv
version: 1.0.0
steps:
  - name: analyze
    type: batchable
    handler: { callable: A }
  - name: process
    type: batch_worker
    dependencies: [analyze]
    handler: { callable: P }
    batch_config: { batch_size: 10, cursor_field: row, failure_strategy: fail_fast, worker_template: process }
  - name: aggregate
    type: deferred_convergence
    dependencies: [process]
    handler: { callable: G }
"#;

    fn existing(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn names(plan: &[NewStep]) -> Vec<(&str, Vec<&str>)> {
        plan.iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn parses_both_wire_forms() {
        for v in [
            json!({"decision_point_outcome": {"outcome_type": "CreateSteps", "step_names": ["a", "b"]}}),
            json!({"decision_point_outcome": {"type": "create_steps", "step_names": ["a", "b"]}}),
        ] {
            assert_eq!(
                parse_decision_outcome("d", &v),
                Ok(DecisionOutcome::CreateSteps(vec!["a".into(), "b".into()]))
            );
        }
        for v in [
            json!({"decision_point_outcome": {"outcome_type": "NoBranches", "step_names": []}}),
            json!({"decision_point_outcome": {"type": "no_branches"}}),
        ] {
            assert_eq!(
                parse_decision_outcome("d", &v),
                Ok(DecisionOutcome::NoBranches)
            );
        }
        for v in [
            json!({"batch_processing_outcome": {"outcome_type": "NoBatches"}}),
            json!({"batch_processing_outcome": {"type": "no_batches"}}),
        ] {
            assert_eq!(parse_batch_outcome("b", &v), Ok(BatchOutcome::NoBatches));
        }
        let v = json!({"batch_processing_outcome": {"type": "create_batches", "worker_template_name": "w", "worker_count": 1,
            "cursor_configs": [{"batch_id": "001", "start_cursor": 1, "end_cursor": 5, "batch_size": 4}], "total_items": 4}});
        assert!(matches!(
            parse_batch_outcome("b", &v),
            Ok(BatchOutcome::CreateBatches {
                worker_count: 1,
                total_items: 4,
                ..
            })
        ));
    }

    #[test]
    fn rejects_malformed_outcomes_with_the_field() {
        let cases = [
            (
                json!({}),
                "decision step 'd' returned no decision_point_outcome",
            ),
            (
                json!({"decision_point_outcome": {"type": "pick"}}),
                "unknown outcome type \"pick\"",
            ),
            (
                json!({"decision_point_outcome": {"type": "create_steps", "step_names": []}}),
                "CreateSteps needs at least one step name",
            ),
            (
                json!({"decision_point_outcome": {"type": "create_steps", "step_names": ["a", ""]}}),
                "step_names[1] must be a non-empty string",
            ),
            (
                json!({"decision_point_outcome": {"type": "create_steps"}}),
                "step_names must be a list",
            ),
        ];
        for (v, msg) in cases {
            let err = parse_decision_outcome("d", &v).unwrap_err();
            assert!(err.contains(msg), "{err}");
        }
        let err = parse_batch_outcome("b", &json!({"batch_processing_outcome": {"type": "create_batches", "worker_template_name": "w",
            "cursor_configs": [{"batch_id": "001", "start_cursor": 1, "batch_size": 4}]}})).unwrap_err();
        assert!(
            err.contains("cursor_configs[0].end_cursor is missing"),
            "{err}"
        );
    }

    #[test]
    fn decision_creates_chosen_branches_and_convergence() {
        let t = parse_template(APPROVAL, "approval.yaml").unwrap();
        let limits = ExpansionLimits::default();
        let ex = existing(&["validate", "route"]);
        let plan = plan_decision(
            &t,
            "route",
            &ex,
            &DecisionOutcome::CreateSteps(vec!["auto_approve".into()]),
            &limits,
        )
        .unwrap();
        assert_eq!(
            names(&plan),
            vec![
                ("auto_approve", vec!["route"]),
                ("finalize", vec!["auto_approve"]),
                ("archive", vec!["finalize"])
            ]
        );
        let plan = plan_decision(
            &t,
            "route",
            &ex,
            &DecisionOutcome::CreateSteps(vec!["manager_approval".into(), "finance_review".into()]),
            &limits,
        )
        .unwrap();
        let mut got = names(&plan);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("archive", vec!["finalize"]),
                ("finalize", vec!["manager_approval", "finance_review"]),
                ("finance_review", vec!["route"]),
                ("manager_approval", vec!["route"]),
                ("notify_finance", vec!["finance_review"]),
            ]
        );
        assert!(
            plan_decision(&t, "route", &ex, &DecisionOutcome::NoBranches, &limits)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn decision_rejects_bad_choices_naming_the_step() {
        let t = parse_template(APPROVAL, "approval.yaml").unwrap();
        let ex = existing(&["validate", "route"]);
        let limits = ExpansionLimits {
            max_steps_per_decision: 2,
            ..Default::default()
        };
        let cases = [
            (vec!["validate"], "chose step 'validate', which is not downstream of the decision"),
            (vec!["nope"], "chose step 'nope', which is not a step of template approvals/approval_routing@1.0.0"),
            (vec!["auto_approve", "auto_approve"], "chose step 'auto_approve' more than once"),
            (vec!["auto_approve", "manager_approval", "finance_review"], "chose 3 steps; the limit is 2"),
            (vec!["manager_approval", "finance_review"], "would create 5 steps; the limit is 2"),
        ];
        for (chosen, msg) in cases {
            let outcome =
                DecisionOutcome::CreateSteps(chosen.iter().map(|s| s.to_string()).collect());
            let err = plan_decision(&t, "route", &ex, &outcome, &limits).unwrap_err();
            assert!(err.contains(msg), "{err}");
        }
    }

    #[test]
    fn nested_decisions_create_only_themselves() {
        let yaml = r#"
name: nested
namespace_name: n
version: 1.0.0
steps:
  - name: start
    handler: { callable: S }
  - name: outer
    type: decision
    dependencies: [start]
    handler: { callable: O }
  - name: inner
    type: decision
    dependencies: [outer]
    handler: { callable: I }
  - name: leaf_a
    dependencies: [inner]
    handler: { callable: A }
  - name: leaf_b
    dependencies: [inner]
    handler: { callable: B }
"#;
        let t = parse_template(yaml, "nested.yaml").unwrap();
        let limits = ExpansionLimits::default();
        let plan = plan_decision(
            &t,
            "outer",
            &existing(&["start", "outer"]),
            &DecisionOutcome::CreateSteps(vec!["inner".into()]),
            &limits,
        )
        .unwrap();
        assert_eq!(names(&plan), vec![("inner", vec!["outer"])]);
        let err = plan_decision(
            &t,
            "outer",
            &existing(&["start", "outer"]),
            &DecisionOutcome::CreateSteps(vec!["leaf_a".into()]),
            &limits,
        )
        .unwrap_err();
        assert!(err.contains("not downstream of the decision"), "{err}");
        let plan = plan_decision(
            &t,
            "inner",
            &existing(&["start", "outer", "inner"]),
            &DecisionOutcome::CreateSteps(vec!["leaf_b".into()]),
            &limits,
        )
        .unwrap();
        assert_eq!(names(&plan), vec![("leaf_b", vec!["inner"])]);
    }

    #[test]
    fn convergence_waits_for_nested_decisions_that_may_feed_it() {
        let yaml = r#"
name: ship
namespace_name: n
version: 1.0.0
steps:
  - name: start
    handler: { callable: S }
  - name: choose_region
    type: decision
    dependencies: [start]
    handler: { callable: C }
  - name: domestic
    type: decision
    dependencies: [choose_region]
    handler: { callable: D }
  - name: international
    dependencies: [choose_region]
    handler: { callable: I }
  - name: ground
    dependencies: [domestic]
    handler: { callable: G }
  - name: express
    dependencies: [domestic]
    handler: { callable: E }
  - name: express_label
    dependencies: [express]
    handler: { callable: L }
  - name: ship
    type: deferred_convergence
    dependencies: [ground, express_label, international]
    handler: { callable: Z }
"#;
        let t = parse_template(yaml, "ship.yaml").unwrap();
        let limits = ExpansionLimits::default();
        let plan = plan_decision(
            &t,
            "choose_region",
            &existing(&["start", "choose_region"]),
            &DecisionOutcome::CreateSteps(vec!["domestic".into(), "international".into()]),
            &limits,
        )
        .unwrap();
        let mut got = names(&plan);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("domestic", vec!["choose_region"]),
                ("international", vec!["choose_region"]),
                ("ship", vec!["domestic", "international"])
            ]
        );
        // `domestic` decides later: its branch is wired into the waiting convergence step.
        let ex = existing(&[
            "start",
            "choose_region",
            "domestic",
            "international",
            "ship",
        ]);
        let later = plan_decision(
            &t,
            "domestic",
            &ex,
            &DecisionOutcome::CreateSteps(vec!["express".into()]),
            &limits,
        )
        .unwrap();
        assert_eq!(
            names(&later),
            vec![
                ("express", vec!["domestic"]),
                ("express_label", vec!["express"])
            ]
        );
        let edges = convergence_edges(&t, &existing(&["ship"]), &later);
        assert_eq!(
            edges,
            vec![("express_label".to_string(), "ship".to_string())]
        );
        // Only international chosen: ship does not wait for anything else.
        let plan = plan_decision(
            &t,
            "choose_region",
            &existing(&["start", "choose_region"]),
            &DecisionOutcome::CreateSteps(vec!["international".into()]),
            &limits,
        )
        .unwrap();
        assert_eq!(
            names(&plan),
            vec![
                ("international", vec!["choose_region"]),
                ("ship", vec!["international"])
            ]
        );
    }

    #[test]
    fn batches_create_workers_and_convergence() {
        let t = parse_template(BATCH, "csv.yaml").unwrap();
        let analyze = t.step("analyze").unwrap();
        let limits = ExpansionLimits::default();
        let cfg = |id: &str, s: u64, e: u64| CursorConfig {
            batch_id: id.into(),
            start_cursor: json!(s),
            end_cursor: json!(e),
            batch_size: e - s,
        };
        let outcome = BatchOutcome::CreateBatches {
            worker_template_name: "process".into(),
            worker_count: 2,
            cursor_configs: vec![cfg("001", 1, 6), cfg("002", 6, 11)],
            total_items: 10,
        };
        let plan = plan_batches(&t, analyze, &existing(&["analyze"]), &outcome, &limits).unwrap();
        assert_eq!(
            names(&plan),
            vec![
                ("process_001", vec!["analyze"]),
                ("process_002", vec!["analyze"]),
                ("aggregate", vec!["process_001", "process_002"])
            ]
        );
        assert_eq!(
            plan[1].inputs["cursor"],
            json!({"batch_id": "002", "start_cursor": 6, "end_cursor": 11, "batch_size": 5})
        );
        assert_eq!(
            plan[1].inputs["batch_metadata"],
            json!({"cursor_field": "row", "failure_strategy": "fail_fast"})
        );
        assert_eq!(plan[1].inputs["is_no_op"], json!(false));
        assert_eq!(plan[1].template_step_name, "process");
        // Processing it again creates nothing twice.
        let again = plan_batches(
            &t,
            analyze,
            &existing(&["analyze", "process_001", "process_002", "aggregate"]),
            &outcome,
            &limits,
        )
        .unwrap();
        assert!(again.is_empty());

        let plan = plan_batches(
            &t,
            analyze,
            &existing(&["analyze"]),
            &BatchOutcome::NoBatches,
            &limits,
        )
        .unwrap();
        assert_eq!(
            names(&plan),
            vec![
                ("process_000", vec!["analyze"]),
                ("aggregate", vec!["process_000"])
            ]
        );
        assert_eq!(plan[0].inputs["is_no_op"], json!(true));
    }

    #[test]
    fn batches_reject_bad_outcomes() {
        let t = parse_template(BATCH, "csv.yaml").unwrap();
        let analyze = t.step("analyze").unwrap();
        let cfg = |id: &str| CursorConfig {
            batch_id: id.into(),
            start_cursor: json!(1),
            end_cursor: json!(2),
            batch_size: 1,
        };
        let mk = |w: &str, n: u64, c: Vec<CursorConfig>| BatchOutcome::CreateBatches {
            worker_template_name: w.into(),
            worker_count: n,
            cursor_configs: c,
            total_items: 1,
        };
        let limits = ExpansionLimits {
            max_batch_workers: 2,
            ..Default::default()
        };
        let cases = [
            (mk("process", 0, vec![]), "has no cursor_configs"),
            (
                mk("process", 3, vec![cfg("001")]),
                "worker_count is 3 but there are 1 cursor_configs",
            ),
            (
                mk("process", 3, vec![cfg("001"), cfg("002"), cfg("003")]),
                "asked for 3 batch workers; the limit is 2",
            ),
            (
                mk("aggregate", 1, vec![cfg("001")]),
                "worker template 'aggregate' has type deferred_convergence, expected batch_worker",
            ),
            (
                mk("nope", 1, vec![cfg("001")]),
                "worker template 'nope' is not a step of template",
            ),
            (
                mk("process", 2, vec![cfg("001"), cfg("001")]),
                "batch_id '001' appears more than once",
            ),
        ];
        for (outcome, msg) in cases {
            let err =
                plan_batches(&t, analyze, &existing(&["analyze"]), &outcome, &limits).unwrap_err();
            assert!(err.contains(msg), "{err}");
        }
    }
}
