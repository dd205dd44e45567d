/**
 * `npm run demo`: runs the example order workflow on the embedded SQLite default
 * (./.tasker/tasker.db), with no server, and prints its result and per-step timings.
 */
import * as path from 'path';
import { createWorker, Task } from '../src';
import { exampleHandlers } from './handlers/index';

const templates = path.join(__dirname, '..', '..', 'examples', 'templates');

function stepTimings(task: Task): string[] {
  return task.steps.map((step) => {
    const started = task.transitions.filter(
      (t) => t.stepName === step.name && t.toState === 'in_progress',
    );
    const finished = task.transitions.filter(
      (t) => t.stepName === step.name && ['complete', 'error'].includes(t.toState),
    );
    const first = started[0];
    const last = finished[finished.length - 1];
    const ms = first && last ? `${Date.parse(last.at) - Date.parse(first.at)} ms` : 'did not run';
    return `  ${step.name.padEnd(18)} ${step.state.padEnd(9)} attempts=${step.attempts}  ${ms}`;
  });
}

async function main(): Promise<void> {
  // The worker loads every example template, so it registers every example's handlers.
  const worker = await createWorker({ templates, handlers: exampleHandlers, concurrency: 4 });
  await worker.start();
  try {
    const started = Date.now();
    const task = await worker.client.createTask({
      namespace: 'shop',
      name: 'order_fulfillment',
      context: {
        order_id: 'A-1001',
        flaky_payment: true,
        items: [
          { sku: 'KB-01', quantity: 1, price: 89.5 },
          { sku: 'MS-02', quantity: 2, price: 24.25 },
        ],
      },
    });
    console.log(`created task ${task.taskUuid} (shop/order_fulfillment@1.0.0)`);
    const done = await worker.client.waitForTask(task.taskUuid, { timeoutMs: 30000 });
    console.log(`task ${done.state} in ${Date.now() - started} ms`);
    console.log('steps:');
    for (const line of stepTimings(done)) console.log(line);
    const shipped = done.steps.find((s) => s.name === 'ship_order');
    console.log('result of ship_order:', JSON.stringify(shipped?.result));
    if (done.state !== 'complete') process.exitCode = 1;
  } finally {
    await worker.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
