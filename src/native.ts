/**
 * The boundary between TypeScript and the Rust addon. This file is the only place that loads the
 * addon; everything else imports the types below.
 *
 * Conventions at the boundary (style habit 9):
 * - An absent optional value is `undefined` in both directions, never `null`.
 * - Object keys are camelCase at the top level (napi-rs converts struct fields); JSON payloads
 *   (task context, step results, dependency results) cross as JSON *strings* whose keys stay
 *   snake_case exactly as stored, and are parsed in exactly one place (`worker/dispatch.ts`).
 * - Rust errors arrive as JS `Error`s whose message starts with the stable code in brackets,
 *   `[TEMPLATE_INVALID] templates/x.yaml: …` (napi-rs async functions cannot set a custom
 *   `code`); `splitNativeError` below separates the two, and `errors.ts` converts them to named
 *   classes in one place (`fromNativeError`).
 * - The generated `index.d.ts` is the addon's own declaration; the interfaces below must stay
 *   assignable from it (a test checks the real addon against them).
 */

import * as fs from 'fs';
import * as path from 'path';

/**
 * The stable error codes of the Rust core (`ErrorCode` in crates/tasker-orchestration/src/error.rs,
 * where they are defined). This list must hold exactly the addon's `errorCodes()`: a test
 * compares the two, and `fromNativeError`'s table must cover exactly this list (the compiler
 * checks that).
 */
export const NATIVE_ERROR_CODES = [
  'TEMPLATE_INVALID', // a template file failed to parse or validate
  'HANDLER_NOT_REGISTERED', // a template names a callable with no registered handler
  'TEMPLATE_NOT_FOUND', // createTask for a (namespace, name, version) nobody registered
  'TASK_NOT_FOUND',
  'INVALID_ARGUMENT', // bad options / bad JSON given to the addon
  'DATABASE', // the database could not be reached or a statement failed
  'TIMEOUT', // waitForTask ran out of time
  'CLOSED', // the engine or worker was already shut down
  'INVALID_STATE', // e.g. retrying a task that did not fail, resolving a completed step
  'DUPLICATE_TASK', // a create duplicates a task and was given onDuplicate: 'error'
] as const;

export type NativeErrorCode = (typeof NATIVE_ERROR_CODES)[number];

export interface NativeEngineOptions {
  /** `sqlite::memory:`, `sqlite://path/to/file.db`, or `postgres://…`. */
  databaseUrl: string;
  /** Most steps one decision outcome may create (default 100). */
  maxStepsPerDecision?: number;
  /** Most batch workers one batch outcome may create (default 1000). */
  maxBatchWorkers?: number;
  /** Deepest nesting of contexts, results, metadata and checkpoints (default 1000). */
  maxJsonDepth?: number;
  /** Largest step result, metadata or checkpoint, in bytes (default 16777216). */
  maxResultBytes?: number;
  /** Largest task context, in bytes (default 16777216). */
  maxContextBytes?: number;
  /**
   * PostgreSQL: most time one connection attempt, or the wait for a pooled connection, may take
   * (default 5000). Connecting fails with the server and the cause in the message.
   */
  connectTimeoutMs?: number;
  /** PostgreSQL: the most pooled connections (default 8). */
  poolSize?: number;
  /** PostgreSQL: the schema of tasker's tables (default `tasker`). */
  schema?: string;
}

export interface NativeWorkerOptions {
  /** YAML template files and/or directories of them. */
  templatePaths: string[];
  /** Names of the registered handlers; the worker refuses to start if a template needs another. */
  handlerNames: string[];
  /** At most this many steps in flight; the worker never claims more. */
  concurrency: number;
  workerId: string;
  /** Claim lease; renewed while the handler runs. Default 30000. */
  leaseMs?: number;
  /** Fallback poll interval when no wake-up arrives. Default 1000. */
  pollIntervalMs?: number;
  /** The least severe core line sent as a `log` event; the rest stay in Rust. Default `debug`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Send a `recorded` event for every result (for traces and metrics). Default false. */
  reportOutcomes?: boolean;
  /** JSON of the `schedules` option: an array of schedule definitions (checked by the core). */
  schedules?: string;
  /** YAML files of schedules (a `schedules:` list each). */
  schedulePaths?: string[];
  /** JSON of the `limits` option: handler callable → limits, template field names. */
  limits?: string;
}

/** A stored schedule (`listSchedules`). Times are ISO 8601 (UTC); `context` is JSON. */
export interface NativeScheduleInfo {
  name: string;
  cron: string;
  timezone: string;
  namespace: string;
  taskName: string;
  version: string;
  context: string;
  missed: 'latest' | 'skip' | 'all';
  lastFireAt?: string;
  nextFireAt?: string;
  createdAt: string;
  updatedAt: string;
}

/** Something for the JS side to do. */
export interface NativeStepEvent {
  /**
   * `step`: run a handler. `abort`: abort the signal of a step already handed over. `log`: a
   * line for the worker's logger (database outages and recoveries, timeouts, lost claims).
   * `recorded`: what became of a result of this execution (with `reportOutcomes`).
   */
  kind: 'step' | 'abort' | 'log' | 'recorded';
  stepUuid: string;
  taskUuid: string;
  /** Identifies this claim; echo it back in `NativeStepResult.claimId`. */
  claimId: string;
  /** For `step`: JSON of `StepPayload` (below), without `dependency_results`. */
  payload?: string;
  /**
   * For `step`: JSON of `StepPayload.dependency_results`, sent apart so that it is parsed only
   * when the handler reads it; absent when the step has no completed ancestors.
   */
  dependencies?: string;
  /** For `abort`: why (timeout, cancel, shutdown). */
  reason?: string;
  /** For `log`: the level, the message, and the fields as a JSON object. */
  level?: 'debug' | 'info' | 'warn' | 'error';
  message?: string;
  fields?: string;
  /**
   * For `recorded`: `completed`, `retry` (the attempt failed, the step runs again), `failed`
   * (for good), `stale` (ignored: the claim was no longer current) or `unrecorded` (the
   * database kept failing).
   */
  outcome?: 'completed' | 'retry' | 'failed' | 'stale' | 'unrecorded';
  /** For `step`: JSON of the task creator's W3C trace context carrier, if one was stored. */
  traceContext?: string;
}

/** What `NativeStepEvent.payload` parses to (snake_case JSON). */
export interface StepPayload {
  task: {
    task_uuid: string;
    namespace: string;
    name: string;
    version: string;
    context: Record<string, unknown>;
    /**
     * The task's metadata (docs/task-metadata.md). The core always sends these; they are
     * optional only for payloads built by hand (tests).
     */
    correlation_id?: string;
    parent_correlation_id?: string | null;
    initiator?: string | null;
    source_system?: string | null;
    reason?: string | null;
    tags?: string[];
  };
  step: {
    step_uuid: string;
    name: string;
    template_step_name: string;
    step_type: string;
    handler_callable: string;
    handler_initialization: Record<string, unknown>;
    inputs: Record<string, unknown>;
    /** Attempts made before this one (0 on the first run). */
    attempts: number;
    max_attempts: number;
    timeout_ms: number;
    checkpoint: Record<string, unknown> | null;
    /**
     * The template steps this step's template step lists in `dependencies:`: it receives the
     * results of their steps (every worker of a batch-worker template). The core always sends
     * this and the two lists below; they are optional only for payloads built by hand (tests).
     */
    dependencies?: string[];
    /**
     * The template steps upstream of the dependencies that this step does not list itself
     * (tasker-core would hand it their results; this engine does not, and the StepContext says
     * so when a handler asks for one).
     */
    indirect_ancestors?: string[];
    /** Those of `indirect_ancestors` that are batch-worker templates (steps `<name>_<batch id>`). */
    indirect_batch_workers?: string[];
  };
  /** Results of the completed dependencies (see `step.dependencies`), keyed by step name. */
  dependency_results: Record<
    string,
    { step_uuid: string; name: string; success: boolean; result: unknown }
  >;
}

export interface NativeStepError {
  message: string;
  /** Free-form classification, e.g. `permanent_error`, `retryable_error`, `timeout`, `TypeError`. */
  errorType: string;
  /** Only `false` makes a failure permanent. */
  retryable: boolean;
  /** A server-requested delay before the next attempt (Retry-After), honoured by the core. */
  retryAfterMs?: number;
  statusCode?: number;
  /** The handler's stack trace; the core stores at most 8 KiB of it. */
  stack?: string;
}

export interface NativeStepResult {
  stepUuid: string;
  claimId: string;
  success: boolean;
  /** JSON string of the handler's result object, when `success`. */
  result?: string;
  error?: NativeStepError;
  /** JSON string of handler metadata (optional). */
  metadata?: string;
  durationMs: number;
}

export interface NativeCreateTaskRequest {
  namespace: string;
  name: string;
  version: string;
  /** JSON string of the task context (an object). */
  context: string;
  idempotencyKey?: string;
  /** The first steps become claimable this many ms after creation (database clock). */
  delayMs?: number;
  /** JSON of the creator's W3C trace context carrier (`{ traceparent, tracestate? }`). */
  traceContext?: string;
  /** -1000..1000, higher first; the core refuses anything else. */
  priority?: number;
  /** Task metadata (docs/task-metadata.md); the core checks it and generates the correlation id. */
  correlationId?: string;
  parentCorrelationId?: string;
  initiator?: string;
  sourceSystem?: string;
  reason?: string;
  tags?: string[];
  /** What a duplicate create gets (docs/identity.md); default `return`. */
  onDuplicate?: 'return' | 'error';
}

export interface NativeListTasksFilter {
  namespace?: string;
  name?: string;
  state?: string;
  /** Created at or after, ms since the epoch. */
  createdAfterMs?: number;
  /** Created before, ms since the epoch. */
  createdBeforeMs?: number;
  correlationId?: string;
  parentCorrelationId?: string;
  /** Only tasks with every one of these tags. */
  tags?: string[];
  limit?: number;
  offset?: number;
}

/**
 * Every `string` returned by these methods is JSON of a `TaskView` (snake_case), or of a
 * `TaskView[]` for `listTasks`:
 * `{ task_uuid, namespace, name, version, state, context, idempotency_key|null, priority,
 *    correlation_id, parent_correlation_id|null, initiator|null, source_system|null,
 *    reason|null, tags, identity_hash|null,
 *    created_at, updated_at, completed_at|null   (ISO-8601 strings),
 *    steps?: [{ step_uuid, name, state, attempts, max_attempts, result|null,
 *               error: {message, error_type, retryable, status_code?, stack?}|null,
 *               created_at, updated_at, dependencies, created_by|null, inputs,
 *               checkpoint|null }],
 *    transitions?: [{ entity: 'task'|'step', step_name|null, from_state|null, to_state, at,
 *                     worker_id|null, reason|null }] }`
 * `getTask` includes `steps` and `transitions`; `listTasks` includes neither.
 */
export interface NativeEngine {
  createTask(request: NativeCreateTaskRequest): Promise<string>;
  /** Many tasks in one transaction; JSON of a `TaskView[]` in request order. */
  createTasks(requests: NativeCreateTaskRequest[]): Promise<string>;
  /** `null` when there is no such task (napi-rs maps a Rust `None` return to `null`). */
  getTask(taskUuid: string): Promise<string | null>;
  listTasks(filter: NativeListTasksFilter): Promise<string>;
  /** JSON of `{ [state]: count }` (limit and offset ignored), each count stopping at `max`. */
  countTasks(filter: NativeListTasksFilter, max?: number): Promise<string>;
  /** JSON of `[{ minute, completed, failed, retried }]`, oldest minute first. */
  stepActivity(minutes: number): Promise<string>;
  /** Every stored schedule, by name, with its next fire time. */
  listSchedules(): Promise<NativeScheduleInfo[]>;
  deleteSchedule(name: string): Promise<boolean>;
  cancelTask(taskUuid: string, reason?: string): Promise<string>;
  retryTask(taskUuid: string): Promise<string>;
  /** `result`: JSON of an object. */
  resolveStep(taskUuid: string, stepName: string, result: string, reason?: string): Promise<string>;
  /** `payload`: JSON of an object. Resolves with JSON of `{ applied, stepState, taskState, receivedAt }`. */
  sendSignal(taskUuid: string, stepName: string, payload: string): Promise<string>;
  /** Deletes finished tasks; `states` empty means every finished state. Returns the count. */
  prune(olderThanMs: number, states: string[]): Promise<number>;
  /** Resolves with the TaskView once the task is complete, error or cancelled. */
  waitForTask(taskUuid: string, timeoutMs: number): Promise<string>;
  createWorker(options: NativeWorkerOptions): Promise<NativeWorker>;
  close(): Promise<void>;
  /** One round trip to the database; resolves (with `error`) when the database does not answer. */
  health(): Promise<NativeHealth>;
}

export interface NativeHealth {
  backend: 'sqlite' | 'postgres';
  /** How long the round trip took (until the failure, when there is one). */
  latencyMs: number;
  /** Why the database did not answer; absent when it did. */
  error?: string;
}

/** Steps ready now and not claimed, for a worker's handlers. */
export interface NativeReadyBacklog {
  count: number;
  /** How long the oldest has waited, in ms; absent when there is none. */
  oldestMs?: number;
}

export interface NativeWorkerStats {
  claimed: number;
  recorded: number;
  stale: number;
  /**
   * Of the results recorded (the handlers', and timeouts): those that completed their step,
   * those after which the step runs again, those that failed it for good.
   */
  completed: number;
  retried: number;
  failed: number;
  /** Expired leases (of workers that crashed or hung) this worker reaped. */
  reaped: number;
  inFlight: number;
  /**
   * Rust → JS → Rust overhead per step (handler time excluded), in whole µs, over every step
   * this worker has recorded (an HDR histogram, within 0.1 %).
   */
  dispatchP50Us: number;
  dispatchP95Us: number;
  dispatchSamples: number;
  /** Statements and transactions the worker's store has run since it was opened. */
  storeStatements: number;
  storeTransactions: number;
}

export interface NativeWorker {
  readonly workerId: string;
  /** Begin claiming. */
  start(): Promise<void>;
  /** Long poll: resolves with at least one event, or `null` once the worker has shut down. */
  poll(): Promise<NativeStepEvent[] | null>;
  /** Report results; never blocks (Rust batches the writes). Stale claims are ignored. */
  complete(results: NativeStepResult[]): void;
  /** Counters: claims, recorded and stale results, dispatch overhead percentiles. */
  stats(): NativeWorkerStats;
  /**
   * Persist a checkpoint for a step this worker is running (JSON of
   * `{cursor, items_processed, accumulated_results}`); a retried attempt receives it as
   * `step.checkpoint`. Also renews the lease. Resolves `false` when the claim is no longer
   * current (timed out, cancelled, released).
   */
  checkpoint(stepUuid: string, claimId: string, checkpoint: string): Promise<boolean>;
  /** Stop claiming, wait up to `graceMs` for in-flight steps, abort and release the rest. */
  shutdown(graceMs: number): Promise<void>;
  /** Steps this worker's handlers could run that are ready now but not claimed. */
  readyBacklog(): Promise<NativeReadyBacklog>;
}

export interface NativeModule {
  openEngine(options: NativeEngineOptions): Promise<NativeEngine>;
  /**
   * Parse and validate templates without a database, finding every error; returns JSON of
   * `{ files, templates, errors: [{ message, file?, step?, field? }] }` (see validate-templates.ts).
   */
  validateTemplates(paths: string[]): string;
  /** Every error code the addon can raise (see `NATIVE_ERROR_CODES`). */
  errorCodes(): string[];
}

/** Split a native error message `[CODE] text` into its code and text. */
export function splitNativeError(message: string): {
  code: NativeErrorCode | undefined;
  text: string;
} {
  const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(message);
  if (m === null) return { code: undefined, text: message };
  return { code: m[1] as NativeErrorCode, text: m[2] };
}

let loaded: NativeModule | undefined;

/** The package root: the nearest folder above this file with a package.json (src/ or dist/src/). */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir)
      throw new Error(`tasker-node: cannot find the package root above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** Load the addon once (lazily, so unit tests can run against a mock). */
export function native(): NativeModule {
  loaded ??= loadAddon(packageRoot());
  return loaded;
}

/** napi-rs's name for this platform, as in `tasker-node.<abi>.node` and `tasker-node-<abi>`. */
export function platformAbi(): string {
  const { platform, arch } = process;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  if (platform !== 'linux') return `${platform}-${arch}`;
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } };
  const libc = report?.header?.glibcVersionRuntime !== undefined ? 'gnu' : 'musl';
  return arch === 'arm' ? `linux-arm-${libc}eabihf` : `linux-${arch}-${libc}`;
}

/** Messages of napi-rs's loader that say only where it looked, not why a binary failed. */
const NOT_A_REASON = /^Cannot find (module|native binding)\b/;

/**
 * Load the addon of the package at `root`, turning a missing or unloadable binary into one
 * sentence that says what to do. napi-rs's loader looks for `tasker-node.<abi>.node` in `root`,
 * then for the package `tasker-node-<abi>` (and WASI builds), and throws an error that blames
 * npm's optional dependencies, chained to one error per place it looked; of that chain only a
 * failure that says why (e.g. a dlopen error: the binary is there but does not load) is kept, in
 * the sentence. Any other error thrown while loading stays the cause.
 * @internal exported for tests.
 */
export function loadAddon(root: string): NativeModule {
  try {
    return require(path.join(root, 'index.js')) as NativeModule;
  } catch (err) {
    throw addonLoadError(root, err);
  }
}

function addonLoadError(root: string, err: unknown): Error {
  const abi = platformAbi();
  const pkg = `tasker-node-${abi}`;
  const fromLoader = err instanceof Error && NOT_A_REASON.test(err.message);
  // The chain runs from the loader's last attempt to its first; keep the earliest failure that
  // is not merely "Cannot find …".
  let reason: string | undefined;
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 20; depth++, e = e.cause) {
    if (!NOT_A_REASON.test(e.message)) reason = e.message;
  }
  const binaries = fs.existsSync(root)
    ? fs.readdirSync(root).filter((f) => f.endsWith('.node'))
    : [];
  let platformPackage: string | undefined;
  try {
    platformPackage = path.dirname(require.resolve(`${pkg}/package.json`, { paths: [root] }));
  } catch {
    // not installed
  }
  const found = [
    ...binaries.map((b) => path.join(root, b)),
    ...(platformPackage === undefined ? [] : [platformPackage]),
  ];
  const what =
    found.length === 0
      ? `there is no native addon in ${root} (no *.node file, and ${pkg} is not installed)`
      : `the native addon (${found.join(', ')}) cannot be loaded on ${abi}` +
        (reason === undefined ? '' : ` (${reason})`);
  // A clone can build its addon; an installed package has no sources to build from.
  const todo = fs.existsSync(path.join(root, 'Cargo.toml'))
    ? `build it with \`npm run build:native\` in ${root} (needs Rust with cargo and a C compiler)`
    : `install the prebuilt package ${pkg} beside it (\`npm run pack:all\` in a clone of ` +
      `tasker-node makes its tarball), or install tasker-node from a git URL to build it from source`;
  return new Error(
    `tasker-node: ${what}; ${todo} (see the README, "Installing in another project")`,
    fromLoader ? undefined : { cause: err },
  );
}
