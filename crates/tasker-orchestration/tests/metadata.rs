//! Task metadata (docs/task-metadata.md): correlation ids (given, or generated as UUID v7),
//! parent correlation ids, initiator, source system, reason and tags are stored, returned in
//! task views, handed to handlers in the step payload, filter listing and counting, and are
//! checked with messages that name the field. Schedules' tasks say where they came from. On
//! both backends.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tasker_orchestration::{
    CreateTask, Engine, ErrorCode, ListTasks, Missed, ScheduleSpec, TaskMetadataInput, TaskView,
    SCHEDULE_SOURCE_SYSTEM,
};
use uuid::Uuid;

backend_tests!(
    metadata_is_stored_returned_and_handed_to_handlers,
    a_correlation_id_is_generated_when_absent,
    tasks_are_listed_and_counted_by_correlation_id_and_tags,
    invalid_metadata_is_refused_naming_the_field,
    scheduled_tasks_say_where_they_came_from,
);

fn with_metadata(label: &str, metadata: TaskMetadataInput) -> CreateTask {
    CreateTask {
        metadata,
        ..req("single", json!({ "label": label }), None)
    }
}

fn tagged(label: &str, correlation: &str, tags: &[&str]) -> CreateTask {
    with_metadata(
        label,
        TaskMetadataInput {
            correlation_id: Some(correlation.to_string()),
            tags: strings(tags),
            ..TaskMetadataInput::default()
        },
    )
}

fn full() -> TaskMetadataInput {
    TaskMetadataInput {
        correlation_id: Some("req-0001".into()),
        parent_correlation_id: Some("batch-7".into()),
        initiator: Some("alice@example.com".into()),
        source_system: Some("shop-web".into()),
        reason: Some("customer checkout\nsecond line".into()),
        tags: strings(&["eu", "vip", "eu"]),
    }
}

fn assert_full(view: &TaskView) {
    assert_eq!(view.correlation_id, "req-0001");
    assert_eq!(view.parent_correlation_id.as_deref(), Some("batch-7"));
    assert_eq!(view.initiator.as_deref(), Some("alice@example.com"));
    assert_eq!(view.source_system.as_deref(), Some("shop-web"));
    assert_eq!(
        view.reason.as_deref(),
        Some("customer checkout\nsecond line")
    );
    assert_eq!(
        view.tags,
        strings(&["eu", "vip"]),
        "repeats dropped, order kept"
    );
}

async fn metadata_is_stored_returned_and_handed_to_handlers(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let created = engine
        .create_task(with_metadata("one", full()))
        .await
        .expect("create");
    assert_full(&created);
    assert_full(&details(&engine, &created.task_uuid).await);
    let listed = engine
        .list_tasks(&ListTasks::default())
        .await
        .expect("list");
    assert_full(&listed[0]);

    // The handler's payload carries them on its task.
    let claimed = claim_one(&engine, &["Single.Only"], "w1").await;
    let payload: Value = serde_json::from_str(&claimed.payload).expect("payload is JSON");
    let task = &payload["task"];
    assert_eq!(task["correlation_id"], "req-0001");
    assert_eq!(task["parent_correlation_id"], "batch-7");
    assert_eq!(task["initiator"], "alice@example.com");
    assert_eq!(task["source_system"], "shop-web");
    assert_eq!(task["reason"], "customer checkout\nsecond line");
    assert_eq!(task["tags"], json!(["eu", "vip"]));

    // Without metadata: nulls and no tags.
    let plain = create(&engine, "single", json!({})).await;
    let claimed = claim_one(&engine, &["Single.Only"], "w1").await;
    let payload: Value = serde_json::from_str(&claimed.payload).expect("payload is JSON");
    assert_eq!(
        payload["task"]["correlation_id"],
        plain.correlation_id.as_str()
    );
    assert_eq!(payload["task"]["initiator"], Value::Null);
    assert_eq!(payload["task"]["tags"], json!([]));
    assert_eq!(plain.tags, Vec::<String>::new());
    assert_eq!(plain.initiator, None);
}

async fn a_correlation_id_is_generated_when_absent(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let one = create(&engine, "single", json!({})).await;
    let bulk = engine
        .create_tasks(vec![
            req("single", json!({ "i": 1 }), None),
            req("single", json!({ "i": 2 }), None),
        ])
        .await
        .expect("bulk create");
    let ids: Vec<&str> = std::iter::once(&one)
        .chain(bulk.iter())
        .map(|t| t.correlation_id.as_str())
        .collect();
    for id in &ids {
        let uuid = Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(uuid.get_version_num(), 7, "{id}");
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    // Stored, not made up on each read.
    assert_eq!(
        details(&engine, &one.task_uuid).await.correlation_id,
        ids[0]
    );

    // An idempotent repeat returns the first task with its correlation id.
    let first = engine
        .create_task(req("single", json!({}), Some("k")))
        .await
        .expect("create");
    let again = engine
        .create_task(CreateTask {
            metadata: TaskMetadataInput {
                correlation_id: Some("other".into()),
                ..TaskMetadataInput::default()
            },
            ..req("single", json!({}), Some("k"))
        })
        .await
        .expect("create again");
    assert_eq!(again.task_uuid, first.task_uuid);
    assert_eq!(again.correlation_id, first.correlation_id);
}

async fn list(engine: &Engine, filter: ListTasks) -> Vec<String> {
    let mut labels: Vec<String> = engine
        .list_tasks(&filter)
        .await
        .expect("list")
        .iter()
        .map(|t| {
            let context: Value = serde_json::from_str(t.context.get()).expect("context");
            context["label"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    labels.sort();
    labels
}

async fn count(engine: &Engine, filter: ListTasks) -> i64 {
    engine
        .count_tasks(&filter, None)
        .await
        .expect("count")
        .iter()
        .map(|(_, n)| n)
        .sum()
}

async fn tasks_are_listed_and_counted_by_correlation_id_and_tags(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    engine
        .create_tasks(vec![
            tagged("a", "c1", &["eu", "vip"]),
            tagged("b", "c1", &["eu"]),
            tagged("c", "c2", &["us", "vip"]),
            tagged("d", "c3", &[]),
            with_metadata(
                "e",
                TaskMetadataInput {
                    parent_correlation_id: Some("c1".into()),
                    tags: strings(&["eu"]),
                    ..TaskMetadataInput::default()
                },
            ),
        ])
        .await
        .expect("create");
    let by_tags = |tags: &[&str]| ListTasks {
        tags: strings(tags),
        ..ListTasks::default()
    };
    assert_eq!(
        list(&engine, by_tags(&["eu"])).await,
        strings(&["a", "b", "e"])
    );
    assert_eq!(list(&engine, by_tags(&["vip"])).await, strings(&["a", "c"]));
    // Several tags: tasks with every one of them (a repeat counts once).
    assert_eq!(
        list(&engine, by_tags(&["eu", "vip"])).await,
        strings(&["a"])
    );
    assert_eq!(
        list(&engine, by_tags(&["vip", "eu", "vip"])).await,
        strings(&["a"])
    );
    assert_eq!(
        list(&engine, by_tags(&["eu", "us"])).await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(&engine, by_tags(&["none"])).await,
        Vec::<String>::new()
    );
    let by_correlation = ListTasks {
        correlation_id: Some("c1".into()),
        ..ListTasks::default()
    };
    assert_eq!(
        list(&engine, by_correlation.clone()).await,
        strings(&["a", "b"])
    );
    let by_parent = ListTasks {
        parent_correlation_id: Some("c1".into()),
        ..ListTasks::default()
    };
    assert_eq!(list(&engine, by_parent.clone()).await, strings(&["e"]));
    // Combined with each other and with the other filters.
    let both = ListTasks {
        correlation_id: Some("c1".into()),
        tags: strings(&["vip"]),
        name: Some("single".into()),
        ..ListTasks::default()
    };
    assert_eq!(list(&engine, both.clone()).await, strings(&["a"]));
    let elsewhere = ListTasks {
        namespace: Some("other".into()),
        ..by_correlation.clone()
    };
    assert_eq!(list(&engine, elsewhere).await, Vec::<String>::new());

    // countTasks takes the same filters.
    assert_eq!(count(&engine, by_tags(&["eu"])).await, 3);
    assert_eq!(count(&engine, by_tags(&["eu", "vip"])).await, 1);
    assert_eq!(count(&engine, by_correlation).await, 2);
    assert_eq!(count(&engine, by_parent).await, 1);
    assert_eq!(count(&engine, both).await, 1);

    // A filter tag no task could have is refused, naming it.
    let e = engine
        .list_tasks(&by_tags(&["eu", "two words"]))
        .await
        .expect_err("a tag with whitespace is refused");
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(
        e.to_string(),
        "listTasks: tag 1 'two words' must not contain whitespace (use '-', '_', ':' or '.' to \
         join words)"
    );
}

async fn refused(engine: &Engine, metadata: TaskMetadataInput) -> String {
    let e = engine
        .create_task(with_metadata("bad", metadata))
        .await
        .expect_err("invalid metadata is refused");
    assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e}");
    e.to_string()
}

async fn invalid_metadata_is_refused_naming_the_field(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    let m = TaskMetadataInput::default;
    let of = "of test/single@1.0.0";
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                correlation_id: Some("x".repeat(129)),
                ..m()
            }
        )
        .await,
        format!("the correlationId {of} is 129 characters long; at most 128 are accepted")
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                correlation_id: Some(String::new()),
                ..m()
            }
        )
        .await,
        format!("the correlationId {of} must not be empty")
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                parent_correlation_id: Some("a\tb".into()),
                ..m()
            }
        )
        .await,
        format!(
            "the parentCorrelationId {of} must not contain control characters, got \\u{{9}} at \
             character 2"
        )
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                initiator: Some("é".repeat(256)),
                ..m()
            }
        )
        .await,
        format!("the initiator {of} is 256 characters long; at most 255 are accepted")
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                source_system: Some("web\n".into()),
                ..m()
            }
        )
        .await,
        format!(
            "the sourceSystem {of} must not contain control characters, got \\u{{a}} at \
             character 4"
        )
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                reason: Some("r".repeat(1001)),
                ..m()
            }
        )
        .await,
        format!("the reason {of} is 1001 characters long; at most 1000 are accepted")
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                tags: strings(&["ok", ""]),
                ..m()
            }
        )
        .await,
        format!("tag 1 {of} '' must not be empty")
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                tags: vec!["t".repeat(65)],
                ..m()
            }
        )
        .await,
        format!(
            "tag 0 {of} '{}' is 65 characters long; at most 64 are accepted",
            "t".repeat(65)
        )
    );
    assert_eq!(
        refused(
            &engine,
            TaskMetadataInput {
                tags: strings(&["two words"]),
                ..m()
            }
        )
        .await,
        format!(
            "tag 0 {of} 'two words' must not contain whitespace (use '-', '_', ':' or '.' to \
             join words)"
        )
    );
    let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    assert_eq!(
        refused(&engine, TaskMetadataInput { tags: many, ..m() }).await,
        format!("the tags {of} are 33 distinct tags; at most 32 are accepted")
    );
    // 33 tags of which 32 are distinct are fine.
    let mut repeated: Vec<String> = (0..32).map(|i| format!("t{i}")).collect();
    repeated.push("t0".into());
    let ok = engine
        .create_task(with_metadata(
            "ok",
            TaskMetadataInput {
                tags: repeated,
                ..m()
            },
        ))
        .await
        .expect("32 distinct tags are accepted");
    assert_eq!(ok.tags.len(), 32);

    // A bulk create names the request and creates nothing.
    let e = engine
        .create_tasks(vec![
            tagged("fine", "c", &["a"]),
            tagged("bad", "c", &["a b"]),
        ])
        .await
        .expect_err("refused");
    assert!(
        e.to_string().starts_with(&format!(
            "request 1: tag 0 {of} 'a b' must not contain whitespace"
        )),
        "{e}"
    );
    let labels = list(
        &engine,
        ListTasks {
            correlation_id: Some("c".into()),
            ..ListTasks::default()
        },
    )
    .await;
    assert!(labels.is_empty(), "{labels:?}");
}

async fn scheduled_tasks_say_where_they_came_from(db: TestDb) {
    let engine = engine(&db, &[("single.yaml", SINGLE)]).await;
    engine
        .register_schedules(&[ScheduleSpec {
            name: "nightly-report".to_string(),
            cron: "* * * * * *".to_string(),
            timezone: "UTC".to_string(),
            namespace: "test".to_string(),
            task_name: "single".to_string(),
            version: "1.0.0".to_string(),
            context: "{}".to_string(),
            missed: Missed::Latest,
        }])
        .await
        .expect("register");
    let until = Instant::now() + Duration::from_secs(5);
    let fired = loop {
        let report = engine
            .fire_schedules(&strings(&["nightly-report"]))
            .await
            .expect("fire");
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        if let Some(f) = report.fired.into_iter().next() {
            break f;
        }
        assert!(Instant::now() < until, "the schedule never fired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let task = details(&engine, &fired.task_uuid.to_string()).await;
    assert_eq!(task.source_system.as_deref(), Some(SCHEDULE_SOURCE_SYSTEM));
    assert_eq!(task.source_system.as_deref(), Some("schedule"));
    assert_eq!(task.initiator.as_deref(), Some("nightly-report"));
    assert_eq!(
        task.reason,
        Some(format!(
            "fire time {}",
            tasker_orchestration::iso8601(fired.fire_at)
        ))
    );
    let id = Uuid::parse_str(&task.correlation_id).expect("a generated correlation id");
    assert_eq!(id.get_version_num(), 7);
}
