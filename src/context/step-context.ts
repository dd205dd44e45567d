import { NotADependencyError } from '../errors/not-a-dependency-error';
import { RetryableError } from '../errors/retryable-error';
import type { StepLogger } from '../logger';
import type { TaskMetadata } from '../client/task-metadata';
import type { StepPayload } from '../native';
import { checkpointJson, type CheckpointInput, type CheckpointWriter } from './checkpoint';

/** Everything a handler gets about the step it runs. Built once per execution. */
export class StepContext {
  readonly taskUuid: string;
  readonly stepUuid: string;
  readonly stepName: string;
  readonly namespace: string;
  readonly taskName: string;
  readonly taskVersion: string;
  /**
   * The task's correlation id: the one `createTask` was given, or the UUID v7 generated then
   * (docs/task-metadata.md). Pass it on to the services the handler calls.
   */
  readonly correlationId: string;
  /** The task's metadata: correlation ids, initiator, source system, reason and tags. */
  readonly taskMetadata: TaskMetadata;
  /** The template's `handler.callable` for this step. */
  readonly handlerName: string;
  /** The task's context (its input), shared by every step. */
  readonly inputData: Record<string, unknown>;
  /** The template's `handler.initialization` for this step. */
  readonly stepConfig: Record<string, unknown>;
  /** Inputs of this step row (e.g. a batch worker's cursor). */
  readonly stepInputs: Record<string, unknown>;
  /** Attempts made before this one (0 on the first run). */
  readonly retryCount: number;
  /** The step's `max_attempts`. */
  readonly maxRetries: number;
  /**
   * The checkpoint this attempt resumes from (saved by an earlier attempt with
   * `saveCheckpoint`), as stored: `{cursor, items_processed, accumulated_results?}`; `null` if none.
   * See also `checkpointCursor`, `checkpointItemsProcessed`, `accumulatedResults`.
   */
  readonly checkpoint: Record<string, unknown> | null;
  /** Aborted when the step times out, its task is cancelled, or the worker shuts down. */
  readonly signal: AbortSignal;
  /**
   * The worker's logger, adding `taskUuid`, `correlationId`, `stepUuid`, `step`, `workerId` and
   * `attempt` to the
   * fields of every line; call it as pino: `ctx.logger.info('done')` or
   * `ctx.logger.info({ orderId }, 'charged')`.
   */
  readonly logger: StepLogger;

  readonly #checkpointWriter: CheckpointWriter | undefined;
  readonly #payload: StepPayload;
  #dependencyResults: Readonly<Record<string, unknown>> | undefined;

  /**
   * @internal Built by the worker. `checkpointWriter` persists checkpoints for this attempt's
   * claim; without it `saveCheckpoint` throws.
   */
  constructor(
    payload: StepPayload,
    signal: AbortSignal,
    logger: StepLogger,
    checkpointWriter?: CheckpointWriter,
  ) {
    const { task, step } = payload;
    this.taskUuid = task.task_uuid;
    this.stepUuid = step.step_uuid;
    this.stepName = step.name;
    this.namespace = task.namespace;
    this.taskName = task.name;
    this.taskVersion = task.version;
    // The core always sends the correlation id; a payload built by hand (a test) may not, and
    // then the task uuid stands in (as for tasks created before correlation ids existed).
    this.correlationId = task.correlation_id ?? task.task_uuid;
    this.taskMetadata = Object.freeze({
      correlationId: this.correlationId,
      parentCorrelationId: task.parent_correlation_id ?? null,
      initiator: task.initiator ?? null,
      sourceSystem: task.source_system ?? null,
      reason: task.reason ?? null,
      tags: Object.freeze([...(task.tags ?? [])]),
    });
    this.handlerName = step.handler_callable;
    this.inputData = task.context ?? {};
    this.stepConfig = step.handler_initialization ?? {};
    this.stepInputs = step.inputs ?? {};
    // Dependency results are read (and, from the worker, parsed) on first use only.
    this.#payload = payload;
    this.retryCount = step.attempts ?? 0;
    this.maxRetries = step.max_attempts ?? 1;
    this.checkpoint = step.checkpoint ?? null;
    this.signal = signal;
    this.logger = logger;
    this.#checkpointWriter = checkpointWriter;
  }

  /**
   * Results of the completed dependencies, by step name: the steps of the template steps this
   * step lists in `dependencies:` (every worker `<name>_<batch id>` of a batch-worker template),
   * not those further upstream (docs/handlers.md). A null-prototype object: every step name is
   * an own key, also `__proto__`, `constructor` or `toString`. Parsed when first read.
   */
  get dependencyResults(): Readonly<Record<string, unknown>> {
    this.#dependencyResults ??= unwrapDependencyResults(this.#payload.dependency_results ?? {});
    return this.#dependencyResults;
  }

  /** Where the last checkpoint says to resume (`checkpoint.cursor`), or `null` without one. */
  get checkpointCursor(): unknown {
    return this.checkpoint?.cursor ?? null;
  }

  /** Items processed as of the last checkpoint (`checkpoint.items_processed`), 0 without one. */
  get checkpointItemsProcessed(): number {
    const value = this.checkpoint?.items_processed;
    return typeof value === 'number' ? value : 0;
  }

  /** Partial results saved with the last checkpoint, or `null`. */
  get accumulatedResults(): Record<string, unknown> | null {
    const value = this.checkpoint?.accumulated_results;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  }

  /** Whether an earlier attempt saved a checkpoint to resume from. */
  hasCheckpoint(): boolean {
    return this.checkpointCursor !== null;
  }

  /**
   * Persist progress so that a retried attempt (after a failure, a timeout or a crash) can
   * resume: it receives this as `ctx.checkpoint`. Also renews the step's lease. Items processed
   * after the last checkpoint are processed again on retry, so make per-item work idempotent.
   *
   * ```ts
   * await ctx.saveCheckpoint({ cursor: next, itemsProcessed: done, accumulatedResults: { sum } });
   * ```
   *
   * Throws `ValidationError` naming the field when the checkpoint is invalid (`cursor` must be
   * a JSON value other than `null`, `itemsProcessed` an integer >= 0, `accumulatedResults` a JSON
   * object), and `RetryableError` (`checkpoint_rejected`) when the core refuses it because this
   * attempt's claim is no longer current (it timed out, was cancelled or released): stop working.
   */
  async saveCheckpoint(checkpoint: CheckpointInput): Promise<void> {
    const json = checkpointJson(checkpoint);
    if (this.#checkpointWriter === undefined) {
      throw new Error('saveCheckpoint: this StepContext is not attached to a worker');
    }
    const saved = await this.#checkpointWriter(json);
    if (!saved) {
      throw new RetryableError(
        `checkpoint of step '${this.stepName}' not saved: this attempt's claim is no longer ` +
          'current (the step timed out, was cancelled or was released)',
        { errorType: 'checkpoint_rejected' },
      );
    }
  }

  /**
   * The result of the named dependency, or `null` if it has none (not completed, or a decision
   * branch not taken). Throws `NotADependencyError` when `name` is a step upstream of this one
   * that its template step does not list in `dependencies:` (tasker-core would hand it that
   * result; this engine does not): the message names the fix.
   */
  getDependencyResult(name: string): unknown {
    if (Object.hasOwn(this.dependencyResults, name)) return this.dependencyResults[name] ?? null;
    this.#refuseAncestor(name);
    return null;
  }

  /**
   * A field inside a dependency's result: `getDependencyField('fetch', 'order', 'items', 0)`.
   * `null` when the step, or any part of the path, is missing; throws as `getDependencyResult`
   * for an ancestor that is not a dependency.
   */
  getDependencyField(name: string, ...path: (string | number)[]): unknown {
    let current = this.getDependencyResult(name);
    for (const key of path) {
      if (typeof current !== 'object' || current === null) return null;
      const k = String(key);
      if (!Object.hasOwn(current, k)) return null;
      current = (current as Record<string, unknown>)[k];
    }
    return current ?? null;
  }

  /** Non-null results of the dependencies whose name starts with `prefix` (all if omitted). */
  getAllDependencyResults(prefix = ''): unknown[] {
    return Object.entries(this.dependencyResults)
      .filter(
        ([name, result]) => name.startsWith(prefix) && result !== null && result !== undefined,
      )
      .map(([, result]) => result);
  }

  /** Names of the dependencies whose results are available. */
  getDependencyResultKeys(): string[] {
    return Object.keys(this.dependencyResults);
  }

  /** Throw `NotADependencyError` when `name` is an ancestor of this step but no dependency. */
  #refuseAncestor(name: string): void {
    const { step } = this.#payload;
    const workers = step.indirect_batch_workers ?? [];
    let ancestor: string | undefined;
    let what = `'${name}'`;
    // A batch-worker template names no step (its workers are `<template>_<batch id>`).
    if ((step.indirect_ancestors ?? []).includes(name) && !workers.includes(name)) {
      ancestor = name;
    } else {
      ancestor = workers.find((w) => name.startsWith(`${w}_`) && name.length > w.length + 1);
      if (ancestor !== undefined) what += ` (a worker of '${ancestor}')`;
    }
    if (ancestor === undefined) return;
    const deps = step.dependencies ?? [];
    const listed = deps.length === 0 ? 'it has none' : deps.join(', ');
    throw new NotADependencyError(
      this.stepName,
      name,
      `step '${this.stepName}' reads the result of ${what}, which is an ancestor but not one of ` +
        `its dependencies (${listed}): add '${ancestor}' to its dependencies to read it`,
    );
  }

  /** A field of the task's context. */
  getInput<T = unknown>(key: string): T | undefined {
    return (Object.hasOwn(this.inputData, key) ? this.inputData[key] : undefined) as T | undefined;
  }

  /** A field of the task's context, or `fallback` when it is absent (`undefined`; `null` is kept). */
  getInputOr<T>(key: string, fallback: T): T {
    const value = this.getInput<T>(key);
    return value === undefined ? fallback : value;
  }

  /** A field of the step's `handler.initialization`. */
  getConfig<T = unknown>(key: string): T | undefined {
    return (Object.hasOwn(this.stepConfig, key) ? this.stepConfig[key] : undefined) as
      T | undefined;
  }

  /** Whether an earlier attempt of this step failed. */
  isRetry(): boolean {
    return this.retryCount > 0;
  }

  /** Whether this is the last attempt the step gets. */
  isLastRetry(): boolean {
    return this.retryCount >= this.maxRetries - 1;
  }
}

function unwrapDependencyResults(
  raw: StepPayload['dependency_results'],
): Readonly<Record<string, unknown>> {
  // Null prototype: a step named `__proto__` is a key like any other, and a name that is not a
  // step (`constructor`, `toString`) finds nothing.
  const results: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, entry] of Object.entries(raw)) {
    results[name] =
      typeof entry === 'object' && entry !== null && 'result' in entry ? entry.result : entry;
  }
  return Object.freeze(results);
}
