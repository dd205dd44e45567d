use tasker_store::StoreError;

/// Every error the engine reports. `code()` is the stable name the TypeScript side maps to an
/// error class; the message is for people and names the offending thing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    TemplateNotFound(String),
    #[error("{0}")]
    TaskNotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Timeout(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken invariant of the engine itself (a bug): the transaction was rolled back.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::TemplateNotFound(_) => "TEMPLATE_NOT_FOUND",
            EngineError::TaskNotFound(_) => "TASK_NOT_FOUND",
            EngineError::InvalidArgument(_) => "INVALID_ARGUMENT",
            EngineError::Timeout(_) => "TIMEOUT",
            EngineError::Store(StoreError::Closed) => "CLOSED",
            EngineError::Store(_) | EngineError::Internal(_) => "DATABASE",
        }
    }

    /// Running the same transaction again may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.is_conflict())
    }

    /// Running the same call again later may succeed: the database is down, busy, or refusing
    /// writes for now (a full disk, too many connections). False for faults that retrying
    /// cannot mend (a bug, unreadable stored data, a rejected argument, a closed store).
    pub fn may_heal(&self) -> bool {
        match self {
            EngineError::Store(e) => !matches!(e, StoreError::Corrupt(_) | StoreError::Closed),
            EngineError::Internal(_)
            | EngineError::InvalidArgument(_)
            | EngineError::TemplateNotFound(_)
            | EngineError::TaskNotFound(_)
            | EngineError::Timeout(_) => false,
        }
    }

    /// The database is down or unreachable.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.is_unavailable())
    }
}
