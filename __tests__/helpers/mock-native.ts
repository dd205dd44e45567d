/**
 * An in-memory stand-in for the Rust addon (style habit 7), implementing the `NativeModule`
 * contract of src/native.ts. It records what the TypeScript side sends and lets a test feed
 * events to the worker. It models the contract, not the orchestration: tasks only change state
 * when a test says so.
 */
import type {
  NativeCreateTaskRequest,
  NativeEngine,
  NativeEngineOptions,
  NativeErrorCode,
  NativeHealth,
  NativeListTasksFilter,
  NativeScheduleInfo,
  NativeModule,
  NativeReadyBacklog,
  NativeStepEvent,
  NativeStepResult,
  NativeWorker,
  NativeWorkerOptions,
  NativeWorkerStats,
  StepPayload,
} from '../../src/native';
import { NATIVE_ERROR_CODES } from '../../src/native';
import type { StepContext } from '../../src/context/step-context';
import {
  StepHandler,
  type StepHandlerClass,
  type StepHandlerReturn,
} from '../../src/handler/step-handler';
import type { Logger } from '../../src/logger';
import { openWorker } from '../../src/worker/create-worker';
import type { WorkerOptions } from '../../src/worker/options';
import type { Worker } from '../../src/worker/worker';

/** An error shaped like the addon's: an `Error` whose message starts with `[CODE] `. */
export function nativeError(code: NativeErrorCode, text: string): Error {
  return new Error(`[${code}] ${text}`);
}

/** Like the core: a step execution is a step under one claim (a claim may cover many steps). */
function executionKey(stepUuid: string, claimId: string): string {
  return `${stepUuid} ${claimId}`;
}

let counter = 0;
function nextId(prefix: string): string {
  counter += 1;
  return `${prefix}-${String(counter).padStart(4, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Step events

export interface StepEventSpec {
  /** The step's handler_callable. */
  handler: string;
  /** Default: the handler name. */
  stepName?: string;
  taskUuid?: string;
  stepUuid?: string;
  claimId?: string;
  namespace?: string;
  taskName?: string;
  taskVersion?: string;
  context?: Record<string, unknown>;
  config?: Record<string, unknown>;
  inputs?: Record<string, unknown>;
  attempts?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  checkpoint?: Record<string, unknown> | null;
  /** Results of dependency steps by name (wrapped as the core wraps them). */
  dependencyResults?: Record<string, unknown>;
  /** `step.dependencies`, `step.indirect_ancestors`, `step.indirect_batch_workers`. */
  dependencies?: string[];
  indirectAncestors?: string[];
  indirectBatchWorkers?: string[];
}

export function stepPayload(spec: StepEventSpec): StepPayload {
  const stepName = spec.stepName ?? spec.handler;
  const dependency_results: StepPayload['dependency_results'] = {};
  for (const [name, result] of Object.entries(spec.dependencyResults ?? {})) {
    dependency_results[name] = { step_uuid: nextId('dep'), name, success: true, result };
  }
  return {
    task: {
      task_uuid: spec.taskUuid ?? 'task-0001',
      namespace: spec.namespace ?? 'test',
      name: spec.taskName ?? 'test_task',
      version: spec.taskVersion ?? '1.0.0',
      context: spec.context ?? {},
    },
    step: {
      step_uuid: spec.stepUuid ?? nextId('step'),
      name: stepName,
      template_step_name: stepName,
      step_type: 'standard',
      handler_callable: spec.handler,
      handler_initialization: spec.config ?? {},
      inputs: spec.inputs ?? {},
      attempts: spec.attempts ?? 0,
      max_attempts: spec.maxAttempts ?? 3,
      timeout_ms: spec.timeoutMs ?? 30000,
      checkpoint: spec.checkpoint ?? null,
      ...(spec.dependencies === undefined ? {} : { dependencies: spec.dependencies }),
      ...(spec.indirectAncestors === undefined
        ? {}
        : { indirect_ancestors: spec.indirectAncestors }),
      ...(spec.indirectBatchWorkers === undefined
        ? {}
        : { indirect_batch_workers: spec.indirectBatchWorkers }),
    },
    dependency_results,
  };
}

/** A step event as the core sends it: the dependency results apart from the payload. */
export function stepEvent(spec: StepEventSpec): NativeStepEvent {
  const { dependency_results, ...payload } = stepPayload(spec);
  const event: NativeStepEvent = {
    kind: 'step',
    stepUuid: payload.step.step_uuid,
    taskUuid: payload.task.task_uuid,
    claimId: spec.claimId ?? nextId('claim'),
    payload: JSON.stringify(payload),
  };
  if (Object.keys(dependency_results).length > 0) {
    event.dependencies = JSON.stringify(dependency_results);
  }
  return event;
}

export function abortEvent(target: NativeStepEvent, reason: string): NativeStepEvent {
  return {
    kind: 'abort',
    stepUuid: target.stepUuid,
    taskUuid: target.taskUuid,
    claimId: target.claimId,
    reason,
  };
}

// ---------------------------------------------------------------------------------------------
// Worker

export class MockWorker implements NativeWorker {
  readonly workerId: string;
  startCalls = 0;
  pollCalls = 0;
  /** Every `complete()` call, in order. */
  readonly batches: NativeStepResult[][] = [];
  readonly shutdownCalls: number[] = [];
  /** Make the next `complete()` calls throw: each entry is used once (`undefined` = succeed). */
  readonly completeFailures: (Error | undefined)[] = [];
  /** Make every `poll()` reject with this. */
  pollError: Error | undefined;
  /** Called after each `complete()` call that did not throw. */
  onComplete: ((results: NativeStepResult[]) => void) | undefined;
  /** Every `checkpoint()` call, with the checkpoint parsed, and whether it was accepted. */
  readonly checkpoints: {
    stepUuid: string;
    claimId: string;
    checkpoint: unknown;
    accepted: boolean;
  }[] = [];
  /** Make every `checkpoint()` call reject with this. */
  checkpointError: Error | undefined;
  /** Treat every claim as no longer current: `checkpoint()` resolves `false`. */
  staleClaims = false;

  private queue: NativeStepEvent[] = [];
  private waiting: ((events: NativeStepEvent[] | null) => void) | undefined;
  private shutDown = false;
  /**
   * Shut down like the core (abort every outstanding step). `false` ends the poll without abort
   * events, as when they never reach JavaScript.
   */
  abortOnShutdown = true;

  /** Step executions (step + claim) handed to JS and not yet completed. */
  private readonly outstanding = new Map<string, NativeStepEvent>();
  private resultWaiters: { count: number; resolve: () => void }[] = [];

  constructor(readonly options: NativeWorkerOptions) {
    this.workerId = options.workerId;
  }

  async start(): Promise<void> {
    if (this.shutDown) throw nativeError('CLOSED', 'worker is shut down');
    this.startCalls += 1;
  }

  poll(): Promise<NativeStepEvent[] | null> {
    this.pollCalls += 1;
    if (this.pollError !== undefined) return Promise.reject(this.pollError);
    if (this.waiting !== undefined) throw new Error('mock: poll() called while a poll is pending');
    if (this.queue.length > 0) return Promise.resolve(this.take());
    if (this.shutDown) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  complete(results: NativeStepResult[]): void {
    const failure = this.completeFailures.shift();
    if (failure !== undefined) throw failure;
    this.batches.push(results);
    for (const r of results) this.outstanding.delete(executionKey(r.stepUuid, r.claimId));
    if (this.options.reportOutcomes === true) {
      // As the core tells it (a failure is retried when retryable, in this mock).
      this.push(
        ...results.map((r): NativeStepEvent => ({
          kind: 'recorded',
          stepUuid: r.stepUuid,
          taskUuid: '',
          claimId: r.claimId,
          outcome: r.success ? 'completed' : r.error?.retryable ? 'retry' : 'failed',
        })),
      );
    }
    this.onComplete?.(results);
    const total = this.results.length;
    this.resultWaiters = this.resultWaiters.filter((w) => {
      if (total < w.count) return true;
      w.resolve();
      return false;
    });
  }

  /** Like the core: accepted (`true`) only while the claim is outstanding. */
  async checkpoint(stepUuid: string, claimId: string, checkpoint: string): Promise<boolean> {
    if (this.checkpointError !== undefined) throw this.checkpointError;
    const accepted = this.outstanding.has(executionKey(stepUuid, claimId)) && !this.staleClaims;
    this.checkpoints.push({ stepUuid, claimId, checkpoint: JSON.parse(checkpoint), accepted });
    return accepted;
  }

  stats(): NativeWorkerStats {
    return {
      claimed: this.pollCalls,
      recorded: this.results.length,
      stale: 0,
      completed: 0,
      retried: 0,
      failed: 0,
      reaped: 0,
      inFlight: this.outstanding.size,
      dispatchP50Us: 0,
      dispatchP95Us: 0,
      dispatchSamples: 0,
      storeStatements: 0,
      storeTransactions: 0,
    };
  }

  /** Set to change what `readyBacklog()` answers. */
  backlog: NativeReadyBacklog = { count: 0 };

  async readyBacklog(): Promise<NativeReadyBacklog> {
    return this.backlog;
  }

  /** Like the core: stop, wait up to `graceMs` for outstanding claims, abort the rest, end the poll. */
  async shutdown(graceMs: number): Promise<void> {
    this.shutdownCalls.push(graceMs);
    if (this.shutDown) throw nativeError('CLOSED', 'worker is already shut down');
    this.shutDown = true;
    const deadline = Date.now() + graceMs;
    while (this.outstanding.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const aborts = [...this.outstanding.values()].map((e) => abortEvent(e, 'worker shutting down'));
    if (aborts.length > 0 && this.abortOnShutdown) this.queue.push(...aborts);
    this.deliver();
    if (this.waiting !== undefined && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(null);
    }
  }

  /** Hand events to the worker (as one poll batch if a poll is waiting). */
  push(...events: NativeStepEvent[]): void {
    this.queue.push(...events);
    this.deliver();
  }

  /** Every result reported so far, flattened. */
  get results(): NativeStepResult[] {
    return this.batches.flat();
  }

  /** Resolves once at least `count` results have been reported in total. */
  waitForResults(count: number): Promise<NativeStepResult[]> {
    if (this.results.length >= count) return Promise.resolve(this.results);
    return new Promise((resolve) => {
      this.resultWaiters.push({ count, resolve: () => resolve(this.results) });
    });
  }

  /** The result reported for one step event (its step under its claim). */
  resultFor(event: NativeStepEvent): NativeStepResult | undefined {
    return this.results.find((r) => r.stepUuid === event.stepUuid && r.claimId === event.claimId);
  }

  private deliver(): void {
    if (this.waiting === undefined || this.queue.length === 0) return;
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve(this.take());
  }

  private take(): NativeStepEvent[] {
    const events = this.queue;
    this.queue = [];
    for (const e of events) {
      if (e.kind === 'step') this.outstanding.set(executionKey(e.stepUuid, e.claimId), e);
    }
    return events;
  }
}

// ---------------------------------------------------------------------------------------------
// Engine

/** A snake_case task view, as the core returns it. */
export interface TaskViewJson {
  task_uuid: string;
  namespace: string;
  name: string;
  version: string;
  state: string;
  context: Record<string, unknown>;
  idempotency_key: string | null;
  priority?: number;
  correlation_id: string;
  parent_correlation_id?: string | null;
  initiator?: string | null;
  source_system?: string | null;
  reason?: string | null;
  tags?: string[];
  identity_hash?: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  steps?: Record<string, unknown>[];
  transitions?: Record<string, unknown>[];
  parent_task_uuid?: string;
  parent_step_uuid?: string;
  parent_step_name?: string;
  children?: Record<string, unknown>[];
}

const TERMINAL = new Set(['complete', 'error', 'cancelled']);

export class MockEngine implements NativeEngine {
  closeCalls = 0;
  readonly workers: MockWorker[] = [];
  readonly createTaskRequests: NativeCreateTaskRequest[] = [];
  readonly listFilters: NativeListTasksFilter[] = [];
  readonly cancelCalls: { taskUuid: string; reason: string | undefined }[] = [];
  readonly retryCalls: string[] = [];
  readonly resolveCalls: {
    taskUuid: string;
    stepName: string;
    result: string;
    reason: string | undefined;
  }[] = [];
  readonly signalCalls: { taskUuid: string; stepName: string; payload: string }[] = [];
  readonly pruneCalls: { olderThanMs: number; states: string[] }[] = [];
  readonly waitCalls: { taskUuid: string; timeoutMs: number }[] = [];
  /** Make `createWorker` reject with this. */
  createWorkerError: Error | undefined;
  /** Make `createTask` reject with this. */
  createTaskError: Error | undefined;
  /** Called after a task is created. */
  onTaskCreated: ((view: TaskViewJson) => void) | undefined;

  private readonly tasks = new Map<string, TaskViewJson>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private closed = false;

  constructor(readonly options: NativeEngineOptions) {}

  get worker(): MockWorker {
    const worker = this.workers.at(-1);
    if (worker === undefined) throw new Error('mock: no worker was created');
    return worker;
  }

  async createTask(request: NativeCreateTaskRequest): Promise<string> {
    this.assertOpen();
    this.createTaskRequests.push(request);
    if (this.createTaskError !== undefined) throw this.createTaskError;
    const now = new Date().toISOString();
    const view: TaskViewJson = {
      task_uuid: nextId('task'),
      namespace: request.namespace,
      name: request.name,
      version: request.version,
      state: 'pending',
      context: JSON.parse(request.context) as Record<string, unknown>,
      idempotency_key: request.idempotencyKey ?? null,
      priority: request.priority ?? 0,
      correlation_id: request.correlationId ?? nextId('correlation'),
      parent_correlation_id: request.parentCorrelationId ?? null,
      initiator: request.initiator ?? null,
      source_system: request.sourceSystem ?? null,
      reason: request.reason ?? null,
      tags: request.tags ?? [],
      identity_hash: null,
      created_at: now,
      updated_at: now,
      completed_at: null,
      steps: [],
      transitions: [],
    };
    this.tasks.set(view.task_uuid, view);
    this.onTaskCreated?.(view);
    return JSON.stringify(view);
  }

  async createTasks(requests: NativeCreateTaskRequest[]): Promise<string> {
    const views: unknown[] = [];
    for (const request of requests) views.push(JSON.parse(await this.createTask(request)));
    return JSON.stringify(views);
  }

  async getTask(taskUuid: string): Promise<string | null> {
    this.assertOpen();
    const view = this.tasks.get(taskUuid);
    return view === undefined ? null : JSON.stringify(view);
  }

  readonly activityCalls: number[] = [];

  async listTasks(filter: NativeListTasksFilter): Promise<string> {
    this.assertOpen();
    this.listFilters.push(filter);
    const views = [...this.tasks.values()]
      .filter((v) => filter.namespace === undefined || v.namespace === filter.namespace)
      .filter((v) => filter.name === undefined || v.name === filter.name)
      .filter((v) => filter.state === undefined || v.state === filter.state)
      .map(({ steps: _steps, transitions: _transitions, ...rest }) => rest);
    return JSON.stringify(views);
  }

  async countTasks(filter: NativeListTasksFilter, max?: number): Promise<string> {
    this.assertOpen();
    const counts: Record<string, number> = {};
    for (const v of this.tasks.values()) {
      if (filter.namespace !== undefined && v.namespace !== filter.namespace) continue;
      if (filter.name !== undefined && v.name !== filter.name) continue;
      if (filter.state !== undefined && v.state !== filter.state) continue;
      counts[v.state] = Math.min((counts[v.state] ?? 0) + 1, max ?? 10000);
    }
    return JSON.stringify(counts);
  }

  async stepActivity(minutes: number): Promise<string> {
    this.assertOpen();
    this.activityCalls.push(minutes);
    return JSON.stringify([]);
  }

  async listSchedules(): Promise<NativeScheduleInfo[]> {
    this.assertOpen();
    return [];
  }

  async deleteSchedule(_name: string): Promise<boolean> {
    this.assertOpen();
    return false;
  }

  async cancelTask(taskUuid: string, reason?: string): Promise<string> {
    this.assertOpen();
    this.cancelCalls.push({ taskUuid, reason });
    const view = this.requireTask(taskUuid);
    return JSON.stringify(this.updateTask(taskUuid, { state: 'cancelled' }) ?? view);
  }

  async retryTask(taskUuid: string): Promise<string> {
    this.assertOpen();
    this.retryCalls.push(taskUuid);
    return JSON.stringify(this.updateTask(taskUuid, { state: 'steps_in_process' }));
  }

  async resolveStep(
    taskUuid: string,
    stepName: string,
    result: string,
    reason?: string,
  ): Promise<string> {
    this.assertOpen();
    this.resolveCalls.push({ taskUuid, stepName, result, reason });
    return JSON.stringify(this.requireTask(taskUuid));
  }

  /** Applies every signal (the engine decides; its tests are the e2e ones). */
  async sendSignal(taskUuid: string, stepName: string, payload: string): Promise<string> {
    this.assertOpen();
    this.signalCalls.push({ taskUuid, stepName, payload });
    const task = this.requireTask(taskUuid);
    return JSON.stringify({
      applied: true,
      stepState: 'complete',
      taskState: task.state,
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
  }

  async prune(olderThanMs: number, states: string[]): Promise<number> {
    this.assertOpen();
    this.pruneCalls.push({ olderThanMs, states });
    return 0;
  }

  async waitForTask(taskUuid: string, timeoutMs: number): Promise<string> {
    this.assertOpen();
    this.waitCalls.push({ taskUuid, timeoutMs });
    this.requireTask(taskUuid);
    const finished = () => TERMINAL.has(this.requireTask(taskUuid).state);
    if (!finished()) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(nativeError('TIMEOUT', `task ${taskUuid} did not finish within ${timeoutMs}ms`)),
          timeoutMs,
        );
        const list = this.waiters.get(taskUuid) ?? [];
        list.push(() => {
          clearTimeout(timer);
          resolve();
        });
        this.waiters.set(taskUuid, list);
      });
    }
    return JSON.stringify(this.requireTask(taskUuid));
  }

  async createWorker(options: NativeWorkerOptions): Promise<NativeWorker> {
    this.assertOpen();
    if (this.createWorkerError !== undefined) throw this.createWorkerError;
    const worker = new MockWorker(options);
    this.workers.push(worker);
    return worker;
  }

  async close(): Promise<void> {
    this.closeCalls += 1;
    this.closed = true;
  }

  /** Set to change what `health()` answers. */
  healthAnswer: NativeHealth = { backend: 'sqlite', latencyMs: 0.1 };

  async health(): Promise<NativeHealth> {
    this.assertOpen();
    return this.healthAnswer;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Put a view in the store directly. */
  addTask(view: TaskViewJson): void {
    this.tasks.set(view.task_uuid, view);
  }

  /** Change a stored task (e.g. finish it); wakes `waitForTask` callers when it becomes terminal. */
  updateTask(taskUuid: string, patch: Partial<TaskViewJson>): TaskViewJson {
    const view = { ...this.requireTask(taskUuid), ...patch };
    this.tasks.set(taskUuid, view);
    if (TERMINAL.has(view.state)) {
      for (const wake of this.waiters.get(taskUuid) ?? []) wake();
      this.waiters.delete(taskUuid);
    }
    return view;
  }

  private requireTask(taskUuid: string): TaskViewJson {
    const view = this.tasks.get(taskUuid);
    if (view === undefined) throw nativeError('TASK_NOT_FOUND', `task ${taskUuid} not found`);
    return view;
  }

  private assertOpen(): void {
    if (this.closed) throw nativeError('CLOSED', 'engine is closed');
  }
}

// ---------------------------------------------------------------------------------------------
// Module

export class MockNativeModule implements NativeModule {
  readonly engines: MockEngine[] = [];
  /** Make `openEngine` reject with this. */
  openEngineError: Error | undefined;
  /** Applied to each engine as it is opened (e.g. to set `createWorkerError`). */
  configureEngine: ((engine: MockEngine) => void) | undefined;

  async openEngine(options: NativeEngineOptions): Promise<NativeEngine> {
    if (this.openEngineError !== undefined) throw this.openEngineError;
    const engine = new MockEngine(options);
    this.configureEngine?.(engine);
    this.engines.push(engine);
    return engine;
  }

  validateTemplates(_paths: string[]): string {
    return JSON.stringify({ files: [], templates: [], errors: [], notices: [] });
  }

  errorCodes(): string[] {
    return [...NATIVE_ERROR_CODES];
  }

  /** The engine opened last. */
  get engine(): MockEngine {
    const engine = this.engines.at(-1);
    if (engine === undefined) throw new Error('mock: no engine was opened');
    return engine;
  }
}

// ---------------------------------------------------------------------------------------------
// Logger

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | undefined;
}

/**
 * A logger that records entries instead of printing them. Called as pino is, `(fields, message)`,
 * or `(message)` (so it can also stand for a handler's `ctx.logger`).
 */
export class RecordingLogger implements Logger {
  readonly entries: LogEntry[] = [];
  debug(fields: Record<string, unknown> | string, message?: string): void {
    this.add('debug', fields, message);
  }
  info(fields: Record<string, unknown> | string, message?: string): void {
    this.add('info', fields, message);
  }
  warn(fields: Record<string, unknown> | string, message?: string): void {
    this.add('warn', fields, message);
  }
  error(fields: Record<string, unknown> | string, message?: string): void {
    this.add('error', fields, message);
  }
  protected add(
    level: LogEntry['level'],
    first: Record<string, unknown> | string,
    second?: string,
  ): void {
    if (typeof first === 'string') this.entries.push({ level, message: first, fields: undefined });
    else this.entries.push({ level, message: second ?? '', fields: first });
  }
  messages(level?: LogEntry['level']): string[] {
    return this.entries
      .filter((e) => level === undefined || e.level === level)
      .map((e) => e.message);
  }
}

// ---------------------------------------------------------------------------------------------
// A started worker on the mock

export interface StartedWorker {
  worker: Worker;
  native: MockNativeModule;
  engine: MockEngine;
  nativeWorker: MockWorker;
  logger: RecordingLogger;
}

/** `openWorker` on a fresh mock with a recording logger and a short shutdown grace, started. */
export async function startWorker(
  handlers: WorkerOptions['handlers'],
  options: Partial<WorkerOptions> = {},
): Promise<StartedWorker> {
  const mock = new MockNativeModule();
  const logger = new RecordingLogger();
  const worker = await openWorker(mock, {
    templates: 'templates',
    database: ':memory:',
    logger,
    shutdownGraceMs: 100,
    ...options,
    handlers,
  });
  await worker.start();
  return { worker, native: mock, engine: mock.engine, nativeWorker: mock.engine.worker, logger };
}

// ---------------------------------------------------------------------------------------------
// Handlers

/** A StepHandler class with the given name whose `call` runs `impl`. */
export function defineHandler(name: string, impl: (ctx: StepContext) => unknown): StepHandlerClass {
  return class extends StepHandler {
    static override handlerName = name;
    async call(ctx: StepContext): Promise<StepHandlerReturn> {
      return (await impl(ctx)) as StepHandlerReturn;
    }
  };
}

/** Run one step (`the_step`, handler `h`) through a fresh worker and return its reported result. */
export async function runOneStep(
  impl: (ctx: StepContext) => unknown,
  spec: Partial<StepEventSpec> = {},
): Promise<NativeStepResult> {
  const { worker, nativeWorker } = await startWorker([defineHandler('h', impl)]);
  try {
    nativeWorker.push(stepEvent({ handler: 'h', stepName: 'the_step', ...spec }));
    const [result] = await nativeWorker.waitForResults(1);
    return result;
  } finally {
    await worker.shutdown();
  }
}

/** What `runHandler` returns: the reported result, and what the worker logged and checkpointed. */
export interface HandlerRun {
  result: NativeStepResult;
  logger: RecordingLogger;
  nativeWorker: MockWorker;
}

/** Run one step of the handler class `cls` through a fresh worker (step `the_step` unless given). */
export async function runHandler(
  cls: StepHandlerClass,
  spec: Partial<StepEventSpec> = {},
  configure?: (nativeWorker: MockWorker) => void,
): Promise<HandlerRun> {
  const { worker, nativeWorker, logger } = await startWorker([cls]);
  try {
    configure?.(nativeWorker);
    nativeWorker.push(stepEvent({ handler: cls.handlerName, stepName: 'the_step', ...spec }));
    const [result] = await nativeWorker.waitForResults(1);
    return { result, logger, nativeWorker };
  } finally {
    await worker.shutdown();
  }
}

/** A reported error without its stack trace (which the tests of stack traces check). */
export function withoutStack(
  error: NativeStepResult['error'] | undefined,
): NativeStepResult['error'] | undefined {
  if (error === undefined) return undefined;
  const { stack: _stack, ...rest } = error;
  return rest;
}

/**
 * The reported result without identity, timing and the error's stack trace, with
 * `result`/`metadata` JSON parsed.
 */
export function parsedOutcome(result: NativeStepResult): {
  success: boolean;
  result?: unknown;
  error?: NativeStepResult['error'];
  metadata?: unknown;
} {
  const out: ReturnType<typeof parsedOutcome> = { success: result.success };
  if (result.result !== undefined) out.result = JSON.parse(result.result);
  if (result.error !== undefined) out.error = withoutStack(result.error);
  if (result.metadata !== undefined) out.metadata = JSON.parse(result.metadata);
  return out;
}

/** A promise with its resolve function exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
