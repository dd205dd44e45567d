/**
 * Every abort reaches exactly the handler of the step execution it is for, also when many steps
 * were claimed in one claim transaction (and so share one claim id): a cancel from another
 * engine, a timeout of all of them, and a shutdown with a short grace period.
 *
 * Ten tasks are created before the worker starts, with `concurrency: 10`, so that its first
 * claim takes all ten steps at once; the test checks that they did share one claim id.
 */
import type { NativeStepEvent } from '../../src/native';
import type { StepContext, TaskerClient, Worker } from '../../src/index';
import {
  aborted,
  deferred,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
  stepOf,
  within,
  type Backend,
  type StartWorkerOptions,
} from '../helpers/e2e';

const TASKS = 10;

/** What one handler execution saw. */
interface Run {
  taskUuid: string;
  /** The message of `ctx.signal.reason`, once the signal aborted. */
  abortReason?: string;
  /** Set when the handler has settled (returned or thrown). */
  settled: boolean;
}

/**
 * A handler that runs until its signal aborts (then takes `cleanupMs` to clean up and rethrows
 * the reason) or until `release` resolves (then succeeds).
 */
function recordingHandler(runs: Run[], release: Promise<void>, cleanupMs = 0) {
  return defineHandler('AbortRouting.Work', async (ctx: StepContext) => {
    const run: Run = { taskUuid: ctx.taskUuid, settled: false };
    runs.push(run);
    try {
      const outcome = await Promise.race([
        aborted(ctx.signal).then((reason) => ({ reason })),
        release.then(() => undefined),
      ]);
      if (outcome === undefined) return { released: true };
      run.abortReason = (outcome.reason as Error).message;
      if (cleanupMs > 0) await new Promise((r) => setTimeout(r, cleanupMs));
      throw outcome.reason;
    } finally {
      run.settled = true;
    }
  });
}

/** The step events the worker receives (to check that the ten steps shared one claim). */
function recordStepEvents(worker: Worker): NativeStepEvent[] {
  const events: NativeStepEvent[] = [];
  const handle = (worker as unknown as { handle: { poll(): Promise<NativeStepEvent[] | null> } })
    .handle;
  const poll = handle.poll.bind(handle);
  handle.poll = async () => {
    const batch = await poll();
    for (const e of batch ?? []) if (e.kind === 'step') events.push(e);
    return batch;
  };
  return events;
}

interface Setup {
  worker: Worker;
  taskUuids: string[];
  runs: Run[];
  release: () => void;
  /** A client on another engine (its own connection pool) on the same database. */
  other: TaskerClient;
  database: string;
}

/** Ten tasks of `name`, then a worker with concurrency 10 that claims them all at once. */
async function tenClaimedTogether(
  backend: Backend,
  name: string,
  options: Partial<StartWorkerOptions> = {},
  cleanupMs = 0,
): Promise<Setup> {
  const database = await backend.database({ shared: true });
  const runs: Run[] = [];
  const released = deferred<void>();
  const worker = await startWorker({
    database,
    templates: 'abort-routing',
    handlers: [recordingHandler(runs, released.promise, cleanupMs)],
    concurrency: TASKS,
    start: false,
    ...options,
  });
  const taskUuids: string[] = [];
  for (let i = 0; i < TASKS; i += 1) {
    taskUuids.push((await worker.client.createTask({ namespace: 'e2e', name })).taskUuid);
  }
  const events = recordStepEvents(worker);
  await worker.start();
  await eventually(`all ${TASKS} handlers to start`, () => runs.length === TASKS);
  // The precondition of the defect: one claim transaction, one claim id for all ten.
  expect(events).toHaveLength(TASKS);
  expect(new Set(events.map((e) => e.claimId)).size).toBe(1);
  expect(new Set(runs.map((r) => r.taskUuid))).toEqual(new Set(taskUuids));
  const other = await openClient(database);
  return { worker, taskUuids, runs, release: () => released.resolve(), other, database };
}

describeEachBackend('abort routing with ten steps claimed in one transaction', (backend) => {
  it('a cancel from another engine aborts only the cancelled task’s handler', async () => {
    // On SQLite no notification crosses engines: the worker learns of the cancel from its next
    // lease renewal (every leaseMs / 3), as a lost claim. On PostgreSQL it hears it at once.
    const { worker, taskUuids, runs, release, other } = await tenClaimedTogether(
      backend,
      'abort_routing',
      backend.name === 'sqlite' ? { leaseMs: 600 } : {},
    );
    const victim = taskUuids[3];
    const bystanders = taskUuids.filter((t) => t !== victim);
    const runOf = (taskUuid: string) => runs.find((r) => r.taskUuid === taskUuid)!;

    await other.cancelTask(victim, 'not needed any more');
    await eventually('the cancelled task’s handler to abort', () => runOf(victim).settled, {
      timeoutMs: 5000,
    });

    expect(runOf(victim).abortReason).toBe(
      backend.name === 'postgres'
        ? 'the task was cancelled'
        : 'the step is no longer claimed by this worker (cancelled, failed or reclaimed)',
    );
    // Nobody else was aborted, and the others are still running their first attempt.
    expect(runs.filter((r) => r.abortReason !== undefined).map((r) => r.taskUuid)).toEqual([
      victim,
    ]);
    expect(runs.filter((r) => !r.settled)).toHaveLength(TASKS - 1);

    release();
    for (const taskUuid of bystanders) {
      const task = await worker.client.waitForTask(taskUuid, { timeoutMs: 10000 });
      expect(task.state).toBe('complete');
      expect(stepOf(task, 'work')).toMatchObject({
        state: 'complete',
        attempts: 1,
        result: { released: true },
      });
    }
    const cancelled = (await other.getTask(victim))!;
    expect(cancelled.state).toBe('cancelled');
    expect(stepOf(cancelled, 'work')).toMatchObject({ state: 'cancelled', result: null });
    // Ten handler runs in all: no bystander lost an attempt and ran again.
    expect(runs).toHaveLength(TASKS);
    expect(runs.every((r) => r.settled)).toBe(true);
  });

  it('a timeout of all ten aborts every one of the ten handlers', async () => {
    const { worker, taskUuids, runs, release } = await tenClaimedTogether(
      backend,
      'abort_routing_timeout',
    );
    try {
      await eventually('all ten handlers to see their timeout', () =>
        runs.every((r) => r.abortReason !== undefined),
      );
    } finally {
      release(); // do not leave handlers running if the assertion above failed
    }

    expect(runs.map((r) => r.abortReason)).toEqual(
      Array(TASKS).fill("step 'work' timed out after 1 s (attempt 1 of 1)"),
    );
    for (const taskUuid of taskUuids) {
      const task = await worker.client.waitForTask(taskUuid, { timeoutMs: 10000 });
      expect(task.state).toBe('error');
      expect(stepOf(task, 'work')).toMatchObject({
        state: 'error',
        attempts: 1,
        error: { errorType: 'timeout', retryable: true },
      });
    }
    await eventually('every aborted handler’s late result to be ignored', () =>
      runs.every((r) => r.settled),
    );
  });

  it('shutdown aborts all ten running handlers and resolves only after all settled', async () => {
    const { worker, taskUuids, runs, release, other } = await tenClaimedTogether(
      backend,
      'abort_routing',
      { shutdownGraceMs: 200, workerId: 'abort-routing-worker' },
      100, // each handler takes 100 ms to clean up after its abort
    );
    try {
      await within(10000, 'shutdown', worker.shutdown());
      const settledAtShutdown = runs.filter((r) => r.settled).length;

      expect(settledAtShutdown).toBe(TASKS);
    } finally {
      release();
    }
    expect(runs.map((r) => r.abortReason)).toEqual(
      Array(TASKS).fill(
        'worker abort-routing-worker is shutting down; the step was released for another worker',
      ),
    );
    // All ten were released with their attempt given back.
    for (const taskUuid of taskUuids) {
      const task = (await other.getTask(taskUuid))!;
      expect(stepOf(task, 'work')).toMatchObject({ state: 'enqueued', attempts: 0 });
    }
  });
});
