import * as os from 'os';
import * as path from 'path';
import {
  ClosedError,
  DatabaseError,
  HandlerNotRegisteredError,
  HandlerRegistry,
  InvalidArgumentError,
  TemplateError,
} from '../../src/index';
import { openWorker } from '../../src/worker/create-worker';
import {
  MockNativeModule,
  RecordingLogger,
  defineHandler,
  deferred,
  nativeError,
  startWorker,
  stepEvent,
} from '../helpers/mock-native';

const quiet = new RecordingLogger();
const a = defineHandler('a', () => ({}));
const b = defineHandler('b', () => ({}));

describe('createWorker', () => {
  it('opens an engine on the resolved database and creates the native worker', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: ['templates', '/abs/more.yaml'],
      handlers: [a, b],
      database: ':memory:',
      logger: quiet,
    });
    expect(mock.engine.options).toEqual({ databaseUrl: 'sqlite::memory:' });
    const options = mock.engine.worker.options;
    expect(options).toStrictEqual({
      templatePaths: [path.resolve('templates'), '/abs/more.yaml'],
      handlerNames: ['a', 'b'],
      concurrency: 10,
      workerId: expect.stringMatching(
        new RegExp(
          `^${os.hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-${process.pid}-[0-9a-f]{6}$`,
        ),
      ),
      // The logger has no level: every core line is sent. @opentelemetry/api is installed here,
      // but no SDK is registered: nothing to record.
      logLevel: 'debug',
      reportOutcomes: false,
    });
    expect(worker.workerId).toBe(options.workerId);
    await worker.shutdown();
  });

  it('passes explicit options through', async () => {
    const mock = new MockNativeModule();
    const registry = new HandlerRegistry().register(a);
    const worker = await openWorker(mock, {
      templates: 'one.yaml',
      handlers: registry,
      database: ':memory:',
      concurrency: 3,
      workerId: 'worker-7',
      leaseMs: 5000,
      pollIntervalMs: 250,
      logger: Object.assign(new RecordingLogger(), { level: 'warn' }),
      telemetry: false,
    });
    expect(mock.engine.worker.options).toStrictEqual({
      templatePaths: [path.resolve('one.yaml')],
      handlerNames: ['a'],
      concurrency: 3,
      workerId: 'worker-7',
      leaseMs: 5000,
      pollIntervalMs: 250,
      logLevel: 'warn',
      reportOutcomes: false,
    });
    await worker.shutdown();
  });

  it('passes the orchestration limits to the engine', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
      maxStepsPerDecision: 20,
      maxBatchWorkers: 50,
    });
    expect(mock.engine.options).toStrictEqual({
      databaseUrl: 'sqlite::memory:',
      maxStepsPerDecision: 20,
      maxBatchWorkers: 50,
    });
    await worker.shutdown();
  });

  it('passes the JSON limits to the engine', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
      maxJsonDepth: 300,
      maxResultBytes: 1_000_000,
      maxContextBytes: 5000,
    });
    expect(mock.engine.options).toStrictEqual({
      databaseUrl: 'sqlite::memory:',
      maxJsonDepth: 300,
      maxResultBytes: 1_000_000,
      maxContextBytes: 5000,
    });
    await worker.shutdown();
  });

  it('passes schedules to the core as JSON, and schedule files as absolute paths', async () => {
    const mock = new MockNativeModule();
    const schedules = [
      { name: 'tick', cron: '*/5 * * * *', task: { namespace: 'n', name: 't' }, context: { a: 1 } },
    ];
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
      schedules,
      schedulesPath: 'schedules.yaml',
    });
    const options = mock.engine.worker.options;
    expect(options.schedules).toBe(JSON.stringify(schedules));
    expect(options.schedulePaths).toEqual([path.resolve('schedules.yaml')]);
    await worker.shutdown();
  });

  it.each([
    [
      'schedules not a list',
      { schedules: 'tick' },
      'schedules: expected a list of schedule definitions, got "tick"',
    ],
    [
      'schedules not JSON',
      { schedules: [{ name: 'big', context: { n: BigInt(1) } }] },
      'schedules: cannot be serialized to JSON (Do not know how to serialize a BigInt)',
    ],
    [
      'schedulesPath a number',
      { schedulesPath: 5 },
      'schedulesPath: expected the path of a YAML schedules file, or an array of them',
    ],
    [
      'schedulesPath empty',
      { schedulesPath: [''] },
      'schedulesPath: expected the path of a YAML schedules file, or an array of them',
    ],
  ])('refuses schedules options it cannot pass: %s', async (_label, bad, message) => {
    const mock = new MockNativeModule();
    const attempt = openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
      ...(bad as object),
    });
    await expect(attempt).rejects.toThrow(InvalidArgumentError);
    await expect(attempt).rejects.toThrow(message);
  });

  it('converts a refusal from the core and closes the engine it opened', async () => {
    const mock = new MockNativeModule();
    const message =
      "template orders.yaml: step 'charge' names handler 'payments.charge', which is not registered";
    mock.configureEngine = (engine) => {
      engine.createWorkerError = nativeError('HANDLER_NOT_REGISTERED', message);
    };
    const attempt = openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
    });
    await expect(attempt).rejects.toThrow(HandlerNotRegisteredError);
    await expect(attempt).rejects.toThrow(message);
    expect(mock.engine.closeCalls).toBe(1);
  });

  it('converts an invalid template error', async () => {
    const mock = new MockNativeModule();
    mock.configureEngine = (engine) => {
      engine.createWorkerError = nativeError(
        'TEMPLATE_INVALID',
        'bad.yaml: steps[0].name is missing',
      );
    };
    const attempt = openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
    });
    await expect(attempt).rejects.toBeInstanceOf(TemplateError);
    await expect(attempt).rejects.toThrow('bad.yaml: steps[0].name is missing');
  });

  it('converts a database error from opening the engine', async () => {
    const mock = new MockNativeModule();
    mock.openEngineError = nativeError('DATABASE', 'could not connect to postgres://db');
    await expect(
      openWorker(mock, { templates: 't', handlers: [a], database: 'postgres://db', logger: quiet }),
    ).rejects.toBeInstanceOf(DatabaseError);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['concurrency 0', { concurrency: 0 }, /concurrency must be an integer >= 1, got 0/],
    ['fractional concurrency', { concurrency: 1.5 }, /concurrency must be an integer >= 1/],
    ['a negative grace', { shutdownGraceMs: -1 }, /shutdownGraceMs must be an integer >= 0/],
    [
      'a fractional settle time',
      { shutdownSettleMs: 0.5 },
      /^shutdownSettleMs must be an integer >= 0, got 0.5$/,
    ],
    [
      'maxStepsPerDecision 0',
      { maxStepsPerDecision: 0 },
      /maxStepsPerDecision must be an integer >= 1, got 0/,
    ],
    [
      'fractional maxBatchWorkers',
      { maxBatchWorkers: 2.5 },
      /maxBatchWorkers must be an integer >= 1/,
    ],
    [
      'maxJsonDepth 0',
      { maxJsonDepth: 0 },
      /^maxJsonDepth must be an integer between 1 and 100000, got 0$/,
    ],
    [
      'a maxJsonDepth past its range',
      { maxJsonDepth: 100_001 },
      /^maxJsonDepth must be an integer between 1 and 100000, got 100001$/,
    ],
    [
      'a fractional maxResultBytes',
      { maxResultBytes: 10.5 },
      /^maxResultBytes must be an integer between 1 and 1000000000, got 10.5$/,
    ],
    [
      'a maxContextBytes past its range',
      { maxContextBytes: 2e9 },
      /^maxContextBytes must be an integer between 1 and 1000000000, got 2000000000$/,
    ],
    [
      'a string maxResultBytes',
      { maxResultBytes: '16MB' },
      /^maxResultBytes must be an integer between 1 and 1000000000, got "16MB"$/,
    ],
    ['no templates', { templates: [] }, /templates: expected/],
    ['an empty workerId', { workerId: ' ' }, /workerId must be a non-empty string/],
    [
      'an unknown database',
      { database: 'mysql://u:secret@h/db' },
      /not a database this library understands/,
    ],
  ])('rejects %s before opening an engine', async (_label, override, message) => {
    const mock = new MockNativeModule();
    const options = {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
      ...override,
    };
    const attempt = openWorker(mock, options as Parameters<typeof openWorker>[1]);
    await expect(attempt).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(attempt).rejects.toThrow(message);
    expect(mock.engines).toHaveLength(0);
  });

  it('does not put database credentials in the error message', async () => {
    const attempt = openWorker(new MockNativeModule(), {
      templates: 't',
      handlers: [a],
      database: 'mysql://u:secret@h/db?password=other',
      logger: quiet,
    });
    await expect(attempt).rejects.toThrow("'mysql://u:***@h/db?password=***'");
  });

  it('rejects a handler list containing something that is not a StepHandler class', async () => {
    class NotAHandler {}
    const attempt = openWorker(new MockNativeModule(), {
      templates: 't',
      handlers: [a, NotAHandler as never],
      database: ':memory:',
    });
    await expect(attempt).rejects.toThrow('class NotAHandler: it is not a subclass of StepHandler');
  });
});

describe('Worker.start', () => {
  it('starts the native worker and polls', async () => {
    const { worker, nativeWorker } = await startWorker([a]);
    expect(nativeWorker.startCalls).toBe(1);
    expect(nativeWorker.pollCalls).toBe(1);
    await worker.start();
    expect(nativeWorker.startCalls).toBe(1);
    await worker.shutdown();
  });

  it('polls again after each batch without waiting for the handlers', async () => {
    const release = deferred();
    const slow = defineHandler('slow', () => release.promise.then(() => ({})));
    const { worker, nativeWorker } = await startWorker([slow]);
    nativeWorker.push(stepEvent({ handler: 'slow' }));
    await new Promise((r) => setImmediate(r));
    expect(nativeWorker.pollCalls).toBe(2);
    release.resolve();
    await nativeWorker.waitForResults(1);
    await worker.shutdown();
  });

  it('converts a failure of the native start and stays startable', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
    });
    const nativeWorker = mock.engine.worker;
    const realStart = nativeWorker.start.bind(nativeWorker);
    nativeWorker.start = () => Promise.reject(nativeError('DATABASE', 'cannot reach the database'));
    await expect(worker.start()).rejects.toBeInstanceOf(DatabaseError);
    expect(nativeWorker.pollCalls).toBe(0);
    nativeWorker.start = realStart;
    await worker.start();
    expect(nativeWorker.pollCalls).toBe(1);
    await worker.shutdown();
  });

  it('does not begin polling when shutdown() is called while starting', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
    });
    const starting = worker.start();
    const stopping = worker.shutdown();
    await starting;
    await stopping;
    expect(mock.engine.worker.pollCalls).toBe(0);
    expect(mock.engine.closeCalls).toBe(1);
  });

  it('exposes the core counters', async () => {
    const { worker, nativeWorker } = await startWorker([a]);
    nativeWorker.push(stepEvent({ handler: 'a' }));
    await nativeWorker.waitForResults(1);
    expect(worker.stats()).toMatchObject({ recorded: 1, inFlight: 0 });
    await worker.shutdown();
  });

  it('refuses to start after shutdown', async () => {
    const { worker } = await startWorker([a]);
    await worker.shutdown();
    await expect(worker.start()).rejects.toBeInstanceOf(ClosedError);
  });

  it('logs a failed poll and still shuts down', async () => {
    const mock = new MockNativeModule();
    const logger = new RecordingLogger();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger,
    });
    mock.engine.worker.pollError = nativeError('DATABASE', 'connection reset');
    await worker.start();
    await new Promise((r) => setImmediate(r));
    expect(logger.entries.find((e) => e.level === 'error')?.fields?.err).toBeInstanceOf(
      DatabaseError,
    );
    await worker.shutdown();
    expect(mock.engine.closeCalls).toBe(1);
  });
});

describe('Worker.shutdown', () => {
  it('shuts the native worker down with the grace period and closes the engine, once', async () => {
    const { worker, engine, nativeWorker } = await startWorker([a], { shutdownGraceMs: 1234 });
    const first = worker.shutdown();
    const second = worker.shutdown();
    expect(second).toBe(first);
    await first;
    expect(nativeWorker.shutdownCalls).toEqual([1234]);
    expect(engine.closeCalls).toBe(1);
  });

  it('defaults the grace period to 10000 ms', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
    });
    await worker.start();
    await worker.shutdown();
    expect(mock.engine.worker.shutdownCalls).toEqual([10000]);
  });

  it('works before start', async () => {
    const mock = new MockNativeModule();
    const worker = await openWorker(mock, {
      templates: 't',
      handlers: [a],
      database: ':memory:',
      logger: quiet,
    });
    await worker.shutdown();
    expect(mock.engine.worker.shutdownCalls).toHaveLength(1);
    expect(mock.engine.closeCalls).toBe(1);
  });

  it('waits for an in-flight handler and reports its result before closing the engine', async () => {
    const release = deferred();
    const slow = defineHandler('slow', async () => {
      await release.promise;
      return { finished: true };
    });
    const { worker, engine, nativeWorker } = await startWorker([slow], { shutdownGraceMs: 5000 });
    const event = stepEvent({ handler: 'slow' });
    nativeWorker.push(event);
    await new Promise((r) => setImmediate(r));

    let shutDown = false;
    const stopping = worker.shutdown().then(() => {
      shutDown = true;
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(shutDown).toBe(false);
    expect(engine.closeCalls).toBe(0);

    release.resolve();
    await stopping;
    expect(nativeWorker.resultFor(event)?.result).toBe('{"finished":true}');
    expect(engine.closeCalls).toBe(1);
  });

  it('aborts steps still running after the grace period and waits for them to settle', async () => {
    const slow = defineHandler('slow', async (ctx) => {
      await new Promise((r) => ctx.signal.addEventListener('abort', r));
      await new Promise((r) => setTimeout(r, 20)); // cleanup after the abort
      return { reason: (ctx.signal.reason as Error).message };
    });
    const { worker, engine, nativeWorker, logger } = await startWorker([slow], {
      shutdownGraceMs: 10,
    });
    const event = stepEvent({ handler: 'slow' });
    nativeWorker.push(event);
    await new Promise((r) => setImmediate(r));
    await worker.shutdown();
    expect(nativeWorker.resultFor(event)?.result).toBe('{"reason":"worker shutting down"}');
    expect(engine.closeCalls).toBe(1);
    expect(logger.messages('info')).toContain(
      `worker ${worker.workerId}: waiting up to 5000 ms for 1 aborted step handler(s) to settle: ` +
        `task test_task (${event.taskUuid}) step 'slow' (${event.stepUuid})`,
    );
    expect(logger.messages('warn')).toEqual([]);
  });

  it('closes the worker client', async () => {
    const { worker } = await startWorker([a]);
    await worker.shutdown();
    await expect(worker.client.getTask('t')).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('Worker signal handling', () => {
  it('shuts down on SIGTERM when handleSignals is set, and removes its listeners', async () => {
    const before = process.listenerCount('SIGTERM');
    const beforeInt = process.listenerCount('SIGINT');
    const { worker, nativeWorker, engine } = await startWorker([a], { handleSignals: true });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    expect(process.listenerCount('SIGINT')).toBe(beforeInt + 1);
    process.emit('SIGTERM', 'SIGTERM');
    expect(nativeWorker.shutdownCalls).toEqual([100]); // started by the signal, not by us
    await worker.shutdown();
    expect(nativeWorker.shutdownCalls).toHaveLength(1);
    expect(engine.closeCalls).toBe(1);
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(process.listenerCount('SIGINT')).toBe(beforeInt);
  });

  it('installs no listeners by default', async () => {
    const before = process.listenerCount('SIGINT');
    const { worker } = await startWorker([a]);
    expect(process.listenerCount('SIGINT')).toBe(before);
    await worker.shutdown();
  });
});

describe('Worker.client', () => {
  it('uses the worker engine and does not close it', async () => {
    const { worker, native, engine } = await startWorker([a]);
    const task = await worker.client.createTask({ namespace: 'n', name: 't' });
    expect(engine.createTaskRequests).toHaveLength(1);
    expect(task.namespace).toBe('n');
    await worker.client.close();
    expect(engine.closeCalls).toBe(0);
    expect(native.engines).toHaveLength(1);
    await worker.shutdown();
  });
});
