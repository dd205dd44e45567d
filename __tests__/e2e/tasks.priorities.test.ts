/**
 * `createTask({ priority })` (docs/priorities.md): a worker claims the highest priority first,
 * equal priorities in the order they became ready; the task and its steps show the priority;
 * an invalid priority is refused with the field and the value. On both backends.
 */
import { InvalidArgumentError } from '../../src/index';
import {
  defineHandler,
  deferred,
  describeEachBackend,
  eventually,
  sleep,
  startWorker,
} from '../helpers/e2e';

const prioritized = { namespace: 'e2e', name: 'prioritized' };

describeEachBackend('priorities', (backend) => {
  it('a worker with concurrency 1 runs the ready steps highest priority first', async () => {
    const gate = deferred();
    const ran: string[] = [];
    const work = defineHandler('Priorities.Work', async (ctx) => {
      const label = ctx.getInput<string>('label') ?? '(none)';
      ran.push(label);
      if (label === 'gate') await gate.promise;
      return { label };
    });
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'priorities',
      handlers: [work],
      concurrency: 1,
    });
    const client = worker.client;
    // The gate holds the only slot while the others are created (and become ready).
    const gateTask = await client.createTask({ ...prioritized, context: { label: 'gate' } });
    await eventually('the gate step started', () => ran.includes('gate'));
    const specs: [string, number | undefined][] = [
      ['low', -5],
      ['default-1', undefined],
      ['urgent', 100],
      ['default-2', 0],
      ['high-1', 10],
      ['background', -1000],
      ['high-2', 10],
    ];
    const created = [];
    for (const [label, priority] of specs) {
      created.push(
        await client.createTask({
          ...prioritized,
          context: { label },
          ...(priority !== undefined && { priority }),
        }),
      );
      // Distinct ready times (milliseconds), so that equal priorities have an order.
      await sleep(5);
    }
    expect(created.map((t) => t.priority)).toEqual([-5, 0, 100, 0, 10, -1000, 10]);
    gate.resolve();
    const done = await Promise.all(
      created.map((t) => client.waitForTask(t.taskUuid, { timeoutMs: 20000 })),
    );
    expect(done.map((t) => t.state)).toEqual(Array(specs.length).fill('complete'));
    expect(ran).toEqual([
      'gate',
      'urgent',
      'high-1',
      'high-2',
      'default-1',
      'default-2',
      'low',
      'background',
    ]);
    expect((await client.waitForTask(gateTask.taskUuid)).priority).toBe(0);

    // The task views and their steps show it; so does listTasks.
    const urgent = await client.getTask(created[2].taskUuid);
    expect(urgent?.priority).toBe(100);
    expect(urgent?.steps.map((s) => s.priority)).toEqual([100]);
    const listed = await client.listTasks({ ...prioritized });
    expect(listed.map((t) => t.priority).sort((a, b) => a - b)).toEqual([
      -1000, -5, 0, 0, 0, 10, 10, 100,
    ]);
  });

  it('refuses a priority that is not an integer from -1000 to 1000, naming it', async () => {
    const work = defineHandler('Priorities.Work', () => ({}));
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'priorities', handlers: [work] });
    const client = worker.client;
    const range = 'must be an integer from -1000 to 1000 (higher first)';
    const cases: [unknown, string][] = [
      [1001, `the priority of e2e/prioritized@1.0.0 ${range}, got 1001`],
      [-1001, `the priority of e2e/prioritized@1.0.0 ${range}, got -1001`],
      [2.5, `the priority of e2e/prioritized@1.0.0 ${range}, got 2.5`],
      [Number.NaN, `the priority of e2e/prioritized@1.0.0 ${range}, got NaN`],
      ['5', `priority ${range}, got "5"`],
    ];
    for (const [priority, message] of cases) {
      const call = client.createTask({ ...prioritized, priority: priority as number });
      await expect(call).rejects.toThrow(InvalidArgumentError);
      await expect(call).rejects.toThrow(message);
    }
    await expect(
      client.createTasks([
        { ...prioritized, priority: 1000 },
        { ...prioritized, priority: -1000.5 },
      ]),
    ).rejects.toThrow(`request 1: the priority of e2e/prioritized@1.0.0 ${range}, got -1000.5`);
    expect(await client.listTasks({ ...prioritized })).toEqual([]);
  });
});
