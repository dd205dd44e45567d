//! Finding every error in templates (`check_template_for_env`, `check_templates`), for
//! `tasker validate`; the first of them is the error the first-error API returns.

use std::path::{Path, PathBuf};

use tasker_domain::{check_template_for_env, check_templates, load_templates, parse_template};

const SRC: &str = "templates/x.yaml";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tasker-check-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (message, step, field) of every error.
fn problems(yaml: &str) -> Vec<(String, Option<String>, Option<String>)> {
    match check_template_for_env(yaml, SRC, None) {
        Ok(t) => panic!("expected errors, parsed {t:?}"),
        Err(errors) => errors
            .into_iter()
            .map(|e| {
                assert_eq!(e.file.as_deref(), Some(SRC), "{e:?}");
                (e.message, e.step, e.field)
            })
            .collect(),
    }
}

fn p(
    message: &str,
    step: Option<&str>,
    field: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        format!("{SRC}: {message}"),
        step.map(str::to_string),
        field.map(str::to_string),
    )
}

const MANY_ERRORS: &str = r#"
name: many
namespace_name: ns
versoin: 1.0.0
steps:
  - name: a
    handler: { callable: A }
    retry: { max_attempts: 101 }
    timeout_seconds: -1
  - name: b
    type: decisoin
    dependencies: [a, a, zzz]
  - handler: { callable: C }
  - name: b
    handler: { callable: B2 }
"#;

#[test]
fn every_error_of_a_file_is_found_with_its_step_and_field() {
    assert_eq!(
        problems(MANY_ERRORS),
        vec![
            p(
                "unknown field 'versoin' (did you mean 'version'?)",
                None,
                Some("versoin")
            ),
            p("missing required field 'version'", None, Some("version")),
            p(
                "step 'a': field 'retry.max_attempts': must be between 1 and 100, got 101",
                Some("a"),
                Some("retry.max_attempts"),
            ),
            p(
                "step 'a': field 'timeout_seconds': must be > 0 and <= 86400, got -1",
                Some("a"),
                Some("timeout_seconds"),
            ),
            p(
                "step 'b': field 'type': unknown step type 'decisoin', expected one of standard, \
                 decision, deferred_convergence, batchable, batch_worker, signal, subtask",
                Some("b"),
                Some("type"),
            ),
            p(
                "step 'b': missing required field 'handler'",
                Some("b"),
                Some("handler")
            ),
            p(
                "step #3: missing required field 'name'",
                Some("#3"),
                Some("name")
            ),
            p(
                "step 'b': duplicate step name (steps #2 and #4)",
                Some("b"),
                None
            ),
            p(
                "step 'b': field 'dependencies': step 'a' is listed more than once",
                Some("b"),
                Some("dependencies"),
            ),
            // `zzz` is not reported unknown: step #3 has no name, and might have been meant.
        ]
    );
    // The first-error API returns the first of them.
    let first = parse_template(MANY_ERRORS, SRC).expect_err("invalid");
    assert_eq!(first.message, problems(MANY_ERRORS)[0].0);
}

#[test]
fn unknown_dependencies_and_cycles_are_all_found_when_every_step_has_a_name() {
    let yaml = r#"
name: t
namespace_name: ns
version: 1.0.0
steps:
  - name: a
    dependencies: [c]
    handler: { callable: A }
  - name: b
    dependencies: [a, nope]
    handler: { callable: B }
  - name: c
    dependencies: [b, also_nope, c]
    handler: { callable: C }
"#;
    assert_eq!(
        problems(yaml),
        vec![
            p(
                "step 'b': field 'dependencies': unknown step 'nope'",
                Some("b"),
                Some("dependencies"),
            ),
            p(
                "step 'c': field 'dependencies': unknown step 'also_nope'",
                Some("c"),
                Some("dependencies"),
            ),
            p(
                "step 'c': field 'dependencies': a step cannot depend on itself",
                Some("c"),
                Some("dependencies"),
            ),
            p("dependency cycle: a -> c -> b -> a", None, None),
        ]
    );
}

#[test]
fn a_file_that_is_not_a_template_mapping_gives_one_error() {
    assert_eq!(
        problems("- a\n- b\n"),
        vec![p(
            "expected a mapping of template fields, got a list",
            None,
            None
        )]
    );
    let yaml_error = problems("name: [unclosed\n");
    assert_eq!(yaml_error.len(), 1);
    assert!(
        yaml_error[0]
            .0
            .starts_with(&format!("{SRC}: invalid YAML: ")),
        "{yaml_error:?}"
    );
}

#[test]
fn check_templates_reports_every_failing_file_and_keeps_the_valid_ones() {
    let dir = TempDir::new("files");
    let d = dir.path().display().to_string();
    dir.write(
        "a.yaml",
        "name: a\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: s\n    handler: { callable: A }\n",
    );
    dir.write(
        "b.yaml",
        "name: b\nnamespace_name: ns\nversion: 1.0.0\nsteps: []\n",
    );
    dir.write(
        "c.yaml",
        "name: c\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: s\n    handler: { calable: C }\n",
    );
    dir.write(
        "d.yaml",
        "name: a\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: s\n    handler: { callable: A }\n",
    );
    let missing = dir.path().join("missing.yaml");
    let report = check_templates(&[dir.path().to_path_buf(), missing.clone()]);

    assert_eq!(
        report.files,
        ["a.yaml", "b.yaml", "c.yaml", "d.yaml"].map(|f| format!("{d}/{f}"))
    );
    assert_eq!(
        report.templates.iter().map(|t| t.key()).collect::<Vec<_>>(),
        ["ns/a@1.0.0"]
    );
    let found: Vec<(Option<&str>, &str)> = report
        .errors
        .iter()
        .map(|e| (e.file.as_deref(), e.message.as_str()))
        .collect();
    let missing = missing.display().to_string();
    let expected = [
        (missing.clone(), format!("{missing}: no such file or directory")),
        (format!("{d}/b.yaml"), format!("{d}/b.yaml: template has no steps")),
        (
            format!("{d}/c.yaml"),
            format!("{d}/c.yaml: step 's': unknown field 'handler.calable' (did you mean 'handler.callable'?)"),
        ),
        (
            format!("{d}/d.yaml"),
            format!("{d}/d.yaml: template ns/a@1.0.0 is already defined in {d}/a.yaml"),
        ),
    ];
    assert_eq!(
        found,
        expected
            .iter()
            .map(|(f, m)| (Some(f.as_str()), m.as_str()))
            .collect::<Vec<_>>()
    );
    // The first-error API stops at the first of them.
    let first = load_templates(&[dir.path().to_path_buf(), dir.path().join("missing.yaml")])
        .expect_err("invalid");
    assert_eq!(first, report.errors[0]);
}

#[test]
fn check_templates_of_valid_files_has_no_errors() {
    let dir = TempDir::new("valid");
    dir.write(
        "a.yaml",
        "name: a\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: s\n    handler: { callable: A }\n",
    );
    let report = check_templates(&[dir.path()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.templates.len(), 1);
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["errors"], serde_json::json!([]));
    assert_eq!(json["templates"][0]["name"], "a");
}
