/**
 * Mistakes a user makes, and the named errors (with messages that say what and where) they get
 * back from the real addon.
 */
import * as path from 'path';
import {
  HandlerNotRegisteredError,
  TaskTimeoutError,
  TaskerError,
  TemplateError,
  TemplateNotFoundError,
  createWorker,
} from '../../src/index';
import {
  TestLogger,
  defineHandler,
  describeEachBackend,
  startWorker,
  templateDir,
} from '../helpers/e2e';

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

describeEachBackend('user errors', (backend) => {
  it('createWorker rejects a template with an unknown dependency: TemplateError naming file, step and field', async () => {
    const dir = templateDir('unknown-dependency');
    const file = path.join(dir, 'unknown_dependency.yaml');

    const err = await rejectionOf(
      createWorker({
        database: await backend.database(),
        templates: dir,
        handlers: [
          defineHandler('UnknownDependency.Validate', () => ({})),
          defineHandler('UnknownDependency.Charge', () => ({})),
        ],
        logger: new TestLogger(),
      }),
    );

    expect(err).toBeInstanceOf(TemplateError);
    expect(err).toBeInstanceOf(TaskerError);
    expect(err).toMatchObject({ name: 'TemplateError', code: 'TEMPLATE_INVALID' });
    expect(err.message).toBe(
      `${file}: step 'charge': field 'dependencies': unknown step 'valdiate_order'`,
    );
  });

  it('createWorker rejects a template whose callable has no handler: HandlerNotRegisteredError naming it', async () => {
    const dir = templateDir('unregistered-handler');
    const file = path.join(dir, 'unregistered_handler.yaml');

    const err = await rejectionOf(
      createWorker({
        database: await backend.database(),
        templates: dir,
        handlers: [defineHandler('UnregisteredHandler.Present', () => ({}))],
        logger: new TestLogger(),
      }),
    );

    expect(err).toBeInstanceOf(HandlerNotRegisteredError);
    expect(err).toMatchObject({
      name: 'HandlerNotRegisteredError',
      code: 'HANDLER_NOT_REGISTERED',
    });
    expect(err.message).toBe(
      `${file}: template e2e/unregistered_handler@1.0.0 step 'absent' uses handler ` +
        `'UnregisteredHandler.Missing', which is not registered ` +
        `(registered handlers: UnregisteredHandler.Present)`,
    );
  });

  it('createTask for a template nobody registered rejects with TemplateNotFoundError', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'wait-timeout',
      handlers: [defineHandler('WaitTimeout.NeverRuns', () => ({}))],
      start: false,
    });

    const err = await rejectionOf(
      worker.client.createTask({ namespace: 'e2e', name: 'no_such_template', version: '2.0.0' }),
    );

    expect(err).toBeInstanceOf(TemplateNotFoundError);
    expect(err).toMatchObject({ code: 'TEMPLATE_NOT_FOUND' });
    expect(err.message).toBe(
      'no task template e2e/no_such_template@2.0.0 is registered in this database ' +
        '(registered: e2e/wait_timeout@1.0.0); start a worker whose templates include it',
    );
    expect(await worker.client.listTasks()).toEqual([]);
  });

  it('waitForTask rejects with TaskTimeoutError when the task does not finish in time', async () => {
    // Created but not started: the task's step is never claimed.
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'wait-timeout',
      handlers: [defineHandler('WaitTimeout.NeverRuns', () => ({}))],
      start: false,
    });
    const task = await worker.client.createTask({ namespace: 'e2e', name: 'wait_timeout' });

    const before = Date.now();
    const err = await rejectionOf(worker.client.waitForTask(task.taskUuid, { timeoutMs: 300 }));
    const waited = Date.now() - before;

    expect(err).toBeInstanceOf(TaskTimeoutError);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(err.message).toBe(
      `task ${task.taskUuid} did not finish within 300 ms (state: steps_in_process)`,
    );
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(3000);
  });
});
