import { stepByName, type Task, type TaskStep } from '../client/task';
import { TaskTimeoutError } from '../errors/task-timeout-error';
import type { HandlerRegistry } from '../handler/registry';
import type { StepHandlerClass } from '../handler/step-handler';
import type { JsonLimitOptions, ResultLimitOptions } from '../json-limits';
import type { Logger } from '../logger';
import { native, type NativeModule } from '../native';
import { openWorker } from '../worker/create-worker';
import type { Worker } from '../worker/worker';

export interface RunWorkflowOptions extends JsonLimitOptions, ResultLimitOptions {
  templates: string | string[];
  handlers: HandlerRegistry | StepHandlerClass[];
  namespace: string;
  name: string;
  /** Default `1.0.0`. */
  version?: string;
  context?: Record<string, unknown>;
  /** How long to wait for the task to finish. Default 30000. */
  timeoutMs?: number;
  /** Default: a fresh in-memory SQLite database. */
  database?: string;
  concurrency?: number;
  logger?: Logger;
  /** See `WorkerOptions.maxStepsPerDecision`. */
  maxStepsPerDecision?: number;
  /** See `WorkerOptions.maxBatchWorkers`. */
  maxBatchWorkers?: number;
}

export interface WorkflowRun {
  /** The finished task (complete, error or cancelled), with steps and transitions. */
  task: Task;
  /** Results of the completed steps, by step name (a null-prototype object). */
  results: Record<string, unknown>;
  step(name: string): TaskStep | undefined;
}

/**
 * Run one task to its end on a throwaway worker: start a worker, create the task, wait for it to
 * finish, shut the worker down (always). Meant for tests of handlers and templates.
 */
export async function runWorkflow(options: RunWorkflowOptions): Promise<WorkflowRun> {
  return runWorkflowWith(native(), options);
}

/** @internal `runWorkflow` against a given native module (tests pass a mock). */
export async function runWorkflowWith(
  nativeModule: NativeModule,
  options: RunWorkflowOptions,
): Promise<WorkflowRun> {
  const worker = await openWorker(nativeModule, {
    templates: options.templates,
    handlers: options.handlers,
    database: options.database ?? ':memory:',
    concurrency: options.concurrency,
    logger: options.logger,
    maxStepsPerDecision: options.maxStepsPerDecision,
    maxBatchWorkers: options.maxBatchWorkers,
    maxJsonDepth: options.maxJsonDepth,
    maxResultBytes: options.maxResultBytes,
    maxContextBytes: options.maxContextBytes,
  });
  try {
    await worker.start();
    const task = await runToEnd(worker, options);
    const results = Object.create(null) as Record<string, unknown>;
    for (const step of task.steps) {
      if (step.state === 'complete') results[step.name] = step.result;
    }
    return { task, results, step: (name) => stepByName(task, name) };
  } finally {
    await worker.shutdown();
  }
}

async function runToEnd(worker: Worker, options: RunWorkflowOptions): Promise<Task> {
  const created = await worker.client.createTask({
    namespace: options.namespace,
    name: options.name,
    version: options.version,
    context: options.context,
  });
  try {
    await worker.client.waitForTask(created.taskUuid, { timeoutMs: options.timeoutMs ?? 30000 });
  } catch (err) {
    if (err instanceof TaskTimeoutError) throw await describeTimeout(worker, created, err);
    throw err;
  }
  // Re-read so that steps and transitions are included whatever `waitForTask` returns.
  return (await worker.client.getTask(created.taskUuid)) ?? created;
}

/** A timeout error that says where the task got stuck. */
async function describeTimeout(
  worker: Worker,
  created: Task,
  err: TaskTimeoutError,
): Promise<TaskTimeoutError> {
  const task = await worker.client.getTask(created.taskUuid).catch(() => null);
  if (task === null) return err;
  const steps = task.steps
    .map((s) => `${s.name}=${s.state} (${s.attempts}/${s.maxAttempts} attempts)`)
    .join(', ');
  return new TaskTimeoutError(
    `${err.message}; task ${task.taskUuid} is '${task.state}', steps: ${steps || 'none'}`,
    { cause: err },
  );
}
