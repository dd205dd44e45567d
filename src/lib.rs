//! The napi-rs bridge: typed, thin and internal. It converts between JavaScript and the core
//! crates and decides nothing; the TypeScript package (`src/*.ts`) is its only caller.
//!
//! Null/undefined convention: optional fields are `undefined` in JS when absent. JSON payloads
//! cross as strings (see `src/native.ts`). Errors carry a stable `code` (an `ErrorCode`, see
//! `code()` on the core error types) that `src/errors/from-native-error.ts` maps to named
//! classes; `errorCodes()` lists them all, so a test can check that table against this side.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi_derive::napi;
use tasker_orchestration::{
    iso8601, Backend, ConnectOptions, CreateTask, Engine, EngineError, ErrorCode, ExpansionLimits,
    JsonLimits, Limits, ListTasks, OnDuplicate, Prune, ScheduleSpec, StepError, TaskMetadataInput,
    TaskState, DEFAULT_CONNECT_TIMEOUT,
};
use tasker_worker::{HandlerResult, LogLevel, Worker, WorkerConfig, WorkerError, WorkerEvent};

type Result<T> = napi::Result<T>;

/// A JS error whose message starts with its stable code in brackets, `[CODE] message`
/// (napi-rs async functions cannot carry a custom `code`); `src/native.ts` splits it.
fn coded(code: ErrorCode, message: impl std::fmt::Display) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("[{code}] {message}"))
}

fn engine_error(e: EngineError) -> napi::Error {
    coded(e.code(), e)
}

fn worker_error(e: WorkerError) -> napi::Error {
    coded(e.code(), e)
}

fn json_string<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| coded(ErrorCode::InvalidArgument, e))
}

/// Every code an error message can start with (`[CODE] …`), in declaration order.
#[napi(catch_unwind)]
pub fn error_codes() -> Vec<String> {
    ErrorCode::ALL
        .iter()
        .map(|code| code.as_str().to_string())
        .collect()
}

#[napi(object)]
pub struct EngineOptions {
    pub database_url: String,
    pub max_steps_per_decision: Option<u32>,
    pub max_batch_workers: Option<u32>,
    pub max_json_depth: Option<u32>,
    pub max_result_bytes: Option<u32>,
    pub max_context_bytes: Option<u32>,
    pub connect_timeout_ms: Option<u32>,
    pub pool_size: Option<u32>,
    pub schema: Option<String>,
}

#[napi(object)]
pub struct WorkerOptions {
    pub template_paths: Vec<String>,
    pub handler_names: Vec<String>,
    pub concurrency: u32,
    pub worker_id: String,
    pub lease_ms: Option<u32>,
    pub poll_interval_ms: Option<u32>,
    /// The least severe core log line sent as a `log` event (default `debug`: all of them).
    #[napi(ts_type = "'debug' | 'info' | 'warn' | 'error' | 'silent'")]
    pub log_level: Option<String>,
    /// Send a `recorded` event for each result (default false).
    pub report_outcomes: Option<bool>,
    /// JSON of the `schedules` option (an array of schedule definitions).
    pub schedules: Option<String>,
    /// YAML files of schedules (`schedules:` lists).
    pub schedule_paths: Option<Vec<String>>,
    /// JSON of the `limits` option (an object of handler callable → limits, with the
    /// template's field names).
    pub limits: Option<String>,
}

/// The schedules a worker is created with: the `schedules` option's, then each file's, names
/// unique across all of them.
fn worker_schedules(json: Option<&str>, paths: &[String]) -> Result<Vec<ScheduleSpec>> {
    let invalid = |e: tasker_domain::schedule::ScheduleError| {
        coded(ErrorCode::InvalidArgument, e.to_string())
    };
    let mut lists: Vec<(String, Vec<ScheduleSpec>)> = Vec::new();
    if let Some(json) = json {
        let source = "createWorker schedules".to_string();
        let specs =
            tasker_domain::schedule::parse_schedules_json(json, &source).map_err(invalid)?;
        lists.push((source, specs));
    }
    for p in paths {
        let specs =
            tasker_domain::schedule::load_schedules(std::path::Path::new(p)).map_err(invalid)?;
        lists.push((p.clone(), specs));
    }
    let named: Vec<(&str, &[ScheduleSpec])> = lists
        .iter()
        .map(|(s, l)| (s.as_str(), l.as_slice()))
        .collect();
    tasker_domain::schedule::check_unique_names(&named).map_err(invalid)?;
    Ok(lists.into_iter().flat_map(|(_, l)| l).collect())
}

/// A stored schedule (`listSchedules`). Times are ISO 8601 (UTC); `context` is JSON.
#[napi(object)]
pub struct ScheduleInfo {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    pub namespace: String,
    pub task_name: String,
    pub version: String,
    pub context: String,
    #[napi(ts_type = "'latest' | 'skip' | 'all'")]
    pub missed: String,
    pub last_fire_at: Option<String>,
    pub next_fire_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[napi(object)]
pub struct CreateTaskRequest {
    pub namespace: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub idempotency_key: Option<String>,
    /// The first steps become claimable this many milliseconds after creation.
    pub delay_ms: Option<f64>,
    /// JSON of the creator's W3C trace context carrier.
    pub trace_context: Option<String>,
    /// -1000..1000, higher first; the engine refuses anything else.
    pub priority: Option<f64>,
    /// Task metadata (docs/task-metadata.md); the engine checks it and generates the
    /// correlation id when it is absent.
    pub correlation_id: Option<String>,
    pub parent_correlation_id: Option<String>,
    pub initiator: Option<String>,
    pub source_system: Option<String>,
    pub reason: Option<String>,
    pub tags: Option<Vec<String>>,
    /// What a duplicate create gets (docs/identity.md): the existing task (default) or an error.
    #[napi(ts_type = "'return' | 'error'")]
    pub on_duplicate: Option<String>,
}

fn create_request(request: CreateTaskRequest) -> std::result::Result<CreateTask, EngineError> {
    let on_duplicate = match request.on_duplicate.as_deref() {
        None => OnDuplicate::default(),
        Some(s) => OnDuplicate::parse(s)?,
    };
    Ok(CreateTask {
        namespace: request.namespace,
        name: request.name,
        version: request.version,
        context: request.context,
        idempotency_key: request.idempotency_key,
        // The TypeScript side checks it is a non-negative integer; the engine caps it.
        delay_ms: request
            .delay_ms
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| ms.round() as u64),
        trace_context: request.trace_context,
        priority: request.priority,
        metadata: TaskMetadataInput {
            correlation_id: request.correlation_id,
            parent_correlation_id: request.parent_correlation_id,
            initiator: request.initiator,
            source_system: request.source_system,
            reason: request.reason,
            tags: request.tags.unwrap_or_default(),
        },
        on_duplicate,
        always_new: false,
    })
}

#[napi(object)]
pub struct ListTasksFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub state: Option<String>,
    /// Created at or after, ms since the epoch (the TypeScript side checks it is a time).
    pub created_after_ms: Option<f64>,
    /// Created before, ms since the epoch.
    pub created_before_ms: Option<f64>,
    pub correlation_id: Option<String>,
    pub parent_correlation_id: Option<String>,
    /// Only tasks with every one of these tags.
    pub tags: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl From<ListTasksFilter> for ListTasks {
    fn from(f: ListTasksFilter) -> ListTasks {
        let ms = |v: Option<f64>| v.filter(|ms| ms.is_finite()).map(|ms| ms.round() as i64);
        ListTasks {
            namespace: f.namespace,
            name: f.name,
            state: f.state,
            created_after: ms(f.created_after_ms),
            created_before: ms(f.created_before_ms),
            correlation_id: f.correlation_id,
            parent_correlation_id: f.parent_correlation_id,
            tags: f.tags.unwrap_or_default(),
            limit: f.limit,
            offset: f.offset,
        }
    }
}

#[napi(object)]
pub struct StepEvent {
    /// `step`, `abort`, `log` (a line for the worker's logger), or `recorded` (what became of a
    /// result).
    #[napi(ts_type = "'step' | 'abort' | 'log' | 'recorded'")]
    pub kind: String,
    pub step_uuid: String,
    pub task_uuid: String,
    pub claim_id: String,
    pub payload: Option<String>,
    /// For `step`: the dependency results, JSON keyed by step name (absent without any).
    pub dependencies: Option<String>,
    pub reason: Option<String>,
    /// For `log`: the level.
    #[napi(ts_type = "'debug' | 'info' | 'warn' | 'error'")]
    pub level: Option<String>,
    /// For `log`: the message.
    pub message: Option<String>,
    /// For `log`: the fields, as a JSON object.
    pub fields: Option<String>,
    /// For `recorded`: what became of the result.
    #[napi(ts_type = "'completed' | 'retry' | 'failed' | 'stale' | 'unrecorded'")]
    pub outcome: Option<String>,
    /// For `step`: JSON of the task creator's W3C trace context carrier, if one was stored.
    pub trace_context: Option<String>,
}

#[napi(object)]
pub struct WorkerStatsView {
    pub claimed: f64,
    pub recorded: f64,
    pub stale: f64,
    pub completed: f64,
    pub retried: f64,
    pub failed: f64,
    pub reaped: f64,
    pub in_flight: u32,
    pub dispatch_p50_us: f64,
    pub dispatch_p95_us: f64,
    pub dispatch_samples: f64,
    pub store_statements: f64,
    pub store_transactions: f64,
}

#[napi(object)]
pub struct StepErrorInput {
    pub message: String,
    pub error_type: String,
    pub retryable: bool,
    pub retry_after_ms: Option<f64>,
    pub status_code: Option<i64>,
    /// The handler's stack trace (the core stores at most 8 KiB of it).
    pub stack: Option<String>,
}

#[napi(object)]
pub struct StepResultInput {
    pub step_uuid: String,
    pub claim_id: String,
    pub success: bool,
    pub result: Option<String>,
    pub error: Option<StepErrorInput>,
    pub metadata: Option<String>,
    pub duration_ms: f64,
}

/// The database's answer to a health check.
#[napi(object)]
pub struct HealthView {
    #[napi(ts_type = "'sqlite' | 'postgres'")]
    pub backend: String,
    /// How long the round trip took (until the failure, when there is one).
    pub latency_ms: f64,
    /// Why the database did not answer (absent when it did).
    pub error: Option<String>,
}

/// The ready steps nobody has claimed yet.
#[napi(object)]
pub struct ReadyBacklogView {
    pub count: f64,
    /// How long the oldest has waited, in ms (absent when there is none).
    pub oldest_ms: Option<f64>,
}

/// Parse and validate templates without a database, finding every error; returns JSON of a
/// `TemplateReport` (`{ files, templates, errors: [{ message, file?, step?, field? }] }`).
#[napi(catch_unwind)]
pub fn validate_templates(paths: Vec<String>) -> Result<String> {
    json_string(&tasker_domain::check_templates(&paths))
}

/// Open (and migrate) a database.
#[napi(catch_unwind)]
pub async fn open_engine(options: EngineOptions) -> Result<NativeEngine> {
    let defaults = ExpansionLimits::default();
    let json = JsonLimits::default();
    let or = |n: Option<u32>, default: usize| n.map_or(default, |n| n as usize);
    let limits = Limits {
        expansion: ExpansionLimits {
            max_steps_per_decision: or(
                options.max_steps_per_decision,
                defaults.max_steps_per_decision,
            ),
            max_batch_workers: or(options.max_batch_workers, defaults.max_batch_workers),
        },
        json: JsonLimits {
            max_depth: or(options.max_json_depth, json.max_depth),
            max_result_bytes: or(options.max_result_bytes, json.max_result_bytes),
            max_context_bytes: or(options.max_context_bytes, json.max_context_bytes),
        },
    };
    let connect = ConnectOptions {
        connect_timeout: options
            .connect_timeout_ms
            .map_or(DEFAULT_CONNECT_TIMEOUT, |ms| {
                Duration::from_millis(ms.into())
            }),
        pool_size: options.pool_size,
        schema: options.schema,
    };
    let engine = Engine::open_with_connect(&options.database_url, limits, connect)
        .await
        .map_err(engine_error)?;
    Ok(NativeEngine { engine })
}

#[napi]
pub struct NativeEngine {
    engine: Arc<Engine>,
}

#[napi]
impl NativeEngine {
    #[napi(catch_unwind)]
    pub async fn create_task(&self, request: CreateTaskRequest) -> Result<String> {
        let task = self
            .engine
            .create_task(create_request(request).map_err(engine_error)?)
            .await
            .map_err(engine_error)?;
        json_string(&task)
    }

    /// Create many tasks in one transaction; returns JSON of the tasks, in request order.
    #[napi(catch_unwind)]
    pub async fn create_tasks(&self, requests: Vec<CreateTaskRequest>) -> Result<String> {
        let tasks = self
            .engine
            .create_tasks(
                requests
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| {
                        create_request(r).map_err(|e| match e {
                            EngineError::InvalidArgument(m) => {
                                EngineError::InvalidArgument(format!("request {i}: {m}"))
                            }
                            other => other,
                        })
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(engine_error)?,
            )
            .await
            .map_err(engine_error)?;
        json_string(&tasks)
    }

    #[napi(catch_unwind)]
    pub async fn get_task(&self, task_uuid: String) -> Result<Option<String>> {
        match self
            .engine
            .get_task(&task_uuid, true)
            .await
            .map_err(engine_error)?
        {
            Some(t) => Ok(Some(json_string(&t)?)),
            None => Ok(None),
        }
    }

    #[napi(catch_unwind)]
    pub async fn list_tasks(&self, filter: ListTasksFilter) -> Result<String> {
        let tasks = self
            .engine
            .list_tasks(&ListTasks::from(filter))
            .await
            .map_err(engine_error)?;
        json_string(&tasks)
    }

    /// Tasks matching the filter per state (JSON object of counts), each count stopping at
    /// `max`.
    #[napi(catch_unwind)]
    pub async fn count_tasks(&self, filter: ListTasksFilter, max: Option<i64>) -> Result<String> {
        let counts = self
            .engine
            .count_tasks(&ListTasks::from(filter), max)
            .await
            .map_err(engine_error)?;
        json_string(
            &counts
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
    }

    /// Step executions that ended per minute over the last `minutes` (JSON list).
    #[napi(catch_unwind)]
    pub async fn step_activity(&self, minutes: i64) -> Result<String> {
        let activity = self
            .engine
            .step_activity(minutes)
            .await
            .map_err(engine_error)?;
        json_string(&activity)
    }

    /// Delete the stored schedule of this name; whether there was one.
    #[napi(catch_unwind)]
    pub async fn delete_schedule(&self, name: String) -> Result<bool> {
        self.engine
            .delete_schedule(&name)
            .await
            .map_err(engine_error)
    }

    /// Every stored schedule, by name, with its next fire time.
    #[napi(catch_unwind)]
    pub async fn list_schedules(&self) -> Result<Vec<ScheduleInfo>> {
        let schedules = self.engine.list_schedules().await.map_err(engine_error)?;
        Ok(schedules
            .into_iter()
            .map(|s| ScheduleInfo {
                name: s.name,
                cron: s.cron,
                timezone: s.timezone,
                namespace: s.namespace,
                task_name: s.task_name,
                version: s.version,
                context: s.context,
                missed: s.missed,
                last_fire_at: s.last_fire_at.map(iso8601),
                next_fire_at: s.next_fire_at.map(iso8601),
                created_at: iso8601(s.created_at),
                updated_at: iso8601(s.updated_at),
            })
            .collect())
    }

    #[napi(catch_unwind)]
    pub async fn cancel_task(&self, task_uuid: String, reason: Option<String>) -> Result<String> {
        let task = self
            .engine
            .cancel_task(&task_uuid, reason.as_deref())
            .await
            .map_err(engine_error)?;
        json_string(&task)
    }

    /// Run a failed task again from its failed steps; returns JSON of the task.
    #[napi(catch_unwind)]
    pub async fn retry_task(&self, task_uuid: String) -> Result<String> {
        let task = self
            .engine
            .retry_task(&task_uuid)
            .await
            .map_err(engine_error)?;
        json_string(&task)
    }

    /// Complete a failed or stuck step by hand with `result` (JSON of an object).
    #[napi(catch_unwind)]
    pub async fn resolve_step(
        &self,
        task_uuid: String,
        step_name: String,
        result: String,
        reason: Option<String>,
    ) -> Result<String> {
        let task = self
            .engine
            .resolve_step(&task_uuid, &step_name, result, reason.as_deref())
            .await
            .map_err(engine_error)?;
        json_string(&task)
    }

    /// Send a signal (`payload`: JSON of an object) to a signal step of a task; returns JSON of
    /// `{ applied, stepState, taskState, receivedAt }`.
    #[napi(catch_unwind)]
    pub async fn send_signal(
        &self,
        task_uuid: String,
        step_name: String,
        payload: String,
    ) -> Result<String> {
        let sent = self
            .engine
            .send_signal(&task_uuid, &step_name, payload)
            .await
            .map_err(engine_error)?;
        json_string(&serde_json::json!({
            "applied": sent.applied,
            "stepState": sent.step_state.as_str(),
            "taskState": sent.task_state.as_str(),
            "receivedAt": tasker_orchestration::iso8601(sent.received_at),
        }))
    }

    /// Delete tasks in `states` (all finished states when empty) that finished at least
    /// `older_than_ms` ago; returns how many were deleted.
    #[napi(catch_unwind)]
    pub async fn prune(&self, older_than_ms: f64, states: Vec<String>) -> Result<f64> {
        if !older_than_ms.is_finite() || older_than_ms < 0.0 {
            return Err(coded(
                ErrorCode::InvalidArgument,
                format!("olderThan must be a duration of 0 ms or more, got {older_than_ms}"),
            ));
        }
        let states = states
            .iter()
            .map(|s| {
                s.parse::<TaskState>()
                    .map_err(|e| coded(ErrorCode::InvalidArgument, e))
            })
            .collect::<Result<Vec<_>>>()?;
        let deleted = self
            .engine
            .prune(Prune {
                older_than: Duration::from_millis(older_than_ms as u64),
                states,
            })
            .await
            .map_err(engine_error)?;
        Ok(deleted as f64)
    }

    #[napi(catch_unwind)]
    pub async fn wait_for_task(&self, task_uuid: String, timeout_ms: u32) -> Result<String> {
        let task = self
            .engine
            .wait_for_task(&task_uuid, Duration::from_millis(u64::from(timeout_ms)))
            .await
            .map_err(engine_error)?;
        json_string(&task)
    }

    #[napi(catch_unwind)]
    pub async fn create_worker(&self, options: WorkerOptions) -> Result<NativeWorker> {
        let min_log_level = match options.log_level.as_deref() {
            None => Some(LogLevel::Debug),
            Some("silent") => None,
            Some(level) => Some(LogLevel::parse(level).ok_or_else(|| {
                coded(
                    ErrorCode::InvalidArgument,
                    format!("logLevel must be debug, info, warn, error or silent, got '{level}'"),
                )
            })?),
        };
        let schedules = worker_schedules(
            options.schedules.as_deref(),
            options.schedule_paths.as_deref().unwrap_or(&[]),
        )?;
        let limits = match options.limits.as_deref() {
            None => Default::default(),
            Some(json) => tasker_domain::parse_worker_limits(json, "createWorker limits")
                .map_err(|e| coded(ErrorCode::InvalidArgument, e.to_string()))?,
        };
        let worker = Worker::create(
            self.engine.clone(),
            WorkerConfig {
                worker_id: options.worker_id,
                template_paths: options
                    .template_paths
                    .into_iter()
                    .map(PathBuf::from)
                    .collect(),
                handler_names: options.handler_names,
                concurrency: options.concurrency as usize,
                lease_ms: u64::from(options.lease_ms.unwrap_or(30_000)),
                poll_interval_ms: u64::from(options.poll_interval_ms.unwrap_or(1_000)),
                min_log_level,
                report_outcomes: options.report_outcomes.unwrap_or(false),
                schedules,
                limits,
            },
        )
        .await
        .map_err(worker_error)?;
        Ok(NativeWorker { worker })
    }

    #[napi(catch_unwind)]
    pub async fn close(&self) -> Result<()> {
        self.engine.close().await;
        Ok(())
    }

    /// One round trip to the database; never rejects for a database that does not answer (the
    /// answer says why).
    #[napi(catch_unwind)]
    pub async fn health(&self) -> Result<HealthView> {
        let backend = match self.engine.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let started = std::time::Instant::now();
        let (latency, error) = match self.engine.ping().await {
            Ok(latency) => (latency, None),
            Err(e) => (started.elapsed(), Some(e.to_string())),
        };
        Ok(HealthView {
            backend: backend.to_string(),
            latency_ms: latency.as_secs_f64() * 1000.0,
            error,
        })
    }
}

#[napi]
pub struct NativeWorker {
    worker: Worker,
}

#[napi]
impl NativeWorker {
    #[napi(getter)]
    pub fn worker_id(&self) -> String {
        self.worker.worker_id().to_string()
    }

    /// Begin claiming.
    #[napi(catch_unwind)]
    pub async fn start(&self) -> Result<()> {
        self.worker.start().map_err(worker_error)
    }

    /// Long poll: at least one event, or `null` once the worker has shut down.
    #[napi(catch_unwind)]
    pub async fn poll(&self) -> Result<Option<Vec<StepEvent>>> {
        Ok(self.worker.poll().await.map(|events| {
            events
                .into_iter()
                .map(|e| match e {
                    WorkerEvent::Step {
                        step_uuid,
                        task_uuid,
                        claim_id,
                        payload,
                        dependencies,
                        trace_context,
                    } => StepEvent {
                        kind: "step".to_string(),
                        step_uuid,
                        task_uuid,
                        claim_id,
                        payload: Some(payload),
                        dependencies,
                        reason: None,
                        level: None,
                        message: None,
                        fields: None,
                        outcome: None,
                        trace_context,
                    },
                    WorkerEvent::Abort {
                        step_uuid,
                        task_uuid,
                        claim_id,
                        reason,
                    } => StepEvent {
                        kind: "abort".to_string(),
                        step_uuid,
                        task_uuid,
                        claim_id,
                        payload: None,
                        dependencies: None,
                        reason: Some(reason),
                        level: None,
                        message: None,
                        fields: None,
                        outcome: None,
                        trace_context: None,
                    },
                    WorkerEvent::Log(line) => StepEvent {
                        kind: "log".to_string(),
                        step_uuid: String::new(),
                        task_uuid: String::new(),
                        claim_id: String::new(),
                        payload: None,
                        dependencies: None,
                        reason: None,
                        level: Some(line.level.as_str().to_string()),
                        message: Some(line.message),
                        fields: Some(serde_json::Value::Object(line.fields).to_string()),
                        outcome: None,
                        trace_context: None,
                    },
                    WorkerEvent::Recorded {
                        step_uuid,
                        claim_id,
                        outcome,
                    } => StepEvent {
                        kind: "recorded".to_string(),
                        step_uuid,
                        task_uuid: String::new(),
                        claim_id,
                        payload: None,
                        dependencies: None,
                        reason: None,
                        level: None,
                        message: None,
                        fields: None,
                        outcome: Some(outcome.as_str().to_string()),
                        trace_context: None,
                    },
                })
                .collect()
        }))
    }

    /// Report results; never blocks.
    #[napi(catch_unwind)]
    pub fn complete(&self, results: Vec<StepResultInput>) {
        self.worker.complete(
            results
                .into_iter()
                .map(|r| HandlerResult {
                    step_uuid: r.step_uuid,
                    claim_id: r.claim_id,
                    success: r.success,
                    result: r.result,
                    metadata: r.metadata,
                    duration_ms: Some(r.duration_ms),
                    error: r.error.map(|e| StepError {
                        message: e.message,
                        error_type: e.error_type,
                        retryable: e.retryable,
                        retry_after_ms: e
                            .retry_after_ms
                            .filter(|ms| ms.is_finite() && *ms >= 0.0)
                            .map(|ms| ms.round() as u64),
                        status_code: e.status_code,
                        stack: e.stack,
                    }),
                })
                .collect(),
        );
    }

    /// Persist a checkpoint (JSON) for a step this worker is running; `false` when the claim
    /// is no longer current.
    #[napi(catch_unwind)]
    pub async fn checkpoint(
        &self,
        step_uuid: String,
        claim_id: String,
        checkpoint: String,
    ) -> Result<bool> {
        self.worker
            .checkpoint(&step_uuid, &claim_id, &checkpoint)
            .await
            .map_err(worker_error)
    }

    /// Counters of this worker (claims, recorded results, dispatch overhead).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> WorkerStatsView {
        let s = self.worker.stats();
        WorkerStatsView {
            claimed: s.claimed as f64,
            recorded: s.recorded as f64,
            stale: s.stale as f64,
            completed: s.completed as f64,
            retried: s.retried as f64,
            failed: s.failed as f64,
            reaped: s.reaped as f64,
            in_flight: s.in_flight as u32,
            dispatch_p50_us: s.dispatch_p50_us,
            dispatch_p95_us: s.dispatch_p95_us,
            dispatch_samples: s.dispatch_samples as f64,
            store_statements: s.store_statements as f64,
            store_transactions: s.store_transactions as f64,
        }
    }

    /// Stop claiming, drain for up to `graceMs`, abort and release the rest, stop.
    #[napi(catch_unwind)]
    pub async fn shutdown(&self, grace_ms: u32) -> Result<()> {
        self.worker
            .shutdown(Duration::from_millis(u64::from(grace_ms)))
            .await
            .map_err(worker_error)
    }

    /// The steps this worker's handlers could run that are ready now but not claimed.
    #[napi(catch_unwind)]
    pub async fn ready_backlog(&self) -> Result<ReadyBacklogView> {
        let b = self.worker.ready_backlog().await.map_err(worker_error)?;
        Ok(ReadyBacklogView {
            count: b.count as f64,
            oldest_ms: b.oldest_ms.map(|ms| ms as f64),
        })
    }
}
