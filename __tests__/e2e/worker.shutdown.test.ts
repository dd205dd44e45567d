/**
 * Graceful shutdown: a worker stops claiming, lets in-flight steps finish within
 * `shutdownGraceMs`, then aborts and releases the rest without using up an attempt, so another
 * worker on the same database (a SQLite file, or PostgreSQL) runs them.
 */
import {
  aborted,
  deferred,
  defineHandler,
  describeEachBackend,
  openClient,
  sleep,
  startWorker,
  stepHops,
  stepOf,
  within,
} from '../helpers/e2e';

describeEachBackend('worker shutdown', (backend) => {
  it('releases a step still running after the grace period; another worker completes it', async () => {
    const events: string[] = [];
    const started = deferred<void>();
    let abortReason: unknown;
    const slowOnA = defineHandler('Shutdown.Work', async (ctx) => {
      events.push(`A ran work (retryCount ${ctx.retryCount})`);
      started.resolve();
      abortReason = await aborted(ctx.signal);
      events.push('A aborted');
      throw abortReason;
    });
    const afterOnA = defineHandler('Shutdown.After', () => {
      events.push('A ran after');
      return {};
    });
    const database = await backend.database({ shared: true });
    const a = await startWorker({
      database,
      templates: 'shutdown',
      handlers: [slowOnA, afterOnA],
      workerId: 'worker-a',
      shutdownGraceMs: 150,
    });
    const created = await a.client.createTask({ namespace: 'e2e', name: 'shutdown' });
    await within(10000, 'worker A to start the step', started.promise);

    const before = Date.now();
    await a.shutdown();
    events.push('A shut down');
    const shutdownMs = Date.now() - before;

    expect(shutdownMs).toBeGreaterThanOrEqual(140); // the grace period was given…
    expect(shutdownMs).toBeLessThan(5000); // …and then the step was aborted, not waited for
    expect(abortReason).toBeInstanceOf(Error);
    expect((abortReason as Error).message).toBe(
      'worker worker-a is shutting down; the step was released for another worker',
    );
    // shutdown() resolved only after the aborted handler had settled.
    expect(events).toEqual(['A ran work (retryCount 0)', 'A aborted', 'A shut down']);

    // Seen from another engine on the same database: released, the attempt given back.
    const observer = await openClient(database);
    const released = (await observer.getTask(created.taskUuid))!;
    expect(released.state).toBe('steps_in_process');
    expect(stepOf(released, 'work')).toMatchObject({
      state: 'enqueued',
      attempts: 0,
      maxAttempts: 1,
    });
    expect(stepHops(released, 'work', { withWorker: true }).slice(-2)).toEqual([
      { from: 'enqueued', to: 'in_progress', reason: 'attempt 1 of 1', workerId: 'worker-a' },
      {
        from: 'in_progress',
        to: 'enqueued',
        reason: expect.stringMatching(/shutting down/),
        workerId: 'worker-a',
      },
    ]);

    const fastOnB = defineHandler('Shutdown.Work', (ctx) => {
      events.push(`B ran work (retryCount ${ctx.retryCount})`);
      return { by: 'B' };
    });
    const afterOnB = defineHandler('Shutdown.After', (ctx) => {
      events.push('B ran after');
      return { saw: ctx.getDependencyResult('work') };
    });
    const b = await startWorker({
      database,
      templates: 'shutdown',
      handlers: [fastOnB, afterOnB],
      workerId: 'worker-b',
    });
    const task = await b.client.waitForTask(created.taskUuid, { timeoutMs: 10000 });

    expect(task.state).toBe('complete');
    // max_attempts is 1: B could only run it because the released attempt was not counted.
    expect(stepOf(task, 'work')).toMatchObject({
      state: 'complete',
      attempts: 1,
      result: { by: 'B' },
    });
    expect(stepOf(task, 'after').result).toEqual({ saw: { by: 'B' } });
    expect(stepHops(task, 'work', { withWorker: true }).slice(-2)).toEqual([
      { from: 'enqueued', to: 'in_progress', reason: 'attempt 1 of 1', workerId: 'worker-b' },
      {
        from: 'in_progress',
        to: 'complete',
        reason: expect.stringMatching(/^attempt 1 of 1 succeeded/),
        workerId: 'worker-b',
      },
    ]);
    expect(events.slice(3)).toEqual(['B ran work (retryCount 0)', 'B ran after']);
  });

  it('lets a step that finishes within the grace period complete, and claims nothing new', async () => {
    const database = await backend.database({ shared: true });
    const started = deferred<void>();
    const ran: string[] = [];
    const a = await startWorker({
      database,
      templates: 'shutdown',
      workerId: 'worker-a',
      shutdownGraceMs: 5000,
      handlers: [
        defineHandler('Shutdown.Work', async () => {
          ran.push('work');
          started.resolve();
          await sleep(200);
          return { by: 'A' };
        }),
        defineHandler('Shutdown.After', () => {
          ran.push('after');
          return {};
        }),
      ],
    });
    const created = await a.client.createTask({ namespace: 'e2e', name: 'shutdown' });
    await within(10000, 'worker A to start the step', started.promise);

    await a.shutdown();

    const observer = await openClient(database);
    const task = (await observer.getTask(created.taskUuid))!;
    expect(stepOf(task, 'work')).toMatchObject({
      state: 'complete',
      attempts: 1,
      result: { by: 'A' },
    });
    // `after` became ready while A was draining; A did not claim it.
    expect(stepOf(task, 'after')).toMatchObject({ state: 'enqueued', attempts: 0 });
    expect(task.state).toBe('steps_in_process');
    expect(ran).toEqual(['work']);
    expect(
      stepHops(task, 'work').some((h) => h.to === 'enqueued' && h.from === 'in_progress'),
    ).toBe(false);
  });
});
