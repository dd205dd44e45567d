/**
 * Signal steps end to end on both backends: a `type: signal` step waits for
 * `client.sendSignal()` (its payload becomes the step's result and its dependents run), a signal
 * sent before the step waits is kept (across a restart of every process) and applied when it
 * waits, timeouts fail the step or complete it with its `on_timeout` result, and every refusal
 * says what is wrong. On PostgreSQL two workers share the work.
 */
import {
  InvalidArgumentError,
  InvalidStateError,
  TaskNotFoundError,
  type StepContext,
  type TaskerClient,
} from '../../src/index';
import {
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
  stepHops,
  stepOf,
  arrows,
} from '../helpers/e2e';

/** What `order` saw of the approval, per task. */
function handlers(seen: Map<string, unknown>) {
  return [
    defineHandler('Signals.Check', (ctx: StepContext) => ({
      amount: ctx.getInputOr<number>('amount', 0),
    })),
    defineHandler('Signals.Order', (ctx: StepContext) => {
      seen.set(ctx.taskUuid, ctx.getDependencyResult('approve'));
      return { ordered: true };
    }),
  ];
}

async function waitingStep(client: TaskerClient, taskUuid: string, step: string) {
  return eventually(`${step} to wait for its signal`, async () => {
    const t = await client.getTask(taskUuid);
    return t !== null && stepOf(t, step).state === 'waiting_for_signal' ? t : undefined;
  });
}

describeEachBackend('signal steps', (backend) => {
  it('a waiting step completes with the signal payload and its dependents run', async () => {
    const seen = new Map<string, unknown>();
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'signals', handlers: handlers(seen) });
    const client = worker.client;
    const task = await client.createTask({
      namespace: 'signals',
      name: 'purchase',
      context: { amount: 5000 },
    });

    const waiting = await waitingStep(client, task.taskUuid, 'approve');
    expect(waiting.state).toBe('steps_in_process');
    expect(stepOf(waiting, 'order').state).toBe('pending');

    const sent = await client.sendSignal(task.taskUuid, 'approve', {
      approved: true,
      by: 'manager@example.com',
    });
    expect(sent).toEqual({
      applied: true,
      stepState: 'complete',
      taskState: 'steps_in_process',
      receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const done = await client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'approve').result).toEqual({ approved: true, by: 'manager@example.com' });
    expect(seen.get(task.taskUuid)).toEqual({ approved: true, by: 'manager@example.com' });
    // The timeline shows the wait.
    expect(arrows(stepHops(done, 'approve'))).toEqual([
      '∅→pending',
      'pending→waiting_for_signal',
      'waiting_for_signal→complete',
    ]);

    await expect(client.sendSignal(task.taskUuid, 'approve', {})).rejects.toThrow(
      new RegExp(
        `^step 'approve' of task ${task.taskUuid} already received a signal \\(at ${sent.receivedAt.replace(/\./g, '\\.')}; it is complete\\): a signal step takes one signal$`,
      ),
    );
  });

  it('a signal sent before the step waits is kept across a restart and applied when it waits', async () => {
    const seen = new Map<string, unknown>();
    const database = await backend.database({ shared: true });
    // No worker yet: the task is created and signalled while nothing runs.
    const first = await openClient(database);
    const stopped = await startWorker({
      database,
      templates: 'signals',
      handlers: handlers(seen),
      start: false,
    });
    const task = await first.createTask({ namespace: 'signals', name: 'purchase' });
    const sent = await first.sendSignal(task.taskUuid, 'approve', { approved: 'early' });
    expect(sent).toMatchObject({ applied: false, stepState: 'pending' });
    await first.close();
    await stopped.shutdown();

    // Every process "restarts": a new worker runs `check`, and `approve` completes at once.
    const worker = await startWorker({ database, templates: 'signals', handlers: handlers(seen) });
    const done = await worker.client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'approve').result).toEqual({ approved: 'early' });
    expect(seen.get(task.taskUuid)).toEqual({ approved: 'early' });
    const applied = done.transitions.find(
      (t) => t.stepName === 'approve' && t.toState === 'complete',
    );
    expect(applied?.reason).toBe(
      `completed by the signal received at ${sent.receivedAt} (before the step waited)`,
    );
  });

  it('a timeout fails the step and its task; a retried task waits again', async () => {
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'signals',
      handlers: handlers(new Map()),
    });
    const client = worker.client;
    const task = await client.createTask({ namespace: 'signals', name: 'expiring' });
    const failed = await client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(failed.state).toBe('error');
    expect(stepOf(failed, 'approve')).toMatchObject({
      state: 'error',
      error: { errorType: 'signal_timeout', message: 'no signal received within 0.3 s' },
    });
    expect(stepOf(failed, 'order').state).toBe('cancelled');
    // A signal to the failed step is kept for a retry.
    expect(await client.sendSignal(task.taskUuid, 'approve', { late: true })).toMatchObject({
      applied: false,
      stepState: 'error',
    });
    await client.retryTask(task.taskUuid);
    const done = await client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'approve').result).toEqual({ late: true });
  });

  it('a timeout with on_timeout completes the step with its default result', async () => {
    const seen = new Map<string, unknown>();
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'signals', handlers: handlers(seen) });
    const client = worker.client;
    const task = await client.createTask({ namespace: 'signals', name: 'defaulted' });
    const done = await client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    const defaulted = { approved: false, reason: 'no answer in time' };
    expect(stepOf(done, 'approve').result).toEqual(defaulted);
    expect(seen.get(task.taskUuid)).toEqual(defaulted);
    await expect(client.sendSignal(task.taskUuid, 'approve', {})).rejects.toThrow(
      `task ${task.taskUuid} is complete: its steps take no more signals`,
    );
  });

  it('refuses signals with clear errors', async () => {
    const database = await backend.database();
    const worker = await startWorker({
      database,
      templates: 'signals',
      handlers: handlers(new Map()),
    });
    const client = worker.client;
    const task = await client.createTask({ namespace: 'signals', name: 'purchase' });
    const id = task.taskUuid;
    const missing = '01900000-0000-7000-8000-000000000000';
    await expect(client.sendSignal(missing, 'approve', {})).rejects.toThrow(
      new TaskNotFoundError(`task ${missing} does not exist`),
    );
    await expect(client.sendSignal(id, 'aprove', {})).rejects.toThrow(
      new InvalidArgumentError(
        `task ${id} has no step 'aprove' (its steps: approve, check, order; signal steps: approve)`,
      ),
    );
    await expect(client.sendSignal(id, 'check', {})).rejects.toThrow(
      new InvalidArgumentError(
        `step 'check' of task ${id} is a standard step, not a signal step: only a step of type signal takes signals`,
      ),
    );
    const big = { blob: 'x'.repeat(17 * 1024 * 1024) };
    await expect(client.sendSignal(id, 'approve', big)).rejects.toThrow(
      /^the signal payload for step 'approve' is 178\d+ bytes; the limit is 16777216 bytes \(maxResultBytes\)$/,
    );
    await expect(client.sendSignal(id, 'approve', [] as never)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await client.cancelTask(id);
    await expect(client.sendSignal(id, 'approve', {})).rejects.toThrow(
      new InvalidStateError(`task ${id} is cancelled: its steps take no more signals`),
    );
    expect(stepOf((await client.getTask(id))!, 'approve').state).toBe('cancelled');
  });
});

describeEachBackend(
  'signal steps with two workers',
  (backend) => {
    it('two workers share the work; each signalled step completes once', async () => {
      const seen = new Map<string, unknown>();
      const database = await backend.database({ shared: true });
      const a = await startWorker({ database, templates: 'signals', handlers: handlers(seen) });
      await startWorker({ database, templates: 'signals', handlers: handlers(seen) });
      const operator = await openClient(database);
      const tasks = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          a.client.createTask({
            namespace: 'signals',
            name: i % 2 === 0 ? 'purchase' : 'defaulted',
            context: { amount: i },
          }),
        ),
      );
      for (const t of tasks.filter((t) => t.name === 'purchase')) {
        await operator.sendSignal(t.taskUuid, 'approve', { approved: t.taskUuid });
      }
      for (const t of tasks) {
        const done = await a.client.waitForTask(t.taskUuid, { timeoutMs: 20000 });
        expect(done.state).toBe('complete');
        const ends = done.transitions.filter(
          (x) => x.stepName === 'approve' && x.fromState === 'waiting_for_signal',
        );
        expect(ends).toHaveLength(1);
        expect(stepOf(done, 'order').attempts).toBe(1);
        expect(seen.get(t.taskUuid)).toEqual(
          t.name === 'purchase'
            ? { approved: t.taskUuid }
            : { approved: false, reason: 'no answer in time' },
        );
      }
    });
  },
  { only: ['postgres'] },
);
