/**
 * Child tasks end to end on both backends (docs/child-tasks.md): a `type: subtask` step runs a
 * task of another template and completes with its final steps' results, holding no worker slot
 * while the child runs (one slot is enough); the child's failure fails the step, whose retry
 * starts a new child after the backoff; cancelling the parent cancels the child; a worker
 * process killed while the child runs leaves nothing lost (every process restarts); and on
 * PostgreSQL two workers share the work, each child created once.
 */
import { fork, spawn, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import {
  PermanentError,
  TemplateNotFoundError,
  validateTemplates,
  type StepContext,
  type Task,
  type TaskerClient,
} from '../../src/index';
import {
  FIXTURES,
  REPO_ROOT,
  aborted,
  arrows,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
  stepHops,
  stepOf,
  templateDir,
  track,
  within,
} from '../helpers/e2e';

const NS = 'child_tasks';

/** `tasker <args>` (the compiled bin) against `database`: its exit code and stdout. */
function tasker(
  args: string[],
  database: string,
): Promise<{ code: number | null; stdout: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TASKER_DATABASE_URL: database };
  delete env.FORCE_COLOR;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'), ...args],
      {
        env,
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

/** Handlers of both templates. `pack` fails an order's first `failPacks` children. */
function handlers(log: { packs: string[]; confirmed: Map<string, unknown> }) {
  const packsPerOrder = new Map<string, number>();
  return [
    defineHandler('ChildTasks.Validate', (ctx: StepContext) => ({
      valid: true,
      orderId: ctx.getInputOr<string>('orderId', ''),
    })),
    defineHandler('ChildTasks.Pack', (ctx: StepContext) => {
      const order = ctx.getInputOr<string>('orderId', '');
      const n = (packsPerOrder.get(order) ?? 0) + 1;
      packsPerOrder.set(order, n);
      log.packs.push(ctx.taskUuid);
      if (n <= ctx.getInputOr<number>('failPacks', 0)) {
        throw new PermanentError(`no box for order ${order}`);
      }
      // The child's context: the parent's, with `validate`'s result under its name.
      return { box: 'M', validated: ctx.getInput<{ valid: boolean }>('validate')?.valid };
    }),
    defineHandler('ChildTasks.Label', (ctx: StepContext) => ({
      label: `L-${ctx.getInputOr<string>('orderId', '')}`,
      box: (ctx.getDependencyResult('pack') as { box: string } | undefined)?.box,
    })),
    defineHandler('ChildTasks.Confirm', (ctx: StepContext) => {
      log.confirmed.set(ctx.taskUuid, ctx.getDependencyResult('ship'));
      return { confirmed: true };
    }),
  ];
}

function newLog() {
  return { packs: [] as string[], confirmed: new Map<string, unknown>() };
}

async function childOf(client: TaskerClient, taskUuid: string, n = 0): Promise<Task> {
  const parent = await eventually(`child #${n} of ${taskUuid}`, async () => {
    const t = await client.getTask(taskUuid);
    return t !== null && t.children.length > n ? t : undefined;
  });
  return (await client.getTask(parent.children[n].taskUuid))!;
}

describeEachBackend('child tasks', (backend) => {
  it('the child runs at concurrency 1 and its final results complete the step', async () => {
    const log = newLog();
    const database = await backend.database({ shared: true });
    // One slot: the waiting `ship` step holds none, so the child's steps can run.
    const worker = await startWorker({
      database,
      templates: 'child-tasks',
      handlers: handlers(log),
      concurrency: 1,
    });
    const client = worker.client;
    const task = await client.createTask({
      namespace: NS,
      name: 'order',
      context: { orderId: 'A1' },
    });
    const done = await client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');

    const result = { label: { label: 'L-A1', box: 'M' } };
    const ship = stepOf(done, 'ship');
    expect(ship).toMatchObject({ state: 'complete', attempts: 1, result });
    expect(log.confirmed.get(task.taskUuid)).toEqual(result);
    expect(done.children).toEqual([
      {
        taskUuid: ship.childTaskUuid,
        stepName: 'ship',
        state: 'complete',
        createdAt: expect.stringMatching(/^\d{4}-/),
      },
    ]);
    expect(arrows(stepHops(done, 'ship'))).toEqual([
      '∅→pending',
      'pending→waiting_for_child',
      'waiting_for_child→complete',
    ]);
    expect(done.parentTaskUuid).toBeNull();

    const child = (await client.getTask(ship.childTaskUuid!))!;
    expect(child).toMatchObject({
      namespace: NS,
      name: 'shipping',
      state: 'complete',
      parentTaskUuid: task.taskUuid,
      parentStepUuid: ship.stepUuid,
      parentStepName: 'ship',
      children: [],
      context: { orderId: 'A1', validate: { valid: true, orderId: 'A1' } },
    });
    // `tasker tasks show` names the parent of a child and the children of a parent.
    const shown = await tasker(['tasks', 'show', task.taskUuid], database);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`child task ${child.taskUuid} of step 'ship': complete\n`);
    const shownChild = await tasker(['tasks', 'show', child.taskUuid], database);
    expect(shownChild.stdout).toContain(`child of ${task.taskUuid} (step 'ship')\n`);
    // listTasks views carry no family.
    const listed = await client.listTasks({ namespace: NS, name: 'shipping' });
    expect(listed.map((t) => [t.taskUuid, t.parentTaskUuid])).toEqual([[child.taskUuid, null]]);
  });

  it("a child's failure fails the step, and its retry starts a new child after the backoff", async () => {
    const log = newLog();
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'child-tasks',
      handlers: handlers(log),
    });
    const client = worker.client;

    const retried = await client.createTask({
      namespace: NS,
      name: 'order',
      context: { orderId: 'R1', failPacks: 1 },
    });
    const done = await client.waitForTask(retried.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'ship')).toMatchObject({ state: 'complete', attempts: 2 });
    expect(done.children.map((c) => c.state)).toEqual(['error', 'complete']);
    expect(stepOf(done, 'ship').childTaskUuid).toBe(done.children[1].taskUuid);
    expect(arrows(stepHops(done, 'ship'))).toEqual([
      '∅→pending',
      'pending→waiting_for_child',
      'waiting_for_child→waiting_for_retry',
      'waiting_for_retry→waiting_for_child',
      'waiting_for_child→complete',
    ]);
    // The backoff (300 ms) passed between the first child's end and the second's start.
    const [first, second] = await Promise.all(
      done.children.map(async (c) => (await client.getTask(c.taskUuid))!),
    );
    const firstEnded = Date.parse(first.completedAt!);
    expect(Date.parse(second.createdAt) - firstEnded).toBeGreaterThanOrEqual(250);

    const failed = await client.createTask({
      namespace: NS,
      name: 'order',
      context: { orderId: 'F1', failPacks: 2 },
    });
    const end = await client.waitForTask(failed.taskUuid, { timeoutMs: 20000 });
    expect(end.state).toBe('error');
    const ship = stepOf(end, 'ship');
    expect(ship.state).toBe('error');
    expect(ship.error).toMatchObject({ errorType: 'child_task_failed', retryable: true });
    expect(ship.error!.message).toBe(
      `its child task ${end.children[1].taskUuid} (child_tasks/shipping@1.0.0) failed: ` +
        `step 'pack' failed: no box for order F1`,
    );
    expect(stepOf(end, 'confirm').state).toBe('cancelled');
    expect(end.children.map((c) => c.state)).toEqual(['error', 'error']);
  });

  it('cancelling the parent cancels the running child and aborts its handler', async () => {
    const database = await backend.database();
    const abortedIn = new Set<string>();
    const worker = await startWorker({
      database,
      templates: 'child-tasks',
      handlers: [
        defineHandler('ChildTasks.Validate', () => ({ valid: true })),
        defineHandler('ChildTasks.Pack', async (ctx: StepContext) => {
          await aborted(ctx.signal);
          abortedIn.add(ctx.taskUuid);
          return { box: 'never' };
        }),
        defineHandler('ChildTasks.Label', () => ({})),
        defineHandler('ChildTasks.Confirm', () => ({})),
      ],
    });
    const client = worker.client;
    const task = await client.createTask({ namespace: NS, name: 'order', context: {} });
    const child = await childOf(client, task.taskUuid);
    await eventually('pack to run', async () => {
      const c = (await client.getTask(child.taskUuid))!;
      return stepOf(c, 'pack').state === 'in_progress';
    });

    const cancelled = await client.cancelTask(task.taskUuid);
    expect(cancelled.state).toBe('cancelled');
    expect(stepOf(cancelled, 'ship').state).toBe('cancelled');
    const c = (await client.getTask(child.taskUuid))!;
    expect(c.state).toBe('cancelled');
    expect(c.steps.map((s) => s.state)).toEqual(['cancelled', 'cancelled']);
    expect(c.transitions.at(-1)?.reason ?? '').toMatch(/its parent task .* was cancelled/);
    await eventually('the child handler to be aborted', () => abortedIn.has(child.taskUuid));
  });

  it('a worker process killed while the child runs: restarted processes finish the work', async () => {
    const compiled = path.join(REPO_ROOT, 'dist', 'src', 'index.js');
    if (!fs.existsSync(compiled)) {
      throw new Error('dist/src/index.js is missing: run `npm run build:ts` (npm test does)');
    }
    const database = await backend.database({ shared: true });
    const workerId = `child-crash-${randomBytes(3).toString('hex')}`;
    const messages: { type: string; message?: string; taskUuid?: string }[] = [];
    const proc: ChildProcess = fork(
      path.join(FIXTURES, 'child-task-worker-process.js'),
      [JSON.stringify({ database, templates: templateDir('child-tasks'), workerId, leaseMs: 600 })],
      { silent: true },
    );
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on('exit', (code, signal) => resolve({ code, signal })),
    );
    track(async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await within(10000, `${workerId} to exit`, exited);
    });
    let output = '';
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    proc.on('message', (m: { type: string }) => messages.push(m));
    const next = (type: string) =>
      eventually(
        `'${type}' from ${workerId}`,
        () => {
          const failed = messages.find((m) => m.type === 'error');
          if (failed) throw new Error(`${workerId}: ${failed.message}\n${output}`);
          return messages.find((m) => m.type === type);
        },
        { timeoutMs: 20000 },
      );
    await next('ready');

    const first = await openClient(database);
    const task = await first.createTask({
      namespace: NS,
      name: 'order',
      context: { orderId: 'K1' },
    });
    // The process validated the order, created the child and runs its first step.
    const packing = await next('packing');
    const waiting = (await first.getTask(task.taskUuid))!;
    expect(stepOf(waiting, 'ship')).toMatchObject({ state: 'waiting_for_child', attempts: 1 });
    expect(waiting.children.map((c) => c.taskUuid)).toEqual([packing.taskUuid]);

    // A real crash: no shutdown, no release. Every other process restarts too.
    expect(proc.kill('SIGKILL')).toBe(true);
    expect(await within(10000, `${workerId} to die`, exited)).toEqual({
      code: null,
      signal: 'SIGKILL',
    });
    await first.close();

    const log = newLog();
    const worker = await startWorker({
      database,
      templates: 'child-tasks',
      handlers: handlers(log),
      leaseMs: 600,
    });
    const done = await worker.client.waitForTask(task.taskUuid, { timeoutMs: 30000 });
    expect(done.state).toBe('complete');
    // The same child: its lost attempt of `pack` was reaped and run again here.
    expect(done.children.map((c) => [c.taskUuid, c.state])).toEqual([
      [packing.taskUuid, 'complete'],
    ]);
    expect(stepOf(done, 'ship')).toMatchObject({
      attempts: 1,
      result: { label: { label: 'L-K1', box: 'M' } },
    });
    const child = (await worker.client.getTask(packing.taskUuid!))!;
    expect(stepOf(child, 'pack').attempts).toBe(2);
    expect(log.packs).toEqual([packing.taskUuid]);
  });
});

describeEachBackend('child task templates', (backend) => {
  it('a worker refuses an unknown child template; validateTemplates refuses a cycle', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-child-'));
    track(() => fs.rmSync(dir, { recursive: true, force: true }));
    const orphan = path.join(dir, 'orphan.yaml');
    fs.writeFileSync(
      orphan,
      'name: orphan\nnamespace_name: child_tasks\nversion: 1.0.0\nsteps:\n' +
        '  - name: run_it\n    type: subtask\n' +
        '    task: { namespace: child_tasks, name: missing, version: 2.0.0 }\n',
    );
    const database = await backend.database();
    const refused = startWorker({ database, templates: [orphan], handlers: [] });
    await expect(refused).rejects.toThrow(TemplateNotFoundError);
    await expect(refused).rejects.toThrow(
      `${orphan}: step 'run_it': field 'task': no task template child_tasks/missing@2.0.0 is ` +
        "loaded or registered: a subtask step's child template must be among the worker's " +
        'templates or registered by another worker first',
    );

    const selfish = path.join(dir, 'selfish.yaml');
    fs.writeFileSync(
      selfish,
      'name: selfish\nnamespace_name: child_tasks\nversion: 1.0.0\nsteps:\n' +
        '  - name: again\n    type: subtask\n' +
        '    task: { namespace: child_tasks, name: selfish, version: 1.0.0 }\n',
    );
    expect(validateTemplates([selfish]).errors).toEqual([
      {
        file: selfish,
        step: 'again',
        field: 'task',
        message:
          `${selfish}: step 'again': field 'task': child_tasks/selfish@1.0.0 would start itself ` +
          '(child_tasks/selfish@1.0.0 → child_tasks/selfish@1.0.0): a task may not start a ' +
          'child task of its own template, directly or through other templates',
      },
    ]);
  });
});

describeEachBackend(
  'child tasks with two workers',
  (backend) => {
    it('two workers share parents and children; each child is created once', async () => {
      const database = await backend.database({ shared: true });
      const log = newLog();
      const a = await startWorker({ database, templates: 'child-tasks', handlers: handlers(log) });
      const b = await startWorker({ database, templates: 'child-tasks', handlers: handlers(log) });
      const tasks = await a.client.createTasks(
        Array.from({ length: 12 }, (_, i) => ({
          namespace: NS,
          name: 'order',
          context: { orderId: `M${i}` },
        })),
      );
      const done = await Promise.all(
        tasks.map((t) => b.client.waitForTask(t.taskUuid, { timeoutMs: 30000 })),
      );
      for (const t of done) {
        expect(t.state).toBe('complete');
        expect(t.children).toHaveLength(1);
        expect(stepOf(t, 'ship').attempts).toBe(1);
      }
      // Every child's `pack` ran exactly once, across both workers.
      expect(new Set(log.packs).size).toBe(12);
      expect(log.packs).toHaveLength(12);
    });
  },
  { only: ['postgres'] },
);
