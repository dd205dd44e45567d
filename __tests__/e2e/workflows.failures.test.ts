/**
 * Failures and how they are stored: permanent errors end the task at once, odd thrown values
 * get a readable message and are retried, and results JSON cannot hold fail the step for good.
 */
import { PermanentError, type Task } from '../../src/index';
import {
  ExecutionLog,
  arrows,
  defineHandler,
  describeEachBackend,
  runTask,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
} from '../helpers/e2e';

describeEachBackend('failures', (backend) => {
  it('a PermanentError fails the step after one attempt (of 3) and the task at once', async () => {
    const log = new ExecutionLog();
    const charge = defineHandler('PermanentFailure.Charge', (ctx) => {
      log.record(ctx);
      throw new PermanentError('card declined', { errorType: 'card_declined', statusCode: 402 });
    });
    const ship = defineHandler('PermanentFailure.Ship', (ctx) => {
      log.record(ctx);
      return {};
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'permanent-failure',
      handlers: [charge, ship],
    });

    const task = await runTask(worker.client, { name: 'permanent_failure' });

    expect(task.state).toBe('error');
    expect(stepOf(task, 'charge')).toMatchObject({
      state: 'error',
      attempts: 1,
      maxAttempts: 3,
      result: null,
      error: {
        message: 'card declined',
        errorType: 'card_declined',
        retryable: false,
        statusCode: 402,
      },
    });
    expect(log.of('charge')).toHaveLength(1);
    expect(stepHops(task, 'charge').at(-1)).toEqual({
      from: 'in_progress',
      to: 'error',
      reason: 'the handler reported a permanent failure (card_declined: card declined)',
    });
    // Straight to error: the task never waited for a retry.
    expect(arrows(taskHops(task))).toEqual([
      '∅→pending',
      'pending→steps_in_process',
      'steps_in_process→error',
    ]);
    expect(taskHops(task).at(-1)!.reason).toBe("step 'charge' failed permanently: card declined");
    expect(stepOf(task, 'ship')).toMatchObject({ state: 'cancelled', attempts: 0 });
    expect(log.of('ship')).toHaveLength(0);
  });

  describe('a thrown value that is not an Error', () => {
    /** `fragile` does what `plan[attempt]` says: throw a string, throw undefined, or succeed. */
    const fragile = (log: ExecutionLog) =>
      defineHandler('NonErrorThrow.Fragile', (ctx) => {
        log.record(ctx);
        const plan = ctx.getInput<string[]>('plan')!;
        switch (plan[ctx.retryCount]) {
          case 'throw-string':
            throw 'boom';
          case 'throw-undefined':
            throw undefined;
          default:
            return { survived: ctx.retryCount + 1 };
        }
      });

    it('is described in the failure message and retried until the step succeeds', async () => {
      const log = new ExecutionLog();
      const worker = await startWorker({
        database: await backend.database(),
        templates: 'non-error-throw',
        handlers: [fragile(log)],
      });

      const task = await runTask(worker.client, {
        name: 'non_error_throw',
        context: { plan: ['throw-string', 'throw-undefined', 'succeed'] },
      });

      expect(task.state).toBe('complete');
      expect(stepOf(task, 'fragile')).toMatchObject({
        state: 'complete',
        attempts: 3,
        result: { survived: 3 },
        error: null,
      });
      expect(log.all).toHaveLength(3);
      const failures = stepHops(task, 'fragile').filter((h) => h.to === 'waiting_for_retry');
      expect(failures.map((h) => h.reason)).toEqual([
        expect.stringMatching(
          /^attempt 1 of 3 failed \(non_error_thrown: handler threw a non-Error value: "boom"\); retrying in \d+ ms$/,
        ),
        expect.stringMatching(
          /^attempt 2 of 3 failed \(non_error_thrown: handler threw undefined\); retrying in \d+ ms$/,
        ),
      ]);
    });

    it('is stored as the step error when no attempts are left', async () => {
      const log = new ExecutionLog();
      const worker = await startWorker({
        database: await backend.database(),
        templates: 'non-error-throw',
        handlers: [fragile(log)],
      });

      const task = await runTask(worker.client, {
        name: 'non_error_throw',
        context: { plan: ['throw-string', 'throw-string', 'throw-undefined'] },
      });

      expect(task.state).toBe('error');
      expect(stepOf(task, 'fragile')).toMatchObject({
        state: 'error',
        attempts: 3,
        error: {
          message: 'handler threw undefined',
          errorType: 'non_error_thrown',
          retryable: true,
        },
      });
      expect(log.all).toHaveLength(3);
      expect(stepHops(task, 'fragile').at(-1)!.reason).toBe(
        'attempt 3 of 3 failed; no attempts left (non_error_thrown: handler threw undefined)',
      );
    });
  });

  describe('a result that cannot be serialized to JSON', () => {
    async function run(kind: 'circular' | 'bigint'): Promise<{ task: Task; log: ExecutionLog }> {
      const log = new ExecutionLog();
      const produce = defineHandler('Serialization.Produce', (ctx) => {
        log.record(ctx);
        if (ctx.getInput('kind') === 'circular') {
          const node: Record<string, unknown> = { name: 'loop' };
          node.self = node;
          return node;
        }
        return { total: BigInt(42) };
      });
      const consume = defineHandler('Serialization.Consume', (ctx) => {
        log.record(ctx);
        return {};
      });
      const worker = await startWorker({
        database: await backend.database(),
        templates: 'serialization',
        handlers: [produce, consume],
      });
      const task = await runTask(worker.client, { name: 'serialization', context: { kind } });
      return { task, log };
    }

    it.each([
      ['circular', /Converting circular structure to JSON/],
      ['bigint', /BigInt/],
    ] as const)(
      '(%s) fails the step permanently with serialization_error, naming the step',
      async (kind, cause) => {
        const { task, log } = await run(kind);

        expect(task.state).toBe('error');
        const step = stepOf(task, 'produce');
        expect(step).toMatchObject({ state: 'error', attempts: 1, maxAttempts: 3, result: null });
        expect(step.error).toMatchObject({ errorType: 'serialization_error', retryable: false });
        expect(step.error!.message).toMatch(
          /^step 'produce' returned a result that cannot be serialized to JSON: /,
        );
        expect(step.error!.message).toMatch(cause);
        expect(log.of('produce')).toHaveLength(1);
        expect(taskHops(task).at(-1)).toEqual({
          from: 'steps_in_process',
          to: 'error',
          reason: `step 'produce' failed permanently: ${step.error!.message}`,
        });
        expect(stepOf(task, 'consume').state).toBe('cancelled');
        expect(log.of('consume')).toHaveLength(0);
      },
    );
  });
});
