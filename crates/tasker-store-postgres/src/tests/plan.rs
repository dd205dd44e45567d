//! The claim stays on steps_claimable (first N ready rows, in claim order, no sort) whatever
//! the statistics say.

use serde_json::Value;
use sqlx::{Executor, Row};
use tasker_store::{StepState, Store, Uuid};

use super::fixtures::*;
use super::with_db;
use crate::queries as q;
use crate::PgStore;

/// `EXPLAIN (FORMAT JSON)` of the claim with these arguments on `conn`, as a custom plan and
/// as the generic plan a prepared statement switches to after five runs.
async fn claim_plans(conn: &mut sqlx::PgConnection, callable: &str) -> Vec<Value> {
    let mut plans = Vec::new();
    for mode in ["force_custom_plan", "force_generic_plan"] {
        conn.execute(format!("SET plan_cache_mode = {mode}").as_str())
            .await
            .unwrap();
        let explain = format!("EXPLAIN (FORMAT JSON) {}", q::CLAIM);
        let row = sqlx::query(&explain)
            .bind(vec![callable.to_string()])
            .bind(10i64)
            .bind(Uuid::new_v4())
            .bind("w1")
            .bind(30_000f64)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let text: Value = row.try_get(0).unwrap();
        plans.push(text);
        conn.execute("RESET plan_cache_mode").await.unwrap();
    }
    plans
}

fn nodes<'a>(plan: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(plan);
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for c in children {
            nodes(c, out);
        }
    }
}

fn all_nodes(explain: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    nodes(&explain[0]["Plan"], &mut out);
    out
}

fn node_type(n: &Value) -> &str {
    n["Node Type"].as_str().unwrap_or_default()
}

/// The claim's step scan is an index scan on steps_claimable, and nothing sorts.
fn assert_on_claimable_index(explain: &Value) {
    let nodes = all_nodes(explain);
    let on_steps: Vec<&&Value> = nodes
        .iter()
        .filter(|n| n["Relation Name"] == "steps" && n["Alias"] == "steps")
        .collect();
    assert_eq!(
        on_steps.len(),
        1,
        "one scan of steps to pick from: {explain:#}"
    );
    assert_eq!(node_type(on_steps[0]), "Index Scan", "{explain:#}");
    assert_eq!(on_steps[0]["Index Name"], "steps_claimable", "{explain:#}");
    assert!(
        nodes.iter().all(|n| node_type(n) != "Sort"),
        "the claim sorts: {explain:#}"
    );
}

fn has_sort(explain: &Value) -> bool {
    all_nodes(explain).iter().any(|n| node_type(n) == "Sort")
}

/// A pooled connection of the store, with the settings the driver gives them.
async fn pooled(store: &PgStore) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    store.pool.acquire().await.unwrap()
}

async fn ready_steps(store: &PgStore, count: usize, callable: &str) {
    let (task, _) = task_with(store, vec![], &[]).await;
    let callable = callable.to_string();
    // Ready at scattered times, in no physical order.
    let steps: Vec<_> = (0..count)
        .map(|i| {
            let mut s = new_step(task, &format!("s{i}"), StepState::Enqueued, 0);
            s.handler_callable = callable.clone();
            s
        })
        .collect();
    for chunk in steps.chunks(5000) {
        let chunk = chunk.to_vec();
        write(store, move |tx| {
            Box::pin(async move { tx.insert_steps(&chunk).await })
        })
        .await
        .unwrap();
    }
    let mut c = store.pool.acquire().await.unwrap();
    c.execute("UPDATE steps SET ready_at = ready_at - random() * interval '1 hour'")
        .await
        .unwrap();
}

/// Statistics gathered while the table was empty: the planner believes there is next to
/// nothing to claim, and a plain connection plans a scan of everything plus a sort.
#[tokio::test]
async fn claim_stays_on_the_index_when_statistics_say_the_table_is_empty() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let mut plain = db.connect().await;
        plain.execute("ANALYZE steps").await.unwrap();
        ready_steps(&store, 20_000, "h_a").await;

        for plan in claim_plans(&mut plain, "h_a").await {
            assert!(
                has_sort(&plan),
                "the statistics are not misleading: {plan:#}"
            );
        }
        let mut conn = pooled(&store).await;
        for plan in claim_plans(&mut conn, "h_a").await {
            assert_on_claimable_index(&plan);
        }
        drop(conn);
        // And the claim as the driver runs it takes the oldest ready steps.
        let (_, rows) = claim(&store, &["h_a"], 10, "w1").await;
        assert_eq!(rows.len(), 10);
        store.close().await;
    })
    .await;
}

/// Statistics gathered before the steps of a callable existed: the planner believes that
/// callable is rare (bitmap scans off alone, it then picks a sequential scan and a sort).
#[tokio::test]
async fn claim_stays_on_the_index_when_statistics_predate_the_callable() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        ready_steps(&store, 20_000, "h_old").await;
        let mut plain = db.connect().await;
        plain.execute("ANALYZE steps").await.unwrap();
        plain
            .execute("UPDATE steps SET handler_callable = 'h_new'")
            .await
            .unwrap();
        plain.execute("SET enable_bitmapscan = off").await.unwrap();
        for plan in claim_plans(&mut plain, "h_new").await {
            assert!(
                has_sort(&plan),
                "the statistics are not misleading: {plan:#}"
            );
        }
        let mut conn = pooled(&store).await;
        for plan in claim_plans(&mut conn, "h_new").await {
            assert_on_claimable_index(&plan);
        }
        drop(conn);
        store.close().await;
    })
    .await;
}

/// `EXPLAIN (FORMAT JSON)` of a statement whose only parameter is a list of callables.
async fn plan_for_callables(conn: &mut sqlx::PgConnection, sql: &str, callable: &str) -> Value {
    let explain = format!("EXPLAIN (FORMAT JSON) {sql}");
    let row = sqlx::query(&explain)
        .bind(vec![callable.to_string()])
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    row.try_get(0).unwrap()
}

/// The statements that need the earliest ready time walk steps_claimable too (it is on the
/// claim order since priorities; there is no index on the ready time alone).
#[tokio::test]
async fn next_ready_and_the_backlog_walk_the_claimable_index() {
    with_db(|db| async move {
        let store = db.open().await;
        put_template(&store).await;
        let mut plain = db.connect().await;
        plain.execute("ANALYZE steps").await.unwrap();
        ready_steps(&store, 20_000, "h_a").await;
        let mut conn = pooled(&store).await;
        for sql in [q::NEXT_READY_IN, q::READY_STEPS] {
            let plan = plan_for_callables(&mut conn, sql, "h_a").await;
            let nodes = all_nodes(&plan);
            let on_steps: Vec<&&Value> = nodes
                .iter()
                .filter(|n| n["Relation Name"] == "steps")
                .collect();
            assert!(!on_steps.is_empty(), "{plan:#}");
            for n in &on_steps {
                assert_eq!(node_type(n), "Index Scan", "{plan:#}");
                assert_eq!(n["Index Name"], "steps_claimable", "{plan:#}");
            }
            // The walk for the earliest ready time is bounded by the claim order.
            assert!(
                on_steps.iter().any(|n| n["Index Cond"]
                    .as_str()
                    .is_some_and(|c| c.contains("claim_order"))),
                "{plan:#}"
            );
        }
        drop(conn);
        store.close().await;
    })
    .await;
}
