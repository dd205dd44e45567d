/**
 * Shared helpers of the end-to-end suites (`__tests__/e2e/`): real workflows through the real
 * addon, on SQLite and on PostgreSQL.
 *
 * - `describeEachBackend(title, (backend) => …)` declares the suite once per backend; every test
 *   asks `backend.database()` for a fresh, empty database. PostgreSQL databases are created as
 *   `tasker_e2e_<random>` on the server of `TASKER_TEST_DATABASE_URL` (default
 *   `postgres://postgres@127.0.0.1:5432/postgres`) and dropped in `afterAll`, after every worker
 *   the suite started has shut down. If the server cannot be reached the PostgreSQL half is
 *   skipped with a warning, or fails when `TASKER_REQUIRE_POSTGRES=1` (CI).
 * - Workers, clients and child processes started through `startWorker`, `openClient` and
 *   `track` are shut down after each test (a referenced napi promise would keep jest alive).
 */
import { spawnSync, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { inspect } from 'util';
import { Client as PgClient } from 'pg';
import {
  StepHandler,
  createClient,
  createWorker,
  redactDatabaseUrl as redact,
  type Logger,
  type StepContext,
  type StepHandlerClass,
  type StepHandlerReturn,
  type Task,
  type TaskStep,
  type TaskerClient,
  type Transition,
  type Worker,
  type WorkerOptions,
} from '../../src/index';
import { RecordingLogger, type LogEntry } from './mock-native';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES = path.join(REPO_ROOT, '__tests__', 'fixtures');

export const EXAMPLES = path.join(REPO_ROOT, 'examples');

/** An example template (`examples/templates/<file>`), e.g. `exampleTemplate('csv_processing.yaml')`. */
export function exampleTemplate(file: string): string {
  const template = path.join(EXAMPLES, 'templates', file);
  if (!fs.existsSync(template)) throw new Error(`no example template ${template}`);
  return template;
}

/** The directory holding the template(s) of one behaviour. */
export function templateDir(behaviour: string): string {
  const dir = path.join(FIXTURES, 'templates', behaviour);
  if (!fs.existsSync(dir)) throw new Error(`no fixture templates for '${behaviour}' at ${dir}`);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Backends

export type BackendName = 'sqlite' | 'postgres';

export interface DatabaseOptions {
  /**
   * The database must be reachable from several engines or processes: on SQLite a temp file
   * instead of `:memory:` (PostgreSQL databases always are).
   */
  shared?: boolean;
}

export interface Backend {
  readonly name: BackendName;
  /** A fresh, empty database for the current test, as a `database` option value. */
  database(options?: DatabaseOptions): Promise<string>;
}

export interface DescribeEachBackendOptions {
  /** Declare the suite only for these backends (default both). */
  only?: BackendName[];
}

const DEFAULT_PG_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The PostgreSQL server URL (pointing at its `postgres` maintenance database). */
export function pgServerUrl(): string {
  const raw = process.env.TASKER_TEST_DATABASE_URL?.trim() || DEFAULT_PG_SERVER;
  return withDatabase(raw, 'postgres');
}

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

interface PgProbe {
  ok: boolean;
  error?: string;
}

let pgProbe: PgProbe | undefined;

/**
 * Whether the PostgreSQL server answers. Jest declares suites synchronously, so this runs a
 * short synchronous child process (once per test file).
 */
function probePostgres(): PgProbe {
  if (pgProbe !== undefined) return pgProbe;
  const script = `
    const { Client } = require(${JSON.stringify(require.resolve('pg'))});
    const client = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 4000 });
    client.connect()
      .then(() => client.query('SELECT 1'))
      .then(() => client.end())
      .then(() => process.exit(0), (e) => { process.stderr.write(String(e && e.message || e)); process.exit(1); });
  `;
  const res = spawnSync(process.execPath, ['-e', script, pgServerUrl()], {
    encoding: 'utf8',
    timeout: 10000,
  });
  pgProbe =
    res.status === 0
      ? { ok: true }
      : {
          ok: false,
          error: (res.stderr || res.error?.message || `probe exited with ${res.status}`).trim(),
        };
  return pgProbe;
}

async function withPgAdmin<T>(fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new PgClient({ connectionString: pgServerUrl(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function sqliteBackend(): Backend & { dispose(): void } {
  let dir: string | undefined;
  return {
    name: 'sqlite',
    async database({ shared = false }: DatabaseOptions = {}) {
      if (!shared) return ':memory:';
      dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-e2e-'));
      return path.join(dir, `${randomBytes(6).toString('hex')}.db`);
    },
    dispose() {
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}

function postgresBackend(): Backend & { dispose(): Promise<void> } {
  const created: string[] = [];
  return {
    name: 'postgres',
    async database() {
      const name = `tasker_e2e_${randomBytes(6).toString('hex')}`;
      await withPgAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
      created.push(name);
      return withDatabase(pgServerUrl(), name);
    },
    async dispose() {
      const names = created.splice(0);
      if (names.length === 0) return;
      await withPgAdmin(async (c) => {
        for (const name of names) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      });
    },
  };
}

/**
 * Declare `fn`'s tests once per backend, as `<title> [sqlite]` and `<title> [postgres]`. Every
 * worker, client and child process tracked during a test is shut down after it; the suite's
 * databases are dropped after all its tests.
 */
export function describeEachBackend(
  title: string,
  fn: (backend: Backend) => void,
  { only = ['sqlite', 'postgres'] }: DescribeEachBackendOptions = {},
): void {
  if (only.includes('sqlite')) {
    describe(`${title} [sqlite]`, () => {
      const backend = sqliteBackend();
      afterEach(cleanUp);
      afterAll(async () => {
        await cleanUp();
        backend.dispose();
      });
      fn(backend);
    });
  }
  if (only.includes('postgres')) {
    const probe = probePostgres();
    if (probe.ok) {
      describe(`${title} [postgres]`, () => {
        const backend = postgresBackend();
        afterEach(cleanUp);
        afterAll(async () => {
          await cleanUp();
          await backend.dispose();
        });
        fn(backend);
      });
    } else if (process.env.TASKER_REQUIRE_POSTGRES === '1') {
      describe(`${title} [postgres]`, () => {
        it('needs PostgreSQL (TASKER_REQUIRE_POSTGRES=1)', () => {
          throw new Error(
            `PostgreSQL is required (TASKER_REQUIRE_POSTGRES=1) but ${redact(pgServerUrl())} ` +
              `is not reachable: ${probe.error}`,
          );
        });
      });
    } else {
      const notice =
        `tasker e2e: PostgreSQL at ${redact(pgServerUrl())} is not reachable (${probe.error}); ` +
        `SKIPPING '${title} [postgres]'. Set TASKER_TEST_DATABASE_URL to a server URL, or ` +
        `TASKER_REQUIRE_POSTGRES=1 to make this a failure.`;
      console.warn(notice);
      // Jest drops the console output of a file whose tests are all skipped: say it on stderr too.
      process.stderr.write(`\n⚠ ${notice}\n`);
      describe.skip(`${title} [postgres]`, () => fn(postgresBackend()));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Resources that must be released after each test

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];

/** Run `cleanup` after the current test (latest first). */
export function track(cleanup: Cleanup): void {
  cleanups.push(cleanup);
}

/** Release everything tracked so far; the first failure is rethrown after all ran. */
export async function cleanUp(): Promise<void> {
  const errors: unknown[] = [];
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!;
    try {
      await cleanup();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
}

/**
 * A logger that keeps what it is given (printed too when `TASKER_E2E_LOG=1`), called as pino is:
 * `(fields, message)`, or `(message)` as a handler's `ctx.logger` may be.
 */
export class TestLogger extends RecordingLogger {
  private readonly echo = process.env.TASKER_E2E_LOG === '1';

  protected override add(
    level: LogEntry['level'],
    first: Record<string, unknown> | string,
    second?: string,
  ): void {
    super.add(level, first, second);
    const { message, fields } = this.entries[this.entries.length - 1];
    if (this.echo) console.log(`[${level}] ${message}`, fields ?? '');
  }
}

export type StartWorkerOptions = Omit<WorkerOptions, 'templates' | 'logger'> & {
  /** A behaviour name (a folder of `__tests__/fixtures/templates/`) or explicit paths. */
  templates: string | string[];
  logger?: Logger;
  /** Create the worker without starting it. */
  start?: boolean;
  /** Do not fail the test when the worker logs at `error` level. */
  allowLoggedErrors?: boolean;
};

/**
 * Create (and by default start) a worker whose shutdown is tracked. Defaults suited to tests: a
 * quiet recording logger, a 200 ms fallback poll and a 500 ms shutdown grace.
 */
export async function startWorker(options: StartWorkerOptions): Promise<Worker> {
  const { start = true, allowLoggedErrors = false, templates, ...rest } = options;
  const paths = (Array.isArray(templates) ? templates : [templates]).map((t) =>
    path.isAbsolute(t) ? t : templateDir(t),
  );
  const logger = rest.logger ?? new TestLogger();
  const worker = await createWorker({
    pollIntervalMs: 200,
    shutdownGraceMs: 500,
    ...rest,
    logger,
    templates: paths,
  });
  track(async () => {
    await worker.shutdown();
    // Errors the worker only logged (a result the core rejected, a failed poll…) fail the test.
    const errors =
      logger instanceof TestLogger ? logger.entries.filter((e) => e.level === 'error') : [];
    if (errors.length > 0 && !allowLoggedErrors) {
      throw new Error(
        `worker ${worker.workerId} logged errors:\n` +
          errors.map((e) => `  ${e.message} ${inspect(e.fields ?? {})}`).join('\n'),
      );
    }
  });
  if (start) await worker.start();
  return worker;
}

/** A client with its own engine, closed after the test. */
export async function openClient(database: string): Promise<TaskerClient> {
  const client = await createClient({ database });
  track(() => client.close());
  return client;
}

/** Kill a child process after the test if it is still running (a safety net only). */
export function trackChild(child: ChildProcess): void {
  track(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

// ---------------------------------------------------------------------------------------------
// Handlers

type HandlerFn = (ctx: StepContext) => Promise<StepHandlerReturn> | StepHandlerReturn;

/** A StepHandler class registered under `name` whose `call` is `fn`. */
export function defineHandler(name: string, fn: HandlerFn): StepHandlerClass {
  const cls = class extends StepHandler {
    static override handlerName = name;
    async call(ctx: StepContext): Promise<StepHandlerReturn> {
      return fn(ctx);
    }
  };
  Object.defineProperty(cls, 'name', { value: `Handler(${name})` });
  return cls;
}

/** Everything one handler execution saw. */
export interface Execution {
  stepName: string;
  stepUuid: string;
  taskUuid: string;
  retryCount: number;
  startedAt: number;
  dependencies: Record<string, unknown>;
}

/** Records every handler execution, for assertions on who ran what and how often. */
export class ExecutionLog {
  readonly all: Execution[] = [];

  record(ctx: StepContext): Execution {
    const execution: Execution = {
      stepName: ctx.stepName,
      stepUuid: ctx.stepUuid,
      taskUuid: ctx.taskUuid,
      retryCount: ctx.retryCount,
      startedAt: Date.now(),
      dependencies: { ...ctx.dependencyResults },
    };
    this.all.push(execution);
    return execution;
  }

  of(stepName: string): Execution[] {
    return this.all.filter((e) => e.stepName === stepName);
  }

  /** Step names in the order their executions started. */
  order(): string[] {
    return this.all.map((e) => e.stepName);
  }
}

// ---------------------------------------------------------------------------------------------
// Tasks

export interface RunTaskOptions {
  name: string;
  namespace?: string;
  context?: Record<string, unknown>;
  timeoutMs?: number;
}

export const E2E_NAMESPACE = 'e2e';

/** Create a task through `client` and wait until it finishes. */
export async function runTask(client: TaskerClient, options: RunTaskOptions): Promise<Task> {
  const created = await client.createTask({
    namespace: options.namespace ?? E2E_NAMESPACE,
    name: options.name,
    context: options.context ?? {},
  });
  return client.waitForTask(created.taskUuid, { timeoutMs: options.timeoutMs ?? 20000 });
}

/** The named step of a task view; fails the test if there is none. */
export function stepOf(task: Task, name: string): TaskStep {
  const step = task.steps.find((s) => s.name === name);
  if (step === undefined) {
    throw new Error(
      `task ${task.taskUuid} has no step '${name}' (steps: ${task.steps.map((s) => s.name).join(', ')})`,
    );
  }
  return step;
}

export interface Hop {
  from: string | null;
  to: string;
  reason: string | null;
  workerId?: string | null;
}

function hop(t: Transition, withWorker: boolean): Hop {
  const h: Hop = { from: t.fromState, to: t.toState, reason: t.reason };
  if (withWorker) h.workerId = t.workerId;
  return h;
}

/** The transitions of one step, in order. */
export function stepHops(task: Task, stepName: string, { withWorker = false } = {}): Hop[] {
  return task.transitions
    .filter((t) => t.entity === 'step' && t.stepName === stepName)
    .map((t) => hop(t, withWorker));
}

/** The task's own transitions, in order. */
export function taskHops(task: Task): Hop[] {
  return task.transitions.filter((t) => t.entity === 'task').map((t) => hop(t, false));
}

/** `from→to` strings, for compact sequence assertions. */
export function arrows(hops: Hop[]): string[] {
  return hops.map((h) => `${h.from ?? '∅'}→${h.to}`);
}

// ---------------------------------------------------------------------------------------------
// Timing

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves with `signal.reason` once the signal aborts. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

/** Rejects after `ms` with a message saying what was awaited (keeps failures readable). */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` until it returns a value other than `undefined`/`false`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10000, intervalMs = 25 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
