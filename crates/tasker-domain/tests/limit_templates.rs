//! Limits in templates (docs/limits.md): `concurrency`, `rate_limit`, `limit_key`, and the
//! errors that name the file, the step and the field.

use serde_json::json;
use tasker_domain::{parse_template, render_key, RateLimit, TemplateError};

const SRC: &str = "templates/payments.yaml";

fn template(step_fields: &str) -> String {
    format!(
        "name: payments\nnamespace_name: billing\nversion: 1.0.0\nsteps:\n  - name: charge\n    \
         handler: {{ callable: Payments.Charge }}\n{step_fields}"
    )
}

fn err(step_fields: &str) -> String {
    match parse_template(&template(step_fields), SRC) {
        Ok(t) => panic!("expected an error, parsed {t:?}"),
        Err(TemplateError { message, .. }) => message,
    }
}

#[test]
fn limits_are_parsed_with_the_burst_defaulting_to_the_rate_rounded_up() {
    let t = parse_template(
        &template(
            "    concurrency: 2\n    rate_limit: { per_second: 2.5 }\n    \
             limit_key: \"customer:{{customer.id}}\"\n",
        ),
        SRC,
    )
    .expect("parses");
    let l = t
        .step("charge")
        .and_then(|s| s.limits.clone())
        .expect("limits");
    assert_eq!(l.concurrency, Some(2));
    assert_eq!(
        l.rate_limit,
        Some(RateLimit {
            per_second: 2.5,
            burst: 3
        })
    );
    assert_eq!(
        l.resolve_key("Payments.Charge", &json!({ "customer": { "id": 42 } })),
        "Payments.Charge:customer:42"
    );
    // Without limits a step has none.
    let t = parse_template(&template(""), SRC).expect("parses");
    assert_eq!(t.step("charge").and_then(|s| s.limits.clone()), None);
}

#[test]
fn keys_render_strings_numbers_and_missing_fields() {
    let ctx = json!({ "a": { "b": "x" }, "n": 3, "list": ["p", "q"] });
    assert_eq!(render_key("{{a.b}}/{{n}}/{{ list.1 }}", &ctx), "x/3/q");
    assert_eq!(render_key("k:{{missing}}", &ctx), "k:");
}

#[test]
fn jsonpath_keys_take_the_first_match() {
    let ctx = json!({ "customer": { "id": 42, "name": "ada" }, "items": [{ "sku": "a" }, { "sku": "b" }] });
    assert_eq!(render_key("$.customer.name", &ctx), "ada");
    assert_eq!(render_key("$.customer.id", &ctx), "42");
    assert_eq!(render_key("$.items[*].sku", &ctx), "a");
    assert_eq!(render_key("$.missing", &ctx), "");
    let t = parse_template(
        &template("    concurrency: 1\n    limit_key: $.customer.id\n"),
        SRC,
    )
    .expect("parses");
    let l = t
        .step("charge")
        .and_then(|s| s.limits.clone())
        .expect("limits");
    assert_eq!(l.resolve_key("Payments.Charge", &ctx), "Payments.Charge:42");
}

#[test]
fn bad_limits_are_errors_naming_the_step_and_field() {
    let cases = [
        (
            "    concurrency: 0\n",
            "field 'concurrency': must be between 1 and 1000000, got 0",
        ),
        (
            "    concurrency: two\n",
            "field 'concurrency': expected a whole number, got string 'two'",
        ),
        (
            "    rate_limit: 5\n",
            "field 'rate_limit': expected a mapping with 'per_second' (and optionally 'burst'), got number 5",
        ),
        (
            "    rate_limit: { per_second: 0 }\n",
            "field 'rate_limit.per_second': must be > 0 and <= 1000000, got 0",
        ),
        (
            "    rate_limit: { burst: 3 }\n",
            "missing required field 'rate_limit.per_second'",
        ),
        (
            "    rate_limit: { per_second: 1, burst: 0 }\n",
            "field 'rate_limit.burst': must be between 1 and 1000000, got 0",
        ),
        (
            "    rate_limit: { per_second: 1, brust: 2 }\n",
            "unknown field 'rate_limit.brust' (did you mean 'rate_limit.burst'?)",
        ),
        (
            "    concurrency: 1\n    limit_key: customer\n",
            "field 'limit_key': must name a field of the task context as {{field}} (e.g. \"customer:{{customer_id}}\") or be a JSONPath (e.g. \"$.customer_id\"), got 'customer'",
        ),
        (
            "    concurrency: 1\n    limit_key: \"$.customer[\"\n",
            "field 'limit_key': is not a valid JSONPath (",
        ),
        (
            "    concurrency: 1\n    limit_key: 7\n",
            "field 'limit_key': expected a string such as \"customer:{{customer_id}}\" or \"$.customer_id\", got number 7",
        ),
        (
            "    limit_key: \"{{customer_id}}\"\n",
            "field 'limit_key': needs 'concurrency' or 'rate_limit': a key without a limit limits nothing",
        ),
        (
            "    concurency: 2\n",
            "unknown field 'concurency' (did you mean 'concurrency'?)",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(fields, expected)| {
            let message = err(fields);
            // A JSONPath's parse error is the library's: only its start is pinned.
            let pinned = if expected.ends_with('(') {
                message.starts_with(&format!("{SRC}: step 'charge': {expected}"))
                    && message.ends_with("got '$.customer['")
            } else {
                message == format!("{SRC}: step 'charge': {expected}")
            };
            (!pinned).then(|| format!("{fields:?} gave {message}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn worker_limits_parse_with_the_template_fields() {
    let limits = tasker_domain::parse_worker_limits(
        r#"{ "Billing.Charge": { "concurrency": 2, "rate_limit": { "per_second": 10 } },
             "Billing.Notify": { "concurrency": 1, "limit_key": "customer:{{customer.id}}" } }"#,
        "createWorker limits",
    )
    .expect("parses");
    let charge = &limits["Billing.Charge"];
    assert_eq!(charge.concurrency, Some(2));
    assert_eq!(
        charge.rate_limit,
        Some(RateLimit {
            per_second: 10.0,
            burst: 10
        })
    );
    assert_eq!(
        limits["Billing.Notify"].resolve_key("Billing.Notify", &json!({ "customer": { "id": 7 } })),
        "Billing.Notify:customer:7"
    );
}

#[test]
fn bad_worker_limits_are_errors_naming_the_handler_and_field() {
    let cases = [
        (
            r#"{ "X": { "concurency": 2 } }"#,
            "createWorker limits: handler 'X': unknown field 'concurency' (did you mean 'concurrency'?)",
        ),
        (
            r#"{ "X": {} }"#,
            "createWorker limits: handler 'X': needs 'concurrency' or 'rate_limit': an empty limit limits nothing",
        ),
        (
            r#"{ "X": 3 }"#,
            "createWorker limits: handler 'X': expected a mapping of 'concurrency', 'rate_limit' and 'limit_key', got number 3",
        ),
        (
            r#"{ "X": { "concurrency": 0 } }"#,
            "createWorker limits: handler 'X': field 'concurrency': must be between 1 and 1000000, got 0",
        ),
        (
            r#"{ "X": { "rate_limit": { "per_second": -1 } } }"#,
            "createWorker limits: handler 'X': field 'rate_limit.per_second': must be > 0 and <= 1000000, got -1",
        ),
        (
            r#"{ "X": { "concurrency": 1, "limit_key": "customer" } }"#,
            "createWorker limits: handler 'X': field 'limit_key': must name a field of the task context as {{field}} (e.g. \"customer:{{customer_id}}\") or be a JSONPath (e.g. \"$.customer_id\"), got 'customer'",
        ),
        (
            r#"[1]"#,
            "createWorker limits: expected an object of handler → limits, got a list",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(json, expected)| {
            let message = tasker_domain::parse_worker_limits(json, "createWorker limits")
                .expect_err(json)
                .to_string();
            (message != *expected).then(|| format!("{json} gave {message}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}
