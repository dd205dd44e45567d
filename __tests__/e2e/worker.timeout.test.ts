/**
 * Step timeouts (`timeout_seconds`, enforced by the worker core): the handler's signal aborts,
 * the attempt fails as a retryable `timeout`, and a late result of that attempt is ignored.
 */
import {
  aborted,
  defineHandler,
  describeEachBackend,
  eventually,
  runTask,
  sleep,
  startWorker,
  stepHops,
  stepOf,
} from '../helpers/e2e';

const TIMEOUT_REASON =
  /^attempt 1 of 3 failed \(timeout: step 'slow' timed out after 300 ms \(attempt 1 of 3\)\); retrying in \d+ ms$/;

describeEachBackend('step timeout', (backend) => {
  it('aborts the signal after timeout_seconds, fails the attempt as timeout, and retries', async () => {
    const attempts: { retryCount: number; abortReason?: unknown; abortedAfterMs?: number }[] = [];
    const slow = defineHandler('Timeout.Slow', async (ctx) => {
      const attempt: (typeof attempts)[number] = { retryCount: ctx.retryCount };
      attempts.push(attempt);
      if (ctx.retryCount > 0) return { attempt: ctx.retryCount + 1 };
      const started = Date.now();
      attempt.abortReason = await aborted(ctx.signal);
      attempt.abortedAfterMs = Date.now() - started;
      throw attempt.abortReason;
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'timeout',
      handlers: [slow],
    });

    const task = await runTask(worker.client, { name: 'timeout' });

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'slow')).toMatchObject({
      state: 'complete',
      attempts: 2,
      result: { attempt: 2 },
      error: null,
    });
    expect(attempts.map((a) => a.retryCount)).toEqual([0, 1]);
    const reason = attempts[0].abortReason;
    expect(reason).toBeInstanceOf(Error);
    expect((reason as Error).name).toBe('AbortError');
    expect((reason as Error).message).toBe("step 'slow' timed out after 300 ms (attempt 1 of 3)");
    expect((reason as Error).message).toMatch(/timed out/);
    expect(attempts[0].abortedAfterMs).toBeGreaterThanOrEqual(200);
    expect(attempts[0].abortedAfterMs).toBeLessThan(2000);

    const failed = stepHops(task, 'slow', { withWorker: true }).find(
      (h) => h.to === 'waiting_for_retry',
    );
    expect(failed).toEqual({
      from: 'in_progress',
      to: 'waiting_for_retry',
      reason: expect.stringMatching(TIMEOUT_REASON),
      workerId: worker.workerId,
    });
    // The timeout result and the success were recorded; the aborted handler's own (later)
    // result was ignored as stale.
    await eventually('the aborted attempt’s result to be counted as stale', () => {
      const stats = worker.stats();
      return stats.stale >= 1 && stats;
    });
    expect(worker.stats()).toMatchObject({ claimed: 2, recorded: 2, stale: 1, inFlight: 0 });
  });

  it('ignores a late success of a timed-out attempt that did not honour its signal', async () => {
    const calls: number[] = [];
    const slow = defineHandler('Timeout.Slow', async (ctx) => {
      calls.push(ctx.retryCount);
      if (ctx.retryCount === 0) {
        await sleep(600); // ignores ctx.signal
        return { attempt: 1, late: true };
      }
      return { attempt: ctx.retryCount + 1 };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'timeout',
      handlers: [slow],
    });

    const created = await worker.client.createTask({ namespace: 'e2e', name: 'timeout' });
    await worker.client.waitForTask(created.taskUuid, { timeoutMs: 10000 });
    // Let the first attempt's late result arrive, then look again: it must not have won.
    await eventually('the late result to be counted as stale', () => worker.stats().stale >= 1);
    const task = (await worker.client.getTask(created.taskUuid))!;

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'slow')).toMatchObject({
      state: 'complete',
      attempts: 2,
      result: { attempt: 2 },
    });
    expect(calls).toEqual([0, 1]);
    expect(stepHops(task, 'slow').filter((h) => h.to === 'complete')).toHaveLength(1);
    expect(stepHops(task, 'slow').find((h) => h.to === 'waiting_for_retry')!.reason).toMatch(
      TIMEOUT_REASON,
    );
  });
});
