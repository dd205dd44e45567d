import { NotADependencyError, PermanentError, StepContext } from '../../src/index';
import { RecordingLogger, stepPayload, type StepEventSpec } from '../helpers/mock-native';

function context(spec: Partial<StepEventSpec> = {}, logger = new RecordingLogger()): StepContext {
  return new StepContext(
    stepPayload({ handler: 'h', ...spec }),
    new AbortController().signal,
    logger,
  );
}

describe('StepContext fields', () => {
  it('maps the payload', () => {
    const signal = new AbortController().signal;
    const payload = stepPayload({
      handler: 'orders.validate',
      stepName: 'validate_order',
      taskUuid: 'task-1',
      stepUuid: 'step-1',
      namespace: 'shop',
      taskName: 'checkout',
      taskVersion: '2.1.0',
      context: { order_id: 5 },
      config: { strict_mode: true },
      inputs: { batch_cursor: 10 },
      attempts: 2,
      maxAttempts: 4,
      checkpoint: { offset: 3 },
      dependencyResults: { fetch_order: { total: 9 } },
    });
    const ctx = new StepContext(payload, signal, new RecordingLogger());
    expect(Object.getPrototypeOf(ctx.dependencyResults)).toBeNull();
    expect({
      ...ctx,
      logger: undefined,
      dependencyResults: { ...ctx.dependencyResults },
    }).toStrictEqual({
      taskUuid: 'task-1',
      stepUuid: 'step-1',
      stepName: 'validate_order',
      namespace: 'shop',
      taskName: 'checkout',
      taskVersion: '2.1.0',
      // The payload built by hand has no correlation id: the task uuid stands in.
      correlationId: 'task-1',
      taskMetadata: {
        correlationId: 'task-1',
        parentCorrelationId: null,
        initiator: null,
        sourceSystem: null,
        reason: null,
        tags: [],
      },
      handlerName: 'orders.validate',
      inputData: { order_id: 5 },
      stepConfig: { strict_mode: true },
      stepInputs: { batch_cursor: 10 },
      dependencyResults: { fetch_order: { total: 9 } },
      retryCount: 2,
      maxRetries: 4,
      checkpoint: { offset: 3 },
      signal,
      logger: undefined,
    });
  });

  it('uses the step name, not the template step name', () => {
    const payload = stepPayload({ handler: 'h', stepName: 'worker_003' });
    payload.step.template_step_name = 'worker';
    expect(
      new StepContext(payload, new AbortController().signal, new RecordingLogger()).stepName,
    ).toBe('worker_003');
  });
});

describe('StepContext dependency accessors', () => {
  const ctx = context({
    dependencyResults: {
      fetch_order: { order: { items: [{ sku: 'A1' }, { sku: 'B2' }], note: null } },
      worker_001: { count: 1 },
      worker_002: null,
      worker_003: { count: 3 },
      scalar: 7,
    },
  });

  it('getDependencyResult returns the unwrapped result, or null when absent', () => {
    expect(ctx.getDependencyResult('fetch_order')).toEqual({
      order: { items: [{ sku: 'A1' }, { sku: 'B2' }], note: null },
    });
    expect(ctx.getDependencyResult('scalar')).toBe(7);
    expect(ctx.getDependencyResult('missing')).toBeNull();
    expect(ctx.getDependencyResult('constructor')).toBeNull();
  });

  it.each<[string, (string | number)[], unknown]>([
    ['a nested field', ['order', 'items', 1, 'sku'], 'B2'],
    ['an array index as a string', ['order', 'items', '0', 'sku'], 'A1'],
    ['a null field', ['order', 'note'], null],
    ['a missing field', ['order', 'absent'], null],
    ['a path through a scalar', ['order', 'items', 0, 'sku', 'length'], null],
    ['an out-of-range index', ['order', 'items', 5], null],
    ['an inherited property', ['order', 'toString'], null],
  ])('getDependencyField reads %s', (_label, path, expected) => {
    expect(ctx.getDependencyField('fetch_order', ...path)).toEqual(expected);
  });

  it('getDependencyField is null for a missing step', () => {
    expect(ctx.getDependencyField('nope', 'a')).toBeNull();
  });

  it('getAllDependencyResults returns non-null results whose names start with the prefix', () => {
    expect(ctx.getAllDependencyResults('worker_')).toEqual([{ count: 1 }, { count: 3 }]);
    expect(ctx.getAllDependencyResults()).toHaveLength(4);
  });

  it('getDependencyResultKeys lists the dependencies', () => {
    expect(ctx.getDependencyResultKeys()).toEqual([
      'fetch_order',
      'worker_001',
      'worker_002',
      'worker_003',
      'scalar',
    ]);
  });
});

describe('StepContext input and config accessors', () => {
  const ctx = context({
    context: { customer_id: 'c1', discount: null, count: 0 },
    config: { timeout_ms: 500 },
  });

  it('getInput reads the task context', () => {
    expect(ctx.getInput<string>('customer_id')).toBe('c1');
    expect(ctx.getInput('absent')).toBeUndefined();
    expect(ctx.getInput('hasOwnProperty')).toBeUndefined();
  });

  it('getInputOr uses the default only when the value is undefined', () => {
    expect(ctx.getInputOr('absent', 'dflt')).toBe('dflt');
    expect(ctx.getInputOr('discount', 'dflt')).toBeNull();
    expect(ctx.getInputOr('count', 5)).toBe(0);
  });

  it('getConfig reads handler_initialization', () => {
    expect(ctx.getConfig<number>('timeout_ms')).toBe(500);
    expect(ctx.getConfig('absent')).toBeUndefined();
  });
});

describe('StepContext retry helpers', () => {
  it.each<[number, number, boolean, boolean]>([
    [0, 3, false, false],
    [1, 3, true, false],
    [2, 3, true, true],
    [0, 1, false, true],
    [3, 3, true, true],
  ])('attempts %i of max %i: isRetry %s, isLastRetry %s', (attempts, maxAttempts, retry, last) => {
    const ctx = context({ attempts, maxAttempts });
    expect(ctx.isRetry()).toBe(retry);
    expect(ctx.isLastRetry()).toBe(last);
  });
});

describe('StepContext logger', () => {
  it('is the logger it was given (the worker passes one adding the step fields)', () => {
    const logger = new RecordingLogger();
    context({}, logger).logger.info({ n: 1 }, 'hello');
    expect(logger.entries).toEqual([{ level: 'info', message: 'hello', fields: { n: 1 } }]);
  });
});

describe('StepContext on an ancestor that is not a dependency', () => {
  const ctx = context({
    stepName: 'd',
    dependencyResults: { c: { n: 3 } },
    dependencies: ['c', 'skipped_branch'],
    indirectAncestors: ['a', 'b', 'split'],
    indirectBatchWorkers: ['split'],
  });

  it('getDependencyResult names the step, the ancestor and the fix', () => {
    const err = (() => {
      try {
        ctx.getDependencyResult('a');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NotADependencyError);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err).toMatchObject({
      errorType: 'not_a_dependency',
      retryable: false,
      stepName: 'd',
      ancestor: 'a',
      message:
        "step 'd' reads the result of 'a', which is an ancestor but not one of its dependencies " +
        "(c, skipped_branch): add 'a' to its dependencies to read it",
    });
  });

  it('getDependencyField throws the same', () => {
    expect(() => ctx.getDependencyField('b', 'x')).toThrow(
      "step 'd' reads the result of 'b', which is an ancestor but not one of its dependencies " +
        "(c, skipped_branch): add 'b' to its dependencies to read it",
    );
  });

  it('names the worker template of an upstream batch worker', () => {
    expect(() => ctx.getDependencyResult('split_001')).toThrow(
      "step 'd' reads the result of 'split_001' (a worker of 'split'), which is an ancestor but " +
        "not one of its dependencies (c, skipped_branch): add 'split' to its dependencies to read it",
    );
  });

  it('is null for a dependency without a result and for a name that is no ancestor', () => {
    expect(ctx.getDependencyResult('skipped_branch')).toBeNull();
    expect(ctx.getDependencyResult('elsewhere')).toBeNull();
    expect(ctx.getDependencyResult('split')).toBeNull();
    expect(ctx.getDependencyResult('c')).toEqual({ n: 3 });
  });

  it('lists dependencies only', () => {
    expect(ctx.getDependencyResultKeys()).toEqual(['c']);
    expect(ctx.getAllDependencyResults()).toEqual([{ n: 3 }]);
    expect(Object.keys(ctx.dependencyResults)).toEqual(['c']);
  });
});
