//! The worker's counters, and the statistics `Worker::stats()` reports from them.

use crate::dispatch_stats;

/// Counters of one worker, for operators and benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerStats {
    /// Steps claimed since start.
    pub claimed: u64,
    /// Results written to the database.
    pub recorded: u64,
    /// Results ignored because their claim was no longer current.
    pub stale: u64,
    /// Of the results recorded (the runtime's, and the timeouts this worker recorded): those
    /// that completed their step, those after which the step will be retried, and those that
    /// failed it for good.
    pub completed: u64,
    pub retried: u64,
    pub failed: u64,
    /// Expired leases (of steps whose workers stopped renewing them) this worker reaped.
    pub reaped: u64,
    pub in_flight: usize,
    /// Dispatch overhead (Rust → runtime → Rust, handler time excluded) of every step this
    /// worker has recorded, in whole microseconds (within 0.1 %; see `dispatch_stats`).
    pub dispatch_p50_us: f64,
    pub dispatch_p95_us: f64,
    pub dispatch_samples: usize,
    /// Statements and transactions the worker's store ran since it was opened (everything
    /// that engine did, for this worker and for clients sharing it).
    pub store_statements: u64,
    pub store_transactions: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) claimed: u64,
    pub(crate) recorded: u64,
    pub(crate) stale: u64,
    pub(crate) completed: u64,
    pub(crate) retried: u64,
    pub(crate) failed: u64,
    pub(crate) reaped: u64,
    pub(crate) dispatch_us: dispatch_stats::DispatchStats,
}
