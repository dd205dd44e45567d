//! The semantics of every `Tx` method, as the SQLite driver's queries define them.

use sqlx::{Executor, Row};
use tasker_store::*;

use super::fixtures::*;
use super::with_db;

/// The database's clock, in ms since the epoch.
async fn db_now(db: &super::TestDb) -> i64 {
    let mut c = db.connect().await;
    let row = sqlx::query("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::int8")
        .fetch_one(&mut c)
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn templates_keep_snapshots_and_point_versions_at_the_last_digest() {
    with_db(|db| async move {
        let store = db.open().await;
        write(&store, |tx| {
            Box::pin(async move {
                tx.put_templates(&[
                    template("d1", "1", r#"{"v":1}"#),
                    template("d2", "2", r#"{"v":2}"#),
                ])
                .await?;
                // Redeployed: version 1 now points at d3; d1 stays, unchanged by a later
                // record with the same digest.
                tx.put_templates(&[
                    template("d1", "9", r#"{"changed":true}"#),
                    template("d3", "1", r#"{"v":3}"#),
                    template("d4", "1", r#"{"v":4}"#),
                ])
                .await
            })
        })
        .await
        .unwrap();
        let (current, d1, keys) = read(&store, |tx| {
            Box::pin(async move {
                let key = |v: &str| TemplateKey {
                    namespace: "ns".into(),
                    name: "flow".into(),
                    version: v.into(),
                };
                let current = tx
                    .current_templates(&[key("2"), key("missing"), key("1"), key("2")])
                    .await?;
                let d1 = tx.template_snapshot("d1").await?;
                let keys = tx.template_keys(2).await?;
                Ok((current, d1, keys))
            })
        })
        .await
        .unwrap();
        let got: Vec<(String, String, String)> = current
            .into_iter()
            .map(|(k, d, def)| (k.version, d, def))
            .collect();
        assert_eq!(
            got,
            vec![
                ("2".into(), "d2".into(), r#"{"v":2}"#.into()),
                ("1".into(), "d4".into(), r#"{"v":4}"#.into()),
                ("2".into(), "d2".into(), r#"{"v":2}"#.into()),
            ]
        );
        assert_eq!(d1.as_deref(), Some(r#"{"v":1}"#));
        let versions: Vec<String> = keys.into_iter().map(|k| k.version).collect();
        assert_eq!(versions, vec!["1", "2"]);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn insert_tasks_skips_taken_idempotency_keys_and_returns_database_times() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let first = new_task(Some("k1"));
        let first_uuid = first.task_uuid;
        let before = db_now(&db).await;
        let inserted = write(&store, move |tx| {
            Box::pin(async move { tx.insert_tasks(&[first]).await })
        })
        .await
        .unwrap();
        let after = db_now(&db).await;
        assert_eq!(inserted.len(), 1);
        assert_eq!(inserted[0].0, first_uuid);
        assert!(
            before <= inserted[0].1 && inserted[0].1 <= after,
            "{before} <= {} <= {after}",
            inserted[0].1
        );

        // k1 is taken; k2 twice in one batch: the first wins; no key: always inserted.
        let taken = new_task(Some("k1"));
        let a = new_task(Some("k2"));
        let b = new_task(Some("k2"));
        let c = new_task(None);
        let (a_id, c_id) = (a.task_uuid, c.task_uuid);
        let inserted = write(&store, move |tx| {
            Box::pin(async move { tx.insert_tasks(&[taken, a, b, c]).await })
        })
        .await
        .unwrap();
        let ids: Vec<Uuid> = inserted.iter().map(|(t, _)| *t).collect();
        assert_eq!(ids, vec![a_id, c_id]);

        let found = read(&store, |tx| {
            Box::pin(async move {
                let key = TemplateKey {
                    namespace: "ns".into(),
                    name: "flow".into(),
                    version: "1".into(),
                };
                tx.tasks_by_idempotency_key(&[
                    (key.clone(), "none".into()),
                    (key.clone(), "k2".into()),
                    (key, "k1".into()),
                ])
                .await
            })
        })
        .await
        .unwrap();
        assert_eq!(found, vec![(1, a_id), (2, first_uuid)]);

        let rows = read(&store, move |tx| {
            Box::pin(async move { tx.tasks(&[c_id, Uuid::new_v4(), first_uuid]).await })
        })
        .await
        .unwrap();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.task_uuid).collect();
        assert_eq!(ids, vec![c_id, first_uuid]);
        assert_eq!(rows[1].idempotency_key.as_deref(), Some("k1"));
        assert_eq!(rows[1].state, TaskState::StepsInProcess);
        assert_eq!(rows[1].completed_at, None);
        store.close().await;
    })
    .await;
}

/// JSON is stored exactly as given: `\u0000`, lone surrogates, key order, duplicate keys and
/// whitespace survive (jsonb would refuse the first two and rewrite the rest).
#[tokio::test]
async fn json_is_kept_exactly() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let context = r#"{ "z":1, "a" : "\u0000", "s":"\ud800", "a":2 }"#;
        let mut task = new_task(None);
        task.context = context.to_string();
        let task_uuid = task.task_uuid;
        let mut s = new_step(task_uuid, "only", StepState::Enqueued, 0);
        s.inputs = r#"{"b":1,"a":"\udfff"}"#.into();
        let step_uuid = s.step_uuid;
        write(&store, move |tx| {
            Box::pin(async move {
                tx.insert_tasks(&[task]).await?;
                tx.insert_steps(&[s]).await
            })
        })
        .await
        .unwrap();
        let (_, rows) = claim(&store, &["h_only"], 1, "w").await;
        assert_eq!(rows[0].context, context);
        assert_eq!(rows[0].inputs, r#"{"b":1,"a":"\udfff"}"#);
        let mut done = change(step_uuid, StepState::Complete);
        done.result = Some(r#"[ "\u0000" , {"y":1,"x":2} ]"#.into());
        done.metadata = Some(r#"{"m" :true}"#.into());
        write(&store, move |tx| {
            Box::pin(async move { tx.change_steps(&[done]).await })
        })
        .await
        .unwrap();
        let row = step(&store, task_uuid, step_uuid).await;
        assert_eq!(
            row.result.as_deref(),
            Some(r#"[ "\u0000" , {"y":1,"x":2} ]"#)
        );
        assert_eq!(row.metadata.as_deref(), Some(r#"{"m" :true}"#));
        // And `->>` works on json (on documents PostgreSQL can de-escape: not on this one).
        let (plain, _) = task_with(&store, vec![], &[]).await;
        let mut c = db.connect().await;
        let z: String =
            sqlx::query_scalar("SELECT context->>'order' FROM tasks WHERE task_uuid = $1")
                .bind(plain)
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(z, "1");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn claim_takes_the_oldest_ready_steps_of_the_callables_and_their_tasks() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (task, ids) = task_with(
            &store,
            vec![
                ("a", StepState::Enqueued, 0),
                ("b", StepState::Enqueued, 0),
                ("c", StepState::Pending, 1),
                ("d", StepState::Enqueued, 0),
            ],
            &[],
        )
        .await;
        // a is oldest, then d, then b; all three share the callable h_x.
        let mut c = db.connect().await;
        for (i, age) in [(0, 30), (1, 10), (3, 20)] {
            sqlx::query(
                "UPDATE steps SET handler_callable = 'h_x', \
                 ready_at = now() - $2 * interval '1 second' WHERE step_uuid = $1",
            )
            .bind(ids[i])
            .bind(age as f64)
            .execute(&mut c)
            .await
            .unwrap();
        }
        // A retry whose backoff has not elapsed is not claimable.
        write(&store, {
            let b = ids[1];
            move |tx| {
                Box::pin(async move {
                    let mut retry = change(b, StepState::WaitingForRetry);
                    retry.ready_in_ms = Some(60_000);
                    tx.change_steps(&[retry]).await
                })
            }
        })
        .await
        .unwrap();
        let before = db_now(&db).await;
        let (claim_id, rows) = claim(&store, &["h_x", "h_other"], 5, "w1").await;
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["a", "d"]);
        let r = &rows[0];
        assert_eq!(r.task_uuid, task);
        assert_eq!(r.from_state, StepState::Enqueued);
        assert_eq!(r.attempts, 1);
        assert_eq!(r.max_attempts, 3);
        assert_eq!(r.task_namespace, "ns");
        assert_eq!(r.task_name, "flow");
        assert_eq!(r.task_version, "1");
        assert_eq!(r.template_digest, DIGEST);
        assert_eq!(r.context, r#"{"order":1}"#);
        assert_eq!(r.checkpoint, None);
        // Claimed under the claim, leased from the database's clock.
        let row = sqlx::query(
            "SELECT state, claim_id, claimed_by, \
             (extract(epoch FROM lease_until) * 1000)::int8 FROM steps WHERE step_uuid = $1",
        )
        .bind(ids[0])
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>(0), "in_progress");
        assert_eq!(row.get::<Uuid, _>(1), claim_id);
        assert_eq!(row.get::<String, _>(2), "w1");
        let lease: i64 = row.get(3);
        assert!(lease >= before + 30_000 && lease <= db_now(&db).await + 30_000);

        // Nothing left for h_x; the limit holds.
        assert!(claim(&store, &["h_x"], 5, "w2").await.1.is_empty());
        let (_, rows) = claim(&store, &["h_x", "h_c"], 1, "w2").await;
        assert!(rows.is_empty(), "c is pending");
        store.close().await;
    })
    .await;
}

/// A claim never waits for rows another transaction holds: it takes the next ones.
#[tokio::test]
async fn claim_skips_rows_locked_by_another_transaction() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (_, ids) = task_with(
            &store,
            vec![("a", StepState::Enqueued, 0), ("b", StepState::Enqueued, 0)],
            &[],
        )
        .await;
        let mut c = db.connect().await;
        sqlx::query("UPDATE steps SET handler_callable = 'h_x'")
            .execute(&mut c)
            .await
            .unwrap();
        c.execute("BEGIN").await.unwrap();
        sqlx::query("SELECT 1 FROM steps WHERE step_uuid = $1 FOR UPDATE")
            .bind(ids[0])
            .execute(&mut c)
            .await
            .unwrap();
        let (_, rows) = claim(&store, &["h_x"], 2, "w").await;
        let got: Vec<Uuid> = rows.iter().map(|r| r.step_uuid).collect();
        assert_eq!(got, vec![ids[1]]);
        c.execute("ROLLBACK").await.unwrap();
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn guarded_changes_apply_only_under_the_expected_claim() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (task, ids) = task_with(
            &store,
            vec![("a", StepState::Enqueued, 0), ("b", StepState::Enqueued, 0)],
            &[],
        )
        .await;
        let (claim_a, _) = claim(&store, &["h_a"], 1, "w").await;
        let (claim_b, _) = claim(&store, &["h_b"], 1, "w").await;
        let (a, b) = (ids[0], ids[1]);
        let changed = write(&store, move |tx| {
            Box::pin(async move {
                let mut done = change(a, StepState::Complete);
                done.expect_claim = Some(claim_a);
                done.result = Some(r#"{"ok":1}"#.into());
                done.error = Some(Some(r#""was""#.into()));
                // A stale result: b is held under claim_b, not claim_a.
                let mut stale = change(b, StepState::Complete);
                stale.expect_claim = Some(claim_a);
                tx.change_steps(&[stale, done]).await
            })
        })
        .await
        .unwrap();
        assert_eq!(changed, vec![a]);
        let rows = steps(&store, task).await;
        assert_eq!(rows[0].state, StepState::Complete);
        assert_eq!(rows[0].result.as_deref(), Some(r#"{"ok":1}"#));
        assert_eq!(rows[0].error.as_deref(), Some(r#""was""#));
        assert_eq!(rows[1].state, StepState::InProgress);

        // A change that keeps b in progress keeps its claim; the same step twice in one batch
        // applies in order (the second sees the first): released, then nothing to release.
        let changed = write(&store, move |tx| {
            Box::pin(async move {
                let mut meta = change(b, StepState::InProgress);
                meta.expect_claim = Some(claim_b);
                meta.metadata = Some(r#"{"progress":1}"#.into());
                let mut release = change(b, StepState::Enqueued);
                release.expect_claim = Some(claim_b);
                release.uncount_attempt = true;
                release.error = Some(None);
                let again = release.clone();
                tx.change_steps(&[meta, release, again]).await
            })
        })
        .await
        .unwrap();
        assert_eq!(changed, vec![b, b]);
        let mut c = db.connect().await;
        let row = sqlx::query(
            "SELECT state, attempts, claim_id, claimed_by, lease_until, ready_at <= now(), \
             metadata::text, error::text FROM steps WHERE step_uuid = $1",
        )
        .bind(b)
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(row.get::<String, _>(0), "enqueued");
        assert_eq!(
            row.get::<i32, _>(1),
            0,
            "the released claim was not an attempt"
        );
        assert_eq!(row.get::<Option<Uuid>, _>(2), None);
        assert_eq!(row.get::<Option<String>, _>(3), None);
        assert!(row.get::<Option<time::OffsetDateTime>, _>(4).is_none());
        assert_eq!(row.get::<Option<bool>, _>(5), Some(true));
        assert_eq!(
            row.get::<Option<String>, _>(6).as_deref(),
            Some(r#"{"progress":1}"#)
        );
        assert_eq!(row.get::<Option<String>, _>(7), None);

        // A change to a state that is not ready clears ready_at.
        write(&store, move |tx| {
            Box::pin(async move { tx.change_steps(&[change(b, StepState::Cancelled)]).await })
        })
        .await
        .unwrap();
        let ready: Option<time::OffsetDateTime> =
            sqlx::query_scalar("SELECT ready_at FROM steps WHERE step_uuid = $1")
                .bind(b)
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert!(ready.is_none());
        store.close().await;
    })
    .await;
}

/// Dependents go down by the number of their dependencies completed in the batch; only the
/// pending ones that reach zero become ready, and only those are returned.
#[tokio::test]
async fn count_down_returns_only_steps_that_became_ready() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        // a, b → join (2 pending); a → solo (1); a → far (2 pending: a and c);
        // a → gone (cancelled, 1 pending).
        let (_, ids) = task_with(
            &store,
            vec![
                ("a", StepState::Complete, 0),
                ("b", StepState::Complete, 0),
                ("c", StepState::Enqueued, 0),
                ("join", StepState::Pending, 2),
                ("solo", StepState::Pending, 1),
                ("far", StepState::Pending, 2),
                ("gone", StepState::Cancelled, 1),
            ],
            &[(0, 3), (1, 3), (0, 4), (0, 5), (2, 5), (0, 6)],
        )
        .await;
        let (a, b) = (ids[0], ids[1]);
        let ready = write(&store, move |tx| {
            Box::pin(async move { tx.count_down_dependents(&[a, b]).await })
        })
        .await
        .unwrap();
        let mut got: Vec<(Uuid, String)> = ready
            .iter()
            .map(|r| (r.step_uuid, r.handler_callable.clone()))
            .collect();
        got.sort();
        let mut want = vec![
            (ids[3], "h_join".to_string()),
            (ids[4], "h_solo".to_string()),
        ];
        want.sort();
        assert_eq!(got, want);
        let join = ready.iter().find(|r| r.step_uuid == ids[3]).unwrap();
        assert!(join.after == a || join.after == b);
        assert_eq!(
            ready.iter().find(|r| r.step_uuid == ids[4]).unwrap().after,
            a
        );

        let mut c = db.connect().await;
        let rows = sqlx::query(
            "SELECT name, state, pending_deps, ready_at IS NOT NULL FROM steps ORDER BY name",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        let got: Vec<(String, String, i32, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let want = |n: &str, s: &str, p: i32, r: bool| (n.to_string(), s.to_string(), p, r);
        assert!(got.contains(&want("join", "enqueued", 0, true)));
        assert!(got.contains(&want("solo", "enqueued", 0, true)));
        assert!(got.contains(&want("far", "pending", 1, false)));
        assert!(got.contains(&want("gone", "cancelled", 0, false)));

        // A dependent already counted to zero is not ready again.
        let again = write(&store, move |tx| {
            Box::pin(async move { tx.count_down_dependents(&[b]).await })
        })
        .await
        .unwrap();
        assert!(again.is_empty());
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn add_pending_dependency_counts_each_listing_and_returns_pending_steps_once() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (_, ids) = task_with(
            &store,
            vec![("p", StepState::Pending, 1), ("e", StepState::Enqueued, 0)],
            &[],
        )
        .await;
        let (p, e) = (ids[0], ids[1]);
        let bumped = write(&store, move |tx| {
            Box::pin(async move { tx.add_pending_dependency(&[e, p, p]).await })
        })
        .await
        .unwrap();
        assert_eq!(bumped, vec![p]);
        let mut c = db.connect().await;
        let (pending, total): (i32, i32) =
            sqlx::query_as("SELECT pending_deps, dep_total FROM steps WHERE step_uuid = $1")
                .bind(p)
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!((pending, total), (3, 3));
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn task_counts_and_guarded_task_changes() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (t1, _) = task_with(&store, vec![], &[]).await;
        let (t2, _) = task_with(&store, vec![], &[]).await;
        let changed = write(&store, move |tx| {
            Box::pin(async move {
                tx.count_tasks(&[
                    TaskCounts {
                        task_uuid: t1,
                        completed_delta: 1,
                        total_delta: 3,
                    },
                    TaskCounts {
                        task_uuid: t1,
                        completed_delta: 2,
                        total_delta: 0,
                    },
                ])
                .await?;
                tx.change_tasks(&[
                    TaskChange {
                        task_uuid: t1,
                        to: TaskState::Complete,
                        expect: Some(TaskState::StepsInProcess),
                    },
                    // Applied in order: t1 is no longer in process.
                    TaskChange {
                        task_uuid: t1,
                        to: TaskState::Error,
                        expect: Some(TaskState::StepsInProcess),
                    },
                    TaskChange {
                        task_uuid: t2,
                        to: TaskState::WaitingForRetry,
                        expect: Some(TaskState::Pending),
                    },
                ])
                .await
            })
        })
        .await
        .unwrap();
        assert_eq!(changed, vec![t1]);
        let rows = read(&store, move |tx| {
            Box::pin(async move { tx.tasks(&[t1, t2]).await })
        })
        .await
        .unwrap();
        assert_eq!(rows[0].state, TaskState::Complete);
        assert_eq!(rows[0].completed_steps, 3);
        assert_eq!(rows[0].total_steps, 3);
        assert!(rows[0].completed_at.is_some());
        assert!(rows[0].updated_at >= rows[0].created_at);
        assert_eq!(rows[1].state, TaskState::StepsInProcess);
        assert_eq!(rows[1].completed_at, None);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn cancel_steps_returns_the_state_each_step_left() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (t1, ids1) = task_with(
            &store,
            vec![
                ("a", StepState::Pending, 1),
                ("b", StepState::Enqueued, 0),
                ("c", StepState::Complete, 0),
            ],
            &[],
        )
        .await;
        let (t2, ids2) = task_with(&store, vec![("d", StepState::Enqueued, 0)], &[]).await;
        let (t3, _) = task_with(&store, vec![("e", StepState::Enqueued, 0)], &[]).await;
        let (_, _) = claim(&store, &["h_d"], 1, "w").await;
        let cancelled = write(&store, move |tx| {
            Box::pin(async move {
                tx.cancel_steps(
                    &[t2, t1, t2],
                    &[
                        StepState::Pending,
                        StepState::Enqueued,
                        StepState::InProgress,
                    ],
                )
                .await
            })
        })
        .await
        .unwrap();
        let got: Vec<(Uuid, Uuid, StepState)> = cancelled
            .iter()
            .map(|c| (c.task_uuid, c.step_uuid, c.from))
            .collect();
        assert_eq!(
            got,
            vec![
                (t2, ids2[0], StepState::InProgress),
                (t1, ids1[0], StepState::Pending),
                (t1, ids1[1], StepState::Enqueued),
            ]
        );
        let mut c = db.connect().await;
        let rows = sqlx::query(
            "SELECT name, state, claim_id IS NULL AND lease_until IS NULL AND ready_at IS NULL \
             FROM steps ORDER BY name",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        let got: Vec<(String, String, bool)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        let s = |n: &str, st: &str, cleared: bool| (n.to_string(), st.to_string(), cleared);
        assert_eq!(
            got,
            vec![
                s("a", "cancelled", true),
                s("b", "cancelled", true),
                s("c", "complete", true),
                s("d", "cancelled", true),
                s("e", "enqueued", false),
            ]
        );
        let _ = t3;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn renew_leases_renews_only_the_exact_claims_of_that_worker() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (_, ids) = task_with(
            &store,
            vec![
                ("a", StepState::Enqueued, 0),
                ("b", StepState::Enqueued, 0),
                ("c", StepState::Enqueued, 0),
            ],
            &[],
        )
        .await;
        let (ca, _) = claim(&store, &["h_a"], 1, "w1").await;
        let (cb, _) = claim(&store, &["h_b"], 1, "w2").await;
        let (cc, _) = claim(&store, &["h_c"], 1, "w1").await;
        let mut c = db.connect().await;
        c.execute("UPDATE steps SET lease_until = now() - interval '1 minute'")
            .await
            .unwrap();
        let (a, b, cs) = (ids[0], ids[1], ids[2]);
        let renewed = write(&store, move |tx| {
            Box::pin(async move {
                tx.renew_leases(
                    "w1",
                    // a: held by w1 ✓; b: held by w2 ✗; c under a's claim ✗; c ✓
                    &[(a, ca), (b, cb), (cs, ca), (cs, cc)],
                    60_000,
                )
                .await
            })
        })
        .await
        .unwrap();
        assert_eq!(renewed, vec![a, cs]);
        let rows = sqlx::query(
            "SELECT name, lease_until > now() + interval '50 seconds' FROM steps ORDER BY name",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        let got: Vec<(String, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(
            got,
            vec![("a".into(), true), ("b".into(), false), ("c".into(), true)]
        );

        // Expired claims: only b's lease has run out now.
        let expired = read(&store, |tx| {
            Box::pin(async move { tx.expired_claims(10).await })
        })
        .await
        .unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].step_uuid, b);
        assert_eq!(expired[0].claim_id, cb);
        assert_eq!(expired[0].claimed_by.as_deref(), Some("w2"));
        assert_eq!(expired[0].attempts, 1);
        assert_eq!(expired[0].max_attempts, 3);

        // A checkpoint under the current claim is saved and extends the lease; under another
        // claim it is refused.
        let (saved, refused) = write(&store, move |tx| {
            Box::pin(async move {
                let saved = tx.save_checkpoint(b, cb, r#"{"row":7}"#, 60_000).await?;
                let refused = tx.save_checkpoint(a, cb, r#"{"row":8}"#, 60_000).await?;
                Ok((saved, refused))
            })
        })
        .await
        .unwrap();
        assert!(saved);
        assert!(!refused);
        let expired = read(&store, |tx| {
            Box::pin(async move { tx.expired_claims(10).await })
        })
        .await
        .unwrap();
        assert!(expired.is_empty());
        let checkpoint: Option<String> =
            sqlx::query_scalar("SELECT checkpoint::text FROM steps WHERE step_uuid = $1")
                .bind(b)
                .fetch_one(&mut c)
                .await
                .unwrap();
        assert_eq!(checkpoint.as_deref(), Some(r#"{"row":7}"#));
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn expired_claims_come_oldest_first_up_to_the_limit() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (_, ids) = task_with(
            &store,
            vec![
                ("a", StepState::Enqueued, 0),
                ("b", StepState::Enqueued, 0),
                ("c", StepState::Enqueued, 0),
            ],
            &[],
        )
        .await;
        for n in ["h_a", "h_b", "h_c"] {
            claim(&store, &[n], 1, "w").await;
        }
        let mut c = db.connect().await;
        for (i, ago) in [(0, 5), (1, 50), (2, -60)] {
            sqlx::query("UPDATE steps SET lease_until = now() - $2 * interval '1 second' WHERE step_uuid = $1")
                .bind(ids[i])
                .bind(ago as f64)
                .execute(&mut c)
                .await
                .unwrap();
        }
        let expired = read(&store, |tx| Box::pin(async move { tx.expired_claims(10).await }))
            .await
            .unwrap();
        let got: Vec<Uuid> = expired.iter().map(|e| e.step_uuid).collect();
        assert_eq!(got, vec![ids[1], ids[0]]);
        let one = read(&store, |tx| Box::pin(async move { tx.expired_claims(1).await }))
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].step_uuid, ids[1]);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn lock_claims_and_held_claims_see_only_current_claims() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (task, ids) = task_with(
            &store,
            vec![("a", StepState::Enqueued, 0), ("b", StepState::Enqueued, 0)],
            &[],
        )
        .await;
        let (ca, _) = claim(&store, &["h_a"], 1, "w").await;
        let (a, b) = (ids[0], ids[1]);
        let (locked, held) = write(&store, move |tx| {
            Box::pin(async move {
                let locked = tx
                    .lock_claims(&[(b, ca), (a, Uuid::new_v4()), (a, ca)])
                    .await?;
                let held = tx.held_claims(&[(a, ca), (b, ca)]).await?;
                Ok((locked, held))
            })
        })
        .await
        .unwrap();
        assert_eq!(locked.len(), 1);
        let l = &locked[0];
        assert_eq!((l.step_uuid, l.claim_id, l.task_uuid), (a, ca, task));
        assert_eq!(l.name, "a");
        assert_eq!(l.step_type, StepType::Standard);
        assert_eq!((l.attempts, l.max_attempts), (1, 3));
        assert_eq!(l.task_state, TaskState::StepsInProcess);
        assert_eq!((l.task_completed_steps, l.task_total_steps), (0, 0));
        assert_eq!(l.template_digest, DIGEST);
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].step_uuid, held[0].claim_id, held[0].task_uuid),
            (a, ca, task)
        );
        assert_eq!(held[0].task_state, TaskState::StepsInProcess);
        store.close().await;
    })
    .await;
}

/// lock_claims and lock_task hold their rows until the transaction ends.
#[tokio::test]
async fn locks_are_held_until_commit() {
    with_db(|db| async move {
        let store = std::sync::Arc::new(db.open().await);
        put_template(&store).await;
        let (task, _) = task_with(&store, vec![], &[]).await;
        let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let store = store.clone();
            tokio::spawn(async move {
                write(&store, move |tx| {
                    Box::pin(async move {
                        tx.lock_task(task).await?;
                        let _ = locked_tx.send(());
                        let _ = release_rx.await;
                        Ok(())
                    })
                })
                .await
            })
        };
        locked_rx.await.unwrap();
        let mut c = db.connect().await;
        c.execute("SET lock_timeout = '100ms'").await.unwrap();
        let blocked = sqlx::query("UPDATE tasks SET state = 'error' WHERE task_uuid = $1")
            .bind(task)
            .execute(&mut c)
            .await;
        assert!(blocked.is_err(), "the task row was not locked");
        // A foreign-key check (KEY SHARE) does not wait for it: NO KEY UPDATE.
        let s = new_step(task, "late", StepState::Enqueued, 0);
        sqlx::query(
            "INSERT INTO steps (step_uuid, task_uuid, name, template_step_name, handler_callable, \
             step_type, state, dep_total, pending_deps, max_attempts, inputs, created_at, \
             updated_at) VALUES ($1, $2, 'late', 'late', 'h', 'standard', 'pending', 0, 0, 1, \
             '{}', now(), now())",
        )
        .bind(s.step_uuid)
        .bind(task)
        .execute(&mut c)
        .await
        .unwrap();
        release_tx.send(()).unwrap();
        holder.await.unwrap().unwrap();
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn dependencies_activity_and_next_ready() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        // a → b → d, c → d; a and b complete, c enqueued.
        let (task, ids) = task_with(
            &store,
            vec![
                ("a", StepState::Complete, 0),
                ("b", StepState::Complete, 1),
                ("c", StepState::Enqueued, 0),
                ("d", StepState::Pending, 2),
            ],
            &[(0, 1), (1, 3), (2, 3)],
        )
        .await;
        let mut c = db.connect().await;
        c.execute("UPDATE steps SET result = '{\"r\":1}' WHERE name = 'a'")
            .await
            .unwrap();
        let (a, b, d) = (ids[0], ids[1], ids[3]);
        // Dependencies are named, not followed through the edges: d gets b (and c, not
        // complete), not its ancestor a; a name no step has finds nothing.
        let names =
            |names: &[&str]| -> Vec<String> { names.iter().map(|n| n.to_string()).collect() };
        let (of_d, of_b) = (names(&["b", "c"]), names(&["a", "nope"]));
        let (ancestors, activity, next) = read(&store, move |tx| {
            Box::pin(async move {
                let wanted = [
                    WantedDependencies {
                        step_uuid: d,
                        dependencies: &of_d,
                    },
                    WantedDependencies {
                        step_uuid: b,
                        dependencies: &of_b,
                    },
                    WantedDependencies {
                        step_uuid: a,
                        dependencies: &[],
                    },
                ];
                let ancestors = tx.dependency_results(&wanted).await?;
                let activity = tx.task_activity(&[task, Uuid::nil()]).await?;
                let next = tx.next_ready_in(&["h_c".to_string()]).await?;
                Ok((ancestors, activity, next))
            })
        })
        .await
        .unwrap();
        let got: Vec<(Uuid, String, Option<String>)> = ancestors
            .iter()
            .map(|r| (r.for_step, r.name.clone(), r.result.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (d, "b".into(), None),
                (b, "a".into(), Some(r#"{"r":1}"#.into())),
            ]
        );
        assert_eq!(activity.len(), 2);
        assert_eq!(
            (
                activity[0].task_uuid,
                activity[0].active,
                activity[0].waiting
            ),
            (task, 1, 0)
        );
        assert_eq!(activity[0].next_due_in_ms, None);
        assert_eq!((activity[1].active, activity[1].waiting), (0, 0));
        assert_eq!(next, Some(0));

        // c waits out a 60 s backoff.
        let cs = ids[2];
        write(&store, move |tx| {
            Box::pin(async move {
                let mut retry = change(cs, StepState::WaitingForRetry);
                retry.ready_in_ms = Some(60_000);
                tx.change_steps(&[retry]).await
            })
        })
        .await
        .unwrap();
        let (activity, next, none) = read(&store, move |tx| {
            Box::pin(async move {
                let activity = tx.task_activity(&[task]).await?;
                let next = tx.next_ready_in(&["h_c".to_string()]).await?;
                let none = tx.next_ready_in(&["h_zzz".to_string()]).await?;
                Ok((activity, next, none))
            })
        })
        .await
        .unwrap();
        assert_eq!((activity[0].active, activity[0].waiting), (0, 1));
        let due = activity[0].next_due_in_ms.unwrap();
        assert!((55_000..=60_000).contains(&due), "{due}");
        let next = next.unwrap();
        assert!((55_000..=60_000).contains(&next), "{next}");
        assert_eq!(none, None);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn views_of_a_task_its_steps_transitions_and_lists() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (t1, ids) = task_with(
            &store,
            vec![("a", StepState::Enqueued, 0), ("b", StepState::Pending, 1)],
            &[(0, 1)],
        )
        .await;
        let (t2, _) = task_with(&store, vec![], &[]).await;
        let a = ids[0];
        write(&store, move |tx| {
            Box::pin(async move {
                tx.insert_transitions(&[
                    NewTransition {
                        task_uuid: t1,
                        change: Change::Task {
                            from: None,
                            to: TaskState::Pending,
                        },
                        worker_id: None,
                        reason: Some("created".into()),
                    },
                    NewTransition {
                        task_uuid: t1,
                        change: Change::Step {
                            step_uuid: a,
                            from: Some(StepState::Enqueued),
                            to: StepState::InProgress,
                        },
                        worker_id: Some("w1".into()),
                        reason: None,
                    },
                    NewTransition {
                        task_uuid: t1,
                        change: Change::Task {
                            from: Some(TaskState::Pending),
                            to: TaskState::StepsInProcess,
                        },
                        worker_id: None,
                        reason: None,
                    },
                ])
                .await?;
                tx.change_tasks(&[TaskChange {
                    task_uuid: t2,
                    to: TaskState::Complete,
                    expect: None,
                }])
                .await
            })
        })
        .await
        .unwrap();
        let before = db_now(&db).await;
        let (task, state, steps, transitions, all, complete, none) = read(&store, move |tx| {
            Box::pin(async move {
                let task = tx.task(t1).await?;
                let state = tx.task_state(t2).await?;
                let steps = tx.steps_of(t1).await?;
                let transitions = tx.transitions_of(t1).await?;
                let all = tx
                    .list_tasks(&TaskFilter {
                        limit: 10,
                        ..TaskFilter::default()
                    })
                    .await?;
                let complete = tx
                    .list_tasks(&TaskFilter {
                        namespace: Some("ns".into()),
                        name: Some("flow".into()),
                        state: Some(TaskState::Complete),
                        limit: 10,
                        ..TaskFilter::default()
                    })
                    .await?;
                let none = tx
                    .list_tasks(&TaskFilter {
                        namespace: Some("other".into()),
                        limit: 10,
                        ..TaskFilter::default()
                    })
                    .await?;
                Ok((task, state, steps, transitions, all, complete, none))
            })
        })
        .await
        .unwrap();
        let task = task.unwrap();
        assert_eq!(task.task_uuid, t1);
        assert!(task.created_at <= before);
        assert_eq!(state, Some(TaskState::Complete));
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(steps[1].state, StepState::Pending);
        assert_eq!(steps[0].step_type, StepType::Standard);
        assert_eq!(steps[0].attempts, 0);
        type Seen = (Option<String>, Option<String>, String, Option<String>);
        let got: Vec<Seen> = transitions
            .iter()
            .map(|t| {
                (
                    t.step_name.clone(),
                    t.from_state.clone(),
                    t.to_state.clone(),
                    t.worker_id.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (None, None, "pending".into(), None),
                (
                    Some("a".into()),
                    Some("enqueued".into()),
                    "in_progress".into(),
                    Some("w1".into())
                ),
                (
                    None,
                    Some("pending".into()),
                    "steps_in_process".into(),
                    None
                ),
            ]
        );
        assert_eq!(transitions[1].step_uuid, Some(a));
        assert_eq!(transitions[0].reason.as_deref(), Some("created"));
        assert!(transitions.iter().all(|t| t.at <= before));
        // Newest first.
        let ids: Vec<Uuid> = all.iter().map(|t| t.task_uuid).collect();
        assert_eq!(ids, vec![t2, t1]);
        let ids: Vec<Uuid> = complete.iter().map(|t| t.task_uuid).collect();
        assert_eq!(ids, vec![t2]);
        assert!(none.is_empty());
        let missing = read(&store, |tx| {
            Box::pin(async move { tx.task(Uuid::new_v4()).await })
        })
        .await
        .unwrap();
        assert!(missing.is_none());
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn deleting_a_task_deletes_its_steps_edges_and_transitions() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (t1, ids) = task_with(
            &store,
            vec![("a", StepState::Enqueued, 0), ("b", StepState::Pending, 1)],
            &[(0, 1)],
        )
        .await;
        write(&store, move |tx| {
            Box::pin(async move {
                tx.insert_transitions(&[NewTransition {
                    task_uuid: t1,
                    change: Change::Step {
                        step_uuid: ids[0],
                        from: None,
                        to: StepState::Enqueued,
                    },
                    worker_id: None,
                    reason: None,
                }])
                .await
            })
        })
        .await
        .unwrap();
        let mut c = db.connect().await;
        sqlx::query("DELETE FROM tasks WHERE task_uuid = $1")
            .bind(t1)
            .execute(&mut c)
            .await
            .unwrap();
        for table in ["steps", "step_edges", "transitions"] {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut c)
                .await
                .unwrap();
            assert_eq!(n, 0, "{table} kept rows of a deleted task");
        }
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_stored_state_is_corruption() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let (task, _) = task_with(&store, vec![("a", StepState::Enqueued, 0)], &[]).await;
        let mut c = db.connect().await;
        c.execute("ALTER TABLE steps DROP CONSTRAINT steps_state_check")
            .await
            .unwrap();
        c.execute("UPDATE steps SET state = 'exploded'")
            .await
            .unwrap();
        let Err(e) = read(&store, move |tx| {
            Box::pin(async move { tx.steps_of(task).await })
        })
        .await
        else {
            panic!("an unknown state was read")
        };
        assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
        let step: Uuid = sqlx::query_scalar("SELECT step_uuid FROM steps")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!("stored data is unreadable: unknown step state 'exploded' (step {step})")
        );
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn errors_are_classified() {
    with_db(|db| async move {
        let store = std::sync::Arc::new(db.open().await);
        put_template(&store).await;
        let (task, _) = task_with(&store, vec![("a", StepState::Enqueued, 0)], &[]).await;
        // The same step name twice in a task: a unique violation.
        let Err(e) = write(&store, move |tx| {
            Box::pin(async move {
                tx.insert_steps(&[new_step(task, "a", StepState::Enqueued, 0)])
                    .await
            })
        })
        .await
        else {
            panic!("a duplicate step was inserted")
        };
        assert!(e.is_duplicate(), "{e:?}");

        // Two transactions locking two tasks in opposite orders: one is told to run again.
        let (t2, _) = task_with(&store, vec![], &[]).await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |first: Uuid, second: Uuid| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                write(&store, move |tx| {
                    Box::pin(async move {
                        tx.lock_task(first).await?;
                        barrier.wait().await;
                        tx.lock_task(second).await?;
                        Ok(())
                    })
                })
                .await
            })
        };
        let one = run(task, t2);
        let two = run(t2, task);
        let outcomes = [one.await.unwrap(), two.await.unwrap()];
        let conflicts: Vec<&StoreError> =
            outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
        assert_eq!(conflicts.len(), 1, "{outcomes:?}");
        assert!(conflicts[0].is_conflict(), "{:?}", conflicts[0]);
        assert!(
            conflicts[0].to_string().starts_with(
                "the transaction conflicted with a concurrent one (deadlock detected): "
            ),
            "{}",
            conflicts[0]
        );
        store.close().await;
    })
    .await;
}

/// A unit of work that fails rolls back everything it did.
#[tokio::test]
async fn a_failed_unit_of_work_leaves_nothing_behind() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let task = new_task(None);
        let id = task.task_uuid;
        #[derive(Debug)]
        enum Failed {
            Store(#[allow(dead_code)] StoreError),
            Mine(&'static str),
        }
        impl From<StoreError> for Failed {
            fn from(e: StoreError) -> Failed {
                Failed::Store(e)
            }
        }
        let outcome: Result<(), Failed> = run_write(&store, move |tx| {
            Box::pin(async move {
                tx.insert_tasks(&[task]).await?;
                Err(Failed::Mine("the work's own error"))
            })
        })
        .await;
        assert!(
            matches!(outcome, Err(Failed::Mine("the work's own error"))),
            "{outcome:?}"
        );
        let found = read(&store, move |tx| Box::pin(async move { tx.task(id).await }))
            .await
            .unwrap();
        assert!(found.is_none());
        // The connection went back to the pool usable.
        let (t, _) = task_with(&store, vec![], &[]).await;
        assert!(
            read(&store, move |tx| Box::pin(async move { tx.task(t).await }))
                .await
                .unwrap()
                .is_some()
        );
        store.close().await;
        let Err(e) = read(&store, move |tx| Box::pin(async move { tx.task(t).await })).await else {
            panic!("a closed store answered")
        };
        assert!(matches!(e, StoreError::Closed), "{e:?}");
    })
    .await;
}
