//! Opening an engine, creating a task from the shared templates, and reading the task's view.

use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::Value;
use tasker_orchestration::{CreateTask, Engine, StepView, TaskView, TransitionView};

use crate::backend::TestDb;
use crate::templates::{NS, VERSION};

/// Open an engine on the test's database (no templates registered).
pub async fn open_engine(db: &TestDb) -> Arc<Engine> {
    Engine::open(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {:?} engine: {e}", db.backend))
}

/// A request for template `test/<name>@1.0.0`.
pub fn req(name: &str, context: Value, key: Option<&str>) -> CreateTask {
    CreateTask {
        namespace: NS.to_string(),
        name: name.to_string(),
        version: VERSION.to_string(),
        context: context.to_string(),
        idempotency_key: key.map(str::to_string),
        ..CreateTask::default()
    }
}

pub async fn create(engine: &Engine, name: &str, context: Value) -> TaskView {
    engine
        .create_task(req(name, context, None))
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

/// The task with its steps and transitions.
pub async fn details(engine: &Engine, task_uuid: &str) -> TaskView {
    engine
        .get_task(task_uuid, true)
        .await
        .expect("get_task")
        .unwrap_or_else(|| panic!("task {task_uuid} not found"))
}

/// Stored JSON text (a context, result or metadata), parsed for comparing.
pub fn value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or_else(|e| panic!("{e}: {}", raw.get()))
}

/// An optional stored JSON text, parsed for comparing (`s.result`, `s.metadata`).
pub fn json_of(raw: &Option<Box<RawValue>>) -> Option<Value> {
    raw.as_deref().map(value)
}

fn steps(task: &TaskView) -> &[StepView] {
    task.steps.as_ref().expect("task details")
}

fn transitions(task: &TaskView) -> &[TransitionView] {
    task.transitions.as_ref().expect("task details")
}

pub fn step<'a>(task: &'a TaskView, name: &str) -> &'a StepView {
    steps(task)
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("task has no step '{name}'"))
}

/// The step names of the task, sorted.
pub fn step_names(task: &TaskView) -> Vec<String> {
    let mut v: Vec<String> = steps(task).iter().map(|s| s.name.clone()).collect();
    v.sort();
    v
}

/// The names, sorted, to compare with `step_names`.
pub fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// `name → state` for every step, sorted by name.
pub fn step_states(task: &TaskView) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = steps(task)
        .iter()
        .map(|s| (s.name.clone(), s.state.clone()))
        .collect();
    v.sort();
    v
}

/// The `(name, state)` pairs, sorted, to compare with `step_states`.
pub fn states(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

/// How many of the task's steps are in `state`.
pub fn count_in(task: &TaskView, state: &str) -> usize {
    steps(task).iter().filter(|s| s.state == state).count()
}

/// The step's transitions, in order.
pub fn step_transitions<'a>(task: &'a TaskView, name: &str) -> Vec<&'a TransitionView> {
    transitions(task)
        .iter()
        .filter(|t| t.entity == "step" && t.step_name.as_deref() == Some(name))
        .collect()
}

pub fn task_transitions(task: &TaskView) -> Vec<&TransitionView> {
    transitions(task)
        .iter()
        .filter(|t| t.entity == "task")
        .collect()
}

/// The last task transition's reason.
pub fn last_task_reason(task: &TaskView) -> String {
    task_transitions(task)
        .last()
        .and_then(|t| t.reason.clone())
        .unwrap_or_default()
}

/// `(from, to)` of transitions, `-` for no from-state.
pub fn moves(ts: &[&TransitionView]) -> Vec<String> {
    ts.iter()
        .map(|t| format!("{}->{}", t.from_state.as_deref().unwrap_or("-"), t.to_state))
        .collect()
}
