//! Subtask steps in templates: no handler, a required `task`, an optional `context`, and the
//! fields they refuse; cycles across templates are refused.

use tasker_domain::{
    parse_template, subtask_cycles, unknown_child_templates, ChildContext, StepType, TemplateError,
    TemplateSet,
};

const SRC: &str = "templates/order.yaml";

fn template(steps: &str) -> String {
    format!("name: order\nnamespace_name: shop\nversion: 1.0.0\nsteps:\n{steps}")
}

fn err(steps: &str) -> TemplateError {
    match parse_template(&template(steps), SRC) {
        Ok(t) => panic!("expected an error, parsed {t:?}"),
        Err(e) => e,
    }
}

const CHECK: &str = "  - name: check\n    handler: { callable: Check }\n";
const TASK: &str = "    task: { namespace: shop, name: shipping, version: 1.0.0 }\n";

#[test]
fn a_subtask_step_names_its_child_template_and_has_no_handler() {
    let t = parse_template(
        &template(&format!(
            "{CHECK}  - name: ship\n    type: subtask\n{TASK}    depends_on: [check]\n  \
             - name: notify\n    handler: {{ callable: Notify }}\n    depends_on: [ship]\n"
        )),
        SRC,
    )
    .expect("parses");
    let ship = t.step("ship").expect("ship");
    assert_eq!(ship.step_type, StepType::Subtask);
    assert_eq!(ship.handler.callable, "");
    let spec = ship.subtask.as_ref().expect("a subtask spec");
    assert_eq!(spec.key(), "shop/shipping@1.0.0");
    assert_eq!(spec.context, ChildContext::Merge);
    let set = TemplateSet {
        templates: vec![t.clone()],
    };
    let callables: Vec<&str> = set.callables().into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(
        callables,
        ["Check", "Notify"],
        "no handler for the subtask step"
    );
    for (given, want) in [
        ("merge", ChildContext::Merge),
        ("parent", ChildContext::Parent),
        ("dependencies", ChildContext::Dependencies),
    ] {
        let t = parse_template(
            &template(&format!(
                "  - name: ship\n    type: subtask\n{TASK}    context: {given}\n"
            )),
            SRC,
        )
        .expect("parses");
        assert_eq!(
            t.step("ship").unwrap().subtask.as_ref().unwrap().context,
            want
        );
    }
    // The stored form round-trips.
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(
        serde_json::from_str::<tasker_domain::TaskTemplate>(&json).unwrap(),
        t
    );
}

#[test]
fn every_mistake_names_the_file_step_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "  - name: ship\n    type: subtask\n",
            "task",
            "templates/order.yaml: step 'ship': missing required field 'task': a subtask step \
             names the template of its child task as task: { namespace, name, version }",
        ),
        (
            "  - name: ship\n    type: subtask\n    task: shop/shipping\n",
            "task",
            "templates/order.yaml: step 'ship': field 'task': expected a mapping with \
             'namespace', 'name' and 'version', got string 'shop/shipping'",
        ),
        (
            "  - name: ship\n    type: subtask\n    task: { namespace: shop, nmae: x, version: 1 }\n",
            "task.nmae",
            "templates/order.yaml: step 'ship': unknown field 'task.nmae' (did you mean \
             'task.name'?)",
        ),
        (
            "  - name: ship\n    type: subtask\n    task: { namespace: shop, version: '1' }\n",
            "task.name",
            "templates/order.yaml: step 'ship': missing required field 'task.name'",
        ),
        (
            &*format!("  - name: ship\n    type: subtask\n{TASK}    context: everything\n"),
            "context",
            "templates/order.yaml: step 'ship': field 'context': must be one of merge, parent, \
             dependencies, got 'everything'",
        ),
        (
            &*format!("  - name: ship\n    type: subtask\n{TASK}    handler: {{ callable: Ship }}\n"),
            "handler",
            "templates/order.yaml: step 'ship': field 'handler': a subtask step has no handler: \
             it runs the child task named by 'task' and completes with its results; remove \
             'handler' or use another step type",
        ),
        (
            &*format!("  - name: ship\n    type: subtask\n{TASK}    timeout_seconds: 30\n"),
            "timeout_seconds",
            "templates/order.yaml: step 'ship': field 'timeout_seconds': a subtask step has no \
             timeout of its own: its child task's steps have theirs",
        ),
        (
            &*format!("  - name: ship\n    type: subtask\n{TASK}    concurrency: 2\n"),
            "concurrency",
            "templates/order.yaml: step 'ship': field 'concurrency': a signal or subtask step \
             runs no handler, so it has no limits",
        ),
        (
            &*format!("  - name: check\n    handler: {{ callable: Check }}\n{TASK}"),
            "task",
            "templates/order.yaml: step 'check': field 'task': only a subtask step (type: \
             subtask) has a 'task'",
        ),
        (
            "  - name: check\n    handler: { callable: Check }\n    context: parent\n",
            "context",
            "templates/order.yaml: step 'check': field 'context': only a subtask step (type: \
             subtask) has a 'context'",
        ),
    ];
    for (steps, field, message) in cases {
        let e = err(steps);
        assert_eq!(e.message, *message, "{steps}");
        assert_eq!(e.file.as_deref(), Some(SRC));
        assert_eq!(e.field.as_deref(), Some(*field), "{steps}");
    }
    let e = err("  - name: ship\n    type: subtaks\n");
    assert!(
        e.message.contains("expected one of standard, decision, deferred_convergence, batchable, batch_worker, signal, subtask"),
        "{}",
        e.message
    );
}

fn parsed(file: &str, name: &str, child: Option<&str>) -> tasker_domain::TaskTemplate {
    let steps = match child {
        Some(c) => format!(
            "  - name: to_{c}\n    type: subtask\n    task: {{ namespace: shop, name: {c}, version: '1' }}\n"
        ),
        None => "  - name: work\n    handler: { callable: Work }\n".to_string(),
    };
    let yaml = format!("name: {name}\nnamespace_name: shop\nversion: '1'\nsteps:\n{steps}");
    parse_template(&yaml, file).expect("parses")
}

#[test]
fn cycles_and_unknown_children_are_found_across_templates() {
    let set = TemplateSet {
        templates: vec![
            parsed("a.yaml", "a", Some("b")),
            parsed("b.yaml", "b", Some("c")),
            parsed("c.yaml", "c", Some("a")),
            parsed("d.yaml", "d", Some("a")),
            parsed("e.yaml", "e", None),
        ],
    };
    let messages: Vec<String> = subtask_cycles(&set)
        .into_iter()
        .map(|e| e.message)
        .collect();
    assert_eq!(
        messages.len(),
        3,
        "a, b and c each close the cycle; d only enters it"
    );
    assert_eq!(
        messages[0],
        "a.yaml: step 'to_b': field 'task': shop/a@1 would start itself (shop/a@1 → shop/b@1 → \
         shop/c@1 → shop/a@1): a task may not start a child task of its own template, directly \
         or through other templates"
    );
    let own = TemplateSet {
        templates: vec![parsed("s.yaml", "s", Some("s"))],
    };
    assert_eq!(subtask_cycles(&own).len(), 1);
    let fine = TemplateSet {
        templates: vec![
            parsed("d.yaml", "d", Some("e")),
            parsed("e.yaml", "e", None),
        ],
    };
    assert!(subtask_cycles(&fine).is_empty());

    let lonely = TemplateSet {
        templates: vec![parsed("d.yaml", "d", Some("x"))],
    };
    let e = unknown_child_templates(&lonely, &[]);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].field.as_deref(), Some("task"));
    assert!(e[0].message.starts_with(
        "d.yaml: step 'to_x': field 'task': no task template shop/x@1 is loaded or registered"
    ));
    assert!(unknown_child_templates(&lonely, &["shop/x@1".to_string()]).is_empty());
}
