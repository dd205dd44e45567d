//! The schema: its own namespace, the types and indexes a PostgreSQL user expects, migrations
//! with checksums, and a 0.1 database refused with what to do.

use sqlx::{Executor, Row};
use tasker_store::{Store, StoreError};

use super::fixtures::*;
use super::with_db;
use crate::{PgOptions, PgStore};

async fn column_types(
    c: &mut sqlx::PgConnection,
    schema: &str,
    table: &str,
) -> Vec<(String, String)> {
    sqlx::query(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(c)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test]
async fn tables_live_in_their_schema_with_postgres_types() {
    with_db(|db| async move {
        let store = db.open().await;
        let mut c = db.connect().await;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'tasker' \
             ORDER BY table_name",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        assert_eq!(
            tables,
            vec![
                "_sqlx_migrations",
                "limits",
                "schedules",
                "signals",
                "step_edges",
                "steps",
                "task_tags",
                "tasks",
                "template_snapshots",
                "templates",
                "transitions"
            ]
        );
        let public: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(public, 0, "nothing in public");

        let tasks = column_types(&mut c, "tasker", "tasks").await;
        let ty = |cols: &[(String, String)], name: &str| {
            cols.iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        assert_eq!(ty(&tasks, "task_uuid"), "uuid");
        assert_eq!(ty(&tasks, "context"), "json");
        assert_eq!(ty(&tasks, "created_at"), "timestamp with time zone");
        assert_eq!(ty(&tasks, "total_steps"), "integer");
        assert_eq!(ty(&tasks, "correlation_id"), "text");
        assert_eq!(ty(&tasks, "tags"), "json");
        assert_eq!(ty(&tasks, "identity_hash"), "text");
        let tags = column_types(&mut c, "tasker", "task_tags").await;
        assert_eq!(ty(&tags, "task_uuid"), "uuid");
        assert_eq!(ty(&tags, "tag"), "text");
        let steps = column_types(&mut c, "tasker", "steps").await;
        for (col, want) in [
            ("step_uuid", "uuid"),
            ("task_uuid", "uuid"),
            ("claim_id", "uuid"),
            ("inputs", "json"),
            ("result", "json"),
            ("error", "json"),
            ("metadata", "json"),
            ("checkpoint", "json"),
            ("ready_at", "timestamp with time zone"),
            ("lease_until", "timestamp with time zone"),
            ("attempts", "integer"),
        ] {
            assert_eq!(ty(&steps, col), want, "steps.{col}");
        }
        let identity: String = sqlx::query_scalar(
            "SELECT identity_generation::text FROM information_schema.columns \
             WHERE table_schema = 'tasker' AND table_name = 'transitions' \
             AND column_name = 'transition_id'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(identity, "ALWAYS");

        let indexes: Vec<(String, String)> = sqlx::query(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'tasker' \
             ORDER BY indexname",
        )
        .fetch_all(&mut c)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let def = |name: &str| {
            indexes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| panic!("no index {name}: {indexes:?}"))
        };
        assert!(def("steps_claimable").ends_with(
            "USING btree (claim_order, ready_at, step_uuid) WHERE (state = ANY (ARRAY['enqueued'::text, 'waiting_for_retry'::text]))"
        ));
        assert!(def("steps_leased").ends_with("USING btree (lease_until) WHERE (state = 'in_progress'::text)"));
        assert!(def("tasks_state").ends_with("(state, created_at DESC, task_uuid DESC)"));
        assert!(def("tasks_template").ends_with("(namespace, name, created_at DESC, task_uuid DESC)"));
        assert!(def("tasks_created").ends_with("(created_at DESC, task_uuid DESC)"));
        assert!(def("tasks_idempotency").starts_with("CREATE UNIQUE INDEX"));
        assert!(def("tasks_identity").starts_with("CREATE UNIQUE INDEX"));
        assert!(def("tasks_correlation").ends_with("(correlation_id, created_at DESC, task_uuid DESC)"));
        assert!(def("task_tags_tag").ends_with("(tag, task_uuid)"));

        // CHECK constraints refuse unknown states.
        let refused = c
            .execute(
                "INSERT INTO transitions (task_uuid, from_state, to_state, at) \
                 VALUES (gen_random_uuid(), NULL, 'in_progress', now())",
            )
            .await;
        assert!(refused.is_err(), "a task transition to a step state was stored");
        // Every pooled connection resolves names in the schema.
        let mut pooled = store.pool.acquire().await.unwrap();
        let path: String = sqlx::query_scalar("SHOW search_path")
            .fetch_one(&mut *pooled)
            .await
            .unwrap();
        assert_eq!(path, "tasker");
        drop(pooled);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn another_schema_is_created_and_kept_apart() {
    with_db(|db| async move {
        let options = || PgOptions {
            schema: "team_b".into(),
            ..PgOptions::default()
        };
        let b = PgStore::open(&db.url, options()).await.unwrap();
        let a = db.open().await;
        put_template(&b).await;
        let (task, _) = task_with(&b, vec![], &[]).await;
        let in_a = read(&a, move |tx| Box::pin(async move { tx.task(task).await }))
            .await
            .unwrap();
        assert!(in_a.is_none());
        b.close().await;
        // Reopening migrates nothing twice.
        let b = PgStore::open(&db.url, options()).await.unwrap();
        assert!(
            read(&b, move |tx| Box::pin(async move { tx.task(task).await }))
                .await
                .unwrap()
                .is_some()
        );
        let mut c = db.connect().await;
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM team_b._sqlx_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap();
        // Each migration once.
        assert_eq!(applied, crate::schema::MIGRATOR.iter().count() as i64);
        assert!(applied >= 3);
        a.close().await;
        b.close().await;

        for bad in ["", "Tasker", "1st", "a-b", "pg_x", &"x".repeat(51)] {
            let Err(e) = PgStore::open(
                &db.url,
                PgOptions {
                    schema: bad.to_string(),
                    ..PgOptions::default()
                },
            )
            .await
            else {
                panic!("schema '{bad}' accepted")
            };
            assert_eq!(
                e.to_string(),
                format!(
                    "'{bad}' cannot be the tasker schema: use 1 to 50 lower-case letters, digits \
                     and underscores, not starting with a digit or pg_ (the default is tasker)"
                )
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_database_of_tasker_node_0_1_is_refused_with_what_to_do() {
    with_db(|db| async move {
        let mut c = db.connect().await;
        c.execute(
            "CREATE TABLE public.tasker_migrations (version BIGINT PRIMARY KEY, name TEXT, applied_at BIGINT); \
             CREATE TABLE public.tasker_tasks (task_uuid TEXT PRIMARY KEY); \
             CREATE TABLE public.tasker_steps (step_uuid TEXT PRIMARY KEY, task_uuid TEXT REFERENCES public.tasker_tasks); \
             CREATE TABLE public.tasker_transitions (transition_uuid TEXT PRIMARY KEY)",
        )
        .await
        .unwrap();
        let Err(e) = PgStore::open(&db.url, PgOptions::default()).await else {
            panic!("a 0.1 database was opened")
        };
        assert!(matches!(e, StoreError::Schema(_)), "{e:?}");
        let statement = "DROP TABLE public.tasker_migrations, public.tasker_transitions, \
                         public.tasker_steps, public.tasker_tasks;";
        assert_eq!(
            e.to_string(),
            format!(
                "PostgreSQL database \"{}\" at {} was created by tasker-node 0.1 (it \
                 has the table public.tasker_migrations), whose storage layout this version cannot \
                 read. Let the tasks in it finish with tasker-node 0.1, then drop its tables with \
                 `{statement}`, or point the database URL at another database",
                db.name,
                super::host_port()
            )
        );
        // Nothing was created; and the statement given does what it says.
        let schemas: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tasker'")
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(schemas, 0);
        c.execute(statement.trim_end_matches(';')).await.unwrap();
        let store = db.open().await;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    with_db(|db| async move {
        let store = db.open().await;
        store.close().await;
        let mut c = db.connect().await;
        c.execute("UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea")
            .await
            .unwrap();
        let Err(e) = PgStore::open(&db.url, PgOptions::default()).await else {
            panic!("an edited migration was accepted")
        };
        assert_eq!(
            e.to_string(),
            format!(
                "the schema \"tasker\" of PostgreSQL database \"{}\" at {} has \
                 migration 1 applied with different contents than this version's (its checksum in \
                 tasker._sqlx_migrations differs): the schema was changed by another build of \
                 tasker-node; use the build that created it, or another schema",
                db.name,
                super::host_port()
            )
        );
        c.execute("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                   VALUES (99, 'future', true, '\\x00'::bytea, 0)")
            .await
            .unwrap();
        c.execute("DELETE FROM _sqlx_migrations WHERE version = 1").await.unwrap();
        let Err(e) = PgStore::open(&db.url, PgOptions::default()).await else {
            panic!("an unknown migration was accepted")
        };
        assert!(
            e.to_string().ends_with(
                "was migrated by a newer tasker-node (its migration 99 is unknown to this \
                 version): upgrade tasker-node, or use another schema or database"
            ),
            "{e}"
        );
    })
    .await;
}
