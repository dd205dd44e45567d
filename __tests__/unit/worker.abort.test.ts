import type { StepContext } from '../../src/index';
import {
  abortEvent,
  defineHandler,
  deferred,
  startWorker,
  stepEvent,
} from '../helpers/mock-native';

/** Resolves when the signal aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

describe('worker: abort events', () => {
  it('aborts ctx.signal with an Error carrying the reason, and still reports the result', async () => {
    const seen = deferred<StepContext>();
    const handler = defineHandler('wait_for_abort', async (ctx) => {
      seen.resolve(ctx);
      await aborted(ctx.signal);
      const reason = ctx.signal.reason as Error;
      return {
        aborted: ctx.signal.aborted,
        reason: reason.message,
        isError: reason instanceof Error,
      };
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    const event = stepEvent({ handler: 'wait_for_abort' });
    nativeWorker.push(event);
    const ctx = await seen.promise;
    expect(ctx.signal.aborted).toBe(false);

    nativeWorker.push(abortEvent(event, 'step timed out after 100ms'));
    const [result] = await nativeWorker.waitForResults(1);
    expect(result.claimId).toBe(event.claimId);
    expect(result.success).toBe(true);
    expect(JSON.parse(result.result ?? '')).toEqual({
      aborted: true,
      reason: 'step timed out after 100ms',
      isError: true,
    });
    await worker.shutdown();
  });

  it('reports a handler that rethrows the abort reason as a retryable AbortError', async () => {
    const handler = defineHandler('rethrow', async (ctx) => {
      await aborted(ctx.signal);
      throw ctx.signal.reason;
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    const event = stepEvent({ handler: 'rethrow' });
    nativeWorker.push(event);
    await new Promise((r) => setImmediate(r));
    nativeWorker.push(abortEvent(event, 'task cancelled'));
    const [result] = await nativeWorker.waitForResults(1);
    expect(result.error).toStrictEqual({
      message: 'task cancelled',
      errorType: 'AbortError',
      retryable: true,
    });
    await worker.shutdown();
  });

  it('aborts only the targeted step', async () => {
    const signals = new Map<string, AbortSignal>();
    const release = deferred();
    const handler = defineHandler('h', async (ctx) => {
      signals.set(ctx.stepName, ctx.signal);
      await release.promise;
      return { aborted: ctx.signal.aborted };
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    const first = stepEvent({ handler: 'h', stepName: 'first' });
    const second = stepEvent({ handler: 'h', stepName: 'second' });
    nativeWorker.push(first, second);
    await new Promise((r) => setImmediate(r));
    nativeWorker.push(abortEvent(second, 'cancelled'));
    await new Promise((r) => setImmediate(r));
    expect(signals.get('first')?.aborted).toBe(false);
    expect(signals.get('second')?.aborted).toBe(true);
    release.resolve();
    await nativeWorker.waitForResults(2);
    expect(JSON.parse(nativeWorker.resultFor(first)?.result ?? '')).toEqual({ aborted: false });
    expect(JSON.parse(nativeWorker.resultFor(second)?.result ?? '')).toEqual({ aborted: true });
    await worker.shutdown();
  });

  it('applies an abort that arrives in the same poll batch as its step', async () => {
    const handler = defineHandler('h', async (ctx) => {
      await new Promise((r) => setImmediate(r));
      return { aborted: ctx.signal.aborted };
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    const event = stepEvent({ handler: 'h' });
    nativeWorker.push(event, abortEvent(event, 'lease lost'));
    const [result] = await nativeWorker.waitForResults(1);
    expect(JSON.parse(result.result ?? '')).toEqual({ aborted: true });
    await worker.shutdown();
  });

  it('ignores an abort for a claim that is not running', async () => {
    const { worker, nativeWorker, logger } = await startWorker([defineHandler('h', () => ({}))]);
    const done = stepEvent({ handler: 'h' });
    nativeWorker.push(done);
    await nativeWorker.waitForResults(1);
    nativeWorker.push(abortEvent(done, 'too late'));
    const next = stepEvent({ handler: 'h' });
    nativeWorker.push(next);
    await nativeWorker.waitForResults(2);
    expect(nativeWorker.resultFor(next)?.success).toBe(true);
    expect(logger.messages('debug').some((m) => m.includes(`claim ${done.claimId}`))).toBe(true);
    await worker.shutdown();
  });
});
