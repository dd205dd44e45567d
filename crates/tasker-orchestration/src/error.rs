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

    /// The database is down or unreachable.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.is_unavailable())
    }
}
