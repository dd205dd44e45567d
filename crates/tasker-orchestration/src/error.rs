use tasker_store::StoreError;

/// Declares [`ErrorCode`] once: each variant with the stable name it has on the wire. Everything
/// else — `as_str`, the list [`ErrorCode::ALL`], the bridge's `errorCodes()` export, and through
/// it the TypeScript union and table (a jest test compares them) — is derived from this list.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)+) => {
        /// The stable code of an error, as the TypeScript side sees it: the bridge puts it in
        /// brackets at the start of the message (`[TEMPLATE_INVALID] …`) and `src/native.ts`
        /// maps it to an error class. Never rename one: callers match on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The wire spelling, e.g. `TEMPLATE_INVALID`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    /// A template file failed to parse or validate.
    TemplateInvalid => "TEMPLATE_INVALID",
    /// A template names a callable with no registered handler.
    HandlerNotRegistered => "HANDLER_NOT_REGISTERED",
    /// No template is registered for the requested (namespace, name, version).
    TemplateNotFound => "TEMPLATE_NOT_FOUND",
    /// No task has the given uuid.
    TaskNotFound => "TASK_NOT_FOUND",
    /// Bad options, arguments or JSON.
    InvalidArgument => "INVALID_ARGUMENT",
    /// The database could not be reached or a statement failed (or the engine broke an
    /// invariant of its own and rolled back).
    Database => "DATABASE",
    /// `wait_for_task` ran out of time.
    Timeout => "TIMEOUT",
    /// The engine or worker was already shut down.
    Closed => "CLOSED",
    /// The task or step is not in a state that allows the operation (retrying a task that did
    /// not fail, resolving a step that already completed).
    InvalidState => "INVALID_STATE",
    /// A create duplicates an existing task (its idempotency key, or its template and context
    /// under `identity_strategy: strict`) and was asked to fail then (`onDuplicate: 'error'`).
    DuplicateTask => "DUPLICATE_TASK",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    DuplicateTask(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A broken invariant of the engine itself (a bug): the transaction was rolled back.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::TemplateNotFound(_) => ErrorCode::TemplateNotFound,
            EngineError::TaskNotFound(_) => ErrorCode::TaskNotFound,
            EngineError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            EngineError::Timeout(_) => ErrorCode::Timeout,
            EngineError::InvalidState(_) => ErrorCode::InvalidState,
            EngineError::DuplicateTask(_) => ErrorCode::DuplicateTask,
            EngineError::Store(StoreError::Closed) => ErrorCode::Closed,
            EngineError::Store(_) | EngineError::Internal(_) => ErrorCode::Database,
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
            | EngineError::InvalidState(_)
            | EngineError::DuplicateTask(_)
            | EngineError::Timeout(_) => false,
        }
    }

    /// The database is down or unreachable.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.is_unavailable())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_keep_their_wire_spelling() {
        // Changing one breaks every caller that matches on it: this list is the contract.
        let spelled: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            spelled,
            [
                "TEMPLATE_INVALID",
                "HANDLER_NOT_REGISTERED",
                "TEMPLATE_NOT_FOUND",
                "TASK_NOT_FOUND",
                "INVALID_ARGUMENT",
                "DATABASE",
                "TIMEOUT",
                "CLOSED",
                "INVALID_STATE",
                "DUPLICATE_TASK",
            ]
        );
        assert_eq!(ErrorCode::Closed.to_string(), "CLOSED");
    }
}
