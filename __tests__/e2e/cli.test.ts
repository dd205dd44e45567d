/**
 * The `tasker` command line, end to end: the real bin (`dist/src/cli/main.js`, built by
 * `npm run build:ts`) runs in a child process against a SQLite file and a PostgreSQL database,
 * while a worker in this process runs the tasks. Checks stdout, stderr and exit codes.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  Batchable,
  DecisionHandler,
  StepContext,
  StepHandler,
  PermanentError,
  validateTemplates,
  type Task,
  type TaskerClient,
} from '../../src/index';
import {
  FIXTURES,
  REPO_ROOT,
  aborted,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
  stepOf,
  taskHops,
  type Backend,
} from '../helpers/e2e';

const BIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const CLI_TEMPLATES = path.join(FIXTURES, 'templates', 'cli');
const INVALID_TEMPLATES = path.join(FIXTURES, 'templates', 'cli-invalid');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const MISSING_TASK = '01900000-0000-7000-8000-000000000000';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

beforeAll(() => {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build:ts\` first`);
});

/** Runs `tasker ...args` with colour off; `database` sets TASKER_DATABASE_URL (or unsets it). */
function tasker(args: string[], database?: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  delete childEnv.FORCE_COLOR;
  if (database === undefined) delete childEnv.TASKER_DATABASE_URL;
  else childEnv.TASKER_DATABASE_URL = database;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: childEnv,
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** What this Node's JSON.parse says about `text` (its wording changes between versions). */
function jsonError(text: string): string {
  try {
    JSON.parse(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`${text} is valid JSON`);
}

/** The one line of stderr of a failed run. */
function errorLine(run: Run): string {
  expect(run.stdout).toBe('');
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('tasker validate', () => {
  it('lists the valid templates and exits 0 with a summary', async () => {
    const run = await tasker(['validate', CLI_TEMPLATES]);
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `✔ cli/approval@1.0.0 (${CLI_TEMPLATES}/approval.yaml, 2 steps)\n` +
        `✔ cli/import_orders@1.0.0 (${CLI_TEMPLATES}/import_orders.yaml, 9 steps)\n` +
        `✔ cli/one_step@1.0.0 (${CLI_TEMPLATES}/one_step.yaml, 2 steps)\n` +
        'All templates are valid: 3 valid templates in 3 files.\n',
    });
  });

  it('lists every error of every bad file and exits 1', async () => {
    const run = await tasker(['validate', INVALID_TEMPLATES]);
    const a = `${INVALID_TEMPLATES}/a_unknown_dependency.yaml`;
    const b = `${INVALID_TEMPLATES}/b_no_handler.yaml`;
    expect(run).toEqual({
      code: 1,
      stderr: '',
      stdout:
        `✔ cli/valid@1.0.0 (${INVALID_TEMPLATES}/c_valid.yaml, 1 step)\n` +
        `✖ ${a}: step 'first': field 'retry.max_attempts': must be between 1 and 100, got 101\n` +
        `✖ ${a}: step 'second': field 'dependencies': unknown step 'frist'\n` +
        `✖ ${b}: step 'only': missing required field 'handler'\n` +
        '3 problems in 2 files (1 valid template in 3 files).\n',
    });
  });

  it('prints the notices of a tasker-core template with a ! and exits 0', async () => {
    const dir = path.join(FIXTURES, 'templates', 'tasker-core-ported');
    const file = `${dir}/ported.yaml`;
    const run = await tasker(['validate', dir]);
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout:
        `✔ porting/ported@1.0.0 (${file}, 1 step)\n` +
        `! ${file}: ignoring 'loaded_from' (tasker-core ignores it too)\n` +
        `! ${file}: reading 'retry.limit' in step 'flaky' as 'retry.max_attempts' (tasker-core's spelling)\n` +
        `! ${file}: reading 'retry.initial_delay' in step 'flaky' as 'retry.backoff_base_ms': seconds, times 1000 (tasker-core's spelling)\n` +
        `! ${file}: reading 'retry.max_delay' in step 'flaky' as 'retry.max_backoff_ms': seconds, times 1000 (tasker-core's spelling)\n` +
        'All templates are valid: 1 valid template in 1 file.\n',
    });
  });

  it('reports a missing path beside the other files, and --json gives the structure', async () => {
    const missing = path.join(FIXTURES, 'no-such-templates');
    const run = await tasker(['validate', CLI_TEMPLATES, missing]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`✖ ${missing}: no such file or directory\n`);
    expect(run.stdout).toContain('✔ cli/one_step@1.0.0');

    const json = await tasker(['validate', '--json', INVALID_TEMPLATES]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual(validateTemplates(INVALID_TEMPLATES));
  });

  it('validateTemplates() returns every error with its file, step and field', () => {
    const a = `${INVALID_TEMPLATES}/a_unknown_dependency.yaml`;
    const b = `${INVALID_TEMPLATES}/b_no_handler.yaml`;
    const c = `${INVALID_TEMPLATES}/c_valid.yaml`;
    expect(validateTemplates([INVALID_TEMPLATES])).toEqual({
      files: [a, b, c],
      templates: [{ namespace: 'cli', name: 'valid', version: '1.0.0', file: c, steps: ['only'] }],
      errors: [
        {
          file: a,
          step: 'first',
          field: 'retry.max_attempts',
          message: `${a}: step 'first': field 'retry.max_attempts': must be between 1 and 100, got 101`,
        },
        {
          file: a,
          step: 'second',
          field: 'dependencies',
          message: `${a}: step 'second': field 'dependencies': unknown step 'frist'`,
        },
        {
          file: b,
          step: 'only',
          field: 'handler',
          message: `${b}: step 'only': missing required field 'handler'`,
        },
      ],
      notices: [],
    });
    expect(validateTemplates(CLI_TEMPLATES).errors).toEqual([]);
    expect(() => validateTemplates([])).not.toThrow();
    expect(validateTemplates([]).errors).toEqual([
      { message: 'no task templates (*.yaml, *.yml) found in (no paths given)' },
    ]);
  });
});

describe('tasker: bad usage exits 2 with one sentence', () => {
  const db = path.join(REPO_ROOT, 'never-created.db');
  const cases: [string, string[], string][] = [
    [
      'an unknown command',
      ['frobnicate'],
      "tasker: unknown command 'frobnicate' (see 'tasker --help')",
    ],
    [
      'a misspelt command',
      ['tasks', 'lst'],
      "tasker: unknown command 'lst' (Did you mean list?) (see 'tasker tasks --help')",
    ],
    [
      'an unknown option',
      ['tasks', 'list', '--bogus'],
      "tasker: unknown option '--bogus' (see 'tasker tasks list --help')",
    ],
    [
      'a missing argument',
      ['tasks', 'show'],
      "tasker: missing required argument 'uuid' (see 'tasker tasks show --help')",
    ],
    [
      'a missing required option',
      ['prune'],
      "tasker: required option '--older-than <duration>' not specified (see 'tasker prune --help')",
    ],
    [
      'a bad state',
      ['tasks', 'list', '--state', 'running'],
      'tasker: --state must be one of pending, steps_in_process, waiting_for_retry, complete, ' +
        "error, cancelled, got 'running' (see 'tasker tasks list --help')",
    ],
    [
      'a bad limit',
      ['tasks', 'list', '--limit', '0'],
      "tasker: --limit must be a whole number from 1 to 1000, got '0' (see 'tasker tasks list --help')",
    ],
    [
      'a bad uuid',
      ['tasks', 'show', '1234'],
      "tasker: '1234' is not a task uuid (expected 8-4-4-4-12 hexadecimal digits, e.g. " +
        "0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6) (see 'tasker tasks show --help')",
    ],
    [
      'a bad interval',
      ['tasks', 'watch', MISSING_TASK, '--interval', 'fast'],
      "tasker: --interval must be a whole number from 50 to 60000, got 'fast' (see 'tasker tasks watch --help')",
    ],
    [
      'bad JSON for --context',
      ['tasks', 'create', 'cli/one_step', '--context', '{nope'],
      `tasker: --context is not valid JSON (${jsonError('{nope')}): {nope ` +
        "(see 'tasker tasks create --help')",
    ],
    [
      'a JSON array for --context',
      ['tasks', 'create', 'cli/one_step', '--context', '[1]'],
      "tasker: --context must be a JSON object ({...}), got an array (see 'tasker tasks create --help')",
    ],
    [
      'a priority out of range',
      ['tasks', 'create', 'cli/one_step', '--priority', '1001'],
      "tasker: --priority must be a whole number from -1000 to 1000, got '1001' " +
        "(see 'tasker tasks create --help')",
    ],
    [
      'a fractional priority',
      ['tasks', 'create', 'cli/one_step', '--priority=2.5'],
      "tasker: --priority must be a whole number from -1000 to 1000, got '2.5' " +
        "(see 'tasker tasks create --help')",
    ],
    [
      'a bad template reference',
      ['tasks', 'create', 'one_step'],
      "tasker: 'one_step' is not a task template reference: expected namespace/name or " +
        "namespace/name@version (e.g. billing/invoice@1.0.0) (see 'tasker tasks create --help')",
    ],
    [
      'bad JSON for --result',
      ['steps', 'resolve', MISSING_TASK, 'work', '--result', 'ok'],
      `tasker: --result is not valid JSON (${jsonError('ok')}): ok ` +
        "(see 'tasker steps resolve --help')",
    ],
    [
      'a bad duration',
      ['prune', '--older-than', '7days'],
      'tasker: --older-than must be a duration such as 7d, 12h, 30m, 45s or 500ms (a positive ' +
        "whole number and one of the units ms, s, m, h, d, w), got '7days' (see 'tasker prune --help')",
    ],
    [
      'a state prune cannot delete',
      ['prune', '--older-than', '7d', '--state', 'pending'],
      "tasker: --state must be one of complete, error, cancelled, got 'pending' (see 'tasker prune --help')",
    ],
    [
      'an in-memory database',
      ['tasks', 'list', '--database', ':memory:'],
      "tasker: the database ':memory:' is an in-memory database, which only the process that " +
        "opened it can see: give a SQLite file or a PostgreSQL URL (see 'tasker tasks list --help')",
    ],
    [
      'a database the library does not understand',
      ['tasks', 'list', '--database', 'mysql://db/x'],
      "tasker: the database option 'mysql://db/x' is not a database this library understands: use " +
        "':memory:', a SQLite file path ending in .db or .sqlite, or a sqlite:, postgres:// or " +
        "postgresql:// URL (see 'tasker tasks list --help')",
    ],
  ];
  it.each(cases)('%s', async (_what, args, message) => {
    const run = await tasker(args, db);
    expect(errorLine(run)).toBe(message);
    expect(run.code).toBe(2);
    expect(fs.existsSync(db)).toBe(false);
  });

  it('no database given', async () => {
    const run = await tasker(['tasks', 'list']);
    expect(errorLine(run)).toBe(
      'tasker: no database given: pass --database <url> or set TASKER_DATABASE_URL (a ' +
        "postgres:// URL or a SQLite file such as ./tasker.db) (see 'tasker tasks list --help')",
    );
    expect(run.code).toBe(2);
  });

  it('no command: the help on stderr', async () => {
    const run = await tasker([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Usage: tasker [options] [command]');
    const tasks = await tasker(['tasks']);
    expect(tasks.code).toBe(2);
    expect(tasks.stderr).toContain('Usage: tasker tasks [options] [command]');
  });

  it('--help on every command, with the exit codes', async () => {
    const commands = [
      [],
      ['validate'],
      ['tasks'],
      ['tasks', 'list'],
      ['tasks', 'show'],
      ['tasks', 'watch'],
      ['tasks', 'create'],
      ['tasks', 'cancel'],
      ['tasks', 'retry'],
      ['steps'],
      ['steps', 'resolve'],
      ['steps', 'signal'],
      ['schedules'],
      ['schedules', 'list'],
      ['schedules', 'delete'],
      ['prune'],
    ];
    for (const command of commands) {
      const run = await tasker([...command, '--help']);
      expect({ command, code: run.code, stderr: run.stderr }).toEqual({
        command,
        code: 0,
        stderr: '',
      });
      expect(run.stdout).toContain(`Usage: ${['tasker', ...command].join(' ')} `);
    }
    const top = await tasker(['--help']);
    expect(top.stdout).toContain('Exit codes:');
    expect(top.stdout).toContain('3  watch, create --wait: the task was cancelled');
    const version = await tasker(['--version']);
    expect(version).toEqual({ code: 0, stderr: '', stdout: '0.1.0\n' });
  });

  it('stops quietly when the reader of its output goes away (tasker ... | head -1)', async () => {
    const child = spawn(process.execPath, [BIN, 'validate', CLI_TEMPLATES, INVALID_TEMPLATES], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    // The exit code is still the command's: the templates have problems.
    expect(code).toBe(1);
  });

  it('never prints the password of the database URL', async () => {
    const run = await tasker([
      'tasks',
      'list',
      '--database',
      'postgres://operator:s3cret-pw@127.0.0.1:1/tasker?connect_timeout=1',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).not.toContain('s3cret-pw');
    expect(errorLine(run)).toMatch(
      /^tasker: cannot open the database: .*operator:\*\*\*@127\.0\.0\.1:1/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Against a database, with a worker in this process

/** Handlers of the cli fixtures (`__tests__/fixtures/templates/cli`). */
function cliHandlers(control: { failWork: boolean }) {
  class ChooseCarrier extends DecisionHandler {
    static override handlerName = 'Cli.ChooseCarrier';
    async call() {
      return this.decisionSuccess(['express']);
    }
  }
  class SplitOrders extends Batchable(StepHandler) {
    static override handlerName = 'Cli.SplitOrders';
    async call() {
      return this.createBatchesOutcome('import_batch', this.createCursorConfigs(20, 2), 20);
    }
  }
  class ImportBatch extends Batchable(StepHandler) {
    static override handlerName = 'Cli.ImportBatch';
    async call(ctx: StepContext) {
      const batch = this.extractCursorContext<number>(ctx);
      return { imported: batch.endCursor - batch.startCursor };
    }
  }
  return [
    ChooseCarrier,
    SplitOrders,
    ImportBatch,
    defineHandler('Cli.Step', (ctx) => ({ step: ctx.stepName })),
    defineHandler('Cli.Work', async (ctx) => {
      if (ctx.getInput<boolean>('hold')) {
        // Until the task is cancelled (or the worker stops).
        throw await aborted(ctx.signal);
      }
      if (ctx.getInput<boolean>('fail') && control.failWork) {
        throw new PermanentError('the order service said no');
      }
      return { worked: true };
    }),
  ];
}

const IMPORT_STEPS: Record<string, string[]> = {
  fetch_orders: [],
  choose_carrier: ['fetch_orders'],
  split_orders: ['fetch_orders'],
  express: ['choose_carrier'],
  import_batch_001: ['split_orders'],
  import_batch_002: ['split_orders'],
  label: ['express'],
  merge_batches: ['import_batch_001', 'import_batch_002'],
  notify: ['label'],
};

describeEachBackend('tasker against a database', (backend: Backend) => {
  let database: string;
  let client: TaskerClient;
  const control = { failWork: true };

  beforeEach(async () => {
    control.failWork = true;
    database = await backend.database({ shared: true });
    const worker = await startWorker({
      database,
      templates: CLI_TEMPLATES,
      handlers: cliHandlers(control),
    });
    client = backend.name === 'postgres' ? await openClient(database) : worker.client;
  });

  async function created(context: Record<string, unknown> = {}, name = 'one_step'): Promise<Task> {
    return client.createTask({ namespace: 'cli', name, context });
  }

  async function finished(context: Record<string, unknown> = {}, name = 'one_step') {
    return client.waitForTask((await created(context, name)).taskUuid, { timeoutMs: 20000 });
  }

  it('tasks show draws every step of a task with a decision and a batch, with its edges', async () => {
    const task = await finished({}, 'import_orders');
    expect(task.state).toBe('complete');

    const run = await tasker(['tasks', 'show', task.taskUuid], database);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`cli/import_orders@1.0.0  complete  ${task.taskUuid}`);
    expect(lines[2]).toBe('9 steps: 9 complete');
    // One line per step: its depth (first of its layer), state, attempts and dependencies.
    const depthOf: Record<string, number> = {
      fetch_orders: 0,
      choose_carrier: 1,
      split_orders: 1,
      express: 2,
      import_batch_001: 2,
      import_batch_002: 2,
      label: 3,
      merge_batches: 3,
      notify: 4,
    };
    for (const [name, deps] of Object.entries(IMPORT_STEPS)) {
      const line = lines.find((l) => l.includes(` ${name} `));
      expect(line).toBeDefined();
      const pattern = new RegExp(
        `^[ \\d]+ ✔ ${name} +complete +1/\\d+ +[\\d.]+ m?s` +
          (deps.length > 0 ? ` +← ${deps.join(', ')}$` : '$'),
      );
      expect(line).toMatch(pattern);
    }
    // Layers in order of depth, each starting with its number (within a layer, in creation order).
    const layers: string[][] = [];
    for (const line of lines.filter((l) => / ✔ /.test(l))) {
      const depth = /^(\d+) /.exec(line);
      if (depth !== null) {
        expect(Number(depth[1])).toBe(layers.length);
        layers.push([]);
      }
      layers.at(-1)!.push(/✔ (\S+)/.exec(line)![1]!);
    }
    expect(layers.map((layer) => [...layer].sort())).toEqual(
      [0, 1, 2, 3, 4].map((d) =>
        Object.keys(depthOf)
          .filter((n) => depthOf[n] === d)
          .sort(),
      ),
    );
    expect(run.stdout).not.toContain('ground');
    expect(run.stdout).not.toContain('Errors');

    const json = await tasker(['tasks', 'show', task.taskUuid, '--json'], database);
    expect(json.code).toBe(0);
    const view = JSON.parse(json.stdout) as Task;
    expect(Object.fromEntries(view.steps.map((s) => [s.name, s.dependencies]))).toEqual(
      IMPORT_STEPS,
    );
    expect(view).toEqual(await client.getTask(task.taskUuid));
  });

  it("tasks show lists a failed step's error; a task that does not exist exits 1", async () => {
    const task = await finished({ fail: true });
    expect(task.state).toBe('error');
    const run = await tasker(['tasks', 'show', task.taskUuid], database);
    expect(run.code).toBe(0);
    // Why the task ended: the reason of its last transition.
    expect(run.stdout).toContain(`\nfailed: ${taskHops(task).at(-1)!.reason}\n`);
    expect(taskHops(task).at(-1)!.reason).toContain('the order service said no');
    expect(run.stdout).toMatch(/✖ work +error +1\/2 +[\d.]+ m?s\n/);
    expect(run.stdout).toMatch(/⊘ after +cancelled +0\/3 +- +← work\n/);
    expect(run.stdout).toContain(
      '\nErrors\n  ✖ work (attempt 1 of 2, permanent_error)\n    the order service said no\n',
    );
    // Then the handler's stack trace, as stored with the error.
    expect(run.stdout).toMatch(/\n    the order service said no\n {6}at .+\n/);

    const missing = await tasker(['tasks', 'show', MISSING_TASK], database);
    expect(errorLine(missing)).toBe(`tasker: no task ${MISSING_TASK} in this database`);
    expect(missing.code).toBe(1);
  });

  it('tasks list: a table, filters and --json', async () => {
    const ok = await finished();
    const failed = await finished({ fail: true });

    const run = await tasker(['tasks', 'list'], database);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const rows = run.stdout.split('\n').filter((l) => UUID.test(l));
    expect(rows).toHaveLength(2);
    // Newest first.
    expect(rows[0]).toMatch(new RegExp(`│ ${failed.taskUuid} │ cli/one_step@1.0.0 │ error +│`));
    expect(rows[1]).toMatch(new RegExp(`│ ${ok.taskUuid} │ cli/one_step@1.0.0 │ complete │`));
    expect(run.stdout).toMatch(/│ uuid +│ task +│ state +│ created \(UTC\) +│ updated \(UTC\) +│/);
    expect(run.stdout).toContain('2 tasks, newest first');

    const errors = await tasker(['tasks', 'list', '--state', 'error', '--json'], database);
    expect(errors.code).toBe(0);
    const listed = JSON.parse(errors.stdout) as Task[];
    expect(listed.map((t) => [t.taskUuid, t.state])).toEqual([[failed.taskUuid, 'error']]);

    const none = await tasker(['tasks', 'list', '--namespace', 'elsewhere'], database);
    expect(none).toEqual({ code: 0, stderr: '', stdout: 'No tasks.\n' });
    const limited = await tasker(['tasks', 'list', '--limit', '1', '--name', 'one_step'], database);
    expect(limited.stdout.split('\n').filter((l) => UUID.test(l))).toHaveLength(1);
  });

  it('tasks create prints the uuid; --wait prints the task and exits by its state', async () => {
    const run = await tasker(
      [
        'tasks',
        'create',
        'cli/one_step@1.0.0',
        '--context',
        '{"order":7}',
        '--idempotency-key',
        'o-7',
      ],
      database,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const uuid = run.stdout.trim();
    expect(uuid).toMatch(new RegExp(`^${UUID.source}$`));
    const task = await client.waitForTask(uuid, { timeoutMs: 20000 });
    expect(task).toMatchObject({ state: 'complete', context: { order: 7 }, idempotencyKey: 'o-7' });
    // The same key: the same task.
    const again = await tasker(
      ['tasks', 'create', 'cli/one_step', '--idempotency-key', 'o-7'],
      database,
    );
    expect(again.stdout.trim()).toBe(uuid);

    const waited = await tasker(['tasks', 'create', 'cli/one_step', '--wait'], database);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(new RegExp(`^cli/one_step@1.0.0  complete  ${UUID.source}\n`));
    expect(waited.stdout).toContain('2 steps: 2 complete');

    const failed = await tasker(
      ['tasks', 'create', 'cli/one_step', '--context', '{"fail":true}', '--wait', '--json'],
      database,
    );
    expect(failed.code).toBe(1);
    expect((JSON.parse(failed.stdout) as Task).state).toBe('error');

    // --priority (docs/priorities.md), negative ones too.
    for (const [args, priority] of [
      [['--priority', '12'], 12],
      [['--priority=-7'], -7],
      [['--priority', '-1000'], -1000],
    ] as const) {
      const prioritized = await tasker(['tasks', 'create', 'cli/one_step', ...args], database);
      expect(prioritized.stderr).toBe('');
      const created = await client.getTask(prioritized.stdout.trim());
      expect(created?.priority).toBe(priority);
    }

    const unknown = await tasker(['tasks', 'create', 'cli/nothing_here'], database);
    expect(unknown.code).toBe(1);
    expect(errorLine(unknown)).toMatch(
      /^tasker: no task template cli\/nothing_here@1\.0\.0 is registered in this database/,
    );
  });

  it('tasks create --wait gives up after --timeout with exit code 4', async () => {
    const run = await tasker(
      [
        'tasks',
        'create',
        'cli/one_step',
        '--context',
        '{"hold":true}',
        '--wait',
        '--timeout',
        '300',
      ],
      database,
    );
    expect(run.code).toBe(4);
    const uuid = run.stdout.trim();
    expect(run.stderr).toBe(
      `tasker: task ${uuid} did not finish within 300 ms (state: steps_in_process)\n`,
    );
    await client.cancelTask(uuid);
  });

  it('tasks watch follows a task to its end: exit 0 complete, 1 error, 3 cancelled', async () => {
    const ok = await created();
    const run = await tasker(['tasks', 'watch', ok.taskUuid, '--interval', '50'], database);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`cli/one_step@1.0.0  ${lines[0]!.split('  ')[1]}  ${ok.taskUuid}`);
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^Task ${ok.taskUuid} complete: 2/2 steps done, [\\d.]+ m?s after it was created\\.$`,
      ),
    );
    // Progress lines: "n/2 steps done", each printed when it changes.
    for (const line of lines.slice(1, -1)) expect(line).toMatch(/^\d\/\d steps done( · .+)?$/);

    const failed = await created({ fail: true });
    const failedRun = await tasker(
      ['tasks', 'watch', failed.taskUuid, '--interval', '50'],
      database,
    );
    expect(failedRun.code).toBe(1);
    expect(failedRun.stdout).toMatch(
      new RegExp(
        `Task ${failed.taskUuid} error: 2/2 steps done, .*\n  ✖ work: the order service said no \\(permanent_error\\)\n$`,
      ),
    );

    const held = await created({ hold: true });
    await client.cancelTask(held.taskUuid);
    const cancelled = await tasker(['tasks', 'watch', held.taskUuid], database);
    expect(cancelled.code).toBe(3);
    expect(cancelled.stdout).toContain(`Task ${held.taskUuid} cancelled: 2/2 steps done`);
    // No step failed: the line after says why it ended.
    expect(cancelled.stdout).toMatch(
      /steps done, .* after it was created\.\n {2}cancelled by request\n$/,
    );

    const missing = await tasker(['tasks', 'watch', MISSING_TASK], database);
    expect(missing.code).toBe(1);
    expect(errorLine(missing)).toBe(`tasker: no task ${MISSING_TASK} in this database`);
  });

  it('tasks cancel cancels a running task; a finished one is refused', async () => {
    const held = await created({ hold: true });
    await eventually('the step to run', async () => {
      const t = await client.getTask(held.taskUuid);
      return t !== null && stepOf(t, 'work').state === 'in_progress';
    });
    const run = await tasker(
      ['tasks', 'cancel', held.taskUuid, '--reason', 'wrong customer'],
      database,
    );
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout: `Task ${held.taskUuid} cancelled (2 unfinished steps cancelled).\n`,
    });
    const task = (await client.getTask(held.taskUuid))!;
    expect(task.state).toBe('cancelled');
    const cancelledHop = task.transitions.find(
      (t) => t.entity === 'task' && t.toState === 'cancelled',
    );
    expect(cancelledHop?.reason).toBe('wrong customer');

    const again = await tasker(['tasks', 'cancel', held.taskUuid], database);
    expect(again).toEqual({
      code: 0,
      stderr: '',
      stdout: `Task ${held.taskUuid} was already cancelled.\n`,
    });

    const done = await finished();
    const refused = await tasker(['tasks', 'cancel', done.taskUuid], database);
    expect(refused.code).toBe(1);
    expect(errorLine(refused)).toBe(
      `tasker: task ${done.taskUuid} had already finished (complete): nothing to cancel`,
    );
  });

  it('tasks retry runs a task in error again from its failed step', async () => {
    const failed = await finished({ fail: true });
    expect(failed.state).toBe('error');
    control.failWork = false;

    const run = await tasker(['tasks', 'retry', failed.taskUuid], database);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`^Task ${failed.taskUuid} is \\w+ again: work will run again\\.\n$`),
    );
    const task = await client.waitForTask(failed.taskUuid, { timeoutMs: 20000 });
    expect(task.state).toBe('complete');
    expect(stepOf(task, 'work').result).toEqual({ worked: true });

    const refused = await tasker(['tasks', 'retry', failed.taskUuid], database);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^tasker: .*complete.*\n$/);
  });

  it('steps resolve completes a failed step by hand and its dependents run', async () => {
    const failed = await finished({ fail: true });
    const run = await tasker(
      ['steps', 'resolve', failed.taskUuid, 'work', '--result', '{"worked":"by hand"}'],
      database,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `^Step 'work' of task ${failed.taskUuid} is resolved_manually; the task is \\w+\\.\n$`,
      ),
    );
    const task = await client.waitForTask(failed.taskUuid, { timeoutMs: 20000 });
    expect(task.state).toBe('complete');
    expect(stepOf(task, 'work')).toMatchObject({
      state: 'resolved_manually',
      result: { worked: 'by hand' },
    });
    expect(stepOf(task, 'after').state).toBe('complete');
    const shown = await tasker(['tasks', 'show', failed.taskUuid], database);
    expect(shown.stdout).toMatch(/\n0  ✚ work +resolved_manually +1\/2 +[\d.]+ m?s\n/);
    expect(shown.stdout).toContain(
      '  ✖ work (attempt 1 of 2, permanent_error, now resolved_manually)\n',
    );

    const unknown = await tasker(
      ['steps', 'resolve', failed.taskUuid, 'nope', '--result', '{}'],
      database,
    );
    expect(unknown.code).toBe(1);
    expect(errorLine(unknown)).toBe(
      `tasker: task ${failed.taskUuid} has no step 'nope' (its steps: work, after)`,
    );
  });

  it('schedules list shows the stored schedules; schedules delete removes one', async () => {
    expect(await tasker(['schedules', 'list'], database)).toEqual({
      code: 0,
      stderr: '',
      stdout: 'No schedules.\n',
    });
    await startWorker({
      database,
      templates: CLI_TEMPLATES,
      handlers: cliHandlers(control),
      schedules: [
        { name: 'nightly', cron: '0 3 * * *', task: { namespace: 'cli', name: 'one_step' } },
      ],
    });
    const table = await tasker(['schedules', 'list'], database);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /nightly\s+│\s+0 3 \* \* \*\s+│\s+UTC\s+│\s+cli\/one_step@1\.0\.0/,
    );
    expect(table.stdout).toContain('1 schedule');
    const json = await tasker(['schedules', 'list', '--json'], database);
    expect(JSON.parse(json.stdout)).toMatchObject([
      { name: 'nightly', cron: '0 3 * * *', lastFireAt: null, missed: 'latest' },
    ]);

    expect(await tasker(['schedules', 'delete', 'nightly'], database)).toEqual({
      code: 0,
      stderr: '',
      stdout: "Deleted schedule 'nightly'.\n",
    });
    expect(await client.listSchedules()).toEqual([]);
    const again = await tasker(['schedules', 'delete', 'nightly'], database);
    expect({ code: again.code, error: errorLine(again) }).toEqual({
      code: 1,
      error: "tasker: no schedule 'nightly' (none is stored)",
    });
  });

  it('steps signal completes a waiting signal step with the payload and its dependents run', async () => {
    const task = await created({}, 'approval');
    await eventually('the step to wait', async () => {
      const t = await client.getTask(task.taskUuid);
      return t !== null && stepOf(t, 'approve').state === 'waiting_for_signal';
    });
    const run = await tasker(
      ['steps', 'signal', task.taskUuid, 'approve', '--payload', '{"approved":true}'],
      database,
    );
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout: `Signal sent: step 'approve' of task ${task.taskUuid} is complete; the task is steps_in_process.\n`,
    });
    const done = await client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'approve').result).toEqual({ approved: true });

    const again = await tasker(['steps', 'signal', task.taskUuid, 'approve'], database);
    expect(again.code).toBe(1);
    expect(errorLine(again)).toMatch(
      new RegExp(
        `^tasker: step 'approve' of task ${task.taskUuid} already received a signal \\(at \\d{4}-.+; it is complete\\): a signal step takes one signal$`,
      ),
    );
    const notSignal = await tasker(['steps', 'signal', task.taskUuid, 'after'], database);
    expect(errorLine(notSignal)).toBe(
      `tasker: step 'after' of task ${task.taskUuid} is a standard step, not a signal step: only a step of type signal takes signals (see 'tasker steps signal --help')`,
    );
    const badJson = await tasker(
      ['steps', 'signal', task.taskUuid, 'approve', '--payload', '[1]'],
      database,
    );
    expect(badJson.code).toBe(2);
    expect(errorLine(badJson)).toMatch(/^tasker: --payload /);
    const missing = await tasker(['steps', 'signal', MISSING_TASK, 'approve'], database);
    expect(missing.code).toBe(1);
    expect(errorLine(missing)).toMatch(new RegExp(`^tasker: .*${MISSING_TASK}`));
  });

  it('prune deletes finished tasks older than the duration', async () => {
    const done = await finished();
    const failed = await finished({ fail: true });
    const running = await created({ hold: true });

    const none = await tasker(['prune', '--older-than', '7d'], database);
    expect(none).toEqual({
      code: 0,
      stderr: '',
      stdout: 'Deleted 0 tasks (complete, error, cancelled) finished more than 7d ago.\n',
    });

    await eventually(
      'a millisecond to pass',
      () => Date.now() > Date.parse(failed.completedAt!) + 5,
    );
    const onlyErrors = await tasker(['prune', '--older-than', '1ms', '--state', 'error'], database);
    expect(onlyErrors).toEqual({
      code: 0,
      stderr: '',
      stdout: 'Deleted 1 task (error) finished more than 1ms ago.\n',
    });
    expect(await client.getTask(failed.taskUuid)).toBeNull();
    expect(await client.getTask(done.taskUuid)).not.toBeNull();

    const all = await tasker(['prune', '--older-than', '1ms'], database);
    expect(all.stdout).toBe(
      'Deleted 1 task (complete, error, cancelled) finished more than 1ms ago.\n',
    );
    expect(await client.getTask(done.taskUuid)).toBeNull();
    // A running task is never pruned.
    expect((await client.getTask(running.taskUuid))?.state).toBe('steps_in_process');
    await client.cancelTask(running.taskUuid);
  });
});
