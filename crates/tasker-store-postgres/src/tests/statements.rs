//! Every query prepares; every batch costs a fixed number of statements.

use sqlx::Executor;

use super::with_db;
use crate::queries as q;
use crate::schema::with_schema;
use crate::tx::list_tasks_sql;
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
        for bits in 0..8u8 {
            let f = TaskFilter {
                namespace: (bits & 1 != 0).then(|| "n".to_string()),
                name: (bits & 2 != 0).then(|| "x".to_string()),
                state: (bits & 4 != 0).then_some(tasker_store::TaskState::Complete),
                limit: 1,
                offset: 0,
            };
            sqls.push((
                format!("list_tasks #{bits}"),
                list_tasks_sql(&f).to_string(),
            ));
        }
        for (name, sql) in &sqls {
            if name == "list_tasks" {
                continue; // the template; its 8 forms are checked above
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
