/**
 * JSON end to end: whatever `JSON.stringify` writes — nesting past serde_json's own limit of 128
 * levels, lone surrogates — reaches the handlers and `getTask` unchanged, up to `maxJsonDepth`;
 * a result or context past a limit is refused with a message naming the step (by name, with its
 * task's template), the limit and the actual depth or size.
 */
import { InvalidArgumentError, createClient } from '../../src/index';
import {
  defineHandler,
  describeEachBackend,
  runTask,
  startWorker,
  stepOf,
  taskHops,
  track,
  type Backend,
} from '../helpers/e2e';

/** `depth` arrays nested around a string holding a lone surrogate. */
function nested(depth: number): unknown {
  let value: unknown = 'leaf \udbff';
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

/** The handlers, with what each was given. */
function handlers(produce: () => unknown) {
  const seen: { context?: unknown; dependency?: unknown } = {};
  return {
    seen,
    list: [
      defineHandler('JsonLimits.Produce', (ctx) => {
        seen.context = ctx.inputData;
        return produce() as Record<string, unknown>;
      }),
      defineHandler('JsonLimits.Consume', (ctx) => {
        seen.dependency = ctx.getDependencyResult('produce');
        return { consumed: true };
      }),
    ],
  };
}

async function worker(
  backend: Backend,
  produce: () => unknown,
  limits: { maxJsonDepth?: number; maxResultBytes?: number; maxContextBytes?: number } = {},
) {
  const h = handlers(produce);
  const w = await startWorker({
    database: await backend.database(),
    templates: 'json-limits',
    handlers: h.list,
    ...limits,
  });
  return { worker: w, seen: h.seen };
}

describeEachBackend('JSON results and contexts', (backend) => {
  it('a result and a context nested 200 levels deep reach the handlers and getTask unchanged', async () => {
    const result = { tree: nested(199) }; // 200 levels
    const context = { deep: nested(199), n: 1 };
    const { worker: w, seen } = await worker(backend, () => result);

    const task = await runTask(w.client, { name: 'json_limits', context });

    expect(task.state).toBe('complete');
    expect(seen.context).toEqual(context);
    expect(seen.dependency).toEqual(result);
    expect(task.context).toEqual(context);
    expect(stepOf(task, 'produce').result).toEqual(result);
    expect(await w.client.getTask(task.taskUuid)).toMatchObject({ context, state: 'complete' });
  });

  it('lone surrogates round-trip unchanged', async () => {
    const result = { lone: '\ud800', trailing: 'a\udc00b', pair: '\ud83d\ude00' };
    const context = { lone: '\udbff', text: 'x\ud800' };
    const { worker: w, seen } = await worker(backend, () => result);

    const task = await runTask(w.client, { name: 'json_limits', context });

    expect(task.state).toBe('complete');
    expect(seen.context).toStrictEqual(context);
    expect(seen.dependency).toStrictEqual(result);
    expect(task.context).toStrictEqual(context);
    expect(stepOf(task, 'produce').result).toStrictEqual(result);
    expect((stepOf(task, 'produce').result as { lone: string }).lone).toBe('\ud800');
  });

  type Case = [string, Record<string, number>, () => unknown, string, string];
  it.each<Case>([
    [
      'nested past maxJsonDepth',
      { maxJsonDepth: 250 },
      () => nested(300),
      'result_too_deep',
      'returned a result nested 300 levels deep; the limit is 250 (maxJsonDepth)',
    ],
    [
      'larger than maxResultBytes',
      { maxResultBytes: 1000 },
      () => ({ blob: 'é'.repeat(1000) }),
      'result_too_large',
      // Bytes of UTF-8: 'é' is two.
      'returned a result of 2011 bytes; the limit is 1000 bytes (maxResultBytes)',
    ],
  ])(
    'a result %s fails the step permanently, naming the step, its template, the limit and the actual value',
    async (_label, limits, produce, errorType, what) => {
      const { worker: w, seen } = await worker(backend, produce, limits);

      const task = await runTask(w.client, { name: 'json_limits' });

      const message = `step 'produce' of task template e2e/json_limits@1.0.0 ${what}`;
      expect(task.state).toBe('error');
      expect(stepOf(task, 'produce')).toMatchObject({
        state: 'error',
        attempts: 1,
        result: null,
        error: { message, errorType, retryable: false },
      });
      expect(seen.dependency).toBeUndefined();
      expect(task.steps.map((s) => s.name)).toEqual(['produce', 'consume']);
      expect(stepOf(task, 'consume').state).toBe('cancelled');
      expect(taskHops(task).at(-1)).toEqual({
        from: 'steps_in_process',
        to: 'error',
        reason: `step 'produce' failed permanently: ${message}`,
      });
    },
  );

  it('createTask refuses a context past a limit with InvalidArgumentError naming it', async () => {
    const database = await backend.database({ shared: true });
    await startWorker({
      database,
      templates: 'json-limits',
      handlers: handlers(() => ({})).list,
      maxJsonDepth: 250,
    });
    const client = await createClient({ database, maxJsonDepth: 250, maxContextBytes: 2000 });
    track(() => client.close());

    const create = (context: Record<string, unknown>) =>
      client.createTask({ namespace: 'e2e', name: 'json_limits', context });
    await expect(create({ deep: nested(300) })).rejects.toThrow(
      new InvalidArgumentError(
        'the task context for e2e/json_limits@1.0.0 is nested 301 levels deep; the limit is 250 (maxJsonDepth)',
      ),
    );
    await expect(create({ blob: 'x'.repeat(3000) })).rejects.toThrow(
      new InvalidArgumentError(
        'the task context for e2e/json_limits@1.0.0 is 3011 bytes; the limit is 2000 bytes (maxContextBytes)',
      ),
    );
    expect(await client.listTasks()).toEqual([]);
    // Within the limits it is created.
    expect((await create({ deep: nested(249) })).state).toBe('steps_in_process');
  });
});
