/**
 * Retries: a retryable failure is tried again after the step's backoff (or a server-requested
 * delay), until it succeeds or `max_attempts` is used up.
 */
import { RetryableError } from '../../src/index';
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

describeEachBackend('retries', (backend) => {
  it('a step that fails twice with RetryableError succeeds on its third attempt', async () => {
    const log = new ExecutionLog();
    const flaky = defineHandler('RetryThenSucceed.Flaky', (ctx) => {
      log.record(ctx);
      if (ctx.retryCount < 2) {
        throw new RetryableError(`upstream busy (attempt ${ctx.retryCount + 1})`);
      }
      return { ok: true, attempt: ctx.retryCount + 1, lastRetry: ctx.isLastRetry() };
    });
    const after = defineHandler('RetryThenSucceed.After', (ctx) => {
      log.record(ctx);
      return { saw: ctx.getDependencyResult('flaky') };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'retry-then-succeed',
      handlers: [flaky, after],
    });

    const task = await runTask(worker.client, { name: 'retry_then_succeed' });

    expect(task.state).toBe('complete');
    const step = stepOf(task, 'flaky');
    expect(step).toMatchObject({ state: 'complete', attempts: 3, maxAttempts: 3 });
    expect(step.result).toEqual({ ok: true, attempt: 3, lastRetry: true });
    expect(step.error).toBeNull(); // cleared by the success
    expect(log.of('flaky').map((e) => e.retryCount)).toEqual([0, 1, 2]);
    expect(stepOf(task, 'after').result).toEqual({
      saw: { ok: true, attempt: 3, lastRetry: true },
    });
    expect(log.of('after')).toHaveLength(1);

    const hops = stepHops(task, 'flaky');
    expect(arrows(hops)).toEqual([
      '∅→pending',
      'pending→enqueued',
      'enqueued→in_progress',
      'in_progress→waiting_for_retry',
      'waiting_for_retry→in_progress',
      'in_progress→waiting_for_retry',
      'waiting_for_retry→in_progress',
      'in_progress→complete',
    ]);
    expect(hops[3].reason).toMatch(
      /^attempt 1 of 3 failed \(retryable_error: upstream busy \(attempt 1\)\); retrying in \d+ ms$/,
    );
    expect(hops[5].reason).toMatch(
      /^attempt 2 of 3 failed \(retryable_error: upstream busy \(attempt 2\)\);/,
    );
    expect(hops[6].reason).toBe('attempt 3 of 3');
    expect(hops[7].reason).toMatch(/^attempt 3 of 3 succeeded/);
    // The template's backoff is honoured: exponential from 20 ms, capped at 50, jittered down ≤15%.
    const delays = hops
      .map((h) => /retrying in (\d+) ms/.exec(h.reason ?? '')?.[1])
      .filter((d): d is string => d !== undefined)
      .map(Number);
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(17);
    expect(delays[0]).toBeLessThanOrEqual(20);
    expect(delays[1]).toBeGreaterThanOrEqual(34);
    expect(delays[1]).toBeLessThanOrEqual(40);

    // The task waited out each backoff, then resumed.
    expect(arrows(taskHops(task))).toEqual([
      '∅→pending',
      'pending→steps_in_process',
      'steps_in_process→waiting_for_retry',
      'waiting_for_retry→steps_in_process',
      'steps_in_process→waiting_for_retry',
      'waiting_for_retry→steps_in_process',
      'steps_in_process→complete',
    ]);
    expect(taskHops(task)[2].reason).toMatch(/^step 'flaky' waits \d+ ms before attempt 2$/);
    expect(taskHops(task)[3].reason).toBe('a step is being retried');
  });

  it('when retries are exhausted the step and task fail, and a pending dependent is cancelled', async () => {
    const log = new ExecutionLog();
    const flaky = defineHandler('RetriesExhausted.Flaky', (ctx) => {
      log.record(ctx);
      throw new RetryableError('upstream down', {
        errorType: 'upstream_unavailable',
        statusCode: 503,
      });
    });
    const downstream = defineHandler('RetriesExhausted.Downstream', (ctx) => {
      log.record(ctx);
      return {};
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'retries-exhausted',
      handlers: [flaky, downstream],
    });

    const task = await runTask(worker.client, { name: 'retries_exhausted' });

    expect(task.state).toBe('error');
    expect(task.completedAt).not.toBeNull();
    const step = stepOf(task, 'flaky');
    expect(step).toMatchObject({ state: 'error', attempts: 2, maxAttempts: 2, result: null });
    expect(step.error).toEqual({
      message: 'upstream down',
      errorType: 'upstream_unavailable',
      retryable: true,
      statusCode: 503,
      stack: expect.stringContaining('upstream down'),
    });
    expect(log.of('flaky')).toHaveLength(2);

    const last = stepHops(task, 'flaky').at(-1)!;
    expect(last).toEqual({
      from: 'in_progress',
      to: 'error',
      reason: 'attempt 2 of 2 failed; no attempts left (upstream_unavailable: upstream down)',
    });
    expect(taskHops(task).at(-1)).toEqual({
      from: 'steps_in_process',
      to: 'error',
      reason: "step 'flaky' failed permanently: upstream down",
    });

    // The dependent never became ready: cancelled from pending, its handler never ran.
    expect(stepOf(task, 'downstream')).toMatchObject({
      state: 'cancelled',
      attempts: 0,
      result: null,
    });
    expect(stepHops(task, 'downstream')).toEqual([
      { from: null, to: 'pending', reason: null },
      {
        from: 'pending',
        to: 'cancelled',
        reason: "step 'flaky' failed permanently: upstream down",
      },
    ]);
    expect(log.of('downstream')).toHaveLength(0);
  });

  it('RetryableError.retryAfterMs holds the next attempt back although the backoff is zero', async () => {
    let failedAt = 0;
    const starts: number[] = [];
    const rateLimited = defineHandler('RetryAfter.RateLimited', (ctx) => {
      starts.push(Date.now());
      if (ctx.retryCount === 0) {
        failedAt = Date.now();
        throw new RetryableError('429 Too Many Requests', {
          retryAfterMs: 400,
          errorType: 'rate_limited',
          statusCode: 429,
        });
      }
      return { attempt: ctx.retryCount + 1 };
    });
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'retry-after',
      handlers: [rateLimited],
    });

    const task = await runTask(worker.client, { name: 'retry_after' });

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'rate_limited')).toMatchObject({ state: 'complete', attempts: 2 });
    expect(starts).toHaveLength(2);
    const waited = starts[1] - failedAt;
    expect(waited).toBeGreaterThanOrEqual(400);
    expect(waited).toBeLessThan(3000);
    expect(stepHops(task, 'rate_limited')[3]).toEqual({
      from: 'in_progress',
      to: 'waiting_for_retry',
      reason:
        'attempt 1 of 3 failed (rate_limited: 429 Too Many Requests); retrying in 400 ms (server-requested delay)',
    });
  });
});
