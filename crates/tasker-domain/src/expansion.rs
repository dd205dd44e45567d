//! What decision and batch outcomes create (reference §4–5), as pure plans. The orchestration
//! applies a plan in the same transaction that completes the decision or batchable step.
//!
//! Outcomes arrive in the seed's wire form (`{"outcome_type": "CreateSteps", …}`) or the
//! reference's (`{"type": "create_steps", …}`). An outcome that cannot be acted on is an error
//! whose message names the step at fault; the caller fails the deciding step permanently with it
//! (the reference logs and ignores such outcomes).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::template::{StepDefinition, StepType, TaskTemplate};
use crate::text::echo;

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

/// One batch worker's slice. The cursors stay the JSON text the handler wrote (any JSON but
/// `null`), so they reach the worker unchanged.
#[derive(Debug, Clone)]
pub struct CursorConfig {
    pub batch_id: String,
    pub start_cursor: Box<RawValue>,
    pub end_cursor: Box<RawValue>,
    pub batch_size: u64,
}

impl PartialEq for CursorConfig {
    fn eq(&self, other: &Self) -> bool {
        self.batch_id == other.batch_id
            && self.start_cursor.get() == other.start_cursor.get()
            && self.end_cursor.get() == other.end_cursor.get()
            && self.batch_size == other.batch_size
    }
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
    /// JSON text of the step's inputs.
    pub inputs: String,
    pub depends_on: Vec<String>,
}

// ------------------------------------------------------------------------------------------
// Reading outcomes. Results are read as JSON text with serde_json's `RawValue`: only the
// outcome's own fields are decoded, so the rest of the result (at any depth, with any string)
// is never built. Every field of both shapes is checked for type and range here, at the step
// that returned it; a message names the step, the field and the bad value.

/// The fields of a JSON object, their values still as JSON text.
type Fields<'a> = BTreeMap<String, &'a RawValue>;

fn fields(text: &str) -> Option<Fields<'_>> {
    serde_json::from_str(text).ok()
}

fn is_null(v: &RawValue) -> bool {
    v.get() == "null"
}

/// A JSON value as messages show it (its text, cut short when long).
fn shown(v: &RawValue) -> String {
    echo(v.get()).into_owned()
}

/// A non-empty string (not only spaces).
fn non_empty_string(v: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(v.get())
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A whole number, at least `min`.
fn whole_number(v: &RawValue, min: u64) -> Option<u64> {
    serde_json::from_str::<u64>(v.get())
        .ok()
        .filter(|n| *n >= min)
}

/// An outcome object being read: where it is (`decision step 'route':
/// decision_point_outcome`) and its fields.
struct Outcome<'a> {
    at: String,
    fields: Fields<'a>,
}

impl<'a> Outcome<'a> {
    fn new(at: String, raw: &'a RawValue) -> Result<Outcome<'a>, String> {
        match fields(raw.get()) {
            Some(fields) => Ok(Outcome { at, fields }),
            None => Err(format!("{at} must be an object, got {}", shown(raw))),
        }
    }

    /// `{at}.{field} {problem}`.
    fn err(&self, field: &str, problem: impl std::fmt::Display) -> String {
        format!("{}.{field} {problem}", self.at)
    }

    /// A field that is present and not `null`.
    fn get(&self, field: &str) -> Option<&'a RawValue> {
        self.fields.get(field).copied().filter(|v| !is_null(v))
    }

    fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.fields.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!(
                "{} has an unknown field '{}'; its fields are {}",
                self.at,
                echo(k),
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// The outcome's tag, from `outcome_type` (seed form, `CreateSteps`) or `type` (reference
    /// form, `create_steps`), compared without case and underscores; when both are given they
    /// must agree. Returns the normalised tag, or an error naming `expected`.
    fn kind(&self, expected: &str, known: &[&'static str]) -> Result<&'static str, String> {
        let tag = |field: &str| -> Result<Option<(&'static str, &'a RawValue)>, String> {
            let Some(raw) = self.get(field) else {
                return Ok(None);
            };
            let normalised = serde_json::from_str::<String>(raw.get())
                .map(|s| s.to_ascii_lowercase().replace('_', ""))
                .ok();
            match known.iter().find(|k| Some(**k) == normalised.as_deref()) {
                Some(k) => Ok(Some((*k, raw))),
                None => Err(self.err(
                    field,
                    format!(
                        "is {}, an unknown outcome type; expected {expected}",
                        shown(raw)
                    ),
                )),
            }
        };
        match (tag("outcome_type")?, tag("type")?) {
            (None, None) => Err(format!(
                "{} has no outcome type; set outcome_type to {expected}",
                self.at
            )),
            (Some((a, a_raw)), Some((b, b_raw))) if a != b => Err(format!(
                "{}.type is {} but its outcome_type is {}; they must agree (set only one of them)",
                self.at,
                shown(b_raw),
                shown(a_raw),
            )),
            (Some((k, _)), _) | (None, Some((k, _))) => Ok(k),
        }
    }

    /// A field that must be a whole number of at least `min`.
    fn whole_number(&self, field: &str, min: u64) -> Result<u64, String> {
        let raw = self.fields.get(field).copied();
        match raw {
            None => Err(self.err(
                field,
                format!("is missing; it must be a whole number >= {min}"),
            )),
            Some(raw) => whole_number(raw, min).ok_or_else(|| {
                self.err(
                    field,
                    format!("must be a whole number >= {min}, got {}", shown(raw)),
                )
            }),
        }
    }

    /// A field that must be absent, `null`, or the given empty value (`0`, `[]`).
    fn empty(&self, field: &str, empty: &str, kind: &str) -> Result<(), String> {
        match self.get(field) {
            Some(raw) if raw.get().split_whitespace().collect::<String>() != empty => Err(self
                .err(
                    field,
                    format!("must be {empty} for {kind}, got {}", shown(raw)),
                )),
            _ => Ok(()),
        }
    }
}

/// The named outcome object of a result, or an error saying what to return instead.
fn outcome_of<'a>(
    result: &'a str,
    step: &str,
    key: &str,
    returns: &str,
) -> Result<Outcome<'a>, String> {
    let Some(result) = fields(result) else {
        return Err(format!(
            "{step} returned a result that is not an object (no {key}); return {returns}"
        ));
    };
    let Some(raw) = result.get(key).copied().filter(|v| !is_null(v)) else {
        return Err(format!("{step} returned no {key}; return {returns}"));
    };
    Outcome::new(format!("{step}: {key}"), raw)
}

/// The decision outcome in a decision step's result (JSON text with
/// `decision_point_outcome`): `{"outcome_type": "CreateSteps" | "NoBranches", "step_names":
/// [...]}`, or `type` (`create_steps`, `no_branches`) for `outcome_type`.
pub fn parse_decision_outcome(step: &str, result: &str) -> Result<DecisionOutcome, String> {
    let step = format!("decision step '{}'", echo(step));
    let o = outcome_of(
        result,
        &step,
        "decision_point_outcome",
        "decisionSuccess(...) or decisionNoBranches(...)",
    )?;
    o.only(&["outcome_type", "type", "step_names"])?;
    let kind = o.kind("CreateSteps or NoBranches", &["createsteps", "nobranches"])?;
    if kind == "nobranches" {
        o.empty("step_names", "[]", "NoBranches")?;
        return Ok(DecisionOutcome::NoBranches);
    }
    let Some(raw) = o.get("step_names") else {
        return Err(o.err("step_names", "is missing; it must be a list of step names"));
    };
    let Ok(names) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        return Err(o.err(
            "step_names",
            format!("must be a list of step names, got {}", shown(raw)),
        ));
    };
    if names.is_empty() {
        return Err(format!(
            "{step}: CreateSteps needs at least one step name (use NoBranches to create none)"
        ));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        match non_empty_string(n) {
            Some(s) => out.push(s),
            None => {
                return Err(o.err(
                    &format!("step_names[{i}]"),
                    format!("must be a non-empty string, got {}", shown(n)),
                ))
            }
        }
    }
    Ok(DecisionOutcome::CreateSteps(out))
}

const BATCH_FIELDS: &[&str] = &[
    "outcome_type",
    "type",
    "worker_template_name",
    "worker_count",
    "cursor_configs",
    "total_items",
];
const CURSOR_FIELDS: &[&str] = &["batch_id", "start_cursor", "end_cursor", "batch_size"];

/// The batch outcome in a batchable step's result (JSON text with `batch_processing_outcome`):
/// `{"outcome_type": "NoBatches"}`, or `{"outcome_type": "CreateBatches", "worker_template_name",
/// "worker_count", "cursor_configs": [{"batch_id", "start_cursor", "end_cursor", "batch_size"}],
/// "total_items"}` (or `type`: `no_batches`, `create_batches`).
pub fn parse_batch_outcome(step: &str, result: &str) -> Result<BatchOutcome, String> {
    let step = format!("batchable step '{}'", echo(step));
    let o = outcome_of(
        result,
        &step,
        "batch_processing_outcome",
        "createBatchesOutcome(...) or noBatchesOutcome(...)",
    )?;
    o.only(BATCH_FIELDS)?;
    let kind = o.kind(
        "CreateBatches or NoBatches",
        &["createbatches", "nobatches"],
    )?;
    if kind == "nobatches" {
        if let Some(raw) = o.get("worker_template_name") {
            return Err(o.err(
                "worker_template_name",
                format!(
                    "must not be set for NoBatches (the placeholder worker is \
                     handler.initialization.worker_template_name), got {}",
                    shown(raw)
                ),
            ));
        }
        o.empty("worker_count", "0", "NoBatches")?;
        o.empty("cursor_configs", "[]", "NoBatches")?;
        o.empty("total_items", "0", "NoBatches")?;
        return Ok(BatchOutcome::NoBatches);
    }
    let worker_template_name = match o.fields.get("worker_template_name") {
        None => {
            return Err(o.err(
                "worker_template_name",
                "is missing; it must name the batch_worker step",
            ))
        }
        Some(raw) => non_empty_string(raw).ok_or_else(|| {
            o.err(
                "worker_template_name",
                format!(
                    "must be a non-empty string naming the batch_worker step, got {}",
                    shown(raw)
                ),
            )
        })?,
    };
    let Some(configs) = o.fields.get("cursor_configs") else {
        return Err(o.err(
            "cursor_configs",
            "is missing; it must be a list of cursor configs",
        ));
    };
    let Ok(configs) = serde_json::from_str::<Vec<&RawValue>>(configs.get()) else {
        return Err(o.err(
            "cursor_configs",
            format!("must be a list of cursor configs, got {}", shown(configs)),
        ));
    };
    if configs.is_empty() {
        return Err(format!(
            "{step}: CreateBatches has no cursor_configs (return NoBatches when there is nothing to process)"
        ));
    }
    let mut cursor_configs = Vec::with_capacity(configs.len());
    for (i, raw) in configs.iter().enumerate() {
        let c = Outcome::new(format!("{}.cursor_configs[{i}]", o.at), raw)?;
        c.only(CURSOR_FIELDS)?;
        let batch_id = match c.fields.get("batch_id") {
            None => return Err(c.err("batch_id", "is missing; it must be a non-empty string")),
            Some(raw) => non_empty_string(raw).ok_or_else(|| {
                c.err(
                    "batch_id",
                    format!("must be a non-empty string, got {}", shown(raw)),
                )
            })?,
        };
        let cursor = |field: &str| match c.get(field) {
            Some(raw) => Ok(raw.to_owned()),
            None => Err(c.err(field, "is missing")),
        };
        let start_cursor = cursor("start_cursor")?;
        let end_cursor = cursor("end_cursor")?;
        if let (Ok(start), Ok(end)) = (
            serde_json::from_str::<f64>(start_cursor.get()),
            serde_json::from_str::<f64>(end_cursor.get()),
        ) {
            if end <= start {
                return Err(c.err(
                    "end_cursor",
                    format!(
                        "must be greater than start_cursor ({}), got {}",
                        shown(&start_cursor),
                        shown(&end_cursor)
                    ),
                ));
            }
        }
        let batch_size = c.whole_number("batch_size", 1)?;
        cursor_configs.push(CursorConfig {
            batch_id,
            start_cursor,
            end_cursor,
            batch_size,
        });
    }
    let worker_count = o.whole_number("worker_count", 1)?;
    let total_items = o.whole_number("total_items", 0)?;
    Ok(BatchOutcome::CreateBatches {
        worker_template_name,
        worker_count,
        cursor_configs,
        total_items,
    })
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
        inputs: "{}".to_string(),
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
                "decision step '{decision}' chose step '{}' more than once",
                echo(name)
            ));
        }
        if template.step(name).is_none() {
            return Err(format!(
                "decision step '{decision}' chose step '{}', which is not a step of template {}",
                echo(name),
                template.key()
            ));
        }
        if !graph.contains(name) {
            return Err(format!(
                "decision step '{decision}' chose step '{}', which is not downstream of the decision",
                echo(name)
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

/// A batch worker's inputs (`ctx.stepInputs`), its cursors written as the outcome gave them.
#[derive(Serialize)]
struct WorkerInputs<'a> {
    cursor: WorkerCursor<'a>,
    batch_metadata: &'a Value,
    is_no_op: bool,
    #[serde(rename = "__template_step_name")]
    template_step_name: &'a str,
}

#[derive(Serialize)]
struct WorkerCursor<'a> {
    batch_id: &'a str,
    start_cursor: &'a RawValue,
    end_cursor: &'a RawValue,
    batch_size: u64,
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
            let zero = || RawValue::from_string("0".to_string()).map_err(|e| e.to_string());
            let placeholder = CursorConfig {
                batch_id: "000".to_string(),
                start_cursor: zero()?,
                end_cursor: zero()?,
                batch_size: 0,
            };
            (name, vec![placeholder], true)
        }
    };
    let Some(worker_def) = template.step(&worker_template) else {
        return Err(format!(
            "batchable step '{step}': worker template '{}' is not a step of template {}",
            echo(&worker_template),
            template.key()
        ));
    };
    if worker_def.step_type != StepType::BatchWorker {
        return Err(format!(
            "batchable step '{step}': worker template '{}' has type {}, expected batch_worker",
            echo(&worker_template),
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
                echo(&c.batch_id)
            ));
        }
        let name = format!("{worker_template}_{}", c.batch_id);
        if existing.contains(&name) {
            continue; // already created: nothing is created twice
        }
        worker_names.push(name.clone());
        let inputs = WorkerInputs {
            cursor: WorkerCursor {
                batch_id: &c.batch_id,
                start_cursor: &c.start_cursor,
                end_cursor: &c.end_cursor,
                batch_size: c.batch_size,
            },
            batch_metadata: &batch_metadata,
            is_no_op: no_op,
            template_step_name: &worker_template,
        };
        plan.push(NewStep {
            name,
            template_step_name: worker_template.clone(),
            definition: worker_def.clone(),
            step_type: StepType::BatchWorker,
            inputs: serde_json::to_string(&inputs).map_err(|e| e.to_string())?,
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

    fn inputs(step: &NewStep) -> Value {
        serde_json::from_str(&step.inputs).expect("inputs are JSON")
    }

    fn raw(v: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).expect("raw")
    }

    fn decision(outcome: Value) -> Result<DecisionOutcome, String> {
        parse_decision_outcome(
            "route",
            &json!({ "decision_point_outcome": outcome }).to_string(),
        )
    }

    fn batch(outcome: Value) -> Result<BatchOutcome, String> {
        parse_batch_outcome(
            "analyze",
            &json!({ "batch_processing_outcome": outcome }).to_string(),
        )
    }

    /// A valid CreateBatches outcome with `change` applied to it.
    fn create_batches(change: impl FnOnce(&mut Value)) -> Value {
        let mut v = json!({
            "outcome_type": "CreateBatches",
            "worker_template_name": "process",
            "worker_count": 2,
            "cursor_configs": [
                {"batch_id": "001", "start_cursor": 1, "end_cursor": 6, "batch_size": 5},
                {"batch_id": "002", "start_cursor": 6, "end_cursor": 11, "batch_size": 5},
            ],
            "total_items": 10,
        });
        change(&mut v);
        v
    }

    #[test]
    fn parses_both_wire_forms() {
        for v in [
            json!({"outcome_type": "CreateSteps", "step_names": ["a", "b"]}),
            json!({"type": "create_steps", "step_names": ["a", "b"]}),
            json!({"type": "create_steps", "outcome_type": "CreateSteps", "step_names": ["a", "b"]}),
        ] {
            assert_eq!(
                decision(v),
                Ok(DecisionOutcome::CreateSteps(vec!["a".into(), "b".into()]))
            );
        }
        for v in [
            json!({"outcome_type": "NoBranches", "step_names": []}),
            json!({"type": "no_branches"}),
            json!({"type": "no_branches", "step_names": null}),
        ] {
            assert_eq!(decision(v), Ok(DecisionOutcome::NoBranches));
        }
        for v in [
            json!({"outcome_type": "NoBatches"}),
            json!({"type": "no_batches"}),
            json!({"type": "no_batches", "worker_count": 0, "cursor_configs": [], "total_items": 0}),
        ] {
            assert_eq!(batch(v), Ok(BatchOutcome::NoBatches));
        }
        let mut reference = create_batches(|_| {});
        reference["type"] = json!("create_batches");
        for v in [create_batches(|_| {}), reference] {
            let Ok(BatchOutcome::CreateBatches {
                worker_template_name,
                worker_count,
                cursor_configs,
                total_items,
            }) = batch(v)
            else {
                panic!("a valid outcome")
            };
            assert_eq!(
                (worker_template_name.as_str(), worker_count, total_items),
                ("process", 2, 10)
            );
            assert_eq!(cursor_configs[1].batch_id, "002");
            assert_eq!(cursor_configs[1].start_cursor.get(), "6");
        }
    }

    #[test]
    fn the_rest_of_a_result_is_not_read() {
        // Deeper than serde_json's own limit (128), with lone surrogates: only the outcome's
        // fields are decoded.
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let result = format!(
            r#"{{"decision_point_outcome": {{"type": "no_branches"}}, "deep": {deep}, "s": "\ud800"}}"#
        );
        assert_eq!(
            parse_decision_outcome("d", &result),
            Ok(DecisionOutcome::NoBranches)
        );
        // Cursors are kept as written, whatever they hold.
        let result = format!(
            r#"{{"batch_processing_outcome": {{"type": "create_batches", "worker_template_name": "w",
                "worker_count": 1, "total_items": 1, "cursor_configs": [{{"batch_id": "a",
                "start_cursor": {{"k": "\ud800", "deep": {deep}}}, "end_cursor": "z", "batch_size": 1}}]}}}}"#
        );
        let Ok(BatchOutcome::CreateBatches { cursor_configs, .. }) =
            parse_batch_outcome("b", &result)
        else {
            panic!("a valid outcome")
        };
        assert_eq!(
            cursor_configs[0].start_cursor.get(),
            format!(r#"{{"k": "\ud800", "deep": {deep}}}"#)
        );
    }

    #[test]
    fn rejects_every_bad_decision_field() {
        let at = "decision step 'route': decision_point_outcome";
        let cases = [
            (json!(null), "decision step 'route' returned no decision_point_outcome; return decisionSuccess(...) or decisionNoBranches(...)".to_string()),
            (json!("create_steps"), format!("{at} must be an object, got \"create_steps\"")),
            (json!(["a"]), format!("{at} must be an object, got [\"a\"]")),
            (json!({"step_names": ["a"]}), format!("{at} has no outcome type; set outcome_type to CreateSteps or NoBranches")),
            (json!({"type": "pick", "step_names": ["a"]}), format!("{at}.type is \"pick\", an unknown outcome type; expected CreateSteps or NoBranches")),
            (json!({"outcome_type": 1, "step_names": ["a"]}), format!("{at}.outcome_type is 1, an unknown outcome type; expected CreateSteps or NoBranches")),
            (
                json!({"type": "no_branches", "outcome_type": "CreateSteps", "step_names": ["a"]}),
                format!("{at}.type is \"no_branches\" but its outcome_type is \"CreateSteps\"; they must agree (set only one of them)"),
            ),
            (json!({"type": "no_branches", "step_names": ["a"]}), format!("{at}.step_names must be [] for NoBranches, got [\"a\"]")),
            (json!({"type": "no_branches", "step_names": "a"}), format!("{at}.step_names must be [] for NoBranches, got \"a\"")),
            (json!({"type": "create_steps"}), format!("{at}.step_names is missing; it must be a list of step names")),
            (json!({"type": "create_steps", "step_names": null}), format!("{at}.step_names is missing; it must be a list of step names")),
            (json!({"type": "create_steps", "step_names": "a"}), format!("{at}.step_names must be a list of step names, got \"a\"")),
            (json!({"type": "create_steps", "step_names": []}), "decision step 'route': CreateSteps needs at least one step name (use NoBranches to create none)".to_string()),
            (json!({"type": "create_steps", "step_names": ["a", ""]}), format!("{at}.step_names[1] must be a non-empty string, got \"\"")),
            (json!({"type": "create_steps", "step_names": ["a", "  "]}), format!("{at}.step_names[1] must be a non-empty string, got \"  \"")),
            (json!({"type": "create_steps", "step_names": [42]}), format!("{at}.step_names[0] must be a non-empty string, got 42")),
            (
                json!({"type": "create_steps", "step_names": ["a"], "reason": "x"}),
                format!("{at} has an unknown field 'reason'; its fields are outcome_type, type, step_names"),
            ),
        ];
        for (outcome, expected) in cases {
            assert_eq!(decision(outcome.clone()), Err(expected), "{outcome}");
        }
        assert_eq!(
            parse_decision_outcome("route", "[1]"),
            Err("decision step 'route' returned a result that is not an object (no decision_point_outcome); return decisionSuccess(...) or decisionNoBranches(...)".to_string())
        );
    }

    #[test]
    fn rejects_every_bad_batch_field() {
        let at = "batchable step 'analyze': batch_processing_outcome";
        let cfg = "cursor_configs[0]";
        type Change = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Change, String)> = vec![
            (Box::new(|v| v["worker_count"] = json!("1")), format!("{at}.worker_count must be a whole number >= 1, got \"1\"")),
            (Box::new(|v| v["worker_count"] = json!(null)), format!("{at}.worker_count must be a whole number >= 1, got null")),
            (Box::new(|v| v["worker_count"] = json!(0)), format!("{at}.worker_count must be a whole number >= 1, got 0")),
            (Box::new(|v| v["worker_count"] = json!(1.5)), format!("{at}.worker_count must be a whole number >= 1, got 1.5")),
            (Box::new(|v| { v.as_object_mut().unwrap().remove("worker_count"); }), format!("{at}.worker_count is missing; it must be a whole number >= 1")),
            (Box::new(|v| v["total_items"] = json!(-5)), format!("{at}.total_items must be a whole number >= 0, got -5")),
            (Box::new(|v| v["total_items"] = json!("10")), format!("{at}.total_items must be a whole number >= 0, got \"10\"")),
            (Box::new(|v| { v.as_object_mut().unwrap().remove("total_items"); }), format!("{at}.total_items is missing; it must be a whole number >= 0")),
            (Box::new(|v| v["worker_template_name"] = json!("")), format!("{at}.worker_template_name must be a non-empty string naming the batch_worker step, got \"\"")),
            (Box::new(|v| v["worker_template_name"] = json!(7)), format!("{at}.worker_template_name must be a non-empty string naming the batch_worker step, got 7")),
            (Box::new(|v| { v.as_object_mut().unwrap().remove("worker_template_name"); }), format!("{at}.worker_template_name is missing; it must name the batch_worker step")),
            (Box::new(|v| v["cursor_configs"] = json!({})), format!("{at}.cursor_configs must be a list of cursor configs, got {{}}")),
            (Box::new(|v| { v.as_object_mut().unwrap().remove("cursor_configs"); }), format!("{at}.cursor_configs is missing; it must be a list of cursor configs")),
            (Box::new(|v| v["cursor_configs"][0] = json!(5)), format!("{at}.{cfg} must be an object, got 5")),
            (Box::new(|v| v["cursor_configs"][0]["batch_id"] = json!(1)), format!("{at}.{cfg}.batch_id must be a non-empty string, got 1")),
            (Box::new(|v| v["cursor_configs"][0]["batch_id"] = json!(" ")), format!("{at}.{cfg}.batch_id must be a non-empty string, got \" \"")),
            (Box::new(|v| { v["cursor_configs"][0].as_object_mut().unwrap().remove("batch_id"); }), format!("{at}.{cfg}.batch_id is missing; it must be a non-empty string")),
            (Box::new(|v| v["cursor_configs"][0]["start_cursor"] = json!(null)), format!("{at}.{cfg}.start_cursor is missing")),
            (Box::new(|v| { v["cursor_configs"][0].as_object_mut().unwrap().remove("end_cursor"); }), format!("{at}.{cfg}.end_cursor is missing")),
            (Box::new(|v| v["cursor_configs"][0]["end_cursor"] = json!(1)), format!("{at}.{cfg}.end_cursor must be greater than start_cursor (1), got 1")),
            (Box::new(|v| v["cursor_configs"][0]["batch_size"] = json!(0)), format!("{at}.{cfg}.batch_size must be a whole number >= 1, got 0")),
            (Box::new(|v| v["cursor_configs"][0]["batch_size"] = json!("5")), format!("{at}.{cfg}.batch_size must be a whole number >= 1, got \"5\"")),
            (Box::new(|v| { v["cursor_configs"][0].as_object_mut().unwrap().remove("batch_size"); }), format!("{at}.{cfg}.batch_size is missing; it must be a whole number >= 1")),
            (Box::new(|v| v["cursor_configs"][0]["rows"] = json!(5)), format!("{at}.{cfg} has an unknown field 'rows'; its fields are batch_id, start_cursor, end_cursor, batch_size")),
            (Box::new(|v| v["workers"] = json!(2)), format!("{at} has an unknown field 'workers'; its fields are outcome_type, type, worker_template_name, worker_count, cursor_configs, total_items")),
            (Box::new(|v| v["type"] = json!("no_batches")), format!("{at}.type is \"no_batches\" but its outcome_type is \"CreateBatches\"; they must agree (set only one of them)")),
            (Box::new(|v| v["outcome_type"] = json!("SomeBatches")), format!("{at}.outcome_type is \"SomeBatches\", an unknown outcome type; expected CreateBatches or NoBatches")),
        ];
        for (change, expected) in cases {
            let outcome = create_batches(change);
            assert_eq!(batch(outcome.clone()), Err(expected), "{outcome}");
        }
        let no_batches = [
            (json!({"type": "no_batches", "worker_count": 2}), format!("{at}.worker_count must be 0 for NoBatches, got 2")),
            (json!({"type": "no_batches", "total_items": 5}), format!("{at}.total_items must be 0 for NoBatches, got 5")),
            (json!({"type": "no_batches", "cursor_configs": [{"batch_id": "1"}]}), format!("{at}.cursor_configs must be [] for NoBatches, got [{{\"batch_id\":\"1\"}}]")),
            (
                json!({"type": "no_batches", "worker_template_name": "process"}),
                format!("{at}.worker_template_name must not be set for NoBatches (the placeholder worker is handler.initialization.worker_template_name), got \"process\""),
            ),
            (json!({}), format!("{at} has no outcome type; set outcome_type to CreateBatches or NoBatches")),
            (json!(null), "batchable step 'analyze' returned no batch_processing_outcome; return createBatchesOutcome(...) or noBatchesOutcome(...)".to_string()),
        ];
        for (outcome, expected) in no_batches {
            assert_eq!(batch(outcome.clone()), Err(expected), "{outcome}");
        }
        // A huge value is cut short in the message.
        let huge = "x".repeat(10_000);
        let err = batch(create_batches(|v| v["total_items"] = json!(huge))).unwrap_err();
        assert_eq!(
            err,
            format!(
                "{at}.total_items must be a whole number >= 0, got \"{}… (10002 characters)",
                &huge[..99]
            )
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
            start_cursor: raw(json!(s)),
            end_cursor: raw(json!(e)),
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
            inputs(&plan[1])["cursor"],
            json!({"batch_id": "002", "start_cursor": 6, "end_cursor": 11, "batch_size": 5})
        );
        assert_eq!(
            inputs(&plan[1])["batch_metadata"],
            json!({"cursor_field": "row", "failure_strategy": "fail_fast"})
        );
        assert_eq!(inputs(&plan[1])["is_no_op"], json!(false));
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
        assert_eq!(inputs(&plan[0])["is_no_op"], json!(true));
    }

    #[test]
    fn batches_reject_bad_outcomes() {
        let t = parse_template(BATCH, "csv.yaml").unwrap();
        let analyze = t.step("analyze").unwrap();
        let cfg = |id: &str| CursorConfig {
            batch_id: id.into(),
            start_cursor: raw(json!(1)),
            end_cursor: raw(json!(2)),
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
