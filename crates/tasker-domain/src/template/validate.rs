//! Cross-step rules of a template: unique names, known dependencies, no cycles.

use std::collections::{HashMap, HashSet};

use super::error::{Ctx, TemplateError};
use super::model::StepType;
use super::parse::ParsedStep;
use crate::text::echo;

/// Cross-step rules: unique names, known dependencies (no self, no duplicates), decision steps
/// have a dependency, and no cycles.
pub(super) fn validate_dependencies(
    source: &str,
    steps: &[ParsedStep],
) -> Result<(), TemplateError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for p in steps {
        if let Some(first) = index.insert(&p.step.name, p.index) {
            return Err(Ctx::new(source).err(format!(
                "step '{}': duplicate step name (steps #{} and #{})",
                echo(&p.step.name),
                first + 1,
                p.index + 1
            )));
        }
    }
    for p in steps {
        let ctx = Ctx::new(source).for_step(format!("step '{}'", echo(&p.step.name)));
        let mut listed = HashSet::new();
        for dep in &p.step.dependencies {
            let problem = if *dep == p.step.name {
                "a step cannot depend on itself".to_string()
            } else if !listed.insert(dep.as_str()) {
                format!("step '{}' is listed more than once", echo(dep))
            } else if !index.contains_key(dep.as_str()) {
                format!("unknown step '{}'", echo(dep))
            } else {
                continue;
            };
            return Err(ctx.field_err(p.deps_key, problem));
        }
        if p.step.step_type == StepType::Decision && p.step.dependencies.is_empty() {
            return Err(ctx.field_err(
                p.deps_key,
                "a decision step must have at least one dependency",
            ));
        }
    }
    if let Some(cycle) = find_cycle(steps, &index) {
        let mut names: Vec<_> = cycle.iter().map(|&i| echo(&steps[i].step.name)).collect();
        names.push(names[0].clone());
        return Err(Ctx::new(source).err(format!("dependency cycle: {}", names.join(" -> "))));
    }
    Ok(())
}

/// A dependency cycle as step indices, each depending on the next (the last on the first),
/// starting at the cycle's earliest step in the template. Iterative DFS (no recursion limits).
fn find_cycle(steps: &[ParsedStep], index: &HashMap<&str, usize>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let deps = |i: usize| -> Vec<usize> {
        steps[i]
            .step
            .dependencies
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect()
    };
    let mut mark = vec![Mark::New; steps.len()];
    for root in 0..steps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // (step, its dependencies, next dependency to visit)
        let mut path: Vec<(usize, Vec<usize>, usize)> = vec![(root, deps(root), 0)];
        mark[root] = Mark::OnPath;
        while let Some((node, node_deps, next)) = path.last_mut() {
            let Some(&dep) = node_deps.get(*next) else {
                mark[*node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[dep] {
                Mark::Done => {}
                Mark::New => {
                    mark[dep] = Mark::OnPath;
                    path.push((dep, deps(dep), 0));
                }
                Mark::OnPath => {
                    let start = path.iter().position(|(n, _, _)| *n == dep)?;
                    let mut cycle: Vec<usize> = path[start..].iter().map(|(n, _, _)| *n).collect();
                    let first = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
                    cycle.rotate_left(first);
                    return Some(cycle);
                }
            }
        }
    }
    None
}
