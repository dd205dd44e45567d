//! What can go wrong in a store, classified so that the engine can decide what to do: retry a
//! conflicting transaction, report a database that cannot be reached, or surface corruption.

/// A store error. `Display` is the user-facing message; no variant ever contains a password
/// (drivers redact database URLs before building one).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL cannot be used (unknown scheme, bad option).
    #[error("{0}")]
    InvalidUrl(String),
    /// The database could not be reached, or the connection was lost.
    #[error("{0}")]
    Unavailable(String),
    /// The transaction conflicted with a concurrent one (deadlock, serialization failure,
    /// database busy): running it again is safe.
    #[error("{0}")]
    Conflict(String),
    /// A unique constraint was violated.
    #[error("{0}")]
    Duplicate(String),
    /// The schema is missing, too new, or was created by a version this one cannot migrate.
    #[error("{0}")]
    Schema(String),
    /// Stored data that cannot be read (an unknown state name, an unreadable id).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
    /// The store was closed.
    #[error("the database connection was closed")]
    Closed,
    /// The unit of work itself returned an error: the transaction was rolled back and
    /// `run_write`/`run_read` hand the caller its own error back.
    #[error("the unit of work was abandoned")]
    Aborted(Aborted),
}

/// A unit of work's own error, carried through a driver untouched.
pub struct Aborted(pub(crate) Box<dyn std::any::Any + Send>);

impl std::fmt::Debug for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aborted")
    }
}

impl StoreError {
    /// Running the same transaction again may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }

    /// The database is down or unreachable (as opposed to refusing a statement).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, StoreError::Duplicate(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
