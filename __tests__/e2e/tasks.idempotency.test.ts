/**
 * Idempotent task creation: the same `idempotencyKey` returns the task it created first (even
 * when the creates race), a different key or no key creates a new task.
 */
import {
  ExecutionLog,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
} from '../helpers/e2e';

describeEachBackend('idempotent createTask', (backend) => {
  it('returns the same task for the same key and a new task for another key', async () => {
    const log = new ExecutionLog();
    const once = defineHandler('Idempotency.Once', (ctx) => {
      log.record(ctx);
      return { order: ctx.getInput('order') };
    });
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'idempotency', handlers: [once] });
    // On PostgreSQL the duplicates come from two engines at once (two "processes").
    const other = backend.name === 'postgres' ? await openClient(database) : worker.client;
    const request = { namespace: 'e2e', name: 'idempotency' };

    const [first, second] = await Promise.all([
      worker.client.createTask({ ...request, context: { order: 1 }, idempotencyKey: 'order-1' }),
      other.createTask({ ...request, context: { order: 1 }, idempotencyKey: 'order-1' }),
    ]);
    const third = await worker.client.createTask({
      ...request,
      context: { order: 'ignored: the key already has a task' },
      idempotencyKey: 'order-1',
    });
    const fresh = await worker.client.createTask({
      ...request,
      context: { order: 2 },
      idempotencyKey: 'order-2',
    });

    expect(second.taskUuid).toBe(first.taskUuid);
    expect(third.taskUuid).toBe(first.taskUuid);
    expect(third.context).toEqual({ order: 1 });
    expect(third.idempotencyKey).toBe('order-1');
    expect(fresh.taskUuid).not.toBe(first.taskUuid);
    expect(fresh.idempotencyKey).toBe('order-2');

    const done1 = await worker.client.waitForTask(first.taskUuid, { timeoutMs: 10000 });
    const done2 = await worker.client.waitForTask(fresh.taskUuid, { timeoutMs: 10000 });
    expect(done1.state).toBe('complete');
    expect(done1.steps[0].result).toEqual({ order: 1 });
    expect(done2.steps[0].result).toEqual({ order: 2 });
    const tasks = await worker.client.listTasks({ namespace: 'e2e', name: 'idempotency' });
    expect(tasks.map((t) => t.taskUuid).sort()).toEqual([first.taskUuid, fresh.taskUuid].sort());
    // One execution per task: the duplicates did not create work.
    expect(log.all.map((e) => e.taskUuid).sort()).toEqual([first.taskUuid, fresh.taskUuid].sort());
  });

  it('returns one task per key when creates with the same key race', async () => {
    const once = defineHandler('Idempotency.Once', () => ({}));
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'idempotency',
      handlers: [once],
      start: false,
    });
    const other = backend.name === 'postgres' ? await openClient(database) : worker.client;
    const keys = Array.from({ length: 10 }, (_, i) => `race-${i}`);

    const results = await Promise.all(
      keys.map((idempotencyKey) =>
        Promise.all(
          [worker.client, other, worker.client, other].map((client) =>
            client.createTask({ namespace: 'e2e', name: 'idempotency', idempotencyKey }),
          ),
        ),
      ),
    );

    for (const [i, group] of results.entries()) {
      expect(group.map((t) => t.idempotencyKey)).toEqual(Array(4).fill(keys[i]));
      expect(new Set(group.map((t) => t.taskUuid)).size).toBe(1);
    }
    const tasks = await worker.client.listTasks({ name: 'idempotency', limit: 100 });
    expect(tasks).toHaveLength(10);
    expect(new Set(tasks.map((t) => t.idempotencyKey))).toEqual(new Set(keys));
  });

  it('creates a new task on every call without a key', async () => {
    const once = defineHandler('Idempotency.Once', () => ({}));
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'idempotency',
      handlers: [once],
    });
    const request = { namespace: 'e2e', name: 'idempotency', context: { same: true } };

    const a = await worker.client.createTask(request);
    const b = await worker.client.createTask(request);

    expect(a.taskUuid).not.toBe(b.taskUuid);
    expect(a.idempotencyKey).toBeNull();
    await eventually('both tasks to complete', async () => {
      const tasks = await worker.client.listTasks({ name: 'idempotency', state: 'complete' });
      return tasks.length === 2;
    });
  });
});
