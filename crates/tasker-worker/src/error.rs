use tasker_orchestration::{EngineError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    TemplateInvalid(String),
    #[error("{0}")]
    HandlerNotRegistered(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Closed(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl WorkerError {
    /// The stable code the TypeScript side maps to an error class.
    pub fn code(&self) -> ErrorCode {
        match self {
            WorkerError::TemplateInvalid(_) => ErrorCode::TemplateInvalid,
            WorkerError::HandlerNotRegistered(_) => ErrorCode::HandlerNotRegistered,
            WorkerError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            WorkerError::Closed(_) => ErrorCode::Closed,
            WorkerError::Engine(e) => e.code(),
        }
    }
}
