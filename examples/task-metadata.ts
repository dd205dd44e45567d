/**
 * Task metadata (docs/task-metadata.md). Run it with
 * `npm run build:ts && node dist/examples/task-metadata.js`: it starts a worker on an in-memory
 * SQLite database, creates three refunds with a correlation id, an initiator, a source system, a
 * reason and tags, prints the correlation id each handler saw, then finds the refunds by tag and
 * by correlation id.
 */
import * as path from 'path';
import { createWorker, StepHandler, type StepContext } from '../src';

class Refund extends StepHandler {
  static override handlerName = 'Payments.Refund';
  async call(ctx: StepContext) {
    // Pass the correlation id on to the services the step calls (a header, a log field).
    console.log(`refund ${String(ctx.getInput('order'))}: correlation id ${ctx.correlationId}`);
    return { refunded: ctx.getInput('order'), by: ctx.taskMetadata.initiator };
  }
}

async function main(): Promise<void> {
  const worker = await createWorker({
    database: 'sqlite::memory:',
    templates: path.join(__dirname, '..', '..', 'examples', 'task-metadata'),
    handlers: [Refund],
  });
  await worker.start();
  const client = worker.client;
  try {
    const tasks = await client.createTasks(
      ['A-1', 'A-2', 'B-1'].map((order) => ({
        namespace: 'payments',
        name: 'refund',
        context: { order },
        correlationId: `support-ticket-${order.startsWith('A') ? 4711 : 4712}`,
        initiator: 'agent:maria',
        sourceSystem: 'helpdesk',
        reason: 'customer complaint',
        tags: ['refund', order.startsWith('A') ? 'eu' : 'us'],
      })),
    );
    for (const task of tasks) await client.waitForTask(task.taskUuid);

    const eu = await client.listTasks({ tags: ['refund', 'eu'] });
    console.log(
      `tagged refund and eu: ${eu
        .map((t) => String(t.context.order))
        .sort()
        .join(', ')}`,
    );
    const ticket = await client.listTasks({ correlationId: 'support-ticket-4712' });
    console.log(`ticket 4712: ${ticket.map((t) => String(t.context.order)).join(', ')}`);
    const counts = await client.countTasks({ tags: ['refund'] });
    console.log(`refunds complete: ${counts.complete}`);
  } finally {
    await worker.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
