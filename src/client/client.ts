import ms from 'ms';
import type { EngineHandle } from '../bridge/engine-handle';
import { describeValue } from '../describe-value';
import { ClosedError } from '../errors/closed-error';
import { InvalidArgumentError } from '../errors/invalid-argument-error';
import type { NativeCreateTaskRequest, NativeListTasksFilter } from '../native';
import { captureTraceContext } from '../telemetry/trace-context';
import { healthReport, type HealthReport } from './health';
import { FINISHED_TASK_STATES, type SignalResult, type Task, type TaskState } from './task';
import { toNativeMetadata, toTags, type TaskMetadataOptions } from './task-metadata';
import { parseTaskView, parseTaskViews } from './task-view';
import type { Schedule } from '../worker/schedules';

/** Besides these, the task's metadata: see `TaskMetadataOptions` (docs/task-metadata.md). */
export interface CreateTaskOptions extends TaskMetadataOptions {
  namespace: string;
  name: string;
  /** Default `1.0.0`. */
  version?: string;
  /** The task's input: a plain, JSON-serializable object. Default `{}`. */
  context?: Record<string, unknown>;
  /**
   * Creating a task with a key already used returns the existing task (or, with
   * `onDuplicate: 'error'`, fails). See docs/identity.md.
   */
  idempotencyKey?: string;
  /**
   * What a create that duplicates an existing task gets: the same idempotency key, or, for a
   * template with `identity_strategy: strict`, the same context. `'return'` (default): the
   * existing task; `'error'`: a `DuplicateTaskError` naming it.
   */
  onDuplicate?: 'return' | 'error';
  /**
   * Start later: the task is created now, and its first steps become ready at this time (by
   * this process's clock), not before. A time in the past starts it at once.
   */
  runAt?: Date;
  /** Start later: the first steps become ready this many milliseconds after creation. */
  delayMs?: number;
  /**
   * An integer from -1000 to 1000, default 0: among ready steps, workers claim the highest
   * priority first, then the longest ready. One second of waiting is worth one point, so a
   * step is never starved (docs/priorities.md). Every step of the task has it, including
   * those its decisions and batches create later.
   */
  priority?: number;
}

export interface ResolveStepOptions {
  /** Recorded in the step's transition; default `resolved manually by an operator`. */
  reason?: string;
}

export interface PruneOptions {
  /**
   * Delete tasks that finished before this: a `Date`, a duration ago as a string (`'30d'`,
   * `'12h'`, `'90m'`, as the `ms` package reads it) or as milliseconds.
   */
  olderThan: Date | string | number;
  /** Which finished states to delete; default all of them (`complete`, `error`, `cancelled`). */
  states?: TaskState[];
}

export interface PruneResult {
  /** How many tasks were deleted (with their steps, edges and transitions). */
  tasks: number;
}

export interface WaitForTaskOptions {
  /** Default 30000. */
  timeoutMs?: number;
}

export interface ListTasksFilter {
  namespace?: string;
  name?: string;
  state?: TaskState;
  /** Only tasks created at or after this time (a `Date` or an ISO 8601 string). */
  createdAfter?: Date | string;
  /** Only tasks created before this time (a `Date` or an ISO 8601 string). */
  createdBefore?: Date | string;
  /** Only tasks with this correlation id (docs/task-metadata.md). */
  correlationId?: string;
  /** Only tasks with this parent correlation id. */
  parentCorrelationId?: string;
  /** Only tasks that have every one of these tags. */
  tags?: string[];
  /** Default 50, at most 1000. */
  limit?: number;
  offset?: number;
}

/** What `countTasks` counts: `listTasks`'s filter without paging. */
export type CountTasksFilter = Omit<ListTasksFilter, 'limit' | 'offset'>;

export interface CountTasksOptions {
  /** Each state's count stops here (it then reads "at least"); default 10000, at most 1000000. */
  max?: number;
}

/** Step executions that ended in one minute (see `stepActivity`). */
export interface StepActivity {
  /** The minute's start, ISO 8601 (UTC). */
  minute: string;
  /** Executions that completed (steps resolved by hand included). */
  completed: number;
  /** Executions that failed for good: the step went to `error`. */
  failed: number;
  /** Executions that failed and will be retried: the step went to `waiting_for_retry`. */
  retried: number;
}

export interface StepActivityOptions {
  /** How many minutes back, the current one included; default 60, at most 1440. */
  minutes?: number;
}

/**
 * Creates and inspects tasks. Get one from `createClient()` (its own engine) or from
 * `worker.client` (shares the worker's engine, which an in-memory database requires).
 */
export class TaskerClient {
  private closed = false;

  /** @internal Use `createClient()` or `worker.client`. */
  constructor(
    private readonly engine: EngineHandle,
    private readonly ownsEngine: boolean,
  ) {}

  async createTask(options: CreateTaskOptions): Promise<Task> {
    this.assertOpen();
    const request = toCreateTaskRequest(options);
    return parseTaskView(await this.engine.createTask(request));
  }

  /**
   * Create many tasks in one transaction, returned in the order of `requests`. Idempotency keys
   * are honoured as by `createTask` (also between requests of the same call). If any request is
   * invalid, nothing is created and the error names the request by its index.
   */
  async createTasks(requests: CreateTaskOptions[]): Promise<Task[]> {
    this.assertOpen();
    if (!Array.isArray(requests)) {
      throw new InvalidArgumentError(
        `createTasks: expected an array of requests, got ${describeKind(requests)}`,
      );
    }
    const native = requests.map((options, i) => {
      try {
        return toCreateTaskRequest(options);
      } catch (err) {
        if (err instanceof InvalidArgumentError) {
          throw new InvalidArgumentError(`createTasks: request ${i}: ${err.message}`);
        }
        throw err;
      }
    });
    if (native.length === 0) return [];
    return parseTaskViews(await this.engine.createTasks(native));
  }

  /** The task with its steps and transitions, or `null` if there is none with that uuid. */
  async getTask(taskUuid: string): Promise<Task | null> {
    this.assertOpen();
    requireString(taskUuid, 'taskUuid');
    const json = await this.engine.getTask(taskUuid);
    return json == null ? null : parseTaskView(json);
  }

  /**
   * Resolves once the task is complete, error or cancelled; rejects with `TaskTimeoutError`
   * after `timeoutMs`.
   */
  async waitForTask(
    taskUuid: string,
    { timeoutMs = 30000 }: WaitForTaskOptions = {},
  ): Promise<Task> {
    this.assertOpen();
    requireString(taskUuid, 'taskUuid');
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new InvalidArgumentError(`timeoutMs must be a positive integer, got ${timeoutMs}`);
    }
    return parseTaskView(await this.engine.waitForTask(taskUuid, timeoutMs));
  }

  /** Tasks matching the filter, without steps or transitions. */
  async listTasks(filter: ListTasksFilter = {}): Promise<Task[]> {
    this.assertOpen();
    const nativeFilter = toNativeFilter('listTasks', filter);
    if (filter.limit !== undefined) nativeFilter.limit = filter.limit;
    if (filter.offset !== undefined) nativeFilter.offset = filter.offset;
    return parseTaskViews(await this.engine.listTasks(nativeFilter));
  }

  /**
   * Delete the stored schedule of this name: for a schedule taken out of every worker's
   * definitions (a worker that still declares it stores it again when it starts). Resolves
   * whether there was one.
   */
  async deleteSchedule(name: string): Promise<boolean> {
    this.assertOpen();
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(
        `deleteSchedule: name must be a non-empty string, got ${describeValue(name)}`,
      );
    }
    return this.engine.deleteSchedule(name);
  }

  /** Every schedule stored in the database (registered by workers), by name. */
  async listSchedules(): Promise<Schedule[]> {
    this.assertOpen();
    const schedules = await this.engine.listSchedules();
    return schedules.map((s) => ({
      name: s.name,
      cron: s.cron,
      timezone: s.timezone,
      task: { namespace: s.namespace, name: s.taskName, version: s.version },
      context: JSON.parse(s.context) as Record<string, unknown>,
      missed: s.missed,
      lastFireAt: s.lastFireAt ?? null,
      nextFireAt: s.nextFireAt ?? null,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
    }));
  }

  /**
   * How many tasks match the filter, per state (every state, or only the filter's `state`).
   * A count stops at `max` (default 10000): it then means "at least that many".
   */
  async countTasks(
    filter: CountTasksFilter = {},
    options: CountTasksOptions = {},
  ): Promise<Partial<Record<TaskState, number>>> {
    this.assertOpen();
    const { max } = options;
    if (max !== undefined && !Number.isInteger(max)) {
      throw new InvalidArgumentError(
        `countTasks: max must be an integer, got ${describeValue(max)}`,
      );
    }
    const json = await this.engine.countTasks(toNativeFilter('countTasks', filter), max);
    return JSON.parse(json) as Partial<Record<TaskState, number>>;
  }

  /**
   * Step executions that ended in each of the last `minutes` minutes (default 60), oldest
   * first, one entry per minute (zeros included): completed, failed for good, and failed to be
   * retried. What the dashboard's overview chart shows.
   */
  async stepActivity(options: StepActivityOptions = {}): Promise<StepActivity[]> {
    this.assertOpen();
    const { minutes = 60 } = options;
    if (!Number.isInteger(minutes)) {
      throw new InvalidArgumentError(
        `stepActivity: minutes must be an integer, got ${describeValue(minutes)}`,
      );
    }
    return JSON.parse(await this.engine.stepActivity(minutes)) as StepActivity[];
  }

  /**
   * Run a task in `error` again: its failed steps (and the steps their failure cancelled) run
   * again with their attempts starting over; completed steps keep their results. Rejects with
   * `InvalidStateError` for a task in any other state.
   */
  async retryTask(taskUuid: string): Promise<Task> {
    this.assertOpen();
    requireString(taskUuid, 'taskUuid');
    return parseTaskView(await this.engine.retryTask(taskUuid));
  }

  /**
   * Complete a failed or stuck step by hand: it becomes `resolved_manually` with `result` as its
   * result, and its dependents run. A worker still running it is aborted and its result ignored.
   * When it was the task's only failed step, the task leaves `error` and goes on. Rejects with
   * `InvalidStateError` for a step that is pending, done or cancelled, or one whose result
   * creates steps (a decision point or a batchable step).
   */
  async resolveStep(
    taskUuid: string,
    stepName: string,
    result: Record<string, unknown>,
    options: ResolveStepOptions = {},
  ): Promise<Task> {
    this.assertOpen();
    requireString(taskUuid, 'taskUuid');
    requireString(stepName, 'stepName');
    if (!isPlainObject(result)) {
      throw new InvalidArgumentError(
        `resolveStep: result must be a plain object, got ${describeKind(result)}`,
      );
    }
    const json = serialize(result, 'resolveStep: result');
    if (options.reason !== undefined) requireString(options.reason, 'reason');
    return parseTaskView(await this.engine.resolveStep(taskUuid, stepName, json, options.reason));
  }

  /**
   * Send a signal to the signal step `stepName` (`type: signal` in its template) of a task: the
   * payload (a plain object) becomes the step's result, and its dependents run. A step waiting
   * for it completes now (`applied: true`); a step whose dependencies are not done yet keeps the
   * signal and completes with it as soon as it starts waiting (`applied: false`), even after
   * every process restarted. Each signal step takes one signal: a second one rejects with
   * `InvalidStateError` naming when the first arrived. Rejects with `TaskNotFoundError` for an
   * unknown task, `InvalidArgumentError` for an unknown step (listing the task's steps), a step
   * that is not a signal step, or a payload that is not a JSON object or is larger than
   * `maxResultBytes`, and `InvalidStateError` for a complete or cancelled task.
   */
  async sendSignal(
    taskUuid: string,
    stepName: string,
    payload: Record<string, unknown>,
  ): Promise<SignalResult> {
    this.assertOpen();
    requireString(taskUuid, 'taskUuid');
    requireString(stepName, 'stepName');
    if (!isPlainObject(payload)) {
      throw new InvalidArgumentError(
        `sendSignal: payload must be a plain object, got ${describeKind(payload)}`,
      );
    }
    const json = serialize(payload, 'sendSignal: payload');
    return JSON.parse(await this.engine.sendSignal(taskUuid, stepName, json)) as SignalResult;
  }

  /**
   * Delete finished tasks, with their steps, edges and transitions, in batches (so that no
   * transaction grows large). Returns how many tasks were deleted.
   */
  async prune(options: PruneOptions): Promise<PruneResult> {
    this.assertOpen();
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError(
        'prune: expected an options object such as { olderThan: "30d" }',
      );
    }
    const olderThanMs = toAgeMs(options.olderThan);
    const states = options.states ?? [];
    if (!Array.isArray(states)) {
      throw new InvalidArgumentError(`prune: states must be an array, got ${describeKind(states)}`);
    }
    for (const state of states) {
      if (!FINISHED.includes(state)) {
        throw new InvalidArgumentError(
          `prune: ${describeValue(state)} is not a finished task state (use ${FINISHED.join(', ')})`,
        );
      }
    }
    return { tasks: await this.engine.prune(olderThanMs, states) };
  }

  /** Cancel the task; steps in flight see their `ctx.signal` abort. */
  async cancelTask(taskUuid: string, reason?: string): Promise<Task> {
    this.assertOpen();
    requireString(taskUuid, 'taskUuid');
    return parseTaskView(await this.engine.cancelTask(taskUuid, reason));
  }

  /** Close the client; closes the engine only if the client opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsEngine) await this.engine.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the TaskerClient is closed');
  }

  /**
   * Check the database with one round trip: `{ ok: true, backend, latencyMs }`, or
   * `{ ok: false, backend, latencyMs, error }` when it does not answer (never rejects for that;
   * on PostgreSQL it waits at most about `connectTimeoutMs`). Rejects with `ClosedError` once
   * the client is closed.
   */
  async health(): Promise<HealthReport> {
    this.assertOpen();
    return healthReport(await this.engine.health());
  }
}

function toCreateTaskRequest(options: CreateTaskOptions): NativeCreateTaskRequest {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('createTask: expected an options object');
  }
  const {
    namespace,
    name,
    version = '1.0.0',
    context = {},
    idempotencyKey,
    runAt,
    delayMs,
    priority,
    onDuplicate,
  } = options;
  requireString(namespace, 'namespace');
  requireString(name, 'name');
  requireString(version, 'version');
  if (!isPlainObject(context)) {
    throw new InvalidArgumentError(`context must be a plain object, got ${describeKind(context)}`);
  }
  const contextJson = serialize(context, 'context');
  const request: NativeCreateTaskRequest = {
    namespace,
    name,
    version,
    context: contextJson,
    ...toNativeMetadata(options),
  };
  if (idempotencyKey !== undefined) {
    requireString(idempotencyKey, 'idempotencyKey');
    request.idempotencyKey = idempotencyKey;
  }
  if (onDuplicate !== undefined) {
    if (onDuplicate !== 'return' && onDuplicate !== 'error') {
      throw new InvalidArgumentError(
        `onDuplicate must be 'return' or 'error', got ${describeValue(onDuplicate)}`,
      );
    }
    request.onDuplicate = onDuplicate;
  }
  if (runAt !== undefined && delayMs !== undefined) {
    throw new InvalidArgumentError('createTask: give runAt or delayMs, not both');
  }
  if (runAt !== undefined) {
    if (!(runAt instanceof Date)) {
      throw new InvalidArgumentError(`runAt must be a Date, got ${describeValue(runAt)}`);
    }
    if (Number.isNaN(runAt.getTime())) {
      throw new InvalidArgumentError('runAt is an invalid Date');
    }
    request.delayMs = Math.max(0, runAt.getTime() - Date.now());
  } else if (delayMs !== undefined) {
    if (!Number.isInteger(delayMs) || delayMs < 0) {
      throw new InvalidArgumentError(
        `delayMs must be a non-negative integer, got ${describeValue(delayMs)}`,
      );
    }
    request.delayMs = delayMs;
  }
  if (priority !== undefined) {
    // The range and integrality are checked by the core (the same rules for every caller).
    if (typeof priority !== 'number') {
      throw new InvalidArgumentError(
        `priority must be an integer from -1000 to 1000 (higher first), got ${describeValue(priority)}`,
      );
    }
    request.priority = priority;
  }
  // The creator's span (with OpenTelemetry), to parent the spans of the task's steps.
  const traceContext = captureTraceContext();
  if (traceContext !== undefined) request.traceContext = traceContext;
  return request;
}

const FINISHED = FINISHED_TASK_STATES;

/** The filter fields both listing and counting take, checked and in the core's form. */
function toNativeFilter(what: string, filter: CountTasksFilter): NativeListTasksFilter {
  if (typeof filter !== 'object' || filter === null) {
    throw new InvalidArgumentError(
      `${what}: expected a filter object, got ${describeValue(filter)}`,
    );
  }
  const native: NativeListTasksFilter = {};
  if (filter.namespace !== undefined) native.namespace = filter.namespace;
  if (filter.name !== undefined) native.name = filter.name;
  if (filter.state !== undefined) native.state = filter.state;
  if (filter.createdAfter !== undefined) {
    native.createdAfterMs = toTimeMs(what, 'createdAfter', filter.createdAfter);
  }
  if (filter.createdBefore !== undefined) {
    native.createdBeforeMs = toTimeMs(what, 'createdBefore', filter.createdBefore);
  }
  for (const field of ['correlationId', 'parentCorrelationId'] as const) {
    const value: unknown = filter[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') {
      throw new InvalidArgumentError(
        `${what}: ${field} must be a non-empty string, got ${describeValue(value)}`,
      );
    }
    native[field] = value;
  }
  if (filter.tags !== undefined) {
    try {
      native.tags = toTags('tags', filter.tags);
    } catch (err) {
      if (err instanceof InvalidArgumentError) {
        throw new InvalidArgumentError(`${what}: ${err.message}`);
      }
      throw err;
    }
  }
  return native;
}

function toTimeMs(what: string, field: string, value: unknown): number {
  const time =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(time)) {
    throw new InvalidArgumentError(
      `${what}: ${field} must be a Date or an ISO 8601 time such as '2026-12-03T09:00:00Z', ` +
        `got ${describeValue(value)}`,
    );
  }
  return time;
}

/** How long ago `olderThan` is, in milliseconds. */
function toAgeMs(olderThan: unknown): number {
  const hint = "use a Date, a duration such as '30d' or '12h', or milliseconds";
  if (olderThan instanceof Date) {
    if (Number.isNaN(olderThan.getTime())) {
      throw new InvalidArgumentError(`prune: olderThan is an invalid Date; ${hint}`);
    }
    return Math.max(0, Date.now() - olderThan.getTime());
  }
  if (typeof olderThan === 'number') {
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw new InvalidArgumentError(`prune: olderThan must be 0 ms or more, got ${olderThan}`);
    }
    return Math.round(olderThan);
  }
  if (typeof olderThan === 'string') {
    // `ms` reads a bare number as milliseconds and returns undefined for what it cannot read.
    const parsed: number | undefined = ms(olderThan as ms.StringValue);
    if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
      throw new InvalidArgumentError(
        `prune: olderThan ${describeValue(olderThan)} is not a duration; ${hint}`,
      );
    }
    return Math.round(parsed);
  }
  throw new InvalidArgumentError(
    `prune: olderThan is required; ${hint} (got ${describeValue(olderThan)})`,
  );
}

function serialize(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw new InvalidArgumentError(
      `${what} cannot be serialized to JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function requireString(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError(
      `${field} must be a non-empty string, got ${describeValue(value)}`,
    );
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describeKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value !== 'object') return typeof value;
  const ctor: unknown = (value as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name ? `a ${ctor.name}` : 'an object';
}
