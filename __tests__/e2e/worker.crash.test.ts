/**
 * Crash recovery across processes (docs/crashes-and-delivery.md): a child worker process claims a
 * step, saves a checkpoint and is then killed with SIGKILL mid-attempt — no shutdown, a real
 * crash. Its lease stops being renewed; once it expires, the reaper of a worker in this process
 * (same database, same templates) fails the attempt as `lease_expired`, and the normal retry
 * rules apply: the step runs again from the checkpoint, or, on its last attempt, ends in `error`
 * with its task.
 *
 * The child runs `__tests__/fixtures/crash-worker-process.js` on the compiled package (run
 * `npm run build:ts` first). SQLite uses a shared temp-file database.
 */
import { fork, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { StepContext, Task, TaskerClient } from '../../src/index';
import {
  FIXTURES,
  REPO_ROOT,
  arrows,
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
  track,
  within,
} from '../helpers/e2e';

const CHILD_SCRIPT = path.join(FIXTURES, 'crash-worker-process.js');
/** Short leases so that a crash is noticed quickly (renewed and reaped every 200 ms). */
const LEASE_MS = 600;

/** What the crashing process saves before it hangs (see the fixture). */
const SAVED_CHECKPOINT = { cursor: 3, items_processed: 3, accumulated_results: { sum: 3 } };

interface ChildMessage {
  type: 'ready' | 'checkpointed' | 'error';
  message?: string;
  workerId?: string;
  taskUuid?: string;
  stepUuid?: string;
  stepName?: string;
  retryCount?: number;
}

/** The forked worker process that is going to crash. */
class CrashingWorker {
  readonly workerId = `crash-child-${randomBytes(3).toString('hex')}`;
  readonly child: ChildProcess;
  readonly messages: ChildMessage[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output = '';

  constructor(database: string) {
    const config = {
      database,
      templates: templateDir('crash'),
      workerId: this.workerId,
      leaseMs: LEASE_MS,
    };
    this.child = fork(CHILD_SCRIPT, [JSON.stringify(config)], { silent: true });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    // Never leave the process behind: kill it after the test and wait until it is gone.
    track(async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGKILL');
      }
      await within(10000, `${this.workerId} to exit`, this.exited);
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.on('message', (m: ChildMessage) => this.messages.push(m));
  }

  /** Resolves with the first message of `type`; rejects on an `error` message or early exit. */
  next(type: ChildMessage['type'], timeoutMs = 15000): Promise<ChildMessage> {
    const found = new Promise<ChildMessage>((resolve, reject) => {
      const check = (): boolean => {
        const failed = this.messages.find((m) => m.type === 'error');
        const message = this.messages.find((m) => m.type === type);
        if (failed !== undefined) reject(new Error(`${this.workerId}: ${failed.message}`));
        else if (message !== undefined) resolve(message);
        else return false;
        return true;
      };
      if (check()) return;
      const onMessage = (): void => {
        if (check()) cleanup();
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        if (!check()) {
          reject(
            new Error(
              `${this.workerId} exited (${code ?? signal}) before '${type}':\n${this.output}`,
            ),
          );
        }
      };
      const cleanup = (): void => {
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.child.on('exit', onExit);
    });
    return within(timeoutMs, `'${type}' from ${this.workerId}`, found);
  }

  /** SIGKILL: no shutdown, no release of its claims. Resolves once the process is gone. */
  async crash(): Promise<void> {
    expect(this.child.kill('SIGKILL')).toBe(true);
    const exit = await within(10000, `${this.workerId} to die`, this.exited);
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
  }
}

/** What one execution of `Crash.Resumable` in this process saw. */
interface Resumed {
  retryCount: number;
  checkpoint: Record<string, unknown> | null;
  checkpointCursor: unknown;
  itemsProcessed: number;
  accumulated: Record<string, unknown> | null;
}

/** Handlers of this process: `resumable` finishes items 3 and 4 from the checkpoint. */
function parentHandlers(): { handlers: ReturnType<typeof defineHandler>[]; resumed: Resumed[] } {
  const resumed: Resumed[] = [];
  const resumable = defineHandler('Crash.Resumable', (ctx: StepContext) => {
    resumed.push({
      retryCount: ctx.retryCount,
      checkpoint: ctx.checkpoint,
      checkpointCursor: ctx.checkpointCursor,
      itemsProcessed: ctx.checkpointItemsProcessed,
      accumulated: ctx.accumulatedResults,
    });
    const start = typeof ctx.checkpointCursor === 'number' ? ctx.checkpointCursor : 0;
    let sum = Number(ctx.accumulatedResults?.sum ?? 0);
    for (let item = start; item < 5; item++) sum += item;
    return { resumedFrom: ctx.checkpointCursor, sum };
  });
  const after = defineHandler('Crash.After', (ctx: StepContext) => ({
    saw: ctx.getDependencyResult('resumable'),
  }));
  return { handlers: [resumable, after], resumed };
}

function requireCompiledPackage(): void {
  const compiled = path.join(REPO_ROOT, 'dist', 'src', 'index.js');
  if (!fs.existsSync(compiled)) {
    throw new Error('dist/src/index.js is missing: run `npm run build:ts` (npm test does)');
  }
}

/**
 * Start the crashing process, create a task of `name` and wait until the process has claimed
 * its `resumable` step and saved the checkpoint.
 */
async function claimAndCheckpoint(
  database: string,
  name: string,
): Promise<{ child: CrashingWorker; client: TaskerClient; taskUuid: string }> {
  requireCompiledPackage();
  const child = new CrashingWorker(database);
  expect(await child.next('ready')).toMatchObject({ workerId: child.workerId });

  const client = await openClient(database);
  const { taskUuid } = await client.createTask({ namespace: 'e2e', name, context: {} });

  const saved = await child.next('checkpointed');
  expect(saved).toMatchObject({ taskUuid, stepName: 'resumable', retryCount: 0 });
  // The core agrees: the step is in flight, claimed by the child, on its first attempt.
  const task = await eventually('the step to be in_progress', async () => {
    const t = (await client.getTask(taskUuid))!;
    return stepOf(t, 'resumable').state === 'in_progress' && t;
  });
  expect(stepOf(task, 'resumable')).toMatchObject({ attempts: 1, error: null });
  expect(stepHops(task, 'resumable', { withWorker: true }).at(-1)).toMatchObject({
    from: 'enqueued',
    to: 'in_progress',
    workerId: child.workerId,
  });
  return { child, client, taskUuid };
}

function leaseExpired(workerId: string, attempt: number, of: number): string {
  return (
    `lease expired: worker ${workerId} stopped renewing its claim during attempt ` +
    `${attempt} of ${of} (crashed or hung)`
  );
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describeEachBackend('worker crash', (backend) => {
  it('a SIGKILLed worker’s step is reaped after its lease and runs again from its checkpoint', async () => {
    const database = await backend.database({ shared: true });
    const { child, client, taskUuid } = await claimAndCheckpoint(database, 'crash_recover');

    // A worker of this process runs alongside. While the child lives, its lease is renewed:
    // two whole lease periods later nothing has been reaped or claimed again.
    const { handlers, resumed } = parentHandlers();
    const worker = await startWorker({
      database,
      templates: 'crash',
      handlers,
      leaseMs: LEASE_MS,
    });
    await sleep(2 * LEASE_MS);
    const alive = (await client.getTask(taskUuid))!;
    expect(stepOf(alive, 'resumable')).toMatchObject({ state: 'in_progress', attempts: 1 });
    expect(resumed).toEqual([]);
    expect(worker.stats().claimed).toBe(0);

    await child.crash();
    const task: Task = await client.waitForTask(taskUuid, { timeoutMs: 10000 });

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'resumable')).toMatchObject({
      state: 'complete',
      attempts: 2,
      maxAttempts: 3,
      result: { resumedFrom: 3, sum: 0 + 1 + 2 + 3 + 4 },
      error: null,
    });
    expect(stepOf(task, 'after')).toMatchObject({
      state: 'complete',
      attempts: 1,
      result: { saw: { resumedFrom: 3, sum: 10 } },
    });

    // The second attempt ran here and resumed from the checkpoint the crashed one saved.
    expect(resumed).toEqual([
      {
        retryCount: 1,
        checkpoint: SAVED_CHECKPOINT,
        checkpointCursor: 3,
        itemsProcessed: 3,
        accumulated: { sum: 3 },
      },
    ]);

    const hops = stepHops(task, 'resumable', { withWorker: true });
    expect(arrows(hops)).toEqual([
      '∅→pending',
      'pending→enqueued',
      'enqueued→in_progress',
      'in_progress→waiting_for_retry',
      'waiting_for_retry→in_progress',
      'in_progress→complete',
    ]);
    expect(hops[2].workerId).toBe(child.workerId);
    expect(hops[3]).toEqual({
      from: 'in_progress',
      to: 'waiting_for_retry',
      reason: expect.stringMatching(
        new RegExp(
          `^attempt 1 of 3 failed \\(lease_expired: ${escapeRegExp(leaseExpired(child.workerId, 1, 3))}\\); ` +
            `retrying in \\d+ ms$`,
        ),
      ),
      workerId: worker.workerId, // the worker that reaped the expired lease
    });
    expect(hops[4]).toMatchObject({ reason: 'attempt 2 of 3', workerId: worker.workerId });
    expect(hops[5].workerId).toBe(worker.workerId);
    expect(arrows(taskHops(task)).at(-1)).toBe('steps_in_process→complete');

    expect(worker.stats()).toMatchObject({ claimed: 2, recorded: 2, stale: 0, inFlight: 0 });
  });

  it('a crash on the last attempt: the step errors as lease_expired and so does the task', async () => {
    const database = await backend.database({ shared: true });
    const { child, client, taskUuid } = await claimAndCheckpoint(database, 'crash_last_attempt');

    await child.crash();
    // A worker started after the crash (a restarted instance, say) reaps the step.
    const { handlers, resumed } = parentHandlers();
    const worker = await startWorker({
      database,
      templates: 'crash',
      handlers,
      leaseMs: LEASE_MS,
    });
    const task = await client.waitForTask(taskUuid, { timeoutMs: 10000 });

    expect(task.state).toBe('error');
    expect(stepOf(task, 'resumable')).toMatchObject({
      state: 'error',
      attempts: 1,
      maxAttempts: 1,
      result: null,
      error: {
        message: leaseExpired(child.workerId, 1, 1),
        errorType: 'lease_expired',
        retryable: true,
      },
    });
    // The dependent never became ready: cancelled from pending.
    expect(stepOf(task, 'after')).toMatchObject({ state: 'cancelled', attempts: 0, result: null });
    expect(arrows(stepHops(task, 'after'))).toEqual(['∅→pending', 'pending→cancelled']);

    const hops = stepHops(task, 'resumable', { withWorker: true });
    expect(arrows(hops)).toEqual([
      '∅→pending',
      'pending→enqueued',
      'enqueued→in_progress',
      'in_progress→error',
    ]);
    expect(hops[2].workerId).toBe(child.workerId);
    expect(hops[3]).toEqual({
      from: 'in_progress',
      to: 'error',
      reason: expect.stringMatching(
        new RegExp(
          `^attempt 1 of 1 failed; no attempts left \\(lease_expired: ` +
            `${escapeRegExp(leaseExpired(child.workerId, 1, 1))}\\)$`,
        ),
      ),
      workerId: worker.workerId, // the worker that reaped the expired lease
    });
    expect(taskHops(task).at(-1)).toEqual({
      from: 'steps_in_process',
      to: 'error',
      reason: `step 'resumable' failed permanently: ${leaseExpired(child.workerId, 1, 1)}`,
    });

    // Nothing ran again anywhere: this process's worker only reaped.
    expect(resumed).toEqual([]);
    expect(worker.stats()).toMatchObject({ claimed: 0, recorded: 0, stale: 0, inFlight: 0 });
  });
});
