//! Rules across templates for subtask steps: a template may not start a child task of itself,
//! directly or through other templates, and (at registration, where the database is known)
//! every child template must exist.

use std::collections::{HashMap, VecDeque};

use super::error::TemplateError;
use super::model::{StepType, TemplateSet};

fn error(source: &str, step: &str, message: String) -> TemplateError {
    TemplateError {
        message: format!("{source}: step '{step}': field 'task': {message}"),
        file: Some(source.to_string()),
        step: Some(step.to_string()),
        field: Some("task".to_string()),
    }
}

/// One error per subtask step whose child template leads back to the step's own template
/// (through the templates of `set`): such a task would start children for ever. The message
/// shows the chain, e.g. `ns/a@1 → ns/b@1 → ns/a@1`.
pub fn subtask_cycles(set: &TemplateSet) -> Vec<TemplateError> {
    let index: HashMap<String, usize> = set
        .templates
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key(), i))
        .collect();
    // Children of each template (indexes into the set), in step order.
    let children: Vec<Vec<usize>> = set
        .templates
        .iter()
        .map(|t| {
            t.steps
                .iter()
                .filter_map(|s| s.subtask.as_ref())
                .filter_map(|sub| index.get(&sub.key()).copied())
                .collect()
        })
        .collect();
    let mut errors = Vec::new();
    for (ti, t) in set.templates.iter().enumerate() {
        for s in t.steps.iter().filter(|s| s.step_type == StepType::Subtask) {
            let Some(start) = s.subtask.as_ref().and_then(|sub| index.get(&sub.key())) else {
                continue;
            };
            // Breadth first from the child template, back to `ti`.
            let mut came_from: HashMap<usize, usize> = HashMap::new();
            let mut queue = VecDeque::from([*start]);
            let mut seen = vec![false; set.templates.len()];
            seen[*start] = true;
            let mut found = *start == ti;
            while let Some(at) = queue.pop_front() {
                if found {
                    break;
                }
                for &next in &children[at] {
                    if !seen[next] {
                        seen[next] = true;
                        came_from.insert(next, at);
                        if next == ti {
                            found = true;
                            break;
                        }
                        queue.push_back(next);
                    }
                }
            }
            if !found {
                continue;
            }
            let mut chain = vec![ti];
            let mut at = ti;
            while at != *start {
                at = came_from[&at];
                chain.push(at);
            }
            chain.push(ti);
            chain.reverse();
            let path: Vec<String> = chain.iter().map(|&i| set.templates[i].key()).collect();
            errors.push(error(
                &t.source,
                &s.name,
                format!(
                    "{} would start itself ({}): a task may not start a child task of its own \
                     template, directly or through other templates",
                    t.key(),
                    path.join(" → ")
                ),
            ));
        }
    }
    errors
}

/// One error per subtask step whose child template is neither in `set` nor among `registered`
/// (`namespace/name@version` keys already in the database).
pub fn unknown_child_templates(set: &TemplateSet, registered: &[String]) -> Vec<TemplateError> {
    let mut errors = Vec::new();
    for t in &set.templates {
        for s in &t.steps {
            let Some(sub) = &s.subtask else { continue };
            let key = sub.key();
            if set.templates.iter().any(|o| o.key() == key) || registered.contains(&key) {
                continue;
            }
            errors.push(error(
                &t.source,
                &s.name,
                format!(
                    "no task template {key} is loaded or registered: a subtask step's child \
                     template must be among the worker's templates or registered by another \
                     worker first"
                ),
            ));
        }
    }
    errors
}
