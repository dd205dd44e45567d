/**
 * An order whose shipping is a child task (docs/child-tasks.md). Run it with
 * `npm run build:ts && node dist/examples/child-tasks.js`: it starts a worker on an in-memory
 * SQLite database, creates an order, waits for it, and prints the child task and what the
 * notification step saw.
 */
import * as path from 'path';
import { createWorker, StepHandler, stepByName, type StepContext } from '../src';

class ValidateOrder extends StepHandler {
  static override handlerName = 'Fulfillment.ValidateOrder';
  async call(ctx: StepContext) {
    const items = ctx.getInputOr<string[]>('items', []);
    return { valid: items.length > 0, item_count: items.length };
  }
}

class PickItems extends StepHandler {
  static override handlerName = 'Shipping.PickItems';
  async call(ctx: StepContext) {
    // The child's context: the order's, plus `validate_order`'s result under its name.
    const validated = ctx.getInput<{ item_count: number }>('validate_order');
    return { picked: validated?.item_count ?? 0 };
  }
}

class BookCourier extends StepHandler {
  static override handlerName = 'Shipping.BookCourier';
  async call(ctx: StepContext) {
    const picked = ctx.getDependencyResult('pick_items') as { picked: number } | undefined;
    return {
      courier: 'ACME',
      parcels: picked?.picked ?? 0,
      tracking: `T-${ctx.taskUuid.slice(-6)}`,
    };
  }
}

class NotifyCustomer extends StepHandler {
  static override handlerName = 'Fulfillment.NotifyCustomer';
  async call(ctx: StepContext) {
    // The subtask step's result: the child's final steps' results, keyed by step name.
    const shipped = ctx.getDependencyResult('ship') as
      { book_courier: { tracking: string } } | undefined;
    return {
      emailed: ctx.getInputOr<string>('email', ''),
      tracking: shipped?.book_courier.tracking,
    };
  }
}

async function main(): Promise<void> {
  const worker = await createWorker({
    database: 'sqlite::memory:',
    templates: path.join(__dirname, '..', '..', 'examples', 'child-tasks'),
    handlers: [ValidateOrder, PickItems, BookCourier, NotifyCustomer],
    // The waiting `ship` step holds no slot: one is enough for the parent and its child.
    concurrency: 1,
  });
  await worker.start();
  const client = worker.client;
  try {
    const order = await client.createTask({
      namespace: 'fulfillment',
      name: 'order_with_shipping',
      context: { email: 'ada@example.com', items: ['book', 'lamp'] },
    });
    const done = await client.waitForTask(order.taskUuid, { timeoutMs: 10_000 });
    console.log(`order ${done.state}`);
    const ship = stepByName(done, 'ship');
    console.log(`ship: ${ship?.state}, child task ${ship?.childTaskUuid}`);
    const child = await client.getTask(ship?.childTaskUuid ?? '');
    console.log(
      `child ${child?.namespace}/${child?.name} ${child?.state}, parent step ${child?.parentStepName}`,
    );
    console.log('ship result:', JSON.stringify(ship?.result));
    console.log('notify_customer:', JSON.stringify(stepByName(done, 'notify_customer')?.result));
    if (done.state !== 'complete' || child?.state !== 'complete') process.exitCode = 1;
  } finally {
    await worker.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
