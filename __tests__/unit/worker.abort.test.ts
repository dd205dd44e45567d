import type { StepContext } from '../../src/index';
import {
  abortEvent,
  defineHandler,
  deferred,
  startWorker,
  stepEvent,
  withoutStack,
} from '../helpers/mock-native';

/** Resolves with the reason when the signal aborts. */
function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
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
    expect(withoutStack(result.error)).toStrictEqual({
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

/**
 * Every step claimed in one claim transaction shares one claim id, and a step can be claimed
 * again (new claim id) while an aborted earlier attempt still runs: an execution is a step
 * under a claim, and every abort must reach exactly that execution's handler.
 */
describe('worker: aborts reach exactly one step execution', () => {
  function waitingHandler(signals: Map<string, AbortSignal>, release: Promise<void>) {
    return defineHandler('h', async (ctx) => {
      signals.set(ctx.stepName, ctx.signal);
      await Promise.race([aborted(ctx.signal), release]);
      return { aborted: ctx.signal.aborted };
    });
  }

  it('aborts only the targeted step among steps that share one claim id', async () => {
    const signals = new Map<string, AbortSignal>();
    const release = deferred();
    const { worker, nativeWorker } = await startWorker([waitingHandler(signals, release.promise)]);
    const steps = ['a', 'b', 'c'].map((name) =>
      stepEvent({ handler: 'h', stepName: name, claimId: 'shared-claim' }),
    );
    nativeWorker.push(...steps);
    await new Promise((r) => setImmediate(r));
    nativeWorker.push(abortEvent(steps[0], 'the task was cancelled'));
    await new Promise((r) => setImmediate(r));

    expect([...signals].map(([name, s]) => [name, s.aborted])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
    expect((signals.get('a')?.reason as Error).message).toBe('the task was cancelled');
    release.resolve();
    await nativeWorker.waitForResults(3);
    expect(steps.map((e) => JSON.parse(nativeWorker.resultFor(e)?.result ?? ''))).toEqual([
      { aborted: true },
      { aborted: false },
      { aborted: false },
    ]);
    await worker.shutdown();
  });

  it('aborts only the old execution of a step claimed again while the old one still runs', async () => {
    const signals: AbortSignal[] = [];
    const release = deferred();
    const handler = defineHandler('h', async (ctx) => {
      signals.push(ctx.signal);
      await Promise.race([aborted(ctx.signal), release.promise]);
      return { aborted: ctx.signal.aborted };
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    const old = stepEvent({ handler: 'h', stepUuid: 'step-x', claimId: 'claim-1' });
    const again = stepEvent({ handler: 'h', stepUuid: 'step-x', claimId: 'claim-2' });
    nativeWorker.push(old, again);
    await new Promise((r) => setImmediate(r));
    nativeWorker.push(abortEvent(old, 'step timed out'));
    await new Promise((r) => setImmediate(r));

    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
    release.resolve();
    await nativeWorker.waitForResults(2);
    expect(JSON.parse(nativeWorker.resultFor(old)?.result ?? '')).toEqual({ aborted: true });
    expect(JSON.parse(nativeWorker.resultFor(again)?.result ?? '')).toEqual({ aborted: false });
    await worker.shutdown();
  });

  it('shutdown aborts every step sharing a claim id and resolves after all of them settled', async () => {
    const settled: string[] = [];
    const handler = defineHandler('h', async (ctx) => {
      await aborted(ctx.signal);
      await new Promise((r) => setTimeout(r, 20)); // cleanup after the abort
      settled.push(ctx.stepName);
      return { reason: (ctx.signal.reason as Error).message };
    });
    const { worker, nativeWorker } = await startWorker([handler], { shutdownGraceMs: 10 });
    const steps = ['a', 'b', 'c', 'd'].map((name) =>
      stepEvent({ handler: 'h', stepName: name, claimId: 'shared-claim' }),
    );
    nativeWorker.push(...steps);
    await new Promise((r) => setImmediate(r));

    await worker.shutdown();

    expect(settled.sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(nativeWorker.results.map((r) => JSON.parse(r.result ?? ''))).toEqual(
      Array(4).fill({ reason: 'worker shutting down' }),
    );
  });

  it('shutdown abandons a handler that ignores its signal after shutdownSettleMs, naming it', async () => {
    const release = deferred();
    const stubborn = defineHandler('h', async (ctx) => {
      if (ctx.stepName === 'stubborn')
        await release.promise; // ignores ctx.signal
      else await aborted(ctx.signal);
      return { late: true };
    });
    const { worker, nativeWorker, logger } = await startWorker([stubborn], {
      shutdownGraceMs: 10,
      shutdownSettleMs: 50,
    });
    const ignoring = stepEvent({
      handler: 'h',
      stepName: 'stubborn',
      taskName: 'nightly_export',
      taskUuid: 'task-42',
      stepUuid: 'step-42',
    });
    const honouring = stepEvent({ handler: 'h', stepName: 'polite' });
    nativeWorker.push(ignoring, honouring);
    await new Promise((r) => setImmediate(r));

    const started = Date.now();
    await worker.shutdown();

    expect(Date.now() - started).toBeLessThan(2000);
    expect(nativeWorker.resultFor(honouring)?.success).toBe(true);
    expect(nativeWorker.resultFor(ignoring)).toBeUndefined();
    const warning = logger.entries.find((e) => e.level === 'warn');
    expect(warning?.message).toBe(
      `worker ${worker.workerId}: shutdown abandoned 1 step handler(s) that did not settle ` +
        'within shutdownSettleMs (50 ms) of being aborted: task nightly_export (task-42) step ' +
        "'stubborn' (step-42). Their claims were released (or their attempts had already ended), " +
        'so whatever they return is ignored; handlers should honour ctx.signal',
    );
    expect(warning?.fields).toEqual({
      workerId: worker.workerId,
      abandoned: [
        {
          taskUuid: 'task-42',
          stepUuid: 'step-42',
          taskName: 'nightly_export',
          step: 'stubborn',
        },
      ],
    });

    // Its late result goes nowhere and breaks nothing.
    release.resolve();
    await new Promise((r) => setTimeout(r, 10));
    expect(logger.entries.filter((e) => e.level === 'error')).toEqual([]);
  });

  it('shutdown aborts running handlers itself when the core’s abort events do not arrive', async () => {
    const reasons: string[] = [];
    const handler = defineHandler('h', async (ctx) => {
      reasons.push(((await aborted(ctx.signal)) as Error).message);
      return {};
    });
    const { worker, nativeWorker } = await startWorker([handler], { shutdownGraceMs: 10 });
    nativeWorker.abortOnShutdown = false;
    nativeWorker.push(stepEvent({ handler: 'h' }), stepEvent({ handler: 'h' }));
    await new Promise((r) => setImmediate(r));

    await worker.shutdown();

    expect(reasons).toEqual(
      Array(2).fill(
        `worker ${worker.workerId} is shutting down; the step's result can no longer be recorded`,
      ),
    );
  });
});
