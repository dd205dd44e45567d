//! Templates written for tasker-core: the keys it ignores are ignored with a notice, its
//! spellings of retry settings are read under our names (with their units), `max_attempts: 0`
//! and `retryable: false` with more attempts mean one attempt as there, and keys nobody knows
//! are still errors. See docs/templates.md, "Porting tasker-core templates".

use tasker_domain::{
    check_templates, parse_template, parse_template_for_env, RetryConfig, TaskTemplate,
    TemplateNotice,
};

const SRC: &str = "templates/x.yaml";

/// A template with one step `charge` whose `retry` block is `retry`.
fn with_retry(retry: &str) -> String {
    format!(
        "name: x\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: charge\n    \
         handler: {{ callable: C }}\n    retry: {retry}\n"
    )
}

fn load(yaml: &str) -> TaskTemplate {
    parse_template(yaml, SRC).unwrap_or_else(|e| panic!("{e}"))
}

fn retry_of(yaml: &str) -> RetryConfig {
    load(yaml).steps[0].retry.clone()
}

/// (field, message without the file) of every notice.
fn notices(t: &TaskTemplate) -> Vec<(String, String)> {
    t.notices
        .iter()
        .map(|n| {
            assert_eq!(n.file, SRC);
            let prefix = format!("{SRC}: ");
            let text = n.message.strip_prefix(&prefix).unwrap_or_else(|| {
                panic!("a notice starts with its file: {}", n.message);
            });
            (n.field.clone(), text.to_string())
        })
        .collect()
}

fn n(field: &str, text: &str) -> (String, String) {
    (field.to_string(), text.to_string())
}

fn error(yaml: &str) -> String {
    match parse_template(yaml, SRC) {
        Ok(t) => panic!("expected an error, parsed {t:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn retry_limit_is_max_attempts() {
    let t = load(&with_retry("{ limit: 5 }"));
    assert_eq!(t.steps[0].retry.max_attempts, 5);
    assert_eq!(
        notices(&t),
        vec![n(
            "retry.limit",
            "reading 'retry.limit' in step 'charge' as 'retry.max_attempts' (tasker-core's spelling)"
        )]
    );
    // Its range is max_attempts' range.
    assert_eq!(
        error(&with_retry("{ limit: 101 }")),
        "templates/x.yaml: step 'charge': field 'retry.limit': must be between 1 and 100, got 101"
    );
    assert_eq!(
        error(&with_retry("{ limit: many }")),
        "templates/x.yaml: step 'charge': field 'retry.limit': expected a whole number, got string 'many'"
    );
}

#[test]
fn max_attempts_wins_over_limit_as_in_tasker_core() {
    let t = load(&with_retry("{ max_attempts: 2, limit: 5 }"));
    assert_eq!(t.steps[0].retry.max_attempts, 2);
    assert_eq!(
        notices(&t),
        vec![n(
            "retry.limit",
            "ignoring 'retry.limit' in step 'charge': 'retry.max_attempts' is set too, and wins as in tasker-core"
        )]
    );
}

#[test]
fn initial_delay_and_max_delay_are_seconds() {
    let t = load(&with_retry("{ initial_delay: 2, max_delay: 30 }"));
    let r = &t.steps[0].retry;
    assert_eq!((r.backoff_base_ms, r.max_backoff_ms), (2_000, 30_000));
    assert_eq!(
        notices(&t),
        vec![
            n(
                "retry.initial_delay",
                "reading 'retry.initial_delay' in step 'charge' as 'retry.backoff_base_ms': seconds, times 1000 (tasker-core's spelling)"
            ),
            n(
                "retry.max_delay",
                "reading 'retry.max_delay' in step 'charge' as 'retry.max_backoff_ms': seconds, times 1000 (tasker-core's spelling)"
            ),
        ]
    );
    // Fractions of a second, to the millisecond.
    let r = retry_of(&with_retry("{ initial_delay: 0.25, max_delay: 1.5 }"));
    assert_eq!((r.backoff_base_ms, r.max_backoff_ms), (250, 1_500));
    // An initial delay past the default cap (30 s) with no cap given is its own cap.
    let r = retry_of(&with_retry("{ initial_delay: 60 }"));
    assert_eq!((r.backoff_base_ms, r.max_backoff_ms), (60_000, 60_000));
    // Within the default cap, the default cap stays.
    let r = retry_of(&with_retry("{ initial_delay: 5 }"));
    assert_eq!((r.backoff_base_ms, r.max_backoff_ms), (5_000, 30_000));
}

#[test]
fn the_millisecond_fields_win_over_the_seconds() {
    let t = load(&with_retry(
        "{ backoff_base_ms: 100, initial_delay: 2, max_backoff_ms: 500, max_delay: 30 }",
    ));
    let r = &t.steps[0].retry;
    assert_eq!((r.backoff_base_ms, r.max_backoff_ms), (100, 500));
    assert_eq!(
        notices(&t),
        vec![
            n(
                "retry.initial_delay",
                "ignoring 'retry.initial_delay' in step 'charge': 'retry.backoff_base_ms' is set too, and wins as in tasker-core"
            ),
            n(
                "retry.max_delay",
                "ignoring 'retry.max_delay' in step 'charge': 'retry.max_backoff_ms' is set too, and wins as in tasker-core"
            ),
        ]
    );
}

#[test]
fn bad_delays_in_seconds_are_errors_naming_the_key() {
    for (retry, message) in [
        (
            "{ initial_delay: soon }",
            "field 'retry.initial_delay': expected a number of seconds, got string 'soon'",
        ),
        (
            "{ initial_delay: -1 }",
            "field 'retry.initial_delay': must be between 0 and 3600 seconds, got -1",
        ),
        (
            "{ max_delay: 3601 }",
            "field 'retry.max_delay': must be between 0 and 3600 seconds, got 3601",
        ),
        (
            "{ initial_delay: 5, max_delay: 2 }",
            "field 'retry.max_delay': must be >= retry.initial_delay (5 s), got 2 s",
        ),
        (
            "{ backoff_base_ms: 5000, max_delay: 2 }",
            "field 'retry.max_delay': must be >= retry.backoff_base_ms (5000), got 2 s",
        ),
    ] {
        assert_eq!(
            error(&with_retry(retry)),
            format!("templates/x.yaml: step 'charge': {message}"),
            "{retry}"
        );
    }
}

#[test]
fn zero_attempts_means_one_as_in_tasker_core() {
    let t = load(&with_retry("{ max_attempts: 0 }"));
    assert_eq!(t.steps[0].retry.max_attempts, 1);
    assert!(t.steps[0].retry.retryable);
    assert_eq!(
        notices(&t),
        vec![n(
            "retry.max_attempts",
            "'retry.max_attempts: 0' in step 'charge' means one attempt, as in tasker-core; write 'retry.max_attempts: 1'"
        )]
    );
    // tasker-rb's `limit: 0`, likewise.
    let t = load(&with_retry("{ retryable: false, limit: 0 }"));
    assert_eq!(t.steps[0].retry.max_attempts, 1);
    assert_eq!(
        notices(&t),
        vec![n(
            "retry.limit",
            "'retry.limit: 0' in step 'charge' means one attempt, as in tasker-core; write 'retry.max_attempts: 1'"
        )]
    );
    // Below zero is still an error.
    assert_eq!(
        error(&with_retry("{ max_attempts: -1 }")),
        "templates/x.yaml: step 'charge': field 'retry.max_attempts': must be between 1 and 100, got -1"
    );
}

#[test]
fn not_retryable_wins_over_more_attempts_as_in_tasker_core() {
    let t = load(&with_retry("{ retryable: false, max_attempts: 3 }"));
    let r = &t.steps[0].retry;
    assert_eq!((r.retryable, r.max_attempts), (false, 1));
    assert_eq!(
        notices(&t),
        vec![n(
            "retry.max_attempts",
            "'retry.retryable: false' in step 'charge' means one attempt whatever 'retry.max_attempts' says, as in tasker-core; write 'retry.max_attempts: 1'"
        )]
    );
    // One attempt said plainly: nothing to notice.
    let t = load(&with_retry("{ retryable: false, max_attempts: 1 }"));
    assert_eq!(t.steps[0].retry.max_attempts, 1);
    assert!(t.notices.is_empty(), "{:?}", t.notices);
}

#[test]
fn keys_tasker_core_ignores_are_ignored_with_one_notice_per_key() {
    let steps: String = (1..=7)
        .map(|i| {
            format!(
                "  - name: s{i}\n    handler: {{ callable: C }}\n    lifecycle: {{ max_steps_in_process_minutes: 5 }}\n    retry: {{ limit: 2 }}\n"
            )
        })
        .collect();
    let yaml = format!(
        "name: x\nnamespace_name: ns\nversion: 1.0.0\nloaded_from: /srv/x.yaml\nsteps:\n{steps}"
    );
    let t = load(&yaml);
    assert_eq!(t.steps.len(), 7);
    assert!(t.steps.iter().all(|s| s.retry.max_attempts == 2));
    assert_eq!(
        notices(&t),
        vec![
            n("loaded_from", "ignoring 'loaded_from' (tasker-core ignores it too)"),
            n(
                "lifecycle",
                "ignoring 'lifecycle' in steps 's1', 's2', 's3', 's4', 's5' and 2 more (tasker-core ignores it too)"
            ),
            n(
                "retry.limit",
                "reading 'retry.limit' in steps 's1', 's2', 's3', 's4', 's5' and 2 more as 'retry.max_attempts' (tasker-core's spelling)"
            ),
        ]
    );
    let lifecycle = &t.notices[1];
    assert_eq!(lifecycle.to_string(), lifecycle.message);
    assert_eq!(
        lifecycle.steps,
        vec!["s1", "s2", "s3", "s4", "s5", "s6", "s7"]
    );
    assert!(t.notices[0].steps.is_empty());
}

#[test]
fn a_template_in_our_own_spelling_has_no_notices() {
    let t = load(&with_retry(
        "{ retryable: true, max_attempts: 3, backoff: linear, backoff_base_ms: 100, max_backoff_ms: 500 }",
    ));
    assert!(t.notices.is_empty(), "{:?}", t.notices);
}

#[test]
fn notices_are_not_part_of_the_stored_template() {
    let t = load(&with_retry("{ limit: 2 }"));
    assert_eq!(t.notices.len(), 1);
    let stored = serde_json::to_value(&t).expect("serialize");
    assert!(stored.get("notices").is_none(), "{stored}");
    let back: TaskTemplate = serde_json::from_value(stored).expect("deserialize");
    assert!(back.notices.is_empty());
    assert_eq!(back.steps[0].retry.max_attempts, 2);
}

#[test]
fn unknown_keys_are_still_errors_with_did_you_mean() {
    for (yaml, message) in [
        (
            with_retry("{ max_atempts: 2 }"),
            "step 'charge': unknown field 'retry.max_atempts' (did you mean 'retry.max_attempts'?)",
        ),
        (
            with_retry("{ limits: 2 }"),
            "step 'charge': unknown field 'retry.limits'",
        ),
        (
            "name: x\nnamespace_name: ns\nversion: 1.0.0\nloaded_form: a.yaml\nsteps:\n  - name: a\n    handler: { callable: C }\n".to_string(),
            "unknown field 'loaded_form'",
        ),
        (
            "name: x\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: a\n    handler: { callable: C }\n    retyr: { limit: 2 }\n".to_string(),
            "step 'a': unknown field 'retyr' (did you mean 'retry'?)",
        ),
        (
            "name: x\nnamespace_name: ns\nversion: 1.0.0\n:loaded_from: a.yaml\nsteps:\n  - name: a\n    handler: { callable: C }\n".to_string(),
            "unknown field ':loaded_from' (a Ruby symbol key; write 'loaded_from')",
        ),
    ] {
        assert_eq!(error(&yaml), format!("{SRC}: {message}"), "{yaml}");
    }
}

#[test]
fn environment_overrides_in_tasker_core_spelling_are_read_too() {
    let yaml = "name: x\nnamespace_name: ns\nversion: 1.0.0\nsteps:\n  - name: a\n    handler: { callable: C }\n\
                environments:\n  test:\n    steps:\n      - name: ALL\n        retry: { limit: 1, initial_delay: 0 }\n";
    let plain = parse_template(yaml, SRC).expect("loads");
    assert_eq!(plain.steps[0].retry.max_attempts, 3);
    assert!(plain.notices.is_empty(), "{:?}", plain.notices);
    let t = parse_template_for_env(yaml, SRC, Some("test")).expect("loads for test");
    let r = &t.steps[0].retry;
    assert_eq!((r.max_attempts, r.backoff_base_ms), (1, 0));
    assert_eq!(
        t.notices
            .iter()
            .map(|n| n.field.as_str())
            .collect::<Vec<_>>(),
        vec!["retry.limit", "retry.initial_delay"]
    );
}

#[test]
fn the_report_of_check_templates_lists_the_notices_of_the_files_that_load() {
    let dir = std::env::temp_dir().join(format!("tasker-porting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ported = dir.join("a_ported.yaml");
    std::fs::write(
        &ported,
        "name: a\nnamespace_name: ns\nversion: 1.0.0\nloaded_from: x\nsteps:\n  - name: s\n    handler: { callable: C }\n",
    )
    .expect("write");
    // A file that fails has errors, not notices.
    std::fs::write(
        dir.join("b_broken.yaml"),
        "name: b\nnamespace_name: ns\nversion: 1.0.0\nloaded_from: x\nsteps: []\n",
    )
    .expect("write");
    let report = check_templates(&[&dir]);
    let _ = std::fs::remove_dir_all(&dir);
    let file = ported.display().to_string();
    assert_eq!(report.templates.len(), 1);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(
        report.notices,
        vec![TemplateNotice {
            message: format!("{file}: ignoring 'loaded_from' (tasker-core ignores it too)"),
            file: file.clone(),
            field: "loaded_from".into(),
            steps: vec![],
        }]
    );
    let json = serde_json::to_value(&report).expect("serialize");
    assert_eq!(
        json["notices"],
        serde_json::json!([{
            "message": format!("{file}: ignoring 'loaded_from' (tasker-core ignores it too)"),
            "file": file,
            "field": "loaded_from",
        }])
    );
}
