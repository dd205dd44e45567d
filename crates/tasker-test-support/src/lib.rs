//! Shared support for the integration tests of `tasker-orchestration` and `tasker-worker`: one
//! test body, run against both backends (in-memory SQLite and a fresh PostgreSQL database per
//! test), temp dirs for templates, the templates both suites use, and helpers that create a
//! task and read its view, and a raw connection of its own to a shared database (to stall
//! writes or change rows as another process would).
//!
//! PostgreSQL: `TASKER_TEST_DATABASE_URL` names the server (default
//! `postgres://postgres@127.0.0.1:5432`); each test creates `tasker_rs_<random>` through the
//! `postgres` database and drops it at the end, pass or fail. When the server cannot be reached
//! the PostgreSQL variants print `SKIPPED: …` and pass, unless `TASKER_REQUIRE_POSTGRES=1`, in
//! which case they fail.
//!
//! A test file writes its bodies as `async fn <name>(db: TestDb)` and lists them in
//! `backend_tests!(<name>, …)` (or `postgres_tests!`) in the same module; the calling crate
//! needs `tokio` with the `macros` and `rt-multi-thread` features.

mod backend;
mod fs;
mod raw;
mod task;
mod templates;

pub use backend::{run_postgres, run_sqlite, Backend, TestDb};
pub use fs::{template_dir, TempDir};
pub use raw::{shared_url, RawConnection};
pub use task::{
    count_in, create, details, json_of, last_task_reason, moves, open_engine, req, sorted, states,
    step, step_names, step_states, step_transitions, task_transitions, value,
};
pub use templates::{DIAMOND, DIAMOND_CALLABLES, NS, SINGLE, VERSION};

/// Generates `<name>::sqlite` and `<name>::postgres` tests for each `async fn <name>(TestDb)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::run_sqlite(super::$name).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::run_postgres(super::$name).await;
            }
        }
    )+};
}

/// Generates only `<name>::postgres` (for behaviour that needs a shared server).
#[macro_export]
macro_rules! postgres_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::run_postgres(super::$name).await;
            }
        }
    )+};
}
