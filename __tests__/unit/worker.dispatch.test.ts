import { StepContext, StepHandler } from '../../src/index';
import { defineHandler, startWorker, stepEvent, withoutStack } from '../helpers/mock-native';

describe('worker: running a step', () => {
  it('builds the context from the payload and passes it to the handler', async () => {
    let seen: StepContext | undefined;
    const handler = defineHandler('orders.fetch', (ctx) => {
      seen = ctx;
      return {};
    });
    const { worker, nativeWorker } = await startWorker([handler]);
    nativeWorker.push(
      stepEvent({
        handler: 'orders.fetch',
        stepName: 'fetch_order',
        taskUuid: 'task-abc',
        context: { order_id: 42 },
        config: { base_url: 'https://x' },
        attempts: 1,
        maxAttempts: 3,
        dependencyResults: { validate: { valid: true } },
      }),
    );
    await nativeWorker.waitForResults(1);
    expect(seen).toBeInstanceOf(StepContext);
    expect(seen?.taskUuid).toBe('task-abc');
    expect(seen?.stepName).toBe('fetch_order');
    expect(seen?.handlerName).toBe('orders.fetch');
    expect(seen?.getInput('order_id')).toBe(42);
    expect(seen?.getConfig('base_url')).toBe('https://x');
    expect(seen?.getDependencyResult('validate')).toEqual({ valid: true });
    expect(seen?.isRetry()).toBe(true);
    await worker.shutdown();
  });

  it('creates a new handler instance for every step execution', async () => {
    const instances: StepHandler[] = [];
    class Counting extends StepHandler {
      static override handlerName = 'counting';
      constructor() {
        super();
        instances.push(this);
      }
      async call(): Promise<void> {}
    }
    const { worker, nativeWorker } = await startWorker([Counting]);
    nativeWorker.push(stepEvent({ handler: 'counting' }), stepEvent({ handler: 'counting' }));
    await nativeWorker.waitForResults(2);
    expect(instances).toHaveLength(2);
    expect(instances[0]).not.toBe(instances[1]);
    await worker.shutdown();
  });

  it('reports a handler whose constructor throws as a retryable failure', async () => {
    class Broken extends StepHandler {
      static override handlerName = 'broken';
      constructor() {
        super();
        throw new ReferenceError('config is not defined');
      }
      async call(): Promise<void> {}
    }
    const { worker, nativeWorker } = await startWorker([Broken]);
    nativeWorker.push(stepEvent({ handler: 'broken' }));
    const [result] = await nativeWorker.waitForResults(1);
    expect(withoutStack(result.error)).toStrictEqual({
      message: 'config is not defined',
      errorType: 'ReferenceError',
      retryable: true,
    });
    await worker.shutdown();
  });

  it('fails a step whose handler is not registered permanently with handler_not_found', async () => {
    const { worker, nativeWorker } = await startWorker([defineHandler('known', () => ({}))]);
    nativeWorker.push(stepEvent({ handler: 'unknown.handler', stepName: 'mystery' }));
    const [result] = await nativeWorker.waitForResults(1);
    expect(withoutStack(result.error)).toStrictEqual({
      message: "no handler is registered under 'unknown.handler' (step 'mystery')",
      errorType: 'handler_not_found',
      retryable: false,
    });
    await worker.shutdown();
  });

  it.each([
    ['not JSON', '{oops', /payload that is not JSON/],
    [
      'missing the step',
      JSON.stringify({ task: { task_uuid: 't' } }),
      /payload has no step object/,
    ],
    [
      'lacking handler_callable',
      JSON.stringify({ task: { task_uuid: 't' }, step: { step_uuid: 's', name: 'n' } }),
      /payload lacks the string step.handler_callable/,
    ],
  ])(
    'fails a step whose payload is %s permanently with invalid_payload',
    async (_l, payload, message) => {
      const { worker, nativeWorker } = await startWorker([defineHandler('h', () => ({}))]);
      const event = { ...stepEvent({ handler: 'h' }), payload };
      nativeWorker.push(event);
      const [result] = await nativeWorker.waitForResults(1);
      expect(result.claimId).toBe(event.claimId);
      expect(result.error?.errorType).toBe('invalid_payload');
      expect(result.error?.retryable).toBe(false);
      expect(result.error?.message).toMatch(message);
      await worker.shutdown();
    },
  );

  it('keeps running steps when a handler logs through a logger that throws', async () => {
    const throwing = {
      debug: () => {
        throw new Error('logger down');
      },
      info: () => {
        throw new Error('logger down');
      },
      warn: () => {
        throw new Error('logger down');
      },
      error: () => {
        throw new Error('logger down');
      },
    };
    const handler = defineHandler('h', () => {
      throw new Error('handler failed');
    });
    const { worker, nativeWorker } = await startWorker([handler], { logger: throwing });
    nativeWorker.push(stepEvent({ handler: 'h' }));
    const [result] = await nativeWorker.waitForResults(1);
    expect(result.error?.message).toBe('handler failed');
    await worker.shutdown();
  });

  it('logs unexpected handler errors at warn with the stack, and the task and step in the fields', async () => {
    const handler = defineHandler('h', () => {
      throw new TypeError('bad');
    });
    const { worker, nativeWorker, logger } = await startWorker([handler]);
    nativeWorker.push(stepEvent({ handler: 'h', taskUuid: 'task-9', stepName: 'parse' }));
    await nativeWorker.waitForResults(1);
    const warn = logger.entries.find((e) => e.level === 'warn');
    expect(warn?.message).toBe('step failed: bad');
    expect(warn?.fields).toMatchObject({
      taskUuid: 'task-9',
      step: 'parse',
      workerId: worker.workerId,
      attempt: 1,
    });
    expect(String(warn?.fields?.stack)).toContain('TypeError: bad');
    await worker.shutdown();
  });
});

describe('worker: dependency results', () => {
  it('parses them only when the handler reads them', async () => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const reads: unknown[] = [];
      const handler = defineHandler('orders.join', (ctx) => {
        if (ctx.getInput('read') === true) reads.push(ctx.getDependencyResult('validate'));
        return {};
      });
      const { worker, nativeWorker } = await startWorker([handler]);
      const deps = { validate: { valid: true, big: 'x'.repeat(64) } };
      const unread = stepEvent({
        handler: 'orders.join',
        context: { read: false },
        dependencyResults: deps,
      });
      const read = stepEvent({
        handler: 'orders.join',
        context: { read: true },
        dependencyResults: deps,
      });
      expect(unread.dependencies).toBeDefined();
      nativeWorker.push(unread);
      await nativeWorker.waitForResults(1);
      expect(parse.mock.calls.map((c) => c[0])).not.toContain(unread.dependencies);
      nativeWorker.push(read);
      await nativeWorker.waitForResults(2);
      expect(parse.mock.calls.filter((c) => c[0] === read.dependencies)).toHaveLength(1);
      expect(reads).toEqual([deps.validate]);
      await worker.shutdown();
    } finally {
      parse.mockRestore();
    }
  });

  it('fails the step permanently, naming it, when they are not a JSON object', async () => {
    const handler = defineHandler('orders.join', (ctx) => ctx.getDependencyResult('validate'));
    const { worker, nativeWorker } = await startWorker([handler]);
    const event = stepEvent({ handler: 'orders.join', dependencyResults: { validate: 1 } });
    event.dependencies = '[1,2]';
    nativeWorker.push(event);
    const [result] = await nativeWorker.waitForResults(1);
    expect(result.success).toBe(false);
    expect(result.error).toMatchObject({ retryable: false, errorType: 'invalid_payload' });
    expect(result.error?.message).toContain(
      `step event for step ${event.stepUuid} has dependency results that are not an object`,
    );
    await worker.shutdown();
  });
});
