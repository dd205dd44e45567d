//! `identity_strategy` in templates (docs/identity.md): its three values, the default, what the
//! stored JSON keeps, and the errors that name the file and the field.

use tasker_domain::{parse_template, IdentityStrategy, TaskTemplate, TemplateError};

const SRC: &str = "templates/orders.yaml";

fn template(top_fields: &str) -> String {
    format!(
        "name: orders\nnamespace_name: shop\nversion: 1.0.0\n{top_fields}steps:\n  - name: place\n    \
         handler: {{ callable: Shop.Place }}\n"
    )
}

fn err(top_fields: &str) -> String {
    match parse_template(&template(top_fields), SRC) {
        Ok(t) => panic!("expected an error, parsed {t:?}"),
        Err(TemplateError { message, .. }) => message,
    }
}

#[test]
fn each_strategy_is_parsed_and_always_unique_is_the_default() {
    for (yaml, want) in [
        ("", IdentityStrategy::AlwaysUnique),
        (
            "identity_strategy: always_unique\n",
            IdentityStrategy::AlwaysUnique,
        ),
        ("identity_strategy: strict\n", IdentityStrategy::Strict),
        (
            "identity_strategy: caller_provided\n",
            IdentityStrategy::CallerProvided,
        ),
    ] {
        let t = parse_template(&template(yaml), SRC).unwrap();
        assert_eq!(t.identity_strategy, want, "{yaml}");
        assert_eq!(
            want.as_str(),
            yaml.trim()
                .strip_prefix("identity_strategy: ")
                .unwrap_or("always_unique")
        );
    }
}

#[test]
fn the_stored_json_keeps_a_strategy_and_leaves_out_the_default() {
    let strict = parse_template(&template("identity_strategy: strict\n"), SRC).unwrap();
    let json = serde_json::to_string(&strict).unwrap();
    assert!(json.contains(r#""identity_strategy":"strict""#), "{json}");
    let back: TaskTemplate = serde_json::from_str(&json).unwrap();
    assert_eq!(back.identity_strategy, IdentityStrategy::Strict);
    // A template without one stores what it stored before (its digest does not change), and
    // a definition stored before identity strategies existed reads as always_unique.
    let plain = parse_template(&template(""), SRC).unwrap();
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("identity_strategy"), "{json}");
    let back: TaskTemplate = serde_json::from_str(&json).unwrap();
    assert_eq!(back.identity_strategy, IdentityStrategy::AlwaysUnique);
}

#[test]
fn unknown_strategies_and_misspelled_keys_are_refused_naming_the_field() {
    assert_eq!(
        err("identity_strategy: unique\n"),
        "templates/orders.yaml: field 'identity_strategy': must be one of always_unique, strict, \
         caller_provided, got 'unique'"
    );
    assert_eq!(
        err("identity_strategy: 3\n"),
        "templates/orders.yaml: field 'identity_strategy': expected a string, got number 3 (put \
         the value in quotes)"
    );
    assert_eq!(
        err("identity_stratgy: strict\n"),
        "templates/orders.yaml: unknown field 'identity_stratgy' (did you mean \
         'identity_strategy'?)"
    );
}
