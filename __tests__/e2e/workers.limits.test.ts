/**
 * Per-handler limits (docs/limits.md): a template's `concurrency` holds across a worker's
 * slots, `limit_key` gives each customer its own limit, held-back steps use no attempt and run
 * later; limits given to `createWorker({ limits })` hold the same way, for tasks created before
 * the worker started too. On both backends.
 */
import { InvalidArgumentError } from '../../src';
import { defineHandler, describeEachBackend, sleep, startWorker } from '../helpers/e2e';

/** Counts the handler executions running at once, overall and per key. */
function concurrencyProbe() {
  const running = new Map<string, number>();
  let most = 0;
  const mostOf = new Map<string, number>();
  let total = 0;
  return {
    async run(key: string, ms: number): Promise<void> {
      total += 1;
      most = Math.max(most, total);
      running.set(key, (running.get(key) ?? 0) + 1);
      mostOf.set(key, Math.max(mostOf.get(key) ?? 0, running.get(key) ?? 0));
      await sleep(ms);
      running.set(key, (running.get(key) ?? 0) - 1);
      total -= 1;
    },
    most: () => most,
    mostOf: (key: string) => mostOf.get(key) ?? 0,
  };
}

const limited = { namespace: 'e2e', name: 'limited' };

describeEachBackend('per-handler limits', (backend) => {
  it('never runs more than the concurrency at once, and every step runs once', async () => {
    let running = 0;
    let maxRunning = 0;
    let refunds = 0;
    let maxRefunds = 0;
    const refundsOf = new Map<string, number>();
    let maxPerCustomer = 0;
    const charge = defineHandler('Limits.Charge', async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(20);
      running -= 1;
      return { charged: true };
    });
    const refund = defineHandler('Limits.Refund', async (ctx) => {
      const customer = ctx.getInput<string>('customer') ?? '';
      refunds += 1;
      maxRefunds = Math.max(maxRefunds, refunds);
      refundsOf.set(customer, (refundsOf.get(customer) ?? 0) + 1);
      maxPerCustomer = Math.max(maxPerCustomer, refundsOf.get(customer) ?? 0);
      await sleep(20);
      refundsOf.set(customer, (refundsOf.get(customer) ?? 0) - 1);
      refunds -= 1;
      return { refunded: true };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'limits',
      handlers: [charge, refund],
      concurrency: 8,
    });
    const client = worker.client;
    const tasks = [];
    for (let i = 0; i < 10; i++) {
      tasks.push(
        await client.createTask({ ...limited, context: { customer: i % 2 === 0 ? 'A' : 'B' } }),
      );
    }
    const done = await Promise.all(
      tasks.map((t) => client.waitForTask(t.taskUuid, { timeoutMs: 30000 })),
    );
    expect(done.map((t) => t.state)).toEqual(Array(10).fill('complete'));
    expect(maxRunning).toBe(2);
    // One refund per customer at a time, but the two customers' refunds overlap.
    expect(maxPerCustomer).toBe(1);
    expect(maxRefunds).toBeLessThanOrEqual(2);
    // Held-back steps used no attempt.
    for (const t of done) {
      const view = await client.getTask(t.taskUuid);
      expect(view?.steps.map((s) => s.attempts)).toEqual([1, 1]);
    }
  });

  it('holds limits given to createWorker, for tasks created before the worker started', async () => {
    const charges = concurrencyProbe();
    const refunds = concurrencyProbe();
    const charge = defineHandler('WorkerLimits.Charge', async () => {
      await charges.run('all', 20);
      return { charged: true };
    });
    const refund = defineHandler('WorkerLimits.Refund', async (ctx) => {
      await refunds.run(ctx.getInput<string>('customer') ?? '', 20);
      return { refunded: true };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'worker-limits',
      handlers: [charge, refund],
      concurrency: 8,
      start: false,
      limits: {
        'WorkerLimits.Charge': { concurrency: 2 },
        'WorkerLimits.Refund': { concurrency: 1, limitKey: '$.customer' },
      },
    });
    const client = worker.client;
    const tasks = [];
    for (let i = 0; i < 10; i++) {
      tasks.push(
        await client.createTask({
          namespace: 'e2e',
          name: 'unlimited',
          context: { customer: i % 2 === 0 ? 'A' : 'B' },
        }),
      );
    }
    await worker.start();
    const done = await Promise.all(
      tasks.map((t) => client.waitForTask(t.taskUuid, { timeoutMs: 30000 })),
    );
    expect(done.map((t) => t.state)).toEqual(Array(10).fill('complete'));
    expect(charges.most()).toBe(2);
    expect(refunds.mostOf('A')).toBe(1);
    expect(refunds.mostOf('B')).toBe(1);
    for (const t of done) {
      const view = await client.getTask(t.taskUuid);
      expect(view?.steps.map((s) => s.attempts)).toEqual([1, 1]);
    }
  });

  it('refuses limits that are wrong, naming the handler and the field', async () => {
    const database = await backend.database();
    const handlers = [
      defineHandler('WorkerLimits.Charge', async () => ({})),
      defineHandler('WorkerLimits.Refund', async () => ({})),
    ];
    const attempt = (limits: unknown) =>
      startWorker({
        database,
        templates: 'worker-limits',
        handlers,
        start: false,
        limits: limits as never,
      });
    await expect(attempt({ 'WorkerLimits.Charge': { concurency: 2 } })).rejects.toThrow(
      new InvalidArgumentError(
        "createWorker limits: handler 'WorkerLimits.Charge': unknown field 'concurency' (did you mean 'concurrency'?)",
      ),
    );
    await expect(
      attempt({ 'WorkerLimits.Charge': { rateLimit: { perSecond: 0 } } }),
    ).rejects.toThrow(
      "createWorker limits: handler 'WorkerLimits.Charge': field 'rate_limit.per_second': must be > 0 and <= 1000000, got 0",
    );
    await expect(attempt({ 'WorkerLimits.Chrage': { concurrency: 1 } })).rejects.toThrow(
      new InvalidArgumentError(
        "createWorker limits: handler 'WorkerLimits.Chrage' is not used by any step of this worker's templates (handlers: WorkerLimits.Charge, WorkerLimits.Refund)",
      ),
    );
    await expect(attempt([{ concurrency: 1 }])).rejects.toThrow(
      new InvalidArgumentError(
        'limits: expected an object of handler name → limits, got [{"concurrency":1}]',
      ),
    );
  });
});
