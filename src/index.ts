// Handlers
export { StepHandler, type StepHandlerClass, type StepHandlerReturn } from './handler/step-handler';
export {
  StepHandlerResult,
  type StepFailure,
  type StepFailureOptions,
} from './handler/step-handler-result';
export { HandlerRegistry } from './handler/registry';
export { StepContext } from './context/step-context';

// Errors
export * from './errors';

// Worker
export { createWorker } from './worker/create-worker';
export type { WorkerOptions } from './worker/options';
export { Worker, type WorkerStats } from './worker/worker';

// Client
export { createClient, type ClientOptions } from './client/create-client';
export {
  TaskerClient,
  type CreateTaskOptions,
  type ListTasksFilter,
  type WaitForTaskOptions,
} from './client/client';
export {
  isTaskFinished,
  stepByName,
  type StepState,
  type Task,
  type TaskState,
  type TaskStep,
  type TaskStepError,
  type Transition,
} from './client/task';

// Configuration
export { resolveDatabaseUrl, type ResolveDatabaseOptions } from './database';
export { createConsoleLogger, type LogLevel, type Logger } from './logger';

// Testing
export { runWorkflow, type RunWorkflowOptions, type WorkflowRun } from './testing';
