//! How a worker is configured.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    pub template_paths: Vec<PathBuf>,
    /// Names of the handlers the runtime can run.
    pub handler_names: Vec<String>,
    pub concurrency: usize,
    pub lease_ms: u64,
    pub poll_interval_ms: u64,
}
