import {
  defineHandler,
  deferred,
  nativeError,
  startWorker,
  stepEvent,
} from '../helpers/mock-native';

describe('worker: result batching', () => {
  it('reports results produced in the same tick with one complete() call', async () => {
    // Handlers settle after different numbers of microtask hops, all within one tick.
    const handler = defineHandler('h', async (ctx) => {
      for (let i = 0; i < ctx.getInputOr('hops', 0); i++) await null;
      return { ok: 1 };
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    const events = [0, 5, 20].map((hops) => stepEvent({ handler: 'h', context: { hops } }));
    nativeWorker.push(...events);
    await nativeWorker.waitForResults(3);
    expect(nativeWorker.batches).toHaveLength(1);
    expect(nativeWorker.batches[0].map((r) => r.claimId)).toEqual(events.map((e) => e.claimId));
    await worker.shutdown();
  });

  it('reports results produced in different ticks separately', async () => {
    const slow = deferred();
    const handler = defineHandler('h', async (ctx) => {
      if (ctx.stepName === 'slow') await slow.promise;
      return {};
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    nativeWorker.push(
      stepEvent({ handler: 'h', stepName: 'fast' }),
      stepEvent({ handler: 'h', stepName: 'slow' }),
    );
    await nativeWorker.waitForResults(1);
    setTimeout(() => slow.resolve(), 10);
    await nativeWorker.waitForResults(2);
    expect(nativeWorker.batches.map((b) => b.length)).toEqual([1, 1]);
    await worker.shutdown();
  });

  it('retries each result alone when the core rejects a batch', async () => {
    const { worker, nativeWorker, logger } = await startWorker([defineHandler('h', () => ({}))]);
    nativeWorker.completeFailures.push(new Error('napi: failed to convert field'));
    nativeWorker.push(stepEvent({ handler: 'h' }), stepEvent({ handler: 'h' }));
    await nativeWorker.waitForResults(2);
    expect(nativeWorker.batches.map((b) => b.length)).toEqual([1, 1]);
    expect(nativeWorker.results.every((r) => r.success)).toBe(true);
    expect(logger.messages('error')).toEqual([]);
    await worker.shutdown();
  });

  it('replaces a result the core rejects with a permanent completion_error', async () => {
    const { worker, nativeWorker, logger } = await startWorker([defineHandler('h', () => ({}))]);
    nativeWorker.completeFailures.push(new Error('value too large'));
    const event = stepEvent({ handler: 'h' });
    nativeWorker.push(event);
    const [result] = await nativeWorker.waitForResults(1);
    expect(result).toStrictEqual({
      stepUuid: event.stepUuid,
      claimId: event.claimId,
      success: false,
      error: {
        message: "the step's result could not be reported: value too large",
        errorType: 'completion_error',
        retryable: false,
      },
      durationMs: expect.any(Number),
    });
    expect(logger.messages('error').some((m) => m.includes('value too large'))).toBe(true);
    await worker.shutdown();
  });

  it('replaces only the result the core rejects, after retrying the batch item by item', async () => {
    const { worker, nativeWorker } = await startWorker([defineHandler('h', () => ({}))]);
    // the batch, then the first result alone; the second result alone and the fallback succeed
    nativeWorker.completeFailures.push(new Error('batch rejected'), new Error('first rejected'));
    const first = stepEvent({ handler: 'h' });
    const second = stepEvent({ handler: 'h' });
    nativeWorker.push(first, second);
    await nativeWorker.waitForResults(2);
    expect(nativeWorker.resultFor(first)?.error?.errorType).toBe('completion_error');
    expect(nativeWorker.resultFor(second)?.success).toBe(true);
    await worker.shutdown();
  });

  it('logs a result that the core refuses alone because it closed meanwhile as not reported', async () => {
    const { worker, nativeWorker, logger } = await startWorker([defineHandler('h', () => ({}))]);
    // the batch is rejected, then the worker closes before the first result is sent alone
    nativeWorker.completeFailures.push(
      new Error('batch rejected'),
      nativeError('CLOSED', 'worker is shut down'),
    );
    const first = stepEvent({ handler: 'h' });
    const second = stepEvent({ handler: 'h' });
    nativeWorker.push(first, second);
    await nativeWorker.waitForResults(1);
    expect(nativeWorker.resultFor(first)).toBeUndefined();
    expect(nativeWorker.resultFor(second)?.success).toBe(true);
    expect(logger.messages('warn')).toContain(
      `result of step ${first.stepUuid} not reported: worker is shut down`,
    );
    await worker.shutdown();
  });

  it('logs a result as lost when even the fallback is rejected', async () => {
    const { worker, nativeWorker, logger } = await startWorker([defineHandler('h', () => ({}))]);
    nativeWorker.completeFailures.push(new Error('rejected'), new Error('rejected again'));
    const event = stepEvent({ handler: 'h' });
    nativeWorker.push(event);
    await new Promise((r) => setTimeout(r, 20));
    expect(nativeWorker.batches).toEqual([]);
    expect(logger.messages('error')).toContain(
      `result of step ${event.stepUuid} lost; its lease will expire`,
    );
    await worker.shutdown();
  });

  it('logs, and does not throw, when the worker is already closed', async () => {
    const release = deferred();
    const { worker, nativeWorker, logger } = await startWorker([
      defineHandler('h', async () => {
        await release.promise;
        return {};
      }),
    ]);
    nativeWorker.completeFailures.push(nativeError('CLOSED', 'worker is shut down'));
    nativeWorker.push(stepEvent({ handler: 'h' }));
    await new Promise((r) => setImmediate(r));
    release.resolve();
    await new Promise((r) => setTimeout(r, 20));
    expect(nativeWorker.batches).toEqual([]);
    expect(logger.messages('warn')).toContain('1 step result(s) not reported: worker is shut down');
    await worker.shutdown();
  });
});
