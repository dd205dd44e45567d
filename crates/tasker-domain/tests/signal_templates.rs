//! Signal steps in templates: no handler, a timeout of up to 30 days, and `on_timeout`.

use tasker_domain::{parse_template, StepType, TemplateError};

const SRC: &str = "templates/approval.yaml";

fn template(steps: &str) -> String {
    format!("name: approval\nnamespace_name: purchasing\nversion: 1.0.0\nsteps:\n{steps}")
}

fn err(steps: &str) -> TemplateError {
    match parse_template(&template(steps), SRC) {
        Ok(t) => panic!("expected an error, parsed {t:?}"),
        Err(e) => e,
    }
}

const CHECK: &str = "  - name: check\n    handler: { callable: Check }\n";

#[test]
fn a_signal_step_has_no_handler_and_may_be_depended_on() {
    let t = parse_template(
        &template(&format!(
            "{CHECK}  - name: approve\n    type: signal\n    depends_on: [check]\n    \
             timeout_seconds: 172800\n    on_timeout: {{ result: {{ approved: false }} }}\n  \
             - name: order\n    handler: {{ callable: Order }}\n    depends_on: [approve]\n"
        )),
        SRC,
    )
    .expect("parses");
    let approve = t.step("approve").expect("approve");
    assert_eq!(approve.step_type, StepType::Signal);
    assert_eq!(approve.handler.callable, "");
    assert_eq!(approve.signal_timeout_ms(), Some(172_800_000));
    assert_eq!(
        approve.on_timeout_result,
        Some(serde_json::json!({ "approved": false }))
    );
    assert_eq!(t.step("order").expect("order").dependencies, ["approve"]);
    // Workers register no handler for it.
    let set = tasker_domain::TemplateSet {
        templates: vec![t.clone()],
    };
    let callables: Vec<&str> = set.callables().into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(callables, ["Check", "Order"]);
    // Without a timeout it waits for ever.
    let t = parse_template(&template("  - name: approve\n    type: signal\n"), SRC).expect("ok");
    assert_eq!(
        t.step("approve").expect("approve").signal_timeout_ms(),
        None
    );
}

#[test]
fn a_handler_on_a_signal_step_is_an_error() {
    let e = err("  - name: approve\n    type: signal\n    handler: { callable: Approve }\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': field 'handler': a signal step has no handler: \
         it completes when a signal is sent to it (client.sendSignal); remove 'handler' or use \
         another step type"
    );
    assert_eq!(e.file.as_deref(), Some(SRC));
    assert_eq!(e.step.as_deref(), Some("approve"));
    assert_eq!(e.field.as_deref(), Some("handler"));
    // Other steps still need one.
    let e = err("  - name: check\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'check': missing required field 'handler'"
    );
}

#[test]
fn timeout_and_on_timeout_are_checked() {
    let e = err("  - name: approve\n    type: signal\n    timeout_seconds: 2592001\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': field 'timeout_seconds': must be > 0 and <= \
         2592000 for a signal step (30 days), got 2592001"
    );
    let e = err("  - name: approve\n    type: signal\n    on_timeout: { result: {} }\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': field 'on_timeout': needs 'timeout_seconds': \
         without a timeout the step waits for its signal for ever"
    );
    let e = err(
        "  - name: approve\n    type: signal\n    timeout_seconds: 60\n    on_timeout: { reslt: {} }\n",
    );
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': unknown field 'on_timeout.reslt' (did you mean \
         'on_timeout.result'?)"
    );
    assert_eq!(e.field.as_deref(), Some("on_timeout.reslt"));
    let e =
        err("  - name: approve\n    type: signal\n    timeout_seconds: 60\n    on_timeout: {}\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': missing required field 'on_timeout.result'"
    );
    let e = err(
        "  - name: approve\n    type: signal\n    timeout_seconds: 60\n    on_timeout: { result: 3 }\n",
    );
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': field 'on_timeout.result': expected a mapping \
         (the step's result), got number 3"
    );
    let e =
        err("  - name: approve\n    type: signal\n    timeout_seconds: 60\n    on_timeout: yes\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'approve': field 'on_timeout': expected a mapping with \
         'result', got string 'yes'"
    );
    let e = err("  - name: check\n    handler: { callable: C }\n    on_timeout: { result: {} }\n");
    assert_eq!(
        e.message,
        "templates/approval.yaml: step 'check': field 'on_timeout': only a signal step (type: \
         signal) has an on_timeout"
    );
    let e = err("  - name: approve\n    type: signl\n");
    assert!(
        e.message.contains(
            "unknown step type 'signl', expected one of standard, decision, \
             deferred_convergence, batchable, batch_worker, signal"
        ),
        "{}",
        e.message
    );
    let e = err("  - name: approve\n    type: signal\n    on_timout: { result: {} }\n");
    assert!(
        e.message
            .ends_with("unknown field 'on_timout' (did you mean 'on_timeout'?)"),
        "{}",
        e.message
    );
}
