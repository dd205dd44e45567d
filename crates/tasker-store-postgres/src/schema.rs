//! The store's schema: created when missing, migrated by sqlx's migrator (versioned
//! `migrations/<n>_<name>.sql` files embedded with checksums, recorded in the schema's own
//! `_sqlx_migrations` table), and a database of tasker-node 0.1 refused with what to do.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Executor, PgConnection, Row};
use tasker_store::{StoreError, StoreResult};

use crate::error::{sql_error, Server};
use crate::queries as q;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The longest schema name accepted (its channel name, `<schema>_events`, must fit in 63).
pub(crate) const MAX_SCHEMA_LEN: usize = 50;

/// A schema name that needs no quoting anywhere: lower-case letters, digits and underscores,
/// not starting with a digit.
/// Whether `schema` can hold tasker's tables (the message says what it may be).
pub fn check_schema_name(schema: &str) -> StoreResult<()> {
    let ok = !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_LEN
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && !schema.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidUrl(format!(
            "'{schema}' cannot be the tasker schema: use 1 to {MAX_SCHEMA_LEN} lower-case letters, \
             digits and underscores, not starting with a digit or pg_ (the default is tasker)"
        )))
    }
}

/// A statement of `queries/` with the schema name put in.
pub(crate) fn with_schema(sql: &str, schema: &str) -> String {
    sql.replace("/*schema*/", &format!("\"{schema}\""))
}

/// Refuse a 0.1 database, create the schema if missing, and migrate it. `conn` is a direct
/// connection; its search_path is left on the schema.
pub(crate) async fn prepare(
    conn: &mut PgConnection,
    server: &Server,
    schema: &str,
) -> StoreResult<()> {
    refuse_legacy(conn, server).await?;
    let exists: bool = sqlx::query_scalar(q::SCHEMA_EXISTS)
        .bind(schema)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| sql_error(server, e))?;
    if !exists {
        match conn
            .execute(with_schema(q::CREATE_SCHEMA, schema).as_str())
            .await
        {
            Ok(_) => {}
            // Created by another process at the same moment.
            Err(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("42P06") | Some("23505")) => {}
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => {
                return Err(StoreError::Schema(format!(
                    "cannot create the schema \"{schema}\" in {}: user \"{}\" may not ({}). \
                     Create it once as its owner (CREATE SCHEMA \"{schema}\" AUTHORIZATION \"{}\") \
                     or grant CREATE on the database",
                    server.database_at(),
                    server.user,
                    db.message(),
                    server.user
                )))
            }
            Err(e) => return Err(sql_error(server, e)),
        }
    }
    conn.execute(with_schema(q::SESSION, schema).as_str())
        .await
        .map_err(|e| sql_error(server, e))?;
    run_migrations(conn)
        .await
        .map_err(|e| migrate_error(server, schema, e))?;
    Ok(())
}

/// `run_direct` takes the connection itself: through `run`'s `Acquire` bound, rustc cannot
/// prove the future `Send` for every lifetime, which the napi bridge needs.
async fn run_migrations(conn: &mut PgConnection) -> Result<(), MigrateError> {
    MIGRATOR.run_direct(conn).await
}

fn migrate_error(server: &Server, schema: &str, e: MigrateError) -> StoreError {
    let at = format!("the schema \"{schema}\" of {}", server.database_at());
    match e {
        MigrateError::VersionMissing(v) => StoreError::Schema(format!(
            "{at} was migrated by a newer tasker-node (its migration {v} is unknown to this \
             version): upgrade tasker-node, or use another schema or database"
        )),
        MigrateError::VersionMismatch(v) => StoreError::Schema(format!(
            "{at} has migration {v} applied with different contents than this version's \
             (its checksum in {schema}._sqlx_migrations differs): the schema was changed by \
             another build of tasker-node; use the build that created it, or another schema"
        )),
        MigrateError::Dirty(v) => StoreError::Schema(format!(
            "{at} has migration {v} partially applied: repair it by hand and remove its row \
             from {schema}._sqlx_migrations"
        )),
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => {
            match sql_error(server, e) {
                StoreError::Unavailable(m) => StoreError::Unavailable(m),
                other => StoreError::Schema(format!("cannot migrate {at}: {other}")),
            }
        }
        other => StoreError::Schema(format!("cannot migrate {at}: {other}")),
    }
}

/// tasker-node 0.1 kept its tables (`tasker_tasks`, …, `tasker_migrations`) in the default
/// schema with another layout; say exactly what to do rather than mixing the two.
async fn refuse_legacy(conn: &mut PgConnection, server: &Server) -> StoreResult<()> {
    let rows = sqlx::query(q::LEGACY_TABLES)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| sql_error(server, e))?;
    let mut found = Vec::with_capacity(rows.len());
    for r in &rows {
        let schema: String = r.try_get(0).map_err(|e| sql_error(server, e))?;
        let table: String = r.try_get(1).map_err(|e| sql_error(server, e))?;
        found.push((schema, table));
    }
    // The 0.1 layout is recognised by its migration table; its other tables sit beside it.
    let Some((legacy, _)) = found.iter().find(|(_, t)| t == "tasker_migrations") else {
        return Ok(());
    };
    let tables: Vec<String> = found
        .iter()
        .filter(|(s, _)| s == legacy)
        .map(|(s, t)| format!("{s}.{t}"))
        .collect();
    Err(StoreError::Schema(format!(
        "{} was created by tasker-node 0.1 (it has the table {legacy}.tasker_migrations), whose \
         storage layout this version cannot read. Let the tasks in it finish with tasker-node \
         0.1, then drop its tables with `DROP TABLE {};`, or point the database URL at another \
         database",
        server.database_at(),
        tables.join(", ")
    )))
}
