use tasker_storage::StorageError;

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
    Storage(#[from] StorageError),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::TemplateNotFound(_) => "TEMPLATE_NOT_FOUND",
            EngineError::TaskNotFound(_) => "TASK_NOT_FOUND",
            EngineError::InvalidArgument(_) => "INVALID_ARGUMENT",
            EngineError::Timeout(_) => "TIMEOUT",
            EngineError::Storage(_) => "DATABASE",
        }
    }
}

impl From<sqlx::Error> for EngineError {
    fn from(e: sqlx::Error) -> Self {
        EngineError::Storage(StorageError::Sql(e))
    }
}
