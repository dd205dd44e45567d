/**
 * `client.createTasks(requests)`: many tasks in one transaction, returned in order; idempotency
 * keys honoured (also between requests of the same call); one bad request fails the whole call
 * with an error naming it, and leaves nothing behind.
 */
import { InvalidArgumentError, TemplateNotFoundError } from '../../src/index';
import { ExecutionLog, defineHandler, describeEachBackend, startWorker } from '../helpers/e2e';

const request = { namespace: 'e2e', name: 'idempotency' };

describeEachBackend('createTasks', (backend) => {
  it('creates many tasks in one call, in order, and they all run', async () => {
    const log = new ExecutionLog();
    const once = defineHandler('Idempotency.Once', (ctx) => {
      log.record(ctx);
      return { order: ctx.getInput('order') };
    });
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'idempotency', handlers: [once] });

    const created = await worker.client.createTasks(
      Array.from({ length: 250 }, (_, i) => ({ ...request, context: { order: i } })),
    );
    expect(created).toHaveLength(250);
    expect(created.map((t) => t.context)).toEqual(
      Array.from({ length: 250 }, (_, i) => ({ order: i })),
    );
    expect(new Set(created.map((t) => t.taskUuid)).size).toBe(250);
    for (const t of created) {
      expect(t.state).toBe('steps_in_process');
      expect(t.namespace).toBe('e2e');
      expect(t.version).toBe('1.0.0');
    }
    const done = await Promise.all(
      created.map((t) => worker.client.waitForTask(t.taskUuid, { timeoutMs: 20000 })),
    );
    expect(done.map((t) => t.state)).toEqual(Array(250).fill('complete'));
    expect(done.map((t) => t.steps[0].result)).toEqual(
      Array.from({ length: 250 }, (_, i) => ({ order: i })),
    );
    expect(log.all).toHaveLength(250);
  });

  it('honours idempotency keys, also between requests of the same call', async () => {
    const once = defineHandler('Idempotency.Once', (ctx) => ({ order: ctx.getInput('order') }));
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'idempotency', handlers: [once] });
    const existing = await worker.client.createTask({
      ...request,
      context: { order: 'first' },
      idempotencyKey: 'a',
    });

    const [a, b, bAgain, plain] = await worker.client.createTasks([
      { ...request, context: { order: 'ignored' }, idempotencyKey: 'a' },
      { ...request, context: { order: 'b' }, idempotencyKey: 'b' },
      { ...request, context: { order: 'ignored too' }, idempotencyKey: 'b' },
      { ...request, context: { order: 'plain' } },
    ]);
    expect(a.taskUuid).toBe(existing.taskUuid);
    expect(a.context).toEqual({ order: 'first' });
    expect(bAgain.taskUuid).toBe(b.taskUuid);
    expect(bAgain.context).toEqual({ order: 'b' });
    expect(plain.taskUuid).not.toBe(b.taskUuid);
    const tasks = await worker.client.listTasks(request);
    expect(tasks.map((t) => t.taskUuid).sort()).toEqual(
      [existing.taskUuid, b.taskUuid, plain.taskUuid].sort(),
    );
  });

  it('fails as a whole, naming the bad request, and leaves nothing behind', async () => {
    const once = defineHandler('Idempotency.Once', () => ({}));
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'idempotency', handlers: [once] });

    const good = { ...request, context: { order: 1 } };
    const call = worker.client.createTasks([
      good,
      good,
      { namespace: 'e2e', name: 'no_such_template', context: {} },
      good,
    ]);
    await expect(call).rejects.toThrow(TemplateNotFoundError);
    await expect(call).rejects.toThrow(
      /^request 2: no task template e2e\/no_such_template@1\.0\.0 is registered in this database \(registered: e2e\/idempotency@1\.0\.0\); start a worker whose templates include it$/,
    );
    expect(await worker.client.listTasks(request)).toEqual([]);

    await expect(
      worker.client.createTasks([good, { ...request, context: 'nope' as never }]),
    ).rejects.toThrow(
      new InvalidArgumentError(
        'createTasks: request 1: context must be a plain object, got string',
      ),
    );
    await expect(worker.client.createTasks('nope' as never)).rejects.toThrow(
      new InvalidArgumentError('createTasks: expected an array of requests, got string'),
    );
    expect(await worker.client.listTasks(request)).toEqual([]);
    expect(await worker.client.createTasks([])).toEqual([]);
  });
});
