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
