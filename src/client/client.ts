import type { EngineHandle } from '../bridge/engine-handle';
import { describeValue } from '../describe-value';
import { ClosedError } from '../errors/closed-error';
import { InvalidArgumentError } from '../errors/invalid-argument-error';
import type { NativeCreateTaskRequest, NativeListTasksFilter } from '../native';
import { captureTraceContext } from '../telemetry/trace-context';
import { healthReport, type HealthReport } from './health';
import type { Task, TaskState } from './task';
import { parseTaskView, parseTaskViews } from './task-view';

export interface CreateTaskOptions {
  namespace: string;
  name: string;
  /** Default `1.0.0`. */
  version?: string;
  /** The task's input: a plain, JSON-serializable object. Default `{}`. */
  context?: Record<string, unknown>;
  /** Creating a task with a key already used returns the existing task. */
  idempotencyKey?: string;
}

export interface WaitForTaskOptions {
  /** Default 30000. */
  timeoutMs?: number;
}

export interface ListTasksFilter {
  namespace?: string;
  name?: string;
  state?: TaskState;
  limit?: number;
  offset?: number;
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
    const nativeFilter: NativeListTasksFilter = {};
    if (filter.namespace !== undefined) nativeFilter.namespace = filter.namespace;
    if (filter.name !== undefined) nativeFilter.name = filter.name;
    if (filter.state !== undefined) nativeFilter.state = filter.state;
    if (filter.limit !== undefined) nativeFilter.limit = filter.limit;
    if (filter.offset !== undefined) nativeFilter.offset = filter.offset;
    return parseTaskViews(await this.engine.listTasks(nativeFilter));
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
  const { namespace, name, version = '1.0.0', context = {}, idempotencyKey } = options;
  requireString(namespace, 'namespace');
  requireString(name, 'name');
  requireString(version, 'version');
  if (!isPlainObject(context)) {
    throw new InvalidArgumentError(`context must be a plain object, got ${describeKind(context)}`);
  }
  let contextJson: string;
  try {
    contextJson = JSON.stringify(context);
  } catch (err) {
    throw new InvalidArgumentError(
      `context cannot be serialized to JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const request: NativeCreateTaskRequest = { namespace, name, version, context: contextJson };
  if (idempotencyKey !== undefined) {
    requireString(idempotencyKey, 'idempotencyKey');
    request.idempotencyKey = idempotencyKey;
  }
  // The creator's span (with OpenTelemetry), to parent the spans of the task's steps.
  const traceContext = captureTraceContext();
  if (traceContext !== undefined) request.traceContext = traceContext;
  return request;
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
