//! Creating and migrating the schema (refinery: versioned `migrations/V<n>__<name>.sql` files,
//! checksummed, so an applied migration that was edited, or one this version does not know, is
//! refused rather than guessed at).

use rusqlite::Connection;
use tasker_store::{StoreError, StoreResult};

use crate::error::sql_error;
use crate::Location;

mod embedded {
    refinery::embed_migrations!("migrations");
}

pub(crate) fn migrate(conn: &mut Connection, location: &Location) -> StoreResult<()> {
    refuse_legacy(conn, location)?;
    // A migration that rebuilds a table (SQLite cannot alter a constraint in place) must not
    // cascade the drop of the old table: foreign keys are off while migrations run (the pragma
    // cannot change inside their transactions), and every key is checked afterwards.
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(sql_error)?;
    let ran = embedded::migrations::runner()
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run(conn)
        .map_err(|e| StoreError::Schema(format!("cannot migrate {}: {e}", describe(location))));
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql_error)?;
    ran?;
    let broken: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .map_err(sql_error)?;
    if broken > 0 {
        return Err(StoreError::Schema(format!(
            "{} has {broken} rows whose foreign keys point at nothing after migrating",
            describe(location)
        )));
    }
    Ok(())
}

/// tasker-node 0.1 kept its own migration table and another layout; say exactly what to do
/// rather than mixing the two.
fn refuse_legacy(conn: &Connection, location: &Location) -> StoreResult<()> {
    let legacy: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tasker_migrations')",
            [],
            |r| r.get(0),
        )
        .map_err(sql_error)?;
    if legacy {
        return Err(StoreError::Schema(format!(
            "{} was created by tasker-node 0.1 (it has a tasker_migrations table), whose storage \
             layout this version cannot read. Let the tasks in it finish with tasker-node 0.1, \
             then delete the file together with its -wal and -shm files, or point `database` at \
             a new file",
            describe(location)
        )));
    }
    Ok(())
}

fn describe(location: &Location) -> String {
    match location {
        Location::Memory => "the in-memory SQLite database".to_string(),
        Location::File(p) => format!("SQLite database {}", p.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with tasks in it, made by the first migration only, keeps every row (and every
    /// dependency edge: rebuilding the steps table must not cascade) when migration 2 runs.
    #[test]
    fn migration_2_keeps_steps_edges_and_transitions() {
        let location = Location::Memory;
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(1))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tasker_template_snapshots VALUES ('d', 'ns', 't', '1', '{}', 0);
             INSERT INTO tasker_tasks (task_uuid, namespace, name, version, template_digest,
                 state, context, total_steps, created_at, updated_at)
             VALUES ('t1', 'ns', 't', '1', 'd', 'error', '{\"a\":1}', 2, 0, 0);
             INSERT INTO tasker_steps (step_uuid, task_uuid, name, template_step_name,
                 handler_callable, step_type, state, dep_total, pending_deps, attempts,
                 max_attempts, inputs, error, checkpoint, created_at, updated_at)
             VALUES ('s1', 't1', 'a', 'a', 'A', 'standard', 'error', 0, 0, 3, 3, '{}',
                     '{\"message\":\"x\"}', '{\"cursor\":5}', 1, 2),
                    ('s2', 't1', 'b', 'b', 'B', 'standard', 'cancelled', 1, 1, 0, 3, '{}',
                     NULL, NULL, 1, 2);
             INSERT INTO tasker_step_edges VALUES ('s1', 's2');
             INSERT INTO tasker_transitions (task_uuid, step_uuid, from_state, to_state, at)
             VALUES ('t1', 's1', 'in_progress', 'error', 5);",
        )
        .unwrap();

        migrate(&mut conn, &location).unwrap();

        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM tasker_step_edges"), 1);
        assert_eq!(count("SELECT count(*) FROM tasker_transitions"), 1);
        assert_eq!(count("SELECT count(*) FROM tasker_steps"), 2);
        let kept: (String, i64, String, String) = conn
            .query_row(
                "SELECT state, attempts, error, checkpoint FROM tasker_steps WHERE step_uuid = 's1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            kept,
            (
                "error".into(),
                3,
                "{\"message\":\"x\"}".into(),
                "{\"cursor\":5}".into()
            )
        );
        // The new state is accepted, foreign keys are enforced again, and deleting a task
        // still cascades to its steps and edges.
        conn.execute(
            "UPDATE tasker_steps SET state = 'resolved_manually' WHERE step_uuid = 's1'",
            [],
        )
        .unwrap();
        assert!(conn
            .execute(
                "UPDATE tasker_steps SET state = 'bogus' WHERE step_uuid = 's1'",
                []
            )
            .is_err());
        assert_eq!(count("PRAGMA foreign_keys"), 1);
        conn.execute("DELETE FROM tasker_tasks WHERE task_uuid = 't1'", [])
            .unwrap();
        assert_eq!(count("SELECT count(*) FROM tasker_steps"), 0);
        assert_eq!(count("SELECT count(*) FROM tasker_step_edges"), 0);
        assert_eq!(count("SELECT count(*) FROM tasker_transitions"), 0);
    }

    /// Steps of a database from before migration 5 get priority 0, and a claim order equal to
    /// their ready time; a priority out of range is refused.
    #[test]
    fn migration_5_gives_existing_steps_priority_0() {
        let location = Location::Memory;
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(4))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tasker_template_snapshots VALUES ('d', 'ns', 't', '1', '{}', 0);
             INSERT INTO tasker_tasks (task_uuid, namespace, name, version, template_digest,
                 state, context, total_steps, created_at, updated_at)
             VALUES ('t1', 'ns', 't', '1', 'd', 'steps_in_process', '{}', 1, 0, 0);
             INSERT INTO tasker_steps (step_uuid, task_uuid, name, template_step_name,
                 handler_callable, step_type, state, dep_total, pending_deps, attempts,
                 max_attempts, ready_at, inputs, created_at, updated_at)
             VALUES ('s1', 't1', 'a', 'a', 'A', 'standard', 'enqueued', 0, 0, 0, 3, 5000, '{}',
                     1, 2);",
        )
        .unwrap();

        migrate(&mut conn, &location).unwrap();

        let row: (i64, i64, i64) = conn
            .query_row(
                "SELECT t.priority, s.priority, s.claim_order FROM tasker_steps s
                 JOIN tasker_tasks t ON t.task_uuid = s.task_uuid",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, (0, 0, 5000));
        conn.execute("UPDATE tasker_steps SET priority = 3", [])
            .unwrap();
        let order: i64 = conn
            .query_row("SELECT claim_order FROM tasker_steps", [], |r| r.get(0))
            .unwrap();
        assert_eq!(order, 2000, "three seconds earlier");
        assert!(conn
            .execute("UPDATE tasker_tasks SET priority = 1001", [])
            .is_err());
    }

    /// Migration 6 rebuilds the steps table again (the signal state and type): rows made by
    /// migrations 1-5, their edges, `created_by`, priority and transitions are kept; the new state and
    /// type are accepted; signals are deleted with their task.
    #[test]
    fn migration_6_keeps_steps_and_accepts_signal_steps() {
        let location = Location::Memory;
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(5))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tasker_template_snapshots VALUES ('d', 'ns', 't', '1', '{}', 0);
             INSERT INTO tasker_tasks (task_uuid, namespace, name, version, template_digest,
                 state, context, total_steps, created_at, updated_at)
             VALUES ('t1', 'ns', 't', '1', 'd', 'steps_in_process', '{}', 2, 0, 0);
             INSERT INTO tasker_steps (step_uuid, task_uuid, name, template_step_name,
                 handler_callable, step_type, state, dep_total, pending_deps, attempts,
                 max_attempts, inputs, result, created_at, updated_at, created_by, priority)
             VALUES ('s1', 't1', 'a', 'a', 'A', 'decision', 'resolved_manually', 0, 0, 1, 3,
                     '{}', '{\"ok\":1}', 1, 2, NULL, 0),
                    ('s2', 't1', 'b', 'b', 'B', 'standard', 'pending', 1, 1, 0, 3, '{}',
                     NULL, 1, 2, 's1', 7);
             INSERT INTO tasker_step_edges VALUES ('s1', 's2');
             INSERT INTO tasker_transitions (task_uuid, step_uuid, from_state, to_state, at)
             VALUES ('t1', 's1', 'in_progress', 'complete', 5);",
        )
        .unwrap();

        migrate(&mut conn, &location).unwrap();

        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM tasker_step_edges"), 1);
        assert_eq!(count("SELECT count(*) FROM tasker_transitions"), 1);
        let kept: (String, String, Option<String>, Option<String>) = conn
            .query_row(
                "SELECT state, step_type, result, created_by FROM tasker_steps ORDER BY step_uuid \
                 LIMIT 1 OFFSET 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2).unwrap_or_default(),
                        r.get(3)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            kept,
            ("pending".into(), "standard".into(), None, Some("s1".into()))
        );
        assert_eq!(
            count("SELECT priority FROM tasker_steps WHERE step_uuid = 's2'"),
            7
        );
        conn.execute(
            "UPDATE tasker_steps SET state = 'enqueued', ready_at = 9000 WHERE step_uuid = 's2'",
            [],
        )
        .unwrap();
        assert_eq!(
            count("SELECT claim_order FROM tasker_steps WHERE step_uuid = 's2'"),
            2000
        );
        assert_eq!(
            count(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' \
                 AND name = 'tasker_steps_claimable'"
            ),
            1
        );
        conn.execute_batch(
            "UPDATE tasker_steps SET step_type = 'signal', state = 'waiting_for_signal',
                 signal_timeout_ms = 1000 WHERE step_uuid = 's2';
             INSERT INTO tasker_signals VALUES ('t1', 'b', '{}', 7, NULL);",
        )
        .unwrap();
        assert!(conn
            .execute(
                "UPDATE tasker_steps SET step_type = 'bogus' WHERE step_uuid = 's2'",
                []
            )
            .is_err());
        assert_eq!(count("PRAGMA foreign_keys"), 1);
        conn.execute("DELETE FROM tasker_tasks WHERE task_uuid = 't1'", [])
            .unwrap();
        assert_eq!(count("SELECT count(*) FROM tasker_steps"), 0);
        assert_eq!(count("SELECT count(*) FROM tasker_signals"), 0);
    }

    /// Migration 9 rebuilds the steps table again: rows keep their priority (5), signal
    /// timeout (6) and limit settings (8), every index of those migrations is there again, and
    /// subtask steps, `waiting_for_child` and the family columns are accepted.
    #[test]
    fn migration_9_keeps_steps_with_their_limits_and_accepts_subtask_steps() {
        let location = Location::Memory;
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        embedded::migrations::runner()
            .set_target(refinery::Target::Version(8))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tasker_template_snapshots VALUES ('d', 'ns', 't', '1', '{}', 0);
             INSERT INTO tasker_tasks (task_uuid, namespace, name, version, template_digest,
                 state, context, total_steps, created_at, updated_at, priority)
             VALUES ('t1', 'ns', 't', '1', 'd', 'steps_in_process', '{}', 2, 0, 0, 7);
             INSERT INTO tasker_steps (step_uuid, task_uuid, name, template_step_name,
                 handler_callable, step_type, state, dep_total, pending_deps, attempts,
                 max_attempts, ready_at, inputs, created_at, updated_at, priority,
                 signal_timeout_ms, limit_key, limit_concurrency, limit_per_second, limit_burst)
             VALUES ('s1', 't1', 'a', 'a', 'A', 'standard', 'enqueued', 0, 0, 0, 3, 5000, '{}',
                     1, 2, 7, NULL, 'A:k', 2, 1.5, 3),
                    ('s2', 't1', 'b', 'b', '', 'signal', 'pending', 1, 1, 0, 1, NULL, '{}',
                     1, 2, 7, 60000, NULL, NULL, NULL, NULL);
             INSERT INTO tasker_step_edges VALUES ('s1', 's2');",
        )
        .unwrap();

        migrate(&mut conn, &location).unwrap();

        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT count(*) FROM tasker_step_edges"), 1);
        let kept: (i64, i64, String, i64, f64, i64, Option<String>) = conn
            .query_row(
                "SELECT priority, claim_order, limit_key, limit_concurrency, limit_per_second,
                     limit_burst, child_task_uuid FROM tasker_steps WHERE step_uuid = 's1'",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(kept, (7, 5000 - 7000, "A:k".into(), 2, 1.5, 3, None));
        assert_eq!(
            count("SELECT signal_timeout_ms FROM tasker_steps WHERE step_uuid = 's2'"),
            60000
        );
        let mut indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasker_steps' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        indexes.sort();
        assert_eq!(
            indexes,
            [
                "tasker_steps_claimable",
                "tasker_steps_leased",
                "tasker_steps_limit_running",
                "tasker_steps_limited",
                "tasker_steps_signal_deadline",
                "tasker_steps_subtask_waiting",
                // Migration 12.
                "tasker_steps_template_step"
            ]
        );
        conn.execute_batch(
            "INSERT INTO tasker_steps (step_uuid, task_uuid, name, template_step_name,
                 handler_callable, step_type, state, dep_total, pending_deps, max_attempts,
                 inputs, created_at, updated_at, child_task_uuid)
             VALUES ('s3', 't1', 'c', 'c', '', 'subtask', 'waiting_for_child', 0, 0, 3, '{}',
                     1, 2, 't2');
             UPDATE tasker_tasks SET parent_task_uuid = 't0', parent_step_uuid = 's0', depth = 1
             WHERE task_uuid = 't1';",
        )
        .unwrap();
        assert_eq!(
            count("SELECT depth FROM tasker_tasks WHERE task_uuid = 't1'"),
            1
        );
        assert!(conn
            .execute(
                "UPDATE tasker_steps SET step_type = 'bogus' WHERE step_uuid = 's3'",
                []
            )
            .is_err());
        conn.execute("DELETE FROM tasker_tasks WHERE task_uuid = 't1'", [])
            .unwrap();
        assert_eq!(count("SELECT count(*) FROM tasker_steps"), 0);
        assert_eq!(count("SELECT count(*) FROM tasker_step_edges"), 0);
    }
}
