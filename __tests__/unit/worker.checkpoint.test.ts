import {
  Batchable,
  DatabaseError,
  RetryableError,
  StepContext,
  StepHandler,
  ValidationError,
  type CheckpointInput,
} from '../../src/index';
import {
  RecordingLogger,
  defineHandler,
  nativeError,
  parsedOutcome,
  runHandler,
  startWorker,
  stepEvent,
  stepPayload,
  type StepEventSpec,
  withoutStack,
} from '../helpers/mock-native';

function context(spec: Partial<StepEventSpec> = {}, writer?: (json: string) => Promise<boolean>) {
  return new StepContext(
    stepPayload({ handler: 'h', ...spec }),
    new AbortController().signal,
    new RecordingLogger(),
    writer,
  );
}

describe('StepContext checkpoint accessors', () => {
  it('are empty without a checkpoint', () => {
    const ctx = context();
    expect(ctx.checkpoint).toBeNull();
    expect(ctx.checkpointCursor).toBeNull();
    expect(ctx.checkpointItemsProcessed).toBe(0);
    expect(ctx.accumulatedResults).toBeNull();
    expect(ctx.hasCheckpoint()).toBe(false);
  });

  it('read the stored snake_case checkpoint', () => {
    const ctx = context({
      checkpoint: { cursor: 41, items_processed: 40, accumulated_results: { sum: 820 } },
    });
    expect(ctx.checkpointCursor).toBe(41);
    expect(ctx.checkpointItemsProcessed).toBe(40);
    expect(ctx.accumulatedResults).toEqual({ sum: 820 });
    expect(ctx.hasCheckpoint()).toBe(true);
  });

  it.each<[string, Record<string, unknown>, unknown, number, unknown]>([
    ['an object cursor', { cursor: { page: 3 } }, { page: 3 }, 0, null],
    ['a zero cursor', { cursor: 0, items_processed: 0 }, 0, 0, null],
    ['a null cursor', { cursor: null, items_processed: 5 }, null, 5, null],
    ['odd types', { cursor: 'c', items_processed: '5', accumulated_results: [1] }, 'c', 0, null],
  ])('tolerate %s', (_label, checkpoint, cursor, items, accumulated) => {
    const ctx = context({ checkpoint });
    expect(ctx.checkpointCursor).toEqual(cursor);
    expect(ctx.checkpointItemsProcessed).toBe(items);
    expect(ctx.accumulatedResults).toEqual(accumulated);
    expect(ctx.hasCheckpoint()).toBe(cursor !== null);
  });

  it('do not show up as own fields', () => {
    expect(Object.keys(context({ checkpoint: { cursor: 1 } }))).not.toContain('checkpointCursor');
  });
});

describe('StepContext.saveCheckpoint', () => {
  it('writes the snake_case JSON through the writer', async () => {
    const written: string[] = [];
    const ctx = context({}, async (json) => {
      written.push(json);
      return true;
    });
    await ctx.saveCheckpoint({ cursor: 11, itemsProcessed: 10, accumulatedResults: { sum: 55 } });
    await ctx.saveCheckpoint({ cursor: '2024-01-02', itemsProcessed: 0 });
    expect(written).toEqual([
      '{"cursor":11,"items_processed":10,"accumulated_results":{"sum":55}}',
      '{"cursor":"2024-01-02","items_processed":0}',
    ]);
  });

  it.each<[string, unknown, string]>([
    ['a missing cursor', { itemsProcessed: 1 }, 'cursor: is required'],
    ['a null cursor', { cursor: null, itemsProcessed: 1 }, 'cursor: is required'],
    [
      'a cursor that is not JSON',
      { cursor: 1n, itemsProcessed: 1 },
      'cursor: must be JSON-serializable (Do not know how to serialize a BigInt)',
    ],
    [
      'a function cursor',
      { cursor: () => 1, itemsProcessed: 1 },
      'cursor: must be JSON-serializable, got [function cursor]',
    ],
    [
      'negative items',
      { cursor: 1, itemsProcessed: -1 },
      'itemsProcessed: must be an integer >= 0, got -1',
    ],
    [
      'fractional items',
      { cursor: 1, itemsProcessed: 0.5 },
      'itemsProcessed: must be an integer >= 0, got 0.5',
    ],
    [
      'snake_case keys',
      { cursor: 1, items_processed: 3 },
      'itemsProcessed: must be an integer >= 0, got undefined',
    ],
    [
      'array results',
      { cursor: 1, itemsProcessed: 1, accumulatedResults: [1] },
      'accumulatedResults: must be an object, got [1]',
    ],
    [
      'results that are not JSON',
      { cursor: 1, itemsProcessed: 1, accumulatedResults: { n: 2n } },
      'accumulatedResults: must be JSON-serializable (Do not know how to serialize a BigInt)',
    ],
    ['no object', 5, 'expected {cursor, itemsProcessed, accumulatedResults?}, got 5'],
  ])('rejects %s before calling the core', async (_label, input, problem) => {
    const writer = jest.fn(async () => true);
    await expect(context({}, writer).saveCheckpoint(input as CheckpointInput)).rejects.toThrow(
      new ValidationError(`saveCheckpoint: ${problem}`),
    );
    expect(writer).not.toHaveBeenCalled();
  });

  it('throws a retryable checkpoint_rejected error when the claim is no longer current', async () => {
    const err = (await context({ stepName: 'w_001' }, async () => false)
      .saveCheckpoint({ cursor: 1, itemsProcessed: 0 })
      .catch((e: unknown) => e)) as RetryableError;
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.errorType).toBe('checkpoint_rejected');
    expect(err.message).toBe(
      "checkpoint of step 'w_001' not saved: this attempt's claim is no longer current " +
        '(the step timed out, was cancelled or was released)',
    );
  });

  it('throws when the context is not attached to a worker', async () => {
    await expect(context().saveCheckpoint({ cursor: 1, itemsProcessed: 0 })).rejects.toThrow(
      'saveCheckpoint: this StepContext is not attached to a worker',
    );
  });
});

describe('worker: checkpoints through the native worker', () => {
  it('passes the step uuid, claim id and JSON to NativeWorker.checkpoint', async () => {
    const handler = defineHandler('cp', async (ctx) => {
      await ctx.saveCheckpoint({
        cursor: 3,
        itemsProcessed: 2,
        accumulatedResults: { ids: [1, 2] },
      });
      return { done: true };
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    try {
      const event = stepEvent({ handler: 'cp', stepUuid: 'step-cp', claimId: 'claim-cp' });
      nativeWorker.push(event);
      const [result] = await nativeWorker.waitForResults(1);
      expect(result.success).toBe(true);
      expect(nativeWorker.checkpoints).toEqual([
        {
          stepUuid: 'step-cp',
          claimId: 'claim-cp',
          checkpoint: { cursor: 3, items_processed: 2, accumulated_results: { ids: [1, 2] } },
          accepted: true,
        },
      ]);
    } finally {
      await worker.shutdown();
    }
  });

  it('reports a stale claim as a retryable checkpoint_rejected failure', async () => {
    const handler = defineHandler('cp', async (ctx) => {
      await ctx.saveCheckpoint({ cursor: 1, itemsProcessed: 0 });
      return { unreachable: true };
    });
    const { result } = await runHandler(handler, {}, (nativeWorker) => {
      nativeWorker.staleClaims = true;
    });
    expect(result.error).toMatchObject({ errorType: 'checkpoint_rejected', retryable: true });
  });

  it('converts a native failure (e.g. the database) to the library error', async () => {
    let seen: unknown;
    const handler = defineHandler('cp', async (ctx) => {
      try {
        await ctx.saveCheckpoint({ cursor: 1, itemsProcessed: 0 });
      } catch (err) {
        seen = err;
        throw err;
      }
    });
    const { result } = await runHandler(handler, {}, (nativeWorker) => {
      nativeWorker.checkpointError = nativeError('DATABASE', 'disk I/O error');
    });
    expect(seen).toBeInstanceOf(DatabaseError);
    expect(withoutStack(result.error)).toStrictEqual({
      message: 'disk I/O error',
      errorType: 'DatabaseError',
      retryable: true,
    });
  });

  it('lets a batch worker that failed resume from its checkpoint on the next attempt', async () => {
    const processed: number[] = [];
    let failOnce = true;
    class SumWorker extends Batchable(StepHandler) {
      static override handlerName = 'Sum.Worker';
      async call(ctx: StepContext) {
        const batch = this.extractCursorContext(ctx);
        let cursor = (ctx.checkpointCursor as number | null) ?? batch.startCursor;
        let done = ctx.checkpointItemsProcessed;
        let sum = (ctx.accumulatedResults?.sum as number | undefined) ?? 0;
        while (cursor < batch.endCursor) {
          processed.push(cursor);
          sum += cursor;
          cursor += 1;
          done += 1;
          if (done % 3 === 0) {
            await ctx.saveCheckpoint({ cursor, itemsProcessed: done, accumulatedResults: { sum } });
          }
          if (failOnce && done === 4) {
            failOnce = false;
            throw new Error('connection lost');
          }
        }
        return { items_processed: done, sum };
      }
    }
    const inputs = { cursor: { batch_id: '001', start_cursor: 1, end_cursor: 11, batch_size: 10 } };
    const { worker, nativeWorker } = await startWorker([SumWorker]);
    try {
      nativeWorker.push(stepEvent({ handler: SumWorker.handlerName, stepUuid: 's1', inputs }));
      const [first] = await nativeWorker.waitForResults(1);
      expect(first.error).toMatchObject({ message: 'connection lost', retryable: true });
      // The core hands the step out again with the last checkpoint it stored.
      const stored = nativeWorker.checkpoints.at(-1)?.checkpoint as Record<string, unknown>;
      expect(stored).toEqual({ cursor: 4, items_processed: 3, accumulated_results: { sum: 6 } });
      nativeWorker.push(
        stepEvent({
          handler: SumWorker.handlerName,
          stepUuid: 's1',
          inputs,
          attempts: 1,
          checkpoint: stored,
        }),
      );
      const [, second] = await nativeWorker.waitForResults(2);
      expect(parsedOutcome(second)).toStrictEqual({
        success: true,
        result: { items_processed: 10, sum: 55 },
      });
      // Item 4 ran twice (after the last checkpoint, before the failure); all others once.
      expect(processed).toEqual([1, 2, 3, 4, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await worker.shutdown();
    }
  });
});
