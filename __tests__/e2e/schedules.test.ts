/**
 * Schedules (`createWorker({ schedules })`): one task per fire time, across restarts (the
 * missed-fire policies) and across worker processes (PostgreSQL), from a YAML file too, and the
 * messages for definitions that cannot be used. Per-second cron expressions keep it fast.
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  InvalidArgumentError,
  TemplateNotFoundError,
  type ScheduleDefinition,
  type Task,
  type TaskerClient,
} from '../../src';
import {
  ExecutionLog,
  FIXTURES,
  REPO_ROOT,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  sleep,
  startWorker,
  templateDir,
  track,
  trackChild,
  within,
} from '../helpers/e2e';

const TASK = { namespace: 'e2e', name: 'scheduled' };

function everySecond(name: string, extra: Partial<ScheduleDefinition> = {}): ScheduleDefinition {
  return { name, cron: '* * * * * *', task: TASK, context: { schedule: name }, ...extra };
}

/** The fire times (ms) of a schedule's tasks, from their idempotency keys, oldest first. */
function fireTimes(tasks: Task[], schedule: string): number[] {
  const prefix = `schedule:${schedule}:`;
  return tasks
    .map((t) => t.idempotencyKey)
    .filter((k): k is string => k !== null && k.startsWith(prefix))
    .map((k) => Date.parse(k.slice(prefix.length)))
    .sort((a, b) => a - b);
}

async function scheduledTasks(client: TaskerClient, name = TASK.name): Promise<Task[]> {
  return client.listTasks({ namespace: 'e2e', name, limit: 1000 });
}

function expectConsecutiveSeconds(times: number[]): void {
  expect(times.every((t) => t % 1000 === 0)).toBe(true);
  for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(1000);
}

describeEachBackend('schedules', (backend) => {
  it('creates one task per fire time, which the worker runs', async () => {
    const log = new ExecutionLog();
    const run = defineHandler('Schedules.Run', (ctx) => {
      log.record(ctx);
      return { schedule: ctx.getInput('schedule') };
    });
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'schedules',
      handlers: [run],
      schedules: [everySecond('tick')],
    });
    const tasks = await eventually(
      'two scheduled tasks to complete',
      async () => {
        const all = await scheduledTasks(worker.client);
        return all.filter((t) => t.state === 'complete').length >= 2 ? all : undefined;
      },
      { timeoutMs: 10000, intervalMs: 100 },
    );
    const times = fireTimes(tasks, 'tick');
    expect(times).toHaveLength(tasks.length);
    expectConsecutiveSeconds(times);
    for (const t of tasks) expect(t.context).toEqual({ schedule: 'tick' });
    const done = await worker.client.getTask(tasks[0].taskUuid);
    expect(done?.steps[0].result).toEqual({ schedule: 'tick' });

    const [listed] = await worker.client.listSchedules();
    expect(listed).toMatchObject({
      name: 'tick',
      cron: '* * * * * *',
      timezone: 'UTC',
      task: { namespace: 'e2e', name: 'scheduled', version: '1.0.0' },
      context: { schedule: 'tick' },
      missed: 'latest',
    });
    expect(Date.parse(listed.lastFireAt!)).toBeGreaterThanOrEqual(times[times.length - 1]);
    expect(Date.parse(listed.nextFireAt!)).toBeGreaterThan(Date.parse(listed.lastFireAt!));
  });

  it('after every worker was down, runs the latest missed fire time once, or all of them', async () => {
    const run = defineHandler('Schedules.Run', () => ({}));
    const database = await backend.database({ shared: true });
    const schedules = [
      everySecond('latest'),
      everySecond('all', { missed: 'all' }),
      everySecond('skip', { missed: 'skip' }),
    ];
    const first = await startWorker({
      database,
      templates: 'schedules',
      handlers: [run],
      schedules,
    });
    await eventually(
      'each schedule to fire once',
      async () => {
        const tasks = await scheduledTasks(first.client);
        return ['latest', 'all', 'skip'].every((s) => fireTimes(tasks, s).length >= 1) || undefined;
      },
      { timeoutMs: 10000, intervalMs: 100 },
    );
    await first.shutdown();
    const client = await openClient(database);
    const before = await scheduledTasks(client);
    const lastBefore = (s: string): number => Math.max(...fireTimes(before, s));

    // Down for three seconds and a half: three fire times are missed.
    await sleep(3500);
    await startWorker({ database, templates: 'schedules', handlers: [run], schedules });
    const after = await eventually(
      'the schedules to catch up',
      async () => {
        const tasks = await scheduledTasks(client);
        const caughtUp = ['latest', 'all', 'skip'].every(
          (s) => Math.max(...fireTimes(tasks, s)) >= lastBefore(s) + 3000,
        );
        return caughtUp ? tasks : undefined;
      },
      { timeoutMs: 10000, intervalMs: 100 },
    );
    const newer = (s: string): number[] => fireTimes(after, s).filter((t) => t > lastBefore(s));
    // `all`: every missed fire time, none left out.
    expectConsecutiveSeconds([lastBefore('all'), ...newer('all')]);
    // `latest` and `skip` (less than a minute late): the missed ones before the latest are not run.
    for (const s of ['latest', 'skip']) {
      expect(newer(s)[0] - lastBefore(s)).toBeGreaterThanOrEqual(3000);
      expectConsecutiveSeconds(newer(s));
    }
    // Each fire time has one task.
    for (const s of ['latest', 'all', 'skip']) {
      expect(new Set(fireTimes(after, s)).size).toBe(fireTimes(after, s).length);
    }
  });

  it('reads schedules from a YAML file (schedulesPath)', async () => {
    const run = defineHandler('Schedules.Run', () => ({}));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-schedules-'));
    track(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'schedules.yaml');
    fs.writeFileSync(
      file,
      [
        'schedules:',
        '  - name: nightly-report',
        "    cron: '30 2 * * *'",
        '    timezone: Europe/Berlin',
        '    task: { namespace: e2e, name: scheduled }',
        '    context: { kind: nightly }',
        '    missed: skip',
        '',
      ].join('\n'),
    );
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'schedules',
      handlers: [run],
      schedulesPath: file,
    });
    const [listed] = await worker.client.listSchedules();
    expect(listed).toMatchObject({
      name: 'nightly-report',
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      context: { kind: 'nightly' },
      missed: 'skip',
      lastFireAt: null,
    });
    // 02:30 in Berlin is 01:30 UTC (winter) or 00:30 UTC (summer).
    expect(listed.nextFireAt).toMatch(/T0[01]:30:00\.000Z$/);
  });

  it('refuses definitions it cannot use, naming the schedule and the field', async () => {
    const run = defineHandler('Schedules.Run', () => ({}));
    const database = await backend.database();
    const create = (schedules: unknown, schedulesPath?: string): Promise<unknown> =>
      startWorker({
        database,
        templates: 'schedules',
        handlers: [run],
        schedules: schedules as ScheduleDefinition[],
        schedulesPath,
        start: false,
      });
    const cases: [unknown, string][] = [
      [
        [everySecond('bad', { cron: '*/5 * * *' })],
        "createWorker schedules: schedules[0] ('bad'): cron '*/5 * * *' is not a valid cron " +
          'expression: it has 4 fields; expected 5 (minute hour day-of-month month day-of-week) ' +
          'or 6 (with seconds first)',
      ],
      [
        [everySecond('bad', { cron: '61 * * * *' })],
        "createWorker schedules: schedules[0] ('bad'): cron '61 * * * *' is not a valid cron " +
          "expression: Component error: Number out of bounds. (the minute field, '61')",
      ],
      [
        [everySecond('bad', { cron: '0 0 30 2 *' })],
        "createWorker schedules: schedules[0] ('bad'): cron '0 0 30 2 *' is not a valid cron " +
          'expression: it never fires (no date matches it)',
      ],
      [
        [everySecond('bad', { timezone: 'Mars/Olympus' })],
        "createWorker schedules: schedules[0] ('bad'): timezone 'Mars/Olympus' is not a known " +
          "time zone; use an IANA name such as 'UTC' or 'Europe/Berlin'",
      ],
      [
        [everySecond('bad', { missed: 'never' as 'all' })],
        "createWorker schedules: schedules[0] ('bad'): missed: unknown missed-fire policy " +
          "'never' (expected 'latest', 'skip' or 'all')",
      ],
      [
        [{ name: 'bad', cron: '* * * * *', task: { namespace: 'e2e' } }],
        "createWorker schedules: schedules[0] ('bad'): task.name is required",
      ],
      [
        [{ name: 'bad', cron: '* * * * *', task: TASK, every: 5 }],
        "createWorker schedules: schedules[0] ('bad'): unknown field 'every' (expected name, " +
          'cron, timezone, task, context, missed)',
      ],
      [
        [everySecond('twice'), everySecond('twice')],
        "createWorker schedules: schedules[1]: schedule 'twice' is defined twice; schedule " +
          'names must be unique',
      ],
      [{ name: 'one' }, 'schedules: expected a list of schedule definitions, got {"name":"one"}'],
    ];
    for (const [schedules, message] of cases) {
      const err = await create(schedules).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toContain(message);
    }

    const unknown = await create([
      everySecond('orphan', { task: { namespace: 'e2e', name: 'nope' } }),
    ]).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(TemplateNotFoundError);
    expect((unknown as Error).message).toBe(
      "schedule 'orphan': task e2e/nope@1.0.0 is not a registered task template (registered: " +
        "e2e/scheduled@1.0.0); add its template to the worker's templates, or fix " +
        'task.namespace, task.name or task.version',
    );

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-schedules-'));
    track(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      file,
      "schedules:\n  - name: hourly\n    cron: '0 * * * *'\n    task: { namespace: e2e, name: scheduled }\n    timezone: Nowhere\n",
    );
    const fromFile = await create(undefined, file).catch((e: unknown) => e);
    expect(fromFile).toBeInstanceOf(InvalidArgumentError);
    expect((fromFile as Error).message).toContain(
      `${file}: schedules[0] ('hourly'): timezone 'Nowhere' is not a known time zone`,
    );
    fs.writeFileSync(
      file,
      "schedules:\n  - name: tick\n    cron: '0 * * * *'\n    task: { namespace: e2e, name: scheduled }\n",
    );
    const twice = await create([everySecond('tick')], file).catch((e: unknown) => e);
    expect((twice as Error).message).toContain(
      `${file}: schedule 'tick' is defined twice (also in createWorker schedules)`,
    );
  });
});

describeEachBackend(
  'schedules in two worker processes',
  (backend) => {
    it('create exactly one task per fire time between them', async () => {
      const compiled = path.join(REPO_ROOT, 'dist', 'src', 'index.js');
      if (!fs.existsSync(compiled)) {
        throw new Error('dist/src/index.js is missing: run `npm run build:ts` (npm test does)');
      }
      const database = await backend.database();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-sched-mp-'));
      track(() => fs.rmSync(dir, { recursive: true, force: true }));
      const schedules: ScheduleDefinition[] = [
        {
          name: 'shared-tick',
          cron: '* * * * * *',
          task: { namespace: 'e2e', name: 'multi_process' },
          context: { n: 1 },
        },
      ];
      const children = ['sched-1', 'sched-2'].map((workerId) =>
        forkWorker(database, dir, workerId, schedules),
      );
      await within(
        20000,
        'both worker processes to start',
        Promise.all(children.map((c) => c.message('ready'))),
      );
      await sleep(3500);
      const stopped = Promise.all(children.map((c) => c.message('stopped')));
      for (const c of children) c.child.send({ type: 'shutdown' });
      await within(20000, 'both processes to shut down', stopped);

      const client = await openClient(database);
      const tasks = await scheduledTasks(client, 'multi_process');
      const times = fireTimes(tasks, 'shared-tick');
      expect(times.length).toBe(tasks.length);
      expect(times.length).toBeGreaterThanOrEqual(3);
      expect(new Set(times).size).toBe(times.length);
      expectConsecutiveSeconds(times);
    });
  },
  { only: ['postgres'] },
);

/** A worker process (`__tests__/fixtures/worker-process.js`) with these schedules. */
function forkWorker(
  database: string,
  dir: string,
  workerId: string,
  schedules: ScheduleDefinition[],
): { child: ChildProcess; message(type: string): Promise<unknown> } {
  const logFile = path.join(dir, `${workerId}.log`);
  const config = {
    database,
    templates: templateDir('multi-process'),
    logFile,
    workerId,
    concurrency: 4,
    schedules,
  };
  const child = fork(path.join(FIXTURES, 'worker-process.js'), [JSON.stringify(config)], {
    silent: true,
  });
  trackChild(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const messages: { type: string; message?: string }[] = [];
  child.on('message', (m: { type: string }) => messages.push(m));
  return {
    child,
    message: (type) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = messages.find((m) => m.type === type);
          const failed = messages.find((m) => m.type === 'error');
          if (found) resolve(found);
          else if (failed) reject(new Error(`${workerId}: ${failed.message}`));
        };
        check();
        child.on('message', check);
        child.on('exit', (code) => {
          check();
          reject(new Error(`${workerId} exited (${code}) before '${type}':\n${output}`));
        });
      }),
  };
}
