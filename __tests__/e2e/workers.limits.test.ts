/**
 * Per-handler limits (docs/limits.md): a template's `concurrency` holds across a worker's
 * slots, `limit_key` gives each customer its own limit, held-back steps use no attempt and run
 * later. On both backends.
 */
import { defineHandler, describeEachBackend, sleep, startWorker } from '../helpers/e2e';

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
});
