//! Template versions: registering them, and the in-memory cache of template snapshots.
//!
//! A registered template is stored as an immutable snapshot under the digest of its content;
//! the (namespace, name, version) points at the latest snapshot. A task keeps the digest it
//! was created from, and everything later (the step definitions handed to handlers, retry
//! settings, decision and batch planning) reads that snapshot, so a template redeployed under
//! the same version changes only the tasks created afterwards.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use tasker_domain::{StepDefinition, StepType, TaskTemplate, TemplateSet};
use tasker_store::{run_read, run_write, TemplateKey, TemplateRecord, Tx};

use crate::create::initial_steps;
use crate::{Engine, EngineError};

/// A parsed snapshot, with what claiming and creating need precomputed.
pub(crate) struct Snapshot {
    pub template: TaskTemplate,
    by_name: HashMap<String, usize>,
    /// Indexes of the steps a task starts with, in template order.
    pub initial: Vec<usize>,
    /// JSON of each step's `handler.initialization`.
    pub initialization: Vec<String>,
    /// What each step's payload says about its place in the graph: `"dependencies":[…],
    /// "indirect_ancestors":[…],"indirect_batch_workers":[…]` (see [`lineage`]).
    pub lineage: Vec<String>,
}

impl Snapshot {
    fn new(template: TaskTemplate) -> Snapshot {
        let by_name = template
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        let initial_names: Vec<String> = initial_steps(&template)
            .into_iter()
            .map(|s| s.name.clone())
            .collect();
        let initial = template
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| initial_names.contains(&s.name))
            .map(|(i, _)| i)
            .collect();
        let initialization = template
            .steps
            .iter()
            .map(|s| s.handler.initialization.to_string())
            .collect();
        let lineage = template
            .steps
            .iter()
            .map(|s| lineage(&template, s))
            .collect();
        Snapshot {
            template,
            by_name,
            initial,
            initialization,
            lineage,
        }
    }

    pub fn step(&self, name: &str) -> Option<(usize, &StepDefinition)> {
        self.by_name
            .get(name)
            .map(|&i| (i, &self.template.steps[i]))
    }

    /// How messages name the step `name` of a task of this template.
    pub fn step_label(&self, name: &str) -> String {
        format!(
            "step '{}' of task template {}",
            tasker_domain::echo(name),
            self.template.key()
        )
    }
}

/// The payload fields naming a step's place in the graph, as JSON members: `dependencies`, the
/// template steps it declares (it receives the results of their steps, every worker of a
/// batch-worker template); `indirect_ancestors`, the template steps upstream of those that it
/// does not declare (tasker-core hands their results to every later step, this engine does not:
/// the runtime names them when a handler reads one, docs/handlers.md); and
/// `indirect_batch_workers`, those of them that are batch-worker templates (whose steps are named
/// `<template>_<batch id>`). All computed from the template, so for every task alike.
fn lineage(template: &TaskTemplate, step: &StepDefinition) -> String {
    let mut upstream: BTreeSet<&str> = BTreeSet::new();
    let mut frontier: Vec<&str> = step.dependencies.iter().map(String::as_str).collect();
    while let Some(name) = frontier.pop() {
        if let Some(parent) = template.step(name) {
            for d in &parent.dependencies {
                if upstream.insert(d.as_str()) {
                    frontier.push(d.as_str());
                }
            }
        }
    }
    let indirect: Vec<&str> = upstream
        .into_iter()
        .filter(|a| *a != step.name && !step.dependencies.iter().any(|d| d == a))
        .collect();
    let workers: Vec<&str> = indirect
        .iter()
        .copied()
        .filter(|a| {
            template
                .step(a)
                .is_some_and(|s| s.step_type == StepType::BatchWorker)
        })
        .collect();
    let list = |names: &[&str]| serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
    format!(
        "\"dependencies\":{},\"indirect_ancestors\":{},\"indirect_batch_workers\":{}",
        list(
            &step
                .dependencies
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        ),
        list(&indirect),
        list(&workers)
    )
}

/// Snapshots by digest (immutable, so never invalidated).
#[derive(Default)]
pub(crate) struct Snapshots {
    by_digest: RwLock<HashMap<String, Arc<Snapshot>>>,
}

impl Snapshots {
    pub fn cached(&self, digest: &str) -> Option<Arc<Snapshot>> {
        self.by_digest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    /// The snapshot, parsed from `definition` unless already cached.
    pub fn insert(&self, digest: &str, definition: &str) -> Result<Arc<Snapshot>, EngineError> {
        if let Some(s) = self.cached(digest) {
            return Ok(s);
        }
        let template: TaskTemplate = serde_json::from_str(definition).map_err(|e| {
            EngineError::Internal(format!(
                "stored template snapshot {digest} is unreadable: {e}"
            ))
        })?;
        let snapshot = Arc::new(Snapshot::new(template));
        self.by_digest
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), snapshot.clone());
        Ok(snapshot)
    }

    /// The snapshot under `digest`, read from the database on a cache miss.
    pub async fn load(&self, tx: &mut dyn Tx, digest: &str) -> Result<Arc<Snapshot>, EngineError> {
        if let Some(s) = self.cached(digest) {
            return Ok(s);
        }
        let definition = tx.template_snapshot(digest).await?.ok_or_else(|| {
            EngineError::Internal(format!("template snapshot {digest} is missing"))
        })?;
        self.insert(digest, &definition)
    }
}

/// The digest of a template's content (the file it was read from is not part of it).
pub(crate) fn digest(template: &TaskTemplate) -> Result<(String, String), EngineError> {
    let definition = serde_json::to_string(template)
        .map_err(|e| EngineError::InvalidArgument(format!("template {}: {e}", template.key())))?;
    let mut content = template.clone();
    content.source = String::new();
    let canonical = serde_json::to_string(&content)
        .map_err(|e| EngineError::InvalidArgument(format!("template {}: {e}", template.key())))?;
    let hash = Sha256::digest(canonical.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, definition))
}

pub(crate) fn key_of(t: &TaskTemplate) -> TemplateKey {
    TemplateKey {
        namespace: t.namespace_name.clone(),
        name: t.name.clone(),
        version: t.version.clone(),
    }
}

impl Engine {
    /// Store the templates so that any process can create tasks from them. Refused when a
    /// subtask step's child template is neither in `set` nor registered, or when templates
    /// start each other in a cycle (docs/child-tasks.md).
    pub async fn register_templates(&self, set: &TemplateSet) -> Result<(), EngineError> {
        if let Some(e) = tasker_domain::subtask_cycles(set).into_iter().next() {
            return Err(EngineError::InvalidArgument(e.message));
        }
        let mut wanted: Vec<TemplateKey> = set
            .templates
            .iter()
            .flat_map(|t| t.steps.iter())
            .filter_map(|s| s.subtask.as_ref())
            .map(|s| TemplateKey {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                version: s.version.clone(),
            })
            .filter(|k| !set.templates.iter().any(|t| key_of(t) == *k))
            .collect();
        wanted.sort();
        wanted.dedup();
        if !wanted.is_empty() {
            let found = run_read(self.store(), move |tx| {
                Box::pin(async move { tx.current_templates(&wanted).await })
            })
            .await?;
            let registered: Vec<String> = found
                .iter()
                .map(|(k, _, _)| format!("{}/{}@{}", k.namespace, k.name, k.version))
                .collect();
            if let Some(e) = tasker_domain::unknown_child_templates(set, &registered)
                .into_iter()
                .next()
            {
                return Err(EngineError::TemplateNotFound(e.message));
            }
        }
        let mut records = Vec::with_capacity(set.templates.len());
        for t in &set.templates {
            let (digest, definition) = digest(t)?;
            self.snapshots.insert(&digest, &definition)?;
            let key = key_of(t);
            records.push(TemplateRecord {
                namespace: key.namespace,
                name: key.name,
                version: key.version,
                digest,
                definition,
            });
        }
        run_write(self.store(), move |tx| {
            Box::pin(async move { tx.put_templates(&records).await })
        })
        .await?;
        if set
            .templates
            .iter()
            .any(|t| t.steps.iter().any(|s| s.subtask.is_some()))
        {
            self.subtasks
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}
