//! rusqlite errors, classified for the engine.

use rusqlite::ErrorCode;
use tasker_store::StoreError;

pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::Conflict(format!(
                    "the SQLite database is busy (another process holds its write lock): {e}"
                ))
            }
            ErrorCode::ConstraintViolation
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                return StoreError::Duplicate(e.to_string())
            }
            ErrorCode::CannotOpen | ErrorCode::NotADatabase => {
                return StoreError::Unavailable(e.to_string())
            }
            ErrorCode::DiskFull => {
                return StoreError::Database(format!("the disk is full: {e}"));
            }
            _ => {}
        }
    }
    StoreError::Database(e.to_string())
}

/// A stored value that cannot be read back.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}
