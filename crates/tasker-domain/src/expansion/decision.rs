//! Decision steps: reading a decision outcome, and planning the branches it creates.

use std::collections::HashSet;

use serde_json::value::RawValue;

use super::graph::{add_downstream, descendants, downstream_of};
use super::wire::{non_empty_string, outcome_of, shown};
use super::{new_step, ExpansionLimits, NewStep};
use crate::template::{StepType, TaskTemplate};
use crate::text::echo;

#[derive(Debug, Clone, PartialEq)]
pub enum DecisionOutcome {
    CreateSteps(Vec<String>),
    NoBranches,
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::expansion::test_support::{existing, names};
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

    fn decision(outcome: Value) -> Result<DecisionOutcome, String> {
        parse_decision_outcome(
            "route",
            &json!({ "decision_point_outcome": outcome }).to_string(),
        )
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
}
