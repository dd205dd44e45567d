//! How a worker is configured.

use std::path::PathBuf;

use tasker_orchestration::{HandlerLimits, ScheduleSpec};

use crate::LogLevel;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    pub template_paths: Vec<PathBuf>,
    /// Names of the handlers the runtime can run.
    pub handler_names: Vec<String>,
    pub concurrency: usize,
    pub lease_ms: u64,
    pub poll_interval_ms: u64,
    /// The least severe line sent to the runtime's logger (`None`: none at all). Lines below
    /// it are dropped here, before they cross to the runtime.
    pub min_log_level: Option<LogLevel>,
    /// Tell the runtime how each result it reported was recorded (`WorkerEvent::Recorded`),
    /// for its traces and metrics.
    pub report_outcomes: bool,
    /// Schedules this worker registers at creation and fires while it runs.
    pub schedules: Vec<ScheduleSpec>,
    /// Per-handler limits (by callable) for the steps whose templates give them none; each
    /// must be a handler the templates use (docs/limits.md).
    pub limits: HandlerLimits,
}
