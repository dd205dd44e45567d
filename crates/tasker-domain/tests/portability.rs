//! Portability: every task template file of tasker-core (the reference corpus, 157 files, see
//! its README) that tasker-core's own parser accepts loads here unchanged; the 6 it rejects
//! are rejected here too, for the reasons listed below. See docs/templates.md, "Porting
//! tasker-core templates".
//!
//! The corpus is not part of this repository. It is read from `TASKER_REFERENCE_TEMPLATES`
//! when that is set, otherwise from `<repository>/../shared/reference/templates`, which is
//! where CI has it. When it is missing the test fails in CI (`CI` set, as CI systems do, or
//! `TASKER_REQUIRE_REFERENCE=1`) and is skipped, with a message, anywhere else (a fresh clone
//! on its own, say).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tasker_domain::check_template_for_env;

/// Files of the corpus (`*.yaml`, at any depth; the README is not one).
const FILES: usize = 157;

/// The files tasker-core rejects too, and every error each one gets here.
const REJECTED: &[(&str, &[&str])] = &[
    symbol_keys("crates/tasker-rb/spec/handlers/examples/diamond_workflow/config/diamond_workflow_handler.yaml"),
    symbol_keys("crates/tasker-rb/spec/handlers/examples/linear_workflow/config/linear_workflow_handler.yaml"),
    symbol_keys("crates/tasker-rb/spec/handlers/examples/mixed_dag_workflow/config/mixed_dag_workflow_handler.yaml"),
    symbol_keys("crates/tasker-rb/spec/handlers/examples/order_fulfillment/config/order_fulfillment_handler.yaml"),
    symbol_keys("crates/tasker-rb/spec/handlers/examples/tree_workflow/config/tree_workflow_handler.yaml"),
    // The format of tasker-core's Rails ancestor: `step_templates` instead of `steps`.
    (
        "crates/tasker-rb/spec/handlers/examples/error_scenarios/config/error_testing_handler.yaml",
        &[
            "unknown field 'task_handler_class'",
            "unknown field 'schema'",
            "unknown field 'step_templates'",
            "template has no steps",
        ],
    ),
];

/// Ruby symbol keys (`:name: linear_workflow`): every top-level key is unknown, so the
/// required ones are missing, and there are no steps.
const fn symbol_keys(file: &'static str) -> (&'static str, &'static [&'static str]) {
    (
        file,
        &[
            "unknown field ':name' (a Ruby symbol key; write 'name')",
            "unknown field ':namespace_name' (a Ruby symbol key; write 'namespace_name')",
            "unknown field ':version' (a Ruby symbol key; write 'version')",
            "unknown field ':description' (a Ruby symbol key; write 'description')",
            "unknown field ':metadata' (a Ruby symbol key; write 'metadata')",
            "unknown field ':system_dependencies' (a Ruby symbol key; write 'system_dependencies')",
            "unknown field ':domain_events' (a Ruby symbol key; write 'domain_events')",
            "unknown field ':input_schema' (a Ruby symbol key; write 'input_schema')",
            "unknown field ':steps' (a Ruby symbol key; write 'steps')",
            "unknown field ':environments' (a Ruby symbol key; write 'environments')",
            "unknown field ':loaded_from' (a Ruby symbol key; write 'loaded_from')",
            "missing required field 'name'",
            "missing required field 'namespace_name'",
            "missing required field 'version'",
            "template has no steps",
        ],
    )
}

/// How many notices the loaded files get about each key: one per file, key and what was
/// noticed. `retry.limit`: 22 files, one of them with `limit: 0` in some steps and `limit: 2` in
/// others; `retry.max_attempts`: 7 files with `max_attempts: 0`, 1 with `retryable: false` and
/// `max_attempts: 3`.
const NOTICED: &[(&str, usize)] = &[
    ("lifecycle", 8),
    ("loaded_from", 11),
    ("retry.initial_delay", 8),
    ("retry.limit", 23),
    ("retry.max_attempts", 8),
    ("retry.max_delay", 8),
];

fn corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TASKER_REFERENCE_TEMPLATES").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "TASKER_REFERENCE_TEMPLATES={} is not a directory",
            dir.display()
        );
        return Some(dir);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/templates")
        .canonicalize()
        .ok()?;
    beside.is_dir().then_some(beside)
}

fn required() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    set("CI") || set("TASKER_REQUIRE_REFERENCE")
}

/// Every `*.yaml` / `*.yml` file under `dir`, as paths relative to it, sorted.
fn yaml_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read corpus directory") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let rel = path.strip_prefix(root).expect("under the corpus");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The environments a file declares (`environments.<env>`), to load it under each one too.
fn environments(yaml: &str) -> Vec<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap_or_default();
    match doc.get("environments") {
        Some(serde_yaml::Value::Mapping(m)) => m
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_reference_template_that_tasker_core_accepts_loads() {
    let Some(dir) = corpus() else {
        let msg = "the tasker-core template corpus is missing: set TASKER_REFERENCE_TEMPLATES, \
                   or put it at <repository>/../shared/reference/templates (where CI has it)";
        assert!(
            !required(),
            "{msg} (required here: CI or TASKER_REQUIRE_REFERENCE is set)"
        );
        eprintln!("skipped: {msg}");
        return;
    };
    let files = yaml_files(&dir);
    assert_eq!(files.len(), FILES, "files in {}: {files:#?}", dir.display());

    let mut loaded = 0;
    let mut unchanged = 0;
    let mut rejected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut noticed: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let yaml = std::fs::read_to_string(dir.join(file)).expect("read corpus file");
        match check_template_for_env(&yaml, file, None) {
            Err(errors) => {
                let prefix = format!("{file}: ");
                rejected.insert(
                    file.clone(),
                    errors
                        .iter()
                        .map(|e| {
                            e.message
                                .strip_prefix(&prefix)
                                .unwrap_or(&e.message)
                                .to_string()
                        })
                        .collect(),
                );
            }
            Ok(template) => {
                loaded += 1;
                if template.notices.is_empty() {
                    unchanged += 1;
                }
                for n in &template.notices {
                    assert_eq!(n.file, *file);
                    assert!(n.message.starts_with(&format!("{file}: ")), "{n:?}");
                    assert!(n.message.contains(&format!("'{}", n.field)), "{n:?}");
                    *noticed.entry(n.field.clone()).or_default() += 1;
                }
                // With each environment's overrides applied (TASKER_ENV), it loads too.
                for env in environments(&yaml) {
                    if let Err(errors) = check_template_for_env(&yaml, file, Some(&env)) {
                        panic!("{file} under TASKER_ENV={env}: {errors:#?}");
                    }
                }
            }
        }
    }

    let expected: BTreeMap<String, Vec<String>> = REJECTED
        .iter()
        .map(|(f, why)| (f.to_string(), why.iter().map(|w| w.to_string()).collect()))
        .collect();
    assert_eq!(rejected, expected, "the files that do not load, and why");
    assert_eq!(loaded, FILES - REJECTED.len());
    assert!(loaded >= 151, "{loaded} of {FILES} load");
    // Of those, the ones without any notice: what loaded before tasker-core's keys were read.
    assert_eq!(unchanged, 105);
    let expected: BTreeMap<String, usize> =
        NOTICED.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(noticed, expected, "notices about each key");
}
