/**
 * Lifecycle limits (docs/lifecycle.md): a task past its template's `lifecycle` limit fails with
 * the limit as its reason, the handler still running is aborted, nothing downstream runs, and a
 * template with a bad limit is refused with a message naming the file and field. On PostgreSQL
 * the task is created from a separate client.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { RetryableError, type StepHandlerClass, validateTemplates } from '../../src';
import {
  aborted,
  deferred,
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
  within,
} from '../helpers/e2e';

describeEachBackend('lifecycle limits', (backend) => {
  /** A worker of the lifecycle templates, and a client (on PostgreSQL, a separate one). */
  async function start(handlers: StepHandlerClass[]) {
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'lifecycle', handlers });
    const client = backend.name === 'postgres' ? await openClient(database) : worker.client;
    return { worker, client };
  }

  it('fail a task past max_duration_minutes and abort its running handler', async () => {
    const started = deferred<void>();
    const abortReason = deferred<unknown>();
    let afterRan = false;
    const slow = defineHandler('Lifecycle.Slow', async (ctx) => {
      started.resolve();
      const reason = await aborted(ctx.signal);
      abortReason.resolve(reason);
      throw reason;
    });
    const after = defineHandler('Lifecycle.After', () => {
      afterRan = true;
      return {};
    });
    const flaky = defineHandler('Lifecycle.Flaky', () => ({}));
    const { worker, client } = await start([slow, after, flaky]);

    const created = await client.createTask({ namespace: 'e2e', name: 'lifecycle' });
    await within(10000, 'the slow handler to start', started.promise);
    const reason = await within(10000, "the handler's signal to abort", abortReason.promise);
    expect((reason as Error).message).toBe('the task failed: it passed a lifecycle limit');

    const task = await client.waitForTask(created.taskUuid, { timeoutMs: 5000 });
    expect(task.state).toBe('error');
    const failed = taskHops(task).at(-1);
    expect(failed).toMatchObject({ from: 'steps_in_process', to: 'error' });
    expect(failed?.reason).toMatch(
      /^lifecycle\.max_duration_minutes \(0\.03 min\) exceeded: the task has been open for \d+\.\d s$/,
    );
    expect(stepOf(task, 'slow')).toMatchObject({ state: 'cancelled', result: null });
    expect(stepHops(task, 'slow').at(-1)).toEqual({
      from: 'in_progress',
      to: 'cancelled',
      reason: failed?.reason,
    });
    expect(stepOf(task, 'after')).toMatchObject({ state: 'cancelled', attempts: 0 });
    await eventually('the aborted result to be counted as stale', () => worker.stats().stale >= 1);
    expect(afterRan).toBe(false);
  });

  it('fail a task that waits for a retry longer than max_waiting_for_retry_minutes', async () => {
    let attempts = 0;
    const flaky = defineHandler('Lifecycle.Flaky', () => {
      attempts += 1;
      throw new RetryableError('the upstream is down');
    });
    const slow = defineHandler('Lifecycle.Slow', () => ({}));
    const after = defineHandler('Lifecycle.After', () => ({}));
    const { client } = await start([slow, after, flaky]);

    const created = await client.createTask({ namespace: 'e2e', name: 'lifecycle_retry' });
    const task = await client.waitForTask(created.taskUuid, { timeoutMs: 10000 });
    expect(task.state).toBe('error');
    expect(taskHops(task).map((h) => h.to)).toEqual([
      'pending',
      'steps_in_process',
      'waiting_for_retry',
      'error',
    ]);
    expect(taskHops(task).at(-1)?.reason).toMatch(
      /^lifecycle\.max_waiting_for_retry_minutes \(0\.02 min\) exceeded: no progress for \d+\.\d s while it waited to retry a step$/,
    );
    expect(stepOf(task, 'flaky')).toMatchObject({ state: 'cancelled', attempts: 1 });
    expect(attempts).toBe(1);
  });
});

describe('lifecycle limits in templates', () => {
  it('are checked, naming the file and the field', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-lifecycle-'));
    try {
      const file = path.join(dir, 'bad.yaml');
      fs.writeFileSync(
        file,
        [
          'name: bad',
          'namespace_name: e2e',
          'version: 1.0.0',
          'lifecycle:',
          '  max_duration_minutes: 0',
          'steps:',
          '  - name: a',
          '    handler: { callable: A }',
          '',
        ].join('\n'),
      );
      const report = validateTemplates(dir);
      expect(report.errors.map((e) => e.message)).toEqual([
        `${file}: field 'lifecycle.max_duration_minutes': must be > 0 and <= 43200, got 0`,
      ]);
      fs.writeFileSync(
        file,
        fs
          .readFileSync(file, 'utf8')
          .replace('max_duration_minutes: 0', 'max_waiting_for_retry_minute: 5'),
      );
      expect(validateTemplates(dir).errors.map((e) => e.message)).toEqual([
        `${file}: unknown field 'lifecycle.max_waiting_for_retry_minute' (did you mean 'lifecycle.max_waiting_for_retry_minutes'?)`,
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
