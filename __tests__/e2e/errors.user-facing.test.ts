/**
 * Mistakes a user makes, and the named errors (with messages that say what and where) they get
 * back from the real addon.
 */
import * as fs from 'fs';
import * as os from 'os';
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
  runTask,
  startWorker,
  templateDir,
  track,
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

/** A directory holding one template file with `text`, removed after the test. */
function templateFile(name: string, text: string): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-template-'));
  track(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return { dir, file };
}

const HEADER = 'name: pathological\nnamespace_name: e2e\nversion: 1.0.0\n';

describeEachBackend('user errors', (backend) => {
  it('createWorker rejects pathological templates quickly with messages naming the file and the limit, and accepts a BOM', async () => {
    const handlers = [defineHandler('Pathological.Only', () => ({ ok: true }))];
    const open = async (dir: string) =>
      rejectionOf(
        createWorker({
          database: await backend.database(),
          templates: dir,
          handlers,
          logger: new TestLogger(),
        }),
      );

    // 100,000 nested lists once kept the YAML parser busy for minutes; the guard stops at 64.
    const deep = templateFile('deep.yaml', `${HEADER}steps: ${'['.repeat(100_000)}`);
    const err = await open(deep.dir);
    expect(err).toBeInstanceOf(TemplateError);
    expect(err.message).toBe(
      `${deep.file}: lists and mappings are nested more than 64 levels deep (at line 4 column 71); ` +
        'a template may nest them at most 64 levels deep',
    );

    // A 1,000,000-character step name is repeated as its first 100 characters and its length.
    const name = 'n'.repeat(1_000_000);
    const huge = templateFile(
      'huge.yaml',
      `${HEADER}steps:\n  - name: ${name}\n    handler: { callable: Pathological.Only }\n`,
    );
    const hugeErr = await open(huge.dir);
    expect(hugeErr).toBeInstanceOf(TemplateError);
    expect(hugeErr.message).toBe(
      `${huge.file}: step '${'n'.repeat(100)}… (1000000 characters)': field 'name': ` +
        'must be at most 255 characters, got 1000000',
    );

    // A file written with a UTF-8 byte order mark loads and runs.
    const bom = templateFile(
      'bom.yaml',
      `\ufeff${HEADER}steps:\n  - name: only\n    handler: { callable: Pathological.Only }\n`,
    );
    const worker = await startWorker({
      database: await backend.database(),
      templates: [bom.dir],
      handlers,
    });
    const task = await runTask(worker.client, { name: 'pathological' });
    expect(task.state).toBe('complete');
  });

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
