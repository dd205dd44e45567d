/**
 * A purchase that waits for a manager's signal (docs/signals.md). Run it with
 * `npm run build:ts && node dist/examples/signal-approval.js`: it starts a worker on an
 * in-memory SQLite database, creates a purchase, waits until the approval step waits, sends the
 * manager's signal, and prints what the order step saw.
 */
import * as path from 'path';
import { createWorker, StepHandler, stepByName, type StepContext } from '../src';

class Check extends StepHandler {
  static override handlerName = 'Purchasing.Check';
  async call(ctx: StepContext) {
    const amount = ctx.getInputOr<number>('amount', 0);
    return { amount, needs_approval: amount >= 1000 };
  }
}

class PlaceOrder extends StepHandler {
  static override handlerName = 'Purchasing.PlaceOrder';
  async call(ctx: StepContext) {
    const approval = ctx.getDependencyResult('manager_approval') as {
      approved: boolean;
      by?: string;
    };
    if (!approval.approved) return { ordered: false };
    return { ordered: true, approved_by: approval.by };
  }
}

async function main(): Promise<void> {
  const worker = await createWorker({
    database: 'sqlite::memory:',
    templates: path.join(__dirname, '..', '..', 'examples', 'signals'),
    handlers: [Check, PlaceOrder],
  });
  await worker.start();
  const client = worker.client;
  try {
    const task = await client.createTask({
      namespace: 'purchasing',
      name: 'purchase_approval',
      context: { amount: 4750 },
    });
    // The approval step waits once `check` is done (a signal sent earlier would be kept).
    for (;;) {
      const t = await client.getTask(task.taskUuid);
      if (t && stepByName(t, 'manager_approval')?.state === 'waiting_for_signal') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    console.log('manager_approval is waiting_for_signal');

    const sent = await client.sendSignal(task.taskUuid, 'manager_approval', {
      approved: true,
      by: 'grace@example.com',
    });
    console.log(`signal applied: ${sent.applied}, step ${sent.stepState}`);

    const done = await client.waitForTask(task.taskUuid, { timeoutMs: 10_000 });
    console.log(`task ${done.state}`);
    console.log('place_order:', JSON.stringify(stepByName(done, 'place_order')?.result));
    if (done.state !== 'complete') process.exitCode = 1;
  } finally {
    await worker.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
