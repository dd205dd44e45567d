//! Every query prepares; every batch costs a fixed number of statements.

use sqlx::Executor;

use super::with_db;
use crate::queries as q;
use crate::schema::with_schema;
use crate::tx::{list_tasks_sql, matching_tasks_sql};
use tasker_store::TaskFilter;

/// Every statement of the driver prepares against the migrated schema (and every combination
/// of list filters).
#[tokio::test]
async fn every_query_prepares() {
    with_db(|db| async move {
        let store = db.open().await;
        let mut conn = db.connect().await;
        let mut sqls: Vec<(String, String)> = q::ALL
            .iter()
            .map(|(name, sql)| (name.to_string(), with_schema(sql, "tasker")))
            .collect();
        for bits in 0..64u8 {
            let f = TaskFilter {
                namespace: (bits & 1 != 0).then(|| "n".to_string()),
                name: (bits & 2 != 0).then(|| "x".to_string()),
                state: (bits & 4 != 0).then_some(tasker_store::TaskState::Complete),
                correlation_id: (bits & 8 != 0).then(|| "c".to_string()),
                parent_correlation_id: (bits & 16 != 0).then(|| "p".to_string()),
                tags: if bits & 32 != 0 {
                    vec!["t".to_string()]
                } else {
                    vec![]
                },
                ..TaskFilter::default()
            };
            sqls.push((
                format!("list_tasks #{bits}"),
                list_tasks_sql(&f).to_string(),
            ));
            sqls.push((
                format!("matching_tasks #{bits}"),
                matching_tasks_sql(&f).to_string(),
            ));
        }
        for (name, sql) in &sqls {
            if name == "list_tasks" || name == "matching_tasks" {
                continue; // templates; their 64 forms are checked above
            }
            if name == "session" {
                // Several statements: run, not prepared.
                conn.execute(sql.as_str()).await.unwrap();
                continue;
            }
            if let Err(e) = conn.prepare(sql.as_str()).await {
                panic!("query {name} does not prepare: {e}\n{sql}");
            }
        }
        use tasker_store::Store;
        store.close().await;
    })
    .await;
}

mod counts {
    use tasker_store::*;

    use super::super::fixtures::*;
    use super::super::with_db;
    use crate::PgStore;

    /// Statements a write unit of work cost (BEGIN and COMMIT included), and the transactions.
    async fn cost<R, F>(store: &PgStore, work: F) -> (u64, u64)
    where
        R: Send + 'static,
        F: for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, StoreResult<R>> + Send + 'static,
    {
        let before = store.stats();
        write(store, work).await.unwrap();
        let after = store.stats();
        (
            after.statements - before.statements,
            after.transactions - before.transactions,
        )
    }

    /// The same methods on batches of 1 and of 500: one statement each, plus BEGIN and COMMIT.
    #[tokio::test]
    async fn every_batch_is_one_statement_whatever_its_size() {
        with_db(|db| async move {
            let store = db.open().await;
            put_template(&store).await;
            for n in [1usize, 500] {
                let task = new_task(None);
                let task_uuid = task.task_uuid;
                let steps: Vec<NewStep> = (0..n)
                    .map(|i| {
                        let mut s = new_step(task_uuid, &format!("s{i}"), StepState::Enqueued, 0);
                        s.handler_callable = "h".into();
                        s
                    })
                    .collect();
                let sink = new_step(task_uuid, "sink", StepState::Pending, n as i64);
                let ids: Vec<Uuid> = steps.iter().map(|s| s.step_uuid).collect();
                let sink_id = sink.step_uuid;
                let edges: Vec<Edge> = ids
                    .iter()
                    .map(|s| Edge {
                        task_uuid,
                        from: *s,
                        to: sink_id,
                    })
                    .collect();
                let mut all = steps.clone();
                all.push(sink);
                let one = |what: &str, got: (u64, u64)| {
                    assert_eq!(got, (3, 1), "{what} of {n}: (statements, transactions)");
                };

                let t = vec![task];
                one(
                    "insert_tasks",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.insert_tasks(&t).await })
                    })
                    .await,
                );
                one(
                    "insert_steps",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.insert_steps(&all).await })
                    })
                    .await,
                );
                one(
                    "insert_edges",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.insert_edges(&edges).await })
                    })
                    .await,
                );
                let transitions: Vec<NewTransition> = ids
                    .iter()
                    .map(|s| NewTransition {
                        task_uuid,
                        change: Change::Step {
                            step_uuid: *s,
                            from: None,
                            to: StepState::Enqueued,
                        },
                        worker_id: None,
                        reason: None,
                    })
                    .collect();
                one(
                    "insert_transitions",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.insert_transitions(&transitions).await })
                    })
                    .await,
                );
                let templates: Vec<TemplateRecord> = (0..n)
                    .map(|i| template(&format!("d{n}_{i}"), &format!("v{n}_{i}"), "{}"))
                    .collect();
                let keys: Vec<TemplateKey> = templates
                    .iter()
                    .map(|t| TemplateKey {
                        namespace: t.namespace.clone(),
                        name: t.name.clone(),
                        version: t.version.clone(),
                    })
                    .collect();
                one(
                    "put_templates",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.put_templates(&templates).await })
                    })
                    .await,
                );
                let idem: Vec<(TemplateKey, String)> = keys
                    .iter()
                    .map(|k| (k.clone(), "key".to_string()))
                    .collect();
                one(
                    "current_templates",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.current_templates(&keys).await })
                    })
                    .await,
                );
                one(
                    "tasks_by_idempotency_key",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.tasks_by_idempotency_key(&idem).await })
                    })
                    .await,
                );

                let request = ClaimRequest {
                    callables: vec!["h".into()],
                    limited_only: vec![],
                    limit: n,
                    worker_id: "w".into(),
                    lease_ms: 60_000,
                    claim_id: Uuid::new_v4(),
                };
                let claim_id = request.claim_id;
                let before = store.stats();
                let claimed = write(&store, move |tx| {
                    Box::pin(async move { tx.claim(&request).await })
                })
                .await
                .unwrap();
                assert_eq!(claimed.len(), n);
                one(
                    "claim",
                    (
                        store.stats().statements - before.statements,
                        store.stats().transactions - before.transactions,
                    ),
                );
                let claims: Vec<(Uuid, Uuid)> = ids.iter().map(|s| (*s, claim_id)).collect();
                let c = claims.clone();
                one(
                    "lock_claims",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.lock_claims(&c).await })
                    })
                    .await,
                );
                let c = claims.clone();
                one(
                    "held_claims",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.held_claims(&c).await })
                    })
                    .await,
                );
                let c = claims.clone();
                one(
                    "renew_leases",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.renew_leases("w", &c, 60_000).await })
                    })
                    .await,
                );
                let names: Vec<String> = vec!["a".into(), "b".into()];
                let steps = ids.clone();
                one(
                    "dependency_results",
                    cost(&store, move |tx| {
                        Box::pin(async move {
                            let wanted: Vec<WantedDependencies> = steps
                                .iter()
                                .map(|s| WantedDependencies {
                                    step_uuid: *s,
                                    dependencies: &names,
                                })
                                .collect();
                            tx.dependency_results(&wanted).await
                        })
                    })
                    .await,
                );
                let changes: Vec<StepChange> = claims
                    .iter()
                    .map(|(s, c)| {
                        let mut ch = change(*s, StepState::Complete);
                        ch.expect_claim = Some(*c);
                        ch.result = Some("{}".into());
                        ch
                    })
                    .collect();
                let before = store.stats();
                let changed = write(&store, move |tx| {
                    Box::pin(async move { tx.change_steps(&changes).await })
                })
                .await
                .unwrap();
                assert_eq!(changed.len(), n);
                one(
                    "change_steps",
                    (
                        store.stats().statements - before.statements,
                        store.stats().transactions - before.transactions,
                    ),
                );
                let s = ids.clone();
                let before = store.stats();
                let ready = write(&store, move |tx| {
                    Box::pin(async move { tx.count_down_dependents(&s).await })
                })
                .await
                .unwrap();
                assert_eq!(ready.len(), 1, "the sink is ready once all {n} completed");
                one(
                    "count_down_dependents",
                    (
                        store.stats().statements - before.statements,
                        store.stats().transactions - before.transactions,
                    ),
                );
                let s = ids.clone();
                one(
                    "add_pending_dependency",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.add_pending_dependency(&s).await })
                    })
                    .await,
                );
                let tasks: Vec<Uuid> = (0..n).map(|_| task_uuid).collect();
                let t = tasks.clone();
                one(
                    "task_steps",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.task_steps(&t).await })
                    })
                    .await,
                );
                let t = tasks.clone();
                one(
                    "task_activity",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.task_activity(&t).await })
                    })
                    .await,
                );
                let t = tasks.clone();
                one(
                    "tasks",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.tasks(&t).await })
                    })
                    .await,
                );
                let counts: Vec<TaskCounts> = tasks
                    .iter()
                    .map(|t| TaskCounts {
                        task_uuid: *t,
                        completed_delta: 1,
                        total_delta: 0,
                    })
                    .collect();
                one(
                    "count_tasks",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.count_tasks(&counts).await })
                    })
                    .await,
                );
                let t = tasks.clone();
                one(
                    "cancel_steps",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.cancel_steps(&t, &[StepState::Pending]).await })
                    })
                    .await,
                );
                let changes: Vec<TaskChange> = vec![TaskChange {
                    task_uuid,
                    to: TaskState::Complete,
                    expect: Some(TaskState::StepsInProcess),
                }];
                one(
                    "change_tasks",
                    cost(&store, move |tx| {
                        Box::pin(async move { tx.change_tasks(&changes).await })
                    })
                    .await,
                );
                let signals: Vec<Signal> = (0..n)
                    .map(|_| Signal::TaskFinished(Uuid::new_v4()))
                    .collect();
                // Signals alone: one notification statement, no transaction around it.
                assert_eq!(
                    cost(&store, move |tx| Box::pin(async move {
                        tx.signal(&signals).await
                    }))
                    .await,
                    (1, 0),
                    "signal of {n}"
                );
            }
            store.close().await;
        })
        .await;
    }

    /// A method given nothing to do sends nothing; a unit of work that sends nothing costs no
    /// transaction.
    #[tokio::test]
    async fn empty_batches_do_not_touch_the_database() {
        with_db(|db| async move {
            let store = db.open().await;
            let got = cost(&store, |tx| {
                Box::pin(async move {
                    tx.put_templates(&[]).await?;
                    tx.current_templates(&[]).await?;
                    tx.tasks_by_idempotency_key(&[]).await?;
                    tx.insert_tasks(&[]).await?;
                    tx.insert_steps(&[]).await?;
                    tx.insert_edges(&[]).await?;
                    tx.insert_transitions(&[]).await?;
                    let nothing = ClaimRequest {
                        callables: vec![],
                        limited_only: vec![],
                        limit: 10,
                        worker_id: "w".into(),
                        lease_ms: 1,
                        claim_id: Uuid::new_v4(),
                    };
                    tx.claim(&nothing).await?;
                    let zero = ClaimRequest {
                        callables: vec!["h".into()],
                        limit: 0,
                        ..nothing
                    };
                    tx.claim(&zero).await?;
                    tx.dependency_results(&[]).await?;
                    tx.next_ready_in(&[]).await?;
                    tx.lock_claims(&[]).await?;
                    tx.task_steps(&[]).await?;
                    tx.change_steps(&[]).await?;
                    tx.count_down_dependents(&[]).await?;
                    tx.add_pending_dependency(&[]).await?;
                    tx.count_tasks(&[]).await?;
                    tx.change_tasks(&[]).await?;
                    tx.cancel_steps(&[], &[StepState::Pending]).await?;
                    tx.cancel_steps(&[Uuid::new_v4()], &[]).await?;
                    tx.task_activity(&[]).await?;
                    tx.renew_leases("w", &[], 1).await?;
                    tx.held_claims(&[]).await?;
                    tx.tasks(&[]).await?;
                    tx.signal(&[]).await
                })
            })
            .await;
            assert_eq!(got, (0, 0));
            store.close().await;
        })
        .await;
    }
}
