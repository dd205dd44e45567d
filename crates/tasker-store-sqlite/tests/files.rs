//! The SQLite driver on database files: creation, a database from tasker-node 0.1, an edited
//! migration, and two stores (as two processes would) writing the same file.

use std::path::PathBuf;

use tasker_store::{run_read, run_write, Store, StoreError, TemplateRecord};
use tasker_store_sqlite::{Location, SqliteStore};

fn temp_file(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tasker-sqlite-test-{}", uuid::Uuid::new_v4()));
    (dir.join("nested").join(name), dir)
}

fn template(version: &str) -> TemplateRecord {
    TemplateRecord {
        namespace: "ns".into(),
        name: "t".into(),
        version: version.into(),
        digest: format!("digest-{version}"),
        definition: "{}".into(),
    }
}

#[tokio::test]
async fn creates_the_file_and_its_folder() {
    let (path, dir) = temp_file("new.db");
    let store = SqliteStore::open(Location::File(path.clone()))
        .await
        .unwrap();
    assert!(path.exists());
    store.close().await;
    // Opening again finds the schema in place.
    let store = SqliteStore::open(Location::File(path)).await.unwrap();
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn refuses_a_database_made_by_tasker_node_0_1() {
    let (path, dir) = temp_file("old.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE tasker_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
             CREATE TABLE tasker_tasks (task_uuid TEXT PRIMARY KEY);",
        )
        .unwrap();
    }
    let err = match SqliteStore::open(Location::File(path.clone())).await {
        Ok(_) => panic!("a 0.1 database was opened"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "SQLite database {} was created by tasker-node 0.1 (it has a tasker_migrations table), \
             whose storage layout this version cannot read. Let the tasks in it finish with \
             tasker-node 0.1, then delete the file together with its -wal and -shm files, or \
             point `database` at a new file",
            path.display()
        )
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn refuses_an_edited_migration() {
    let (path, dir) = temp_file("edited.db");
    let store = SqliteStore::open(Location::File(path.clone()))
        .await
        .unwrap();
    store.close().await;
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE refinery_schema_history SET checksum = '1'", [])
            .unwrap();
    }
    let err = match SqliteStore::open(Location::File(path)).await {
        Ok(_) => panic!("a database with an edited migration was opened"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Schema(_)), "{err:?}");
    assert!(err.to_string().contains("cannot migrate"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Two stores on one file, as two processes would have: both write, each sees the other's
/// committed rows, and neither fails on the other's write lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_share_one_file() {
    let (path, dir) = temp_file("shared.db");
    let a = SqliteStore::open(Location::File(path.clone()))
        .await
        .unwrap();
    let b = SqliteStore::open(Location::File(path)).await.unwrap();
    let (ra, rb) = tokio::join!(write_templates(&a, "a"), write_templates(&b, "b"));
    ra.unwrap();
    rb.unwrap();
    for store in [&a, &b] {
        let keys = run_read(store as &dyn Store, |tx| {
            Box::pin(async move { tx.template_keys(1000).await })
        })
        .await
        .map_err(|e: StoreError| e.to_string())
        .unwrap();
        assert_eq!(keys.len(), 100);
    }
    a.close().await;
    b.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn write_templates(store: &dyn Store, prefix: &str) -> Result<(), String> {
    for i in 0..50 {
        let t = template(&format!("{prefix}{i}"));
        run_write(store, move |tx| {
            Box::pin(async move { tx.put_templates(std::slice::from_ref(&t)).await })
        })
        .await
        .map_err(|e: StoreError| e.to_string())?;
    }
    Ok(())
}
