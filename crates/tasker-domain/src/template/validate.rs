//! Cross-step rules of a template: unique names, known dependencies, no cycles.

use std::collections::{HashMap, HashSet};

use super::error::{Ctx, Problems};
use super::model::StepType;
use super::parse::ParsedStep;
use crate::text::echo;

/// Cross-step rules: unique names, known dependencies (no self, no duplicates), decision steps
/// have a dependency, and no cycles. Every problem is kept in `p`, in that order. Unknown
/// dependencies are reported only when `all_named` (every step of the template was read with
/// its name): otherwise the step they name may be one that could not be read.
pub(super) fn validate_dependencies(
    source: &str,
    steps: &[ParsedStep],
    all_named: bool,
    p: &mut Problems,
) {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for s in steps {
        if let Some(first) = index.get(s.step.name.as_str()) {
            p.push(Ctx::new(source).for_step_named(&s.step.name).err(format!(
                "duplicate step name (steps #{} and #{})",
                first + 1,
                s.index + 1
            )));
        } else {
            index.insert(&s.step.name, s.index);
        }
    }
    // Positions in `steps` (not in the template), for the cycle search.
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, s) in steps.iter().enumerate() {
        position.entry(&s.step.name).or_insert(i);
    }
    for s in steps {
        let ctx = Ctx::new(source).for_step_named(&s.step.name);
        let mut listed = HashSet::new();
        for dep in &s.step.dependencies {
            let problem = if *dep == s.step.name {
                "a step cannot depend on itself".to_string()
            } else if !listed.insert(dep.as_str()) {
                format!("step '{}' is listed more than once", echo(dep))
            } else if all_named && !index.contains_key(dep.as_str()) {
                format!("unknown step '{}'", echo(dep))
            } else {
                continue;
            };
            p.push(ctx.field_err(s.deps_key, problem));
        }
        if s.step.step_type == StepType::Decision && s.step.dependencies.is_empty() {
            p.push(ctx.field_err(
                s.deps_key,
                "a decision step must have at least one dependency",
            ));
        }
    }
    if let Some(cycle) = find_cycle(steps, &position) {
        let mut names: Vec<_> = cycle.iter().map(|&i| echo(&steps[i].step.name)).collect();
        names.push(names[0].clone());
        p.push(Ctx::new(source).err(format!("dependency cycle: {}", names.join(" -> "))));
    }
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
