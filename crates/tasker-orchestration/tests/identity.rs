//! Identity strategies (docs/identity.md): `always_unique` (the default) creates a task per
//! create unless an idempotency key repeats; `strict` dedupes on the template and the canonical
//! context (key order and number spelling aside), an idempotency key deciding when given;
//! `caller_provided` requires an idempotency key. A duplicate returns the existing task, or
//! fails with `DuplicateTask` when asked to, also between requests of one bulk create. On both
//! backends.

mod common;

use common::*;
use serde_json::json;
use tasker_orchestration::{CreateTask, ErrorCode, ListTasks, OnDuplicate};

backend_tests!(
    always_unique_is_the_default,
    strict_dedupes_on_the_canonical_context,
    strict_with_an_idempotency_key_dedupes_on_the_key,
    caller_provided_requires_an_idempotency_key,
    on_duplicate_error_names_the_existing_task,
    concurrent_strict_creates_make_one_task,
    child_tasks_of_a_strict_template_are_always_new,
);

/// A subtask step that starts a `strict` child at once, with the parent's context.
const STARTER: &str = r#"
name: starter
namespace_name: test
version: 1.0.0
steps:
  - name: run
    type: subtask
    task: { namespace: test, name: strict, version: 1.0.0 }
    context: parent
"#;

const STRICT: &str = r#"
name: strict
namespace_name: test
version: 1.0.0
identity_strategy: strict
steps:
  - name: only
    handler: { callable: Strict.Only }
"#;

const STRICT_V2: &str = r#"
name: strict
namespace_name: test
version: 2.0.0
identity_strategy: strict
steps:
  - name: only
    handler: { callable: Strict.Only }
"#;

const CALLER: &str = r#"
name: caller
namespace_name: test
version: 1.0.0
identity_strategy: caller_provided
steps:
  - name: only
    handler: { callable: Caller.Only }
"#;

fn raw(name: &str, context: &str, key: Option<&str>) -> CreateTask {
    CreateTask {
        context: context.to_string(),
        ..req(name, json!({}), key)
    }
}

fn erroring(r: CreateTask) -> CreateTask {
    CreateTask {
        on_duplicate: OnDuplicate::Error,
        ..r
    }
}

async fn count(engine: &tasker_orchestration::Engine, name: &str) -> usize {
    engine
        .list_tasks(&ListTasks {
            name: Some(name.to_string()),
            limit: Some(1000),
            ..ListTasks::default()
        })
        .await
        .expect("list")
        .len()
}

async fn always_unique_is_the_default(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let a = engine
        .create_task(req("single", json!({ "x": 1 }), None))
        .await
        .unwrap();
    let b = engine
        .create_task(req("single", json!({ "x": 1 }), None))
        .await
        .unwrap();
    assert_ne!(a.task_uuid, b.task_uuid);
    assert_eq!(a.identity_hash, None);
    assert_eq!(count(&engine, "single").await, 2);
}

async fn strict_dedupes_on_the_canonical_context(db: TestDb) {
    let engine = engine(&db, &[("strict.yaml", STRICT), ("strict2.yaml", STRICT_V2)]).await;
    let first = engine
        .create_task(raw(
            "strict",
            r#"{"order":7,"lines":[{"sku":"a","qty":1}]}"#,
            None,
        ))
        .await
        .unwrap();
    let hash = first
        .identity_hash
        .clone()
        .expect("a strict task has an identity hash");
    assert_eq!(hash.len(), 64);
    // The same context, keys reordered and numbers spelled differently: the same task.
    let again = engine
        .create_task(raw(
            "strict",
            r#"{ "lines": [{"qty": 1.0, "sku": "a"}], "order": 7 }"#,
            None,
        ))
        .await
        .unwrap();
    assert_eq!(again.task_uuid, first.task_uuid);
    assert_eq!(again.identity_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(
        details(&engine, &first.task_uuid)
            .await
            .identity_hash
            .as_deref(),
        Some(hash.as_str())
    );
    // Another context, or another version of the template: another task.
    let other = engine
        .create_task(raw(
            "strict",
            r#"{"order":8,"lines":[{"sku":"a","qty":1}]}"#,
            None,
        ))
        .await
        .unwrap();
    assert_ne!(other.task_uuid, first.task_uuid);
    let v2 = engine
        .create_task(CreateTask {
            version: "2.0.0".into(),
            ..raw(
                "strict",
                r#"{"order":7,"lines":[{"sku":"a","qty":1}]}"#,
                None,
            )
        })
        .await
        .unwrap();
    assert_ne!(v2.task_uuid, first.task_uuid);
    // Within one bulk create too.
    let bulk = engine
        .create_tasks(vec![
            raw("strict", r#"{"order":9}"#, None),
            raw("strict", r#"{"order":9.0}"#, None),
            raw(
                "strict",
                r#"{"order":7,"lines":[{"sku":"a","qty":1}]}"#,
                None,
            ),
        ])
        .await
        .unwrap();
    assert_eq!(bulk[0].task_uuid, bulk[1].task_uuid);
    assert_eq!(bulk[2].task_uuid, first.task_uuid);
    assert_eq!(count(&engine, "strict").await, 4);
}

async fn strict_with_an_idempotency_key_dedupes_on_the_key(db: TestDb) {
    let engine = engine(&db, &[("strict.yaml", STRICT)]).await;
    let a = engine
        .create_task(raw("strict", r#"{"x":1}"#, Some("k1")))
        .await
        .unwrap();
    assert_eq!(a.identity_hash, None, "the key decides, no hash is kept");
    // The same context under another key: another task.
    let b = engine
        .create_task(raw("strict", r#"{"x":1}"#, Some("k2")))
        .await
        .unwrap();
    assert_ne!(a.task_uuid, b.task_uuid);
    // The same key with another context: the first task.
    let c = engine
        .create_task(raw("strict", r#"{"x":2}"#, Some("k1")))
        .await
        .unwrap();
    assert_eq!(c.task_uuid, a.task_uuid);
    // Without a key the context decides, and keyed tasks do not count.
    let d = engine
        .create_task(raw("strict", r#"{"x":1}"#, None))
        .await
        .unwrap();
    assert_ne!(d.task_uuid, a.task_uuid);
    assert_ne!(d.task_uuid, b.task_uuid);
}

async fn caller_provided_requires_an_idempotency_key(db: TestDb) {
    let engine = engine(&db, &[("caller.yaml", CALLER)]).await;
    let e = engine
        .create_task(raw("caller", "{}", None))
        .await
        .expect_err("a key is required");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "the template test/caller@1.0.0 has identity_strategy caller_provided: every create must \
         give an idempotencyKey"
    );
    let e = engine
        .create_tasks(vec![
            raw("caller", "{}", Some("k")),
            raw("caller", "{}", None),
        ])
        .await
        .expect_err("a key is required");
    assert!(
        e.to_string()
            .starts_with("request 1: the template test/caller@1.0.0"),
        "{e}"
    );
    assert_eq!(
        count(&engine, "caller").await,
        0,
        "nothing of the bulk create was created"
    );
    let a = engine
        .create_task(raw("caller", r#"{"x":1}"#, Some("k")))
        .await
        .unwrap();
    let b = engine
        .create_task(raw("caller", r#"{"x":2}"#, Some("k")))
        .await
        .unwrap();
    assert_eq!(a.task_uuid, b.task_uuid);
}

async fn on_duplicate_error_names_the_existing_task(db: TestDb) {
    let engine = engine(&db, &[("strict.yaml", STRICT), ("single.yaml", SINGLE)]).await;
    let first = engine
        .create_task(raw("strict", r#"{"x":1}"#, None))
        .await
        .unwrap();
    let e = engine
        .create_task(erroring(raw("strict", r#"{"x":1.0}"#, None)))
        .await
        .expect_err("a duplicate fails");
    assert_eq!(e.code(), ErrorCode::DuplicateTask);
    assert_eq!(
        e.to_string(),
        format!(
            "task {} of test/strict@1.0.0 already has the same context (identity_strategy \
             strict) (onDuplicate: 'error')",
            first.task_uuid
        )
    );
    // Idempotency keys too, on any strategy.
    let keyed = engine
        .create_task(req("single", json!({}), Some("order-1")))
        .await
        .unwrap();
    let e = engine
        .create_task(erroring(req("single", json!({}), Some("order-1"))))
        .await
        .expect_err("a duplicate key fails");
    assert_eq!(
        e.to_string(),
        format!(
            "task {} of test/single@1.0.0 already has the idempotency key 'order-1' \
             (onDuplicate: 'error')",
            keyed.task_uuid
        )
    );
    // A repeat within one bulk create: nothing is created.
    let e = engine
        .create_tasks(vec![
            raw("strict", r#"{"x":5}"#, None),
            erroring(raw("strict", r#"{"x":5}"#, None)),
        ])
        .await
        .expect_err("a repeat fails");
    assert_eq!(e.code(), ErrorCode::DuplicateTask);
    assert_eq!(
        e.to_string(),
        "request 1: request 0 of the same call has the same context (identity_strategy strict) \
         for test/strict@1.0.0 (onDuplicate: 'error')"
    );
    assert_eq!(count(&engine, "strict").await, 1);
    // A new task is created as usual.
    let fresh = engine
        .create_task(erroring(raw("strict", r#"{"x":6}"#, None)))
        .await
        .unwrap();
    assert_ne!(fresh.task_uuid, first.task_uuid);
}

/// Two engines on PostgreSQL (two pools, as two processes have); one on in-memory SQLite.
async fn concurrent_strict_creates_make_one_task(db: TestDb) {
    let a = engine(&db, &[("strict.yaml", STRICT)]).await;
    let b = match db.backend {
        Backend::Postgres => engine(&db, &[("strict.yaml", STRICT)]).await,
        Backend::Sqlite => a.clone(),
    };
    let mut joins = Vec::new();
    for i in 0..8 {
        let engine = if i % 2 == 0 { a.clone() } else { b.clone() };
        joins.push(tokio::spawn(async move {
            engine
                .create_task(raw("strict", r#"{"same":true}"#, None))
                .await
                .expect("create")
                .task_uuid
        }));
    }
    let mut uuids = Vec::new();
    for j in joins {
        uuids.push(j.await.expect("join"));
    }
    uuids.dedup();
    assert_eq!(uuids.len(), 1, "{uuids:?}");
    assert_eq!(count(&a, "strict").await, 1);
}

/// Each run of a subtask step is its own child, whatever the child template's strategy.
async fn child_tasks_of_a_strict_template_are_always_new(db: TestDb) {
    let engine = engine(&db, &[("strict.yaml", STRICT), ("starter.yaml", STARTER)]).await;
    let a = engine
        .create_task(raw("starter", r#"{"x":1}"#, None))
        .await
        .unwrap();
    let b = engine
        .create_task(raw("starter", r#"{"x":1}"#, None))
        .await
        .unwrap();
    let child = |t: &tasker_orchestration::TaskView| {
        t.children
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| c.task_uuid.clone())
    };
    let ca = child(&details(&engine, &a.task_uuid).await).expect("a's child");
    let cb = child(&details(&engine, &b.task_uuid).await).expect("b's child");
    assert_ne!(ca, cb, "the same context, two children");
    assert_eq!(details(&engine, &ca).await.identity_hash, None);
    assert_eq!(count(&engine, "strict").await, 2);
}
