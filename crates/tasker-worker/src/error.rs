use tasker_orchestration::EngineError;

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
    pub fn code(&self) -> &'static str {
        match self {
            WorkerError::TemplateInvalid(_) => "TEMPLATE_INVALID",
            WorkerError::HandlerNotRegistered(_) => "HANDLER_NOT_REGISTERED",
            WorkerError::InvalidArgument(_) => "INVALID_ARGUMENT",
            WorkerError::Closed(_) => "CLOSED",
            WorkerError::Engine(e) => e.code(),
        }
    }
}
