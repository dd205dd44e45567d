//! What the worker tells its operator: log lines for the handler runtime's logger, and the
//! state of the database as this worker sees it (an outage is told once when it starts, again
//! while it lasts, and once when it ends; not once per failed statement).
//! `tell`, `db_failed` and `db_ok` send those lines through `tracing` and to the runtime.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::events::{send_event, WorkerEvent};
use crate::worker::Inner;

/// Ordered by severity (`Debug < Info < Warn < Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// `debug`, `info`, `warn` or `error`.
    pub fn parse(level: &str) -> Option<LogLevel> {
        match level {
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warn" => Some(LogLevel::Warn),
            "error" => Some(LogLevel::Error),
            _ => None,
        }
    }
}

/// One line for the runtime's logger: a message for people, and fields for machines
/// (camelCase keys: `workerId`, `taskUuid`, `step`, `attempt`, `cause`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    pub fields: Map<String, Value>,
}

impl LogLine {
    pub fn new(level: LogLevel, message: impl Into<String>) -> LogLine {
        LogLine {
            level,
            message: message.into(),
            fields: Map::new(),
        }
    }

    pub fn field(mut self, key: &str, value: impl Into<Value>) -> LogLine {
        self.fields.insert(key.to_string(), value.into());
        self
    }
}

/// How often an outage that goes on is told again.
const RETELL_EVERY: Duration = Duration::from_secs(30);

struct Outage {
    since: Instant,
    last_told: Instant,
    /// The database could not be reached (as opposed to refusing statements: a full disk, say).
    unreachable: bool,
}

/// The database as this worker sees it.
#[derive(Default)]
pub(crate) struct Health {
    outage: Mutex<Option<Outage>>,
}

impl Health {
    /// A database call failed while `doing` something; the line to log, if any.
    pub(crate) fn failed(
        &self,
        doing: &str,
        cause: &str,
        unreachable: bool,
        now: Instant,
    ) -> Option<LogLine> {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        let what = if unreachable {
            "database unavailable"
        } else {
            "database failing"
        };
        match outage.as_mut() {
            None => {
                *outage = Some(Outage {
                    since: now,
                    last_told: now,
                    unreachable,
                });
                Some(
                    LogLine::new(
                        LogLevel::Warn,
                        format!("{what} while {doing}: {cause}; retrying until it answers"),
                    )
                    .field("doing", doing)
                    .field("cause", cause),
                )
            }
            Some(o) if now.duration_since(o.last_told) >= RETELL_EVERY => {
                o.last_told = now;
                o.unreachable = unreachable;
                let down = now.duration_since(o.since).as_secs_f64();
                Some(
                    LogLine::new(
                        LogLevel::Warn,
                        format!("{what} for {down:.0} s so far (while {doing}: {cause}); still retrying"),
                    )
                    .field("doing", doing)
                    .field("cause", cause)
                    .field("downMs", (down * 1000.0).round()),
                )
            }
            Some(o) => {
                o.unreachable = unreachable;
                Some(
                    LogLine::new(
                        LogLevel::Debug,
                        format!("still failing while {doing}: {cause}"),
                    )
                    .field("doing", doing)
                    .field("cause", cause),
                )
            }
        }
    }

    /// A database call succeeded; the recovery line, if an outage just ended.
    pub(crate) fn succeeded(&self, now: Instant) -> Option<LogLine> {
        let mut outage = self.outage.lock().unwrap_or_else(|p| p.into_inner());
        let o = outage.take()?;
        let down = now.duration_since(o.since).as_secs_f64();
        let what = if o.unreachable {
            "database reachable again"
        } else {
            "database working again"
        };
        Some(
            LogLine::new(LogLevel::Info, format!("{what} after {down:.1} s"))
                .field("downMs", (down * 1000.0).round()),
        )
    }

    #[cfg(test)]
    pub(crate) fn is_down(&self) -> bool {
        self.outage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// Waits between retries while the database fails: short at first, so that work resumes
/// within a fraction of a second of the database answering again, and never longer than
/// `cap`.
pub(crate) struct Backoff {
    next: Duration,
    cap: Duration,
}

const FIRST_RETRY: Duration = Duration::from_millis(50);
/// The longest wait between two retries: bounds how long after the database is back
/// work resumes.
pub(crate) const MAX_RETRY: Duration = Duration::from_millis(500);

impl Backoff {
    pub(crate) fn new(cap: Duration) -> Backoff {
        Backoff {
            next: FIRST_RETRY.min(cap),
            cap: cap.min(MAX_RETRY),
        }
    }

    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }
}

/// Log a line through `tracing` and hand it to the runtime's logger, naming this worker
/// (unless it is below the level the runtime asked for).
pub(crate) fn tell(inner: &Inner, mut line: LogLine) {
    if inner
        .config
        .min_log_level
        .is_none_or(|min| line.level < min)
    {
        return;
    }
    let id = &inner.config.worker_id;
    line.message = format!("worker {id}: {}", line.message);
    line.fields
        .insert("workerId".to_string(), serde_json::Value::from(id.as_str()));
    match line.level {
        LogLevel::Debug => tracing::debug!("{}", line.message),
        LogLevel::Info => tracing::info!("{}", line.message),
        LogLevel::Warn => tracing::warn!("{}", line.message),
        LogLevel::Error => tracing::error!("{}", line.message),
    }
    send_event(inner, WorkerEvent::Log(line));
}

/// A database call failed while `doing` something: tell the operator (once per outage, not
/// once per failure).
pub(crate) fn db_failed(inner: &Inner, doing: &str, e: &tasker_orchestration::EngineError) {
    let cause = e.to_string();
    if let Some(line) =
        inner
            .health
            .failed(doing, &cause, e.is_unavailable(), std::time::Instant::now())
    {
        tell(inner, line);
    }
}

/// A database call succeeded: tell the operator if that ends an outage.
pub(crate) fn db_ok(inner: &Inner) {
    if let Some(line) = inner.health.succeeded(std::time::Instant::now()) {
        tell(inner, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_when_it_starts_while_it_lasts_and_when_it_ends() {
        let h = Health::default();
        let t0 = Instant::now();
        let first = h
            .failed(
                "claiming steps",
                "connection refused at 127.0.0.1:1",
                true,
                t0,
            )
            .unwrap();
        assert_eq!(first.level, LogLevel::Warn);
        assert_eq!(
            first.message,
            "database unavailable while claiming steps: connection refused at 127.0.0.1:1; \
             retrying until it answers"
        );
        assert_eq!(first.fields["cause"], "connection refused at 127.0.0.1:1");
        let again = h
            .failed("renewing leases", "x", true, t0 + Duration::from_secs(1))
            .unwrap();
        assert_eq!(again.level, LogLevel::Debug);
        let retold = h
            .failed("claiming steps", "x", true, t0 + Duration::from_secs(31))
            .unwrap();
        assert_eq!(retold.level, LogLevel::Warn);
        assert!(retold
            .message
            .starts_with("database unavailable for 31 s so far"));
        assert!(h.is_down());
        let back = h.succeeded(t0 + Duration::from_millis(34_200)).unwrap();
        assert_eq!(back.level, LogLevel::Info);
        assert_eq!(back.message, "database reachable again after 34.2 s");
        assert_eq!(back.fields["downMs"], 34_200.0);
        assert!(!h.is_down());
        assert!(h.succeeded(t0 + Duration::from_secs(40)).is_none());
    }

    #[test]
    fn a_database_that_refuses_statements_is_failing_not_unreachable() {
        let h = Health::default();
        let t0 = Instant::now();
        let first = h
            .failed("recording 2 results", "database or disk is full", false, t0)
            .unwrap();
        assert!(first
            .message
            .starts_with("database failing while recording 2 results"));
        let back = h.succeeded(t0 + Duration::from_secs(2)).unwrap();
        assert_eq!(back.message, "database working again after 2.0 s");
    }

    #[test]
    fn retries_start_short_and_stay_under_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(5));
        let waits: Vec<u128> = (0..6).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 500, 500]);
        let mut small = Backoff::new(Duration::from_millis(20));
        assert_eq!(small.next_wait().as_millis(), 20);
        assert_eq!(small.next_wait().as_millis(), 20);
    }
}
