/**
 * Cancelling a task: steps not finished are cancelled, a running handler's signal aborts, its
 * late result is ignored, and nothing downstream ever runs. On PostgreSQL the cancel comes from
 * a separate client (another engine), so it must reach the worker through the database.
 */
import {
  ExecutionLog,
  aborted,
  deferred,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  runTask,
  sleep,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
  within,
} from '../helpers/e2e';

describeEachBackend('cancelTask', (backend) => {
  it('aborts the running handler, cancels the task and never runs the downstream step', async () => {
    const log = new ExecutionLog();
    const started = deferred<void>();
    const abortReason = deferred<unknown>();
    const slow = defineHandler('Cancel.Slow', async (ctx) => {
      log.record(ctx);
      started.resolve();
      const reason = await aborted(ctx.signal);
      abortReason.resolve(reason);
      throw reason;
    });
    const after = defineHandler('Cancel.After', (ctx) => {
      log.record(ctx);
      return {};
    });
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'cancel', handlers: [slow, after] });
    const client = backend.name === 'postgres' ? await openClient(database) : worker.client;

    const created = await client.createTask({ namespace: 'e2e', name: 'cancel' });
    await within(10000, 'the slow handler to start', started.promise);
    const cancelled = await client.cancelTask(created.taskUuid, 'customer changed their mind');

    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.completedAt).not.toBeNull();
    expect(stepOf(cancelled, 'slow')).toMatchObject({ state: 'cancelled', attempts: 1 });
    expect(stepOf(cancelled, 'after')).toMatchObject({ state: 'cancelled', attempts: 0 });

    const reason = await within(5000, "the handler's signal to abort", abortReason.promise);
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).message).toBe('the task was cancelled');

    // The aborted handler's result arrives after the cancel and is ignored.
    await eventually('the aborted result to be counted as stale', () => worker.stats().stale >= 1);
    await sleep(400); // two fallback polls: time for anything that could still run to run
    const task = await client.waitForTask(created.taskUuid, { timeoutMs: 5000 });

    expect(task.state).toBe('cancelled');
    expect(stepOf(task, 'slow')).toMatchObject({ state: 'cancelled', result: null, error: null });
    expect(stepHops(task, 'slow').at(-1)).toEqual({
      from: 'in_progress',
      to: 'cancelled',
      reason: 'customer changed their mind',
    });
    expect(stepHops(task, 'after')).toEqual([
      { from: null, to: 'pending', reason: null },
      { from: 'pending', to: 'cancelled', reason: 'customer changed their mind' },
    ]);
    expect(taskHops(task).at(-1)).toEqual({
      from: 'steps_in_process',
      to: 'cancelled',
      reason: 'customer changed their mind',
    });
    expect(log.order()).toEqual(['slow']);
    expect(worker.stats()).toMatchObject({ claimed: 1, recorded: 0, inFlight: 0 });
  });

  it('changes nothing when the task has already finished', async () => {
    const slow = defineHandler('Cancel.Slow', () => ({ fast: true }));
    const after = defineHandler('Cancel.After', () => ({ done: true }));
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'cancel',
      handlers: [slow, after],
    });
    const done = await runTask(worker.client, { name: 'cancel' });
    expect(done.state).toBe('complete');

    const again = await worker.client.cancelTask(done.taskUuid, 'too late');

    expect(again.state).toBe('complete');
    expect(again.steps.map((s) => s.state)).toEqual(['complete', 'complete']);
    expect(again.transitions).toHaveLength(done.transitions.length);
    expect(again.transitions.some((t) => t.reason === 'too late')).toBe(false);
  });
});
