//! Batchable steps: reading a batch outcome, and planning the workers (and the convergence)
//! it creates.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::graph::add_downstream;
use super::wire::{non_empty_string, outcome_of, shown, Outcome};
use super::{new_step, ExpansionLimits, NewStep};
use crate::template::{StepDefinition, StepType, TaskTemplate};
use crate::text::echo;

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
    use crate::expansion::test_support::{existing, names};
    use crate::parse_template;

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

    fn inputs(step: &NewStep) -> Value {
        serde_json::from_str(&step.inputs).expect("inputs are JSON")
    }

    fn raw(v: Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&v).expect("raw")
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
    fn cursors_are_kept_as_written() {
        // Deeper than serde_json's own limit (128), with lone surrogates: only the outcome's
        // fields are decoded, and cursors are kept as written, whatever they hold.
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
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
