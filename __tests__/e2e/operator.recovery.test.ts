/**
 * Operator recovery, through the real engine on both backends: retrying a failed task,
 * resolving a failed or stuck step by hand, the stack traces stored with failures, delayed
 * starts, and pruning finished tasks. On PostgreSQL the operator uses a separate client (its own
 * engine), as an operator's tool would.
 */
import * as path from 'path';
import {
  DecisionHandler,
  InvalidArgumentError,
  InvalidStateError,
  PermanentError,
  TaskNotFoundError,
  type StepContext,
  type TaskState,
  type TaskerClient,
  type Worker,
} from '../../src/index';
import {
  aborted,
  deferred,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  sleep,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
  templateDir,
  within,
  type Backend,
} from '../helpers/e2e';

interface Setup {
  worker: Worker;
  operator: TaskerClient;
  calls: Record<string, number>;
  /** What `charge` does on its next run. */
  charge: { mode: 'fail' | 'succeed' | 'hang' };
  hung: { started: ReturnType<typeof deferred<void>>; aborted: ReturnType<typeof deferred<void>> };
  shipSaw: unknown[];
}

async function setUp(backend: Backend, leaseMs?: number): Promise<Setup> {
  const calls: Record<string, number> = {};
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const charge: Setup['charge'] = { mode: 'fail' };
  const hung = { started: deferred<void>(), aborted: deferred<void>() };
  const shipSaw: unknown[] = [];
  const handlers = [
    defineHandler('Operator.Start', () => {
      count('start');
      return { order: 42 };
    }),
    defineHandler('Operator.Charge', async (ctx) => {
      count('charge');
      if (charge.mode === 'fail') throw new PermanentError('card declined');
      if (charge.mode === 'hang') {
        hung.started.resolve();
        const reason = await aborted(ctx.signal);
        hung.aborted.resolve();
        throw reason;
      }
      return { charged: true };
    }),
    defineHandler('Operator.Ship', (ctx) => {
      count('ship');
      shipSaw.push(ctx.getDependencyResult('charge'));
      return { shipped: true };
    }),
    defineHandler('Operator.Route', () => {
      throw new Error('no route');
    }),
    defineHandler('Operator.Only', () => {
      count('only');
      return { ok: true };
    }),
  ];
  const database = await backend.database();
  const worker = await startWorker({
    database,
    templates: 'operator',
    handlers,
    ...(leaseMs === undefined ? {} : { leaseMs }),
  });
  const operator = backend.name === 'postgres' ? await openClient(database) : worker.client;
  return { worker, operator, calls, charge, hung, shipSaw };
}

/** How many tasks there are (in `state`), paging through `listTasks`. */
async function countTasks(client: TaskerClient, state?: TaskState): Promise<number> {
  let total = 0;
  for (let offset = 0; ; offset += 1000) {
    const page = await client.listTasks({ ...(state ? { state } : {}), limit: 1000, offset });
    total += page.length;
    if (page.length < 1000) return total;
  }
}

async function failedChain(s: Setup) {
  const created = await s.operator.createTask({ namespace: 'e2e', name: 'operator_chain' });
  const failed = await s.operator.waitForTask(created.taskUuid, { timeoutMs: 20000 });
  expect(failed.state).toBe('error');
  return failed;
}

describeEachBackend('operator recovery', (backend) => {
  it('retryTask runs a failed task again from its failed step; completed steps keep their results', async () => {
    const s = await setUp(backend);
    const failed = await failedChain(s);
    expect(stepOf(failed, 'charge')).toMatchObject({ state: 'error', attempts: 1 });
    expect(stepOf(failed, 'ship').state).toBe('cancelled');

    s.charge.mode = 'succeed';
    const retried = await s.operator.retryTask(failed.taskUuid);
    expect(retried.state).toBe('steps_in_process');
    expect(retried.completedAt).toBeNull();
    const done = await s.operator.waitForTask(failed.taskUuid, { timeoutMs: 20000 });

    expect(done.state).toBe('complete');
    expect(s.calls).toEqual({ start: 1, charge: 2, ship: 1 });
    expect(stepOf(done, 'start').result).toEqual({ order: 42 });
    // Attempts start over: the successful run is attempt 1 again, and the old error is gone.
    expect(stepOf(done, 'charge')).toMatchObject({ state: 'complete', attempts: 1, error: null });
    expect(s.shipSaw).toEqual([{ charged: true }]);
    const why = "retried by an operator (failed: 'charge')";
    expect(stepHops(done, 'charge')).toContainEqual({ from: 'error', to: 'enqueued', reason: why });
    expect(stepHops(done, 'ship')).toContainEqual({
      from: 'cancelled',
      to: 'pending',
      reason: why,
    });
    expect(taskHops(done)).toContainEqual({ from: 'error', to: 'steps_in_process', reason: why });
    expect(taskHops(done).at(-1)?.to).toBe('complete');
  });

  it('retryTask after a sibling finished in the failed task: its dependents and its decision count', async () => {
    // `left` fails while `right` (and the decision `route`) are still running; they finish
    // after the task is in error. A retry must find the join's count and the decision's branch
    // as if the failure had not happened.
    const leftFails = { yes: true };
    const release = deferred<void>();
    const ran: string[] = [];
    class LateRoute extends DecisionHandler {
      static override handlerName = 'Operator.LateRoute';
      async call() {
        await release.promise;
        ran.push('route');
        return this.decisionSuccess(['branch']);
      }
    }
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'operator-late',
      concurrency: 4,
      handlers: [
        defineHandler('Operator.Only', () => ({})),
        defineHandler('Operator.Left', () => {
          ran.push('left');
          if (leftFails.yes) throw new PermanentError('left broke');
          return { left: true };
        }),
        defineHandler('Operator.Right', async () => {
          await release.promise;
          ran.push('right');
          return { right: true };
        }),
        defineHandler('Operator.Ship', (ctx: StepContext) => {
          ran.push(ctx.stepName);
          return {};
        }),
        LateRoute,
      ],
    });
    const client = worker.client;
    const join = await client.createTask({ namespace: 'e2e', name: 'operator_join' });
    const late = await client.createTask({ namespace: 'e2e', name: 'operator_late_decision' });
    for (const t of [join, late]) {
      expect((await client.waitForTask(t.taskUuid, { timeoutMs: 20000 })).state).toBe('error');
    }
    release.resolve();
    await eventually('the running siblings to finish in the failed tasks', async () => {
      const a = await client.getTask(join.taskUuid);
      const b = await client.getTask(late.taskUuid);
      return stepOf(a!, 'right').state === 'complete' && stepOf(b!, 'route').state === 'complete';
    });
    // The decision's branch exists, cancelled with the task's other open steps.
    const decided = await client.getTask(late.taskUuid);
    expect(stepOf(decided!, 'branch').state).toBe('cancelled');
    expect(decided!.state).toBe('error');

    leftFails.yes = false;
    for (const t of [join, late]) await client.retryTask(t.taskUuid);
    const joined = await client.waitForTask(join.taskUuid, { timeoutMs: 20000 });
    const branched = await client.waitForTask(late.taskUuid, { timeoutMs: 20000 });
    expect(joined.state).toBe('complete');
    expect(stepOf(joined, 'finish').state).toBe('complete');
    expect(branched.state).toBe('complete');
    expect(stepOf(branched, 'branch').state).toBe('complete');
    expect(ran.filter((r) => r === 'right' || r === 'route')).toHaveLength(2);
  });

  it('retryTask refuses a task that did not fail, and names what is wrong', async () => {
    const s = await setUp(backend);
    s.charge.mode = 'succeed';
    const created = await s.operator.createTask({ namespace: 'e2e', name: 'operator_chain' });
    const done = await s.operator.waitForTask(created.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');

    const refused = s.operator.retryTask(done.taskUuid);
    await expect(refused).rejects.toThrow(InvalidStateError);
    await expect(refused).rejects.toThrow(
      `task ${done.taskUuid} is complete: only a task in error can be retried`,
    );

    const cancelled = await s.operator.createTask({
      namespace: 'e2e',
      name: 'operator_chain',
      delayMs: 60000,
    });
    await s.operator.cancelTask(cancelled.taskUuid);
    await expect(s.operator.retryTask(cancelled.taskUuid)).rejects.toThrow(
      `task ${cancelled.taskUuid} is cancelled: only a task in error can be retried (a cancelled task stays cancelled)`,
    );

    const missing = '01900000-0000-7000-8000-000000000000';
    await expect(s.operator.retryTask(missing)).rejects.toThrow(TaskNotFoundError);
    await expect(s.operator.retryTask(missing)).rejects.toThrow(`task ${missing} does not exist`);
  });

  it('resolveStep completes a failed step by hand; its dependents see the given result', async () => {
    const s = await setUp(backend);
    const failed = await failedChain(s);

    const resolved = await s.operator.resolveStep(
      failed.taskUuid,
      'charge',
      { charged: 'by hand', receipt: 'R-1' },
      { reason: 'charged by phone (ticket 123)' },
    );
    expect(stepOf(resolved, 'charge')).toMatchObject({
      state: 'resolved_manually',
      result: { charged: 'by hand', receipt: 'R-1' },
    });
    // The failure stays on record beside the operator's result.
    expect(stepOf(resolved, 'charge').error?.message).toBe('card declined');
    const done = await s.operator.waitForTask(failed.taskUuid, { timeoutMs: 20000 });

    expect(done.state).toBe('complete');
    expect(s.calls).toEqual({ start: 1, charge: 1, ship: 1 });
    expect(s.shipSaw).toEqual([{ charged: 'by hand', receipt: 'R-1' }]);
    expect(stepHops(done, 'charge').at(-1)).toEqual({
      from: 'error',
      to: 'resolved_manually',
      reason: 'charged by phone (ticket 123)',
    });
    expect(taskHops(done)).toContainEqual({
      from: 'error',
      to: 'steps_in_process',
      reason: "step 'charge' charged by phone (ticket 123)",
    });
  });

  it('resolveStep takes over a stuck step: the running handler is aborted and its result ignored', async () => {
    const s = await setUp(backend, 1500);
    s.charge.mode = 'hang';
    const created = await s.operator.createTask({ namespace: 'e2e', name: 'operator_chain' });
    await within(10000, 'charge to start', s.hung.started.promise);

    const resolved = await s.operator.resolveStep(created.taskUuid, 'charge', {
      charged: 'manual',
    });
    expect(stepOf(resolved, 'charge').state).toBe('resolved_manually');
    expect(stepHops(resolved, 'charge').at(-1)).toEqual({
      from: 'in_progress',
      to: 'resolved_manually',
      reason: 'resolved manually by an operator',
    });
    const done = await s.operator.waitForTask(created.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(s.shipSaw).toEqual([{ charged: 'manual' }]);

    // The worker finds its claim gone at its next lease renewal and aborts the handler.
    await within(10000, 'the stuck handler to be aborted', s.hung.aborted.promise);
    await eventually('the late result to count as stale', () => s.worker.stats().stale >= 1);
    const after = await s.operator.getTask(created.taskUuid);
    expect(stepOf(after!, 'charge')).toMatchObject({
      state: 'resolved_manually',
      result: { charged: 'manual' },
    });
  });

  it('resolveStep refuses what cannot be resolved, with messages that say why', async () => {
    const s = await setUp(backend);
    const failed = await failedChain(s);
    const task = failed.taskUuid;

    await expect(s.operator.resolveStep(task, 'start', {})).rejects.toThrow(
      new InvalidStateError("step 'start' is already complete"),
    );
    await expect(s.operator.resolveStep(task, 'ship', {})).rejects.toThrow(
      new InvalidStateError(
        "step 'ship' was cancelled by its task's failure: resolve the failed step, or retry the task",
      ),
    );
    await expect(s.operator.resolveStep(task, 'chrage', {})).rejects.toThrow(
      new InvalidArgumentError(
        `task ${task} has no step 'chrage' (its steps: charge, ship, start)`,
      ),
    );
    await expect(
      s.operator.resolveStep(task, 'charge', [1, 2] as unknown as Record<string, unknown>),
    ).rejects.toThrow(
      new InvalidArgumentError('resolveStep: result must be a plain object, got an array'),
    );

    const routed = await s.operator.createTask({ namespace: 'e2e', name: 'operator_route' });
    const routeFailed = await s.operator.waitForTask(routed.taskUuid, { timeoutMs: 20000 });
    expect(routeFailed.state).toBe('error');
    await expect(s.operator.resolveStep(routed.taskUuid, 'route', {})).rejects.toThrow(
      new InvalidStateError(
        "step 'route' is a decision point: its result creates steps, which a result given by hand cannot do; fix its cause and retry the task instead",
      ),
    );

    // Pending: waiting for its dependencies.
    const waiting = await s.operator.createTask({
      namespace: 'e2e',
      name: 'operator_chain',
      delayMs: 60000,
    });
    await expect(s.operator.resolveStep(waiting.taskUuid, 'ship', {})).rejects.toThrow(
      new InvalidStateError(
        "step 'ship' is pending: it waits for its dependencies, which must finish (or be resolved) first",
      ),
    );
    // Once the task is done, nothing in it can be resolved.
    s.charge.mode = 'succeed';
    await s.operator.resolveStep(task, 'charge', { charged: 'by hand' });
    await s.operator.waitForTask(task, { timeoutMs: 20000 });
    await expect(s.operator.resolveStep(task, 'ship', {})).rejects.toThrow(
      new InvalidStateError(`task ${task} is complete: its steps can no longer be resolved`),
    );
  });

  it("stores the handler's stack trace with the failure, capped at 8 KiB", async () => {
    const s = await setUp(backend);
    const failed = await failedChain(s);
    const stack = stepOf(failed, 'charge').error?.stack ?? '';
    expect(stack).toMatch(/^PermanentError: card declined\n\s+at /);
    expect(stack).toContain('operator.recovery.test.ts');

    class HugeStack extends Error {
      constructor() {
        super('deep');
        this.stack = 'HugeStack: deep\n' + '    at frame (/app/deep.js:1:1)\n'.repeat(2000);
      }
    }
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: path.join(templateDir('operator'), 'operator_single.yaml'),
      handlers: [
        defineHandler('Operator.Only', () => {
          throw new HugeStack();
        }),
      ],
    });
    const created = await worker.client.createTask({ namespace: 'e2e', name: 'operator_single' });
    const task = await worker.client.waitForTask(created.taskUuid, { timeoutMs: 20000 });
    const capped = stepOf(task, 'only').error?.stack ?? '';
    expect(Buffer.byteLength(capped)).toBeLessThanOrEqual(8 * 1024 + 100);
    expect(capped).toMatch(/^HugeStack: deep\n {4}at frame/);
    expect(capped).toMatch(/… \(\d+ more bytes of stack trace not stored\)$/);
  });

  it('createTask with delayMs or runAt: the first steps become ready then, not before', async () => {
    const s = await setUp(backend);
    const created = await s.operator.createTask({
      namespace: 'e2e',
      name: 'operator_single',
      delayMs: 1500,
    });
    await sleep(700);
    const early = await s.operator.getTask(created.taskUuid);
    expect(stepOf(early!, 'only')).toMatchObject({ state: 'enqueued', attempts: 0 });
    expect(s.calls.only).toBeUndefined();

    const done = await s.operator.waitForTask(created.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    const claimed = done.transitions.find(
      (t) => t.entity === 'step' && t.toState === 'in_progress',
    );
    const waited = Date.parse(claimed!.at) - Date.parse(done.createdAt);
    expect(waited).toBeGreaterThanOrEqual(1450);
    expect(stepHops(done, 'only')[1]).toEqual({
      from: 'pending',
      to: 'enqueued',
      reason: 'no dependencies; claimable in 1500 ms (delayed start)',
    });

    // A runAt in the past starts at once; one in the future waits.
    const past = await s.operator.createTask({
      namespace: 'e2e',
      name: 'operator_single',
      runAt: new Date(Date.now() - 60000),
    });
    expect((await s.operator.waitForTask(past.taskUuid, { timeoutMs: 20000 })).state).toBe(
      'complete',
    );
    const future = await s.operator.createTask({
      namespace: 'e2e',
      name: 'operator_single',
      runAt: new Date(Date.now() + 1200),
    });
    const ran = await s.operator.waitForTask(future.taskUuid, { timeoutMs: 20000 });
    const start = ran.transitions.find((t) => t.entity === 'step' && t.toState === 'in_progress');
    expect(Date.parse(start!.at) - Date.parse(ran.createdAt)).toBeGreaterThanOrEqual(1000);
  });

  it('createTask rejects bad start times with a clear message', async () => {
    const s = await setUp(backend);
    const base = { namespace: 'e2e', name: 'operator_single' };
    await expect(s.operator.createTask({ ...base, delayMs: -5 })).rejects.toThrow(
      new InvalidArgumentError('delayMs must be a non-negative integer, got -5'),
    );
    await expect(s.operator.createTask({ ...base, delayMs: 1.5 })).rejects.toThrow(
      new InvalidArgumentError('delayMs must be a non-negative integer, got 1.5'),
    );
    await expect(s.operator.createTask({ ...base, runAt: new Date('tomorrow') })).rejects.toThrow(
      new InvalidArgumentError('runAt is an invalid Date'),
    );
    await expect(
      s.operator.createTask({ ...base, runAt: '2030-01-01' as unknown as Date }),
    ).rejects.toThrow(new InvalidArgumentError('runAt must be a Date, got "2030-01-01"'));
    await expect(
      s.operator.createTask({ ...base, runAt: new Date(), delayMs: 10 }),
    ).rejects.toThrow(new InvalidArgumentError('createTask: give runAt or delayMs, not both'));
    await expect(
      s.operator.createTask({ ...base, delayMs: 11 * 365 * 24 * 3600 * 1000 }),
    ).rejects.toThrow(
      'the delayed start of e2e/operator_single@1.0.0 is 346896000000 ms away; at most 315360000000 ms (ten years) is accepted',
    );
  });

  it('prune deletes finished tasks with their steps and transitions, in batches, and says how many', async () => {
    const s = await setUp(backend);
    // 1,100 finished tasks: more than one pruning batch (500).
    s.charge.mode = 'succeed';
    const many = await s.operator.createTasks(
      Array.from({ length: 1100 }, () => ({ namespace: 'e2e', name: 'operator_single' })),
    );
    await eventually(
      'the 1,100 tasks to complete',
      async () => (await countTasks(s.operator, 'complete')) === 1100,
      { timeoutMs: 60000, intervalMs: 200 },
    );
    s.charge.mode = 'fail';
    const failed = await failedChain(s);
    const running = await s.operator.createTask({
      namespace: 'e2e',
      name: 'operator_single',
      delayMs: 60000,
    });

    expect(await s.operator.prune({ olderThan: '1h' })).toEqual({ tasks: 0 });
    expect(await s.operator.prune({ olderThan: 0, states: ['complete'] })).toEqual({ tasks: 1100 });
    expect(await s.operator.getTask(many[0].taskUuid)).toBeNull();
    expect(await s.operator.getTask(many[1099].taskUuid)).toBeNull();
    expect((await s.operator.getTask(failed.taskUuid))?.state).toBe('error');

    expect(await s.operator.prune({ olderThan: new Date(Date.now() + 1000) })).toEqual({
      tasks: 1,
    });
    expect(await s.operator.getTask(failed.taskUuid)).toBeNull();
    // Unfinished tasks are never pruned.
    expect((await s.operator.getTask(running.taskUuid))?.state).toBe('steps_in_process');
    expect(await countTasks(s.operator)).toBe(1);
  });

  it('prune rejects bad arguments with a clear message', async () => {
    const s = await setUp(backend);
    await expect(s.operator.prune({ olderThan: 'soon' })).rejects.toThrow(
      new InvalidArgumentError(
        `prune: olderThan "soon" is not a duration; use a Date, a duration such as '30d' or '12h', or milliseconds`,
      ),
    );
    await expect(
      s.operator.prune({ olderThan: '1d', states: ['steps_in_process'] }),
    ).rejects.toThrow(
      new InvalidArgumentError(
        'prune: "steps_in_process" is not a finished task state (use complete, error, cancelled)',
      ),
    );
    await expect(s.operator.prune({} as unknown as { olderThan: string })).rejects.toThrow(
      new InvalidArgumentError(
        "prune: olderThan is required; use a Date, a duration such as '30d' or '12h', or milliseconds (got undefined)",
      ),
    );
    await expect(s.operator.prune({ olderThan: -1 })).rejects.toThrow(
      new InvalidArgumentError('prune: olderThan must be 0 ms or more, got -1'),
    );
  });
});
