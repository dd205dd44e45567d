// Handlers
export { StepHandler, type StepHandlerClass, type StepHandlerReturn } from './handler/step-handler';
export {
  StepHandlerResult,
  type StepFailure,
  type StepFailureOptions,
} from './handler/step-handler-result';
export { HandlerRegistry } from './handler/registry';
export { StepContext } from './context/step-context';
export type { CheckpointInput, CheckpointJson } from './context/checkpoint';

// Specialized handlers: HTTP APIs
export { ApiHandler } from './api/api-handler';
export type {
  ApiAuthConfig,
  ApiHandlerConfig,
  ApiTlsConfig,
  ConfigScalar,
  ConfigString,
  EnvRef,
} from './api/api-config';
export type { ApiRequest, ApiRequestOptions, ApiResponse, HttpMethod } from './api/http-client';
export { MAX_RETRY_AFTER_MS, parseRetryAfter } from './api/retry-after';

// Specialized handlers: decisions
export { DecisionHandler } from './decision/decision-handler';
export {
  DecisionPointOutcome,
  DecisionOutcomeType,
  type DecisionPointOutcomeJson,
} from './decision/decision-point-outcome';

// Specialized handlers: batch processing
export { Batchable, type HandlerBaseClass } from './batch/batchable';
export {
  BatchProcessingOutcome,
  BatchOutcomeType,
  type BatchProcessingOutcomeJson,
} from './batch/batch-processing-outcome';
export { createCursorConfigs, type CursorConfig } from './batch/cursor-config';
export { BatchWorkerContext } from './batch/batch-worker-context';
export {
  BatchAggregationScenario,
  aggregateBatchResults,
  type AggregateOptions,
  type BatchAggregateSummary,
  type BatchAggregateTotals,
  type BatchAggregationKind,
} from './batch/batch-aggregation-scenario';

// Errors
export * from './errors';

// Worker
export { createWorker } from './worker/create-worker';
export type { WorkerOptions } from './worker/options';
export type { Schedule, ScheduleDefinition } from './worker/schedules';
export type { HandlerLimit, HandlerLimits } from './worker/limits';
export { Worker, type WorkerStats } from './worker/worker';

// Client
export { createClient, type ClientOptions } from './client/create-client';
export type { HealthReport } from './client/health';
export {
  TaskerClient,
  type CountTasksFilter,
  type CountTasksOptions,
  type CreateTaskOptions,
  type ListTasksFilter,
  type PruneOptions,
  type PruneResult,
  type ResolveStepOptions,
  type StepActivity,
  type StepActivityOptions,
  type WaitForTaskOptions,
} from './client/client';
export type { TaskMetadata, TaskMetadataOptions } from './client/task-metadata';
export {
  isTaskFinished,
  stepByName,
  type SignalResult,
  type StepState,
  type Task,
  type TaskState,
  type TaskStep,
  type TaskStepError,
  type ChildTask,
  type Transition,
} from './client/task';

// Templates
export {
  validateTemplates,
  type TemplateNotice,
  type TemplateProblem,
  type TemplateValidation,
  type ValidTemplate,
} from './validate-templates';

// Configuration
export { resolveDatabaseUrl, type ResolveDatabaseOptions } from './database';
export type { JsonLimitOptions, ResultLimitOptions } from './json-limits';
export { redactDatabaseUrl } from './redact-url';
export type { PostgresOptions } from './postgres-options';
export {
  createConsoleLogger,
  type LogFields,
  type LogLevel,
  type LogMethod,
  type Logger,
  type StepLogger,
} from './logger';

// Testing
export { runWorkflow, type RunWorkflowOptions, type WorkflowRun } from './testing';

// Web dashboard
export {
  createDashboard,
  startDashboard,
  type DashboardHandler,
  type DashboardOptions,
  type RunningDashboard,
  type StartDashboardOptions,
} from './dashboard';
