/**
 * Per-handler limits (docs/limits.md). Run it with
 * `npm run build:ts && node dist/examples/limits.js`: it starts a worker with 8 slots on an
 * in-memory SQLite database, creates 10 charges for two customers, and prints the most charges
 * and the most notifications of one customer that ever ran at once (2 and 1: the template's
 * limits, whatever the worker's concurrency).
 */
import * as path from 'path';
import { createWorker, StepHandler, type StepContext } from '../src';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let charging = 0;
let mostCharging = 0;
const notifying = new Map<string, number>();
let mostNotifyingOneCustomer = 0;

class Charge extends StepHandler {
  static override handlerName = 'Billing.Charge';
  async call(ctx: StepContext) {
    charging += 1;
    mostCharging = Math.max(mostCharging, charging);
    await sleep(30); // the provider's call
    charging -= 1;
    return { charged: ctx.getInputOr<number>('amount', 0) };
  }
}

class Notify extends StepHandler {
  static override handlerName = 'Billing.Notify';
  async call(ctx: StepContext) {
    const customer = String(ctx.getInputOr<{ id: string }>('customer', { id: '?' }).id);
    const now = (notifying.get(customer) ?? 0) + 1;
    notifying.set(customer, now);
    mostNotifyingOneCustomer = Math.max(mostNotifyingOneCustomer, now);
    await sleep(10);
    notifying.set(customer, now - 1);
    return { notified: customer };
  }
}

async function main(): Promise<void> {
  const worker = await createWorker({
    database: 'sqlite::memory:',
    templates: path.join(__dirname, '..', '..', 'examples', 'limits'),
    handlers: [Charge, Notify],
    concurrency: 8,
  });
  await worker.start();
  const client = worker.client;
  try {
    const tasks = [];
    for (let i = 0; i < 10; i++) {
      const customer = { id: i % 2 === 0 ? 'ada' : 'bob' };
      tasks.push(
        await client.createTask({
          namespace: 'billing',
          name: 'charge_customers',
          context: { customer, amount: 10 + i },
        }),
      );
    }
    const done = await Promise.all(
      tasks.map((t) => client.waitForTask(t.taskUuid, { timeoutMs: 30_000 })),
    );
    console.log(`tasks complete: ${done.filter((t) => t.state === 'complete').length}`);
    console.log(`most charges at once: ${mostCharging}`);
    console.log(`most notifications of one customer at once: ${mostNotifyingOneCustomer}`);
    if (done.some((t) => t.state !== 'complete') || mostCharging > 2) process.exitCode = 1;
  } finally {
    await worker.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
