/**
 * Checkpoint yields on both backends: a handler returns `this.checkpointYield(cursor, …)`, the
 * worker saves the checkpoint and runs it again from there in the same attempt, until it returns
 * a plain result. A yield that does not move the cursor, or carries an invalid checkpoint, fails
 * the step with `checkpoint_error`.
 */
import { Batchable, StepContext, StepHandler } from '../../src/index';
import { describeEachBackend, runTask, startWorker, stepOf } from '../helpers/e2e';

const ITEMS = 10;
const CHUNK = 3;

interface Call {
  cursor: unknown;
  processed: number;
  accumulated: unknown;
  attempt: number;
}

function countHandler(calls: Call[], mode: { stuck?: boolean; bad?: boolean }) {
  return class Count extends Batchable(StepHandler) {
    static override handlerName = 'Yield.Count';
    async call(ctx: StepContext) {
      calls.push({
        cursor: ctx.checkpointCursor,
        processed: ctx.checkpointItemsProcessed,
        accumulated: ctx.accumulatedResults,
        attempt: ctx.retryCount,
      });
      const from = (ctx.checkpointCursor as number | null) ?? 0;
      const sum = ((ctx.accumulatedResults?.sum as number | undefined) ?? 0) + from;
      if (mode.bad) return this.checkpointYield(from + 1, -1);
      if (mode.stuck) return this.checkpointYield(5, 5);
      const to = Math.min(ITEMS, from + CHUNK);
      let chunkSum = 0;
      for (let i = from; i < to; i++) chunkSum += i;
      if (to < ITEMS) {
        return this.checkpointYield(to, to, {
          sum: ((ctx.accumulatedResults?.sum ?? 0) as number) + chunkSum,
        });
      }
      return {
        total: ((ctx.accumulatedResults?.sum ?? 0) as number) + chunkSum,
        calls: calls.length,
        sum,
      };
    }
  };
}

describeEachBackend('checkpoint yield', (backend) => {
  it('saves the cursor and runs the step again from it, in one attempt', async () => {
    const calls: Call[] = [];
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'checkpoint-yield',
      handlers: [countHandler(calls, {})],
    });
    const task = await runTask(worker.client, { name: 'checkpoint_yield' });
    expect(task.state).toBe('complete');
    const step = stepOf(task, 'count');
    expect(step.attempts).toBe(1);
    // 0..3, 3..6, 6..9, 9..10: four calls, each from the checkpoint the one before saved.
    expect(calls.map((c) => [c.cursor, c.processed, c.attempt])).toEqual([
      [null, 0, 0],
      [3, 3, 0],
      [6, 6, 0],
      [9, 9, 0],
    ]);
    expect(calls[3].accumulated).toEqual({ sum: 0 + 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 });
    expect(step.result).toMatchObject({ total: 45, calls: 4 });
    expect(step.checkpoint).toMatchObject({ cursor: 9, items_processed: 9 });
    // No retry, no extra transitions: claimed once, completed once.
    const hops = task.transitions
      .filter((t) => t.stepName === 'count')
      .map((t) => `${t.fromState ?? '∅'}→${t.toState}`);
    expect(hops).toEqual([
      '∅→pending',
      'pending→enqueued',
      'enqueued→in_progress',
      'in_progress→complete',
    ]);
  });

  it('fails the step when a yield does not move the cursor, or its checkpoint is invalid', async () => {
    const calls: Call[] = [];
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'checkpoint-yield',
      handlers: [countHandler(calls, { stuck: true })],
    });
    const task = await runTask(worker.client, { name: 'checkpoint_yield' });
    expect(task.state).toBe('error');
    expect(stepOf(task, 'count').error).toMatchObject({
      errorType: 'checkpoint_error',
      retryable: false,
      message:
        "step 'count' yielded at cursor 5 twice in a row: a checkpoint yield must move the cursor forward",
    });
    expect(calls).toHaveLength(2);

    const badCalls: Call[] = [];
    const other = await startWorker({
      database: await backend.database(),
      templates: 'checkpoint-yield',
      handlers: [countHandler(badCalls, { bad: true })],
    });
    const bad = await runTask(other.client, { name: 'checkpoint_yield' });
    expect(bad.state).toBe('error');
    const error = stepOf(bad, 'count').error;
    expect(error).toMatchObject({ errorType: 'checkpoint_error', retryable: false });
    expect(error?.message).toMatch(
      /^checkpoint yield of step 'count' failed: saveCheckpoint: .*itemsProcessed/,
    );
  });
});
