//! The worker core. It claims ready steps (never more than `concurrency` in flight, and only
//! when a slot is free), hands them to a handler runtime through `poll()`, enforces each
//! step's timeout, keeps its leases alive, batches results into shared transactions, and
//! shuts down in two phases: drain within a grace period, then abort and release.
//!
//! The crate is split along its seams:
//! - `config`, `events`, `stats`, `error`: the public types (`WorkerConfig`; `WorkerEvent` and
//!   `HandlerResult`, what passes to and from the runtime; `WorkerStats`; `WorkerError`).
//! - `worker`: the `Worker` API (create, start, poll, complete, checkpoint, stats, two-phase
//!   shutdown) and the state its background tasks share.
//! - `claiming`: the claim loop, dispatch to the runtime, and the concurrency slots.
//! - `timeouts`: one timer per step, the only place a step's time limit is enforced.
//! - `writer`: the result writer (results batched into shared transactions, with a claim of
//!   the next steps in the same transaction).
//! - `leases`: the lease loop (renew, detect lost claims, reap), the cancellation loop, and
//!   aborting the handlers of steps no longer held.
//! - `scheduler`: the scheduler loop (sleeps until the next fire time of the worker's
//!   schedules, then has the engine create the tasks due).
//! - `diagnostics`: log lines, database health as this worker sees it, retry backoff;
//!   `dispatch_stats`: the dispatch-overhead histogram.

mod claiming;
mod config;
mod diagnostics;
mod dispatch_stats;
mod error;
mod events;
mod leases;
mod scheduler;
mod stats;
mod timeouts;
mod worker;
mod writer;

pub use config::WorkerConfig;
pub use diagnostics::{LogLevel, LogLine};
pub use error::WorkerError;
pub use events::{HandlerResult, ResultOutcome, WorkerEvent};
pub use stats::WorkerStats;
pub use tasker_orchestration::ReadyBacklog;
pub use worker::Worker;
