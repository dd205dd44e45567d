import {
  ClosedError,
  InvalidArgumentError,
  TaskNotFoundError,
  TaskTimeoutError,
  TemplateNotFoundError,
  stepByName,
  type Task,
} from '../../src/index';
import { openClient } from '../../src/client/create-client';
import { MockNativeModule, nativeError, type TaskViewJson } from '../helpers/mock-native';

const fullView: TaskViewJson = {
  task_uuid: 'task-1',
  namespace: 'shop',
  name: 'checkout',
  version: '1.2.0',
  state: 'error',
  context: { order_id: 5, line_items: [{ unit_price: 3 }] },
  idempotency_key: 'order-5',
  priority: 5,
  correlation_id: 'req-77',
  parent_correlation_id: 'batch-3',
  initiator: 'alice',
  source_system: 'shop-web',
  reason: 'checkout',
  tags: ['eu', 'vip'],
  identity_hash: null,
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:02.000Z',
  completed_at: '2025-01-01T00:00:02.000Z',
  steps: [
    {
      step_uuid: 'step-1',
      name: 'fetch_order',
      state: 'complete',
      attempts: 1,
      max_attempts: 3,
      result: { order_total: 9, ship_to: { postal_code: '12345' } },
      error: null,
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:01.000Z',
    },
    {
      step_uuid: 'step-2',
      name: 'charge_card',
      state: 'error',
      attempts: 1,
      max_attempts: 3,
      result: null,
      error: {
        message: 'card declined',
        error_type: 'permanent_error',
        retryable: false,
        status_code: 402,
      },
      metadata: { url: 'https://pay.example/charges', status: 402 },
      created_at: '2025-01-01T00:00:00.000Z',
      updated_at: '2025-01-01T00:00:02.000Z',
      dependencies: ['fetch_order'],
      created_by: 'route_payment',
      priority: 5,
      inputs: { cursor: { batch_id: '001' } },
      checkpoint: { cursor: 40, items_processed: 40 },
      child_task_uuid: 'child-1',
    },
  ],
  parent_task_uuid: 'parent-1',
  parent_step_uuid: 'parent-step-1',
  parent_step_name: 'checkout',
  children: [
    {
      task_uuid: 'child-1',
      step_name: 'charge_card',
      state: 'error',
      created_at: '2025-01-01T00:00:01.000Z',
    },
  ],
  transitions: [
    {
      entity: 'task',
      step_name: null,
      from_state: null,
      to_state: 'pending',
      at: '2025-01-01T00:00:00.000Z',
      worker_id: null,
      reason: null,
    },
    {
      entity: 'step',
      step_name: 'charge_card',
      from_state: 'in_progress',
      to_state: 'error',
      at: '2025-01-01T00:00:02.000Z',
      worker_id: 'w-1',
      reason: 'card declined',
    },
  ],
};

const expectedTask: Task = {
  taskUuid: 'task-1',
  namespace: 'shop',
  name: 'checkout',
  version: '1.2.0',
  state: 'error',
  context: { order_id: 5, line_items: [{ unit_price: 3 }] },
  idempotencyKey: 'order-5',
  priority: 5,
  correlationId: 'req-77',
  parentCorrelationId: 'batch-3',
  initiator: 'alice',
  sourceSystem: 'shop-web',
  reason: 'checkout',
  tags: ['eu', 'vip'],
  identityHash: null,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:00:02.000Z',
  completedAt: '2025-01-01T00:00:02.000Z',
  steps: [
    {
      stepUuid: 'step-1',
      name: 'fetch_order',
      state: 'complete',
      attempts: 1,
      maxAttempts: 3,
      result: { order_total: 9, ship_to: { postal_code: '12345' } },
      error: null,
      metadata: null,
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:01.000Z',
      // Absent from the native view: none (and priority 0).
      dependencies: [],
      createdBy: null,
      priority: 0,
      inputs: {},
      checkpoint: null,
      // A step without a child (every step but a subtask step).
      childTaskUuid: null,
    },
    {
      stepUuid: 'step-2',
      name: 'charge_card',
      state: 'error',
      attempts: 1,
      maxAttempts: 3,
      result: null,
      error: {
        message: 'card declined',
        errorType: 'permanent_error',
        retryable: false,
        statusCode: 402,
      },
      metadata: { url: 'https://pay.example/charges', status: 402 },
      createdAt: '2025-01-01T00:00:00.000Z',
      updatedAt: '2025-01-01T00:00:02.000Z',
      dependencies: ['fetch_order'],
      createdBy: 'route_payment',
      priority: 5,
      inputs: { cursor: { batch_id: '001' } },
      checkpoint: { cursor: 40, items_processed: 40 },
      childTaskUuid: 'child-1',
    },
  ],
  parentTaskUuid: 'parent-1',
  parentStepUuid: 'parent-step-1',
  parentStepName: 'checkout',
  children: [
    {
      taskUuid: 'child-1',
      stepName: 'charge_card',
      state: 'error',
      createdAt: '2025-01-01T00:00:01.000Z',
    },
  ],
  transitions: [
    {
      entity: 'task',
      stepName: null,
      fromState: null,
      toState: 'pending',
      at: '2025-01-01T00:00:00.000Z',
      workerId: null,
      reason: null,
    },
    {
      entity: 'step',
      stepName: 'charge_card',
      fromState: 'in_progress',
      toState: 'error',
      at: '2025-01-01T00:00:02.000Z',
      workerId: 'w-1',
      reason: 'card declined',
    },
  ],
};

async function client() {
  const mock = new MockNativeModule();
  const c = await openClient(mock, { database: ':memory:' });
  return { client: c, engine: mock.engine, mock };
}

describe('TaskerClient: task views', () => {
  it('converts a full view to camelCase, keeping context and result keys as stored', async () => {
    const { client: c, engine } = await client();
    engine.addTask(fullView);
    expect(await c.getTask('task-1')).toStrictEqual(expectedTask);
  });

  it('omits statusCode when the core sends none', async () => {
    const { client: c, engine } = await client();
    const steps = [
      { ...fullView.steps![1], error: { message: 'x', error_type: 'TypeError', retryable: true } },
    ];
    engine.addTask({ ...fullView, steps });
    const task = await c.getTask('task-1');
    expect(task?.steps[0].error).toStrictEqual({
      message: 'x',
      errorType: 'TypeError',
      retryable: true,
    });
  });

  it('returns null for an unknown task', async () => {
    const { client: c } = await client();
    expect(await c.getTask('nope')).toBeNull();
  });

  it('lists tasks with empty steps and transitions, passing the filter', async () => {
    const { client: c, engine } = await client();
    engine.addTask(fullView);
    const tasks = await c.listTasks({ namespace: 'shop', state: 'error', limit: 5 });
    expect(engine.listFilters).toStrictEqual([{ namespace: 'shop', state: 'error', limit: 5 }]);
    expect(tasks).toStrictEqual([{ ...expectedTask, steps: [], transitions: [] }]);
  });

  it('passes a creation time range as milliseconds, from a Date or an ISO string', async () => {
    const { client: c, engine } = await client();
    await c.listTasks({
      createdAfter: new Date('2026-12-03T09:00:00Z'),
      createdBefore: '2026-12-03T10:00:00Z',
    });
    expect(engine.listFilters).toStrictEqual([
      {
        createdAfterMs: Date.parse('2026-12-03T09:00:00Z'),
        createdBeforeMs: Date.parse('2026-12-03T10:00:00Z'),
      },
    ]);
  });

  it('refuses a creation time that is not a time, naming the field', async () => {
    const { client: c } = await client();
    await expect(c.listTasks({ createdAfter: 'yesterday' })).rejects.toThrow(
      `listTasks: createdAfter must be a Date or an ISO 8601 time such as '2026-12-03T09:00:00Z', got "yesterday"`,
    );
    await expect(c.countTasks({ createdBefore: new Date('nope') })).rejects.toThrow(
      /^countTasks: createdBefore must be a Date or an ISO 8601 time/,
    );
    await expect(c.countTasks({}, { max: 1.5 })).rejects.toThrow(
      'countTasks: max must be an integer, got 1.5',
    );
    await expect(c.stepActivity({ minutes: 'all' as unknown as number })).rejects.toThrow(
      'stepActivity: minutes must be an integer, got "all"',
    );
    await expect(c.deleteSchedule('')).rejects.toThrow(
      'deleteSchedule: name must be a non-empty string, got ""',
    );
    expect(await c.deleteSchedule('nightly')).toBe(false);
  });

  it('counts tasks per state', async () => {
    const { client: c, engine } = await client();
    engine.addTask(fullView);
    expect(await c.countTasks({ namespace: 'shop' })).toStrictEqual({ error: 1 });
    expect(await c.countTasks({ namespace: 'other' })).toStrictEqual({});
  });

  it('stepByName finds a step', () => {
    expect(stepByName(expectedTask, 'charge_card')?.stepUuid).toBe('step-2');
    expect(stepByName(expectedTask, 'nope')).toBeUndefined();
  });
});

describe('createClient options', () => {
  it('passes the JSON limits that apply to a client to the engine', async () => {
    const mock = new MockNativeModule();
    await openClient(mock, { database: ':memory:', maxJsonDepth: 64, maxContextBytes: 4096 });
    expect(mock.engine.options).toStrictEqual({
      databaseUrl: 'sqlite::memory:',
      maxJsonDepth: 64,
      maxContextBytes: 4096,
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'maxJsonDepth 0',
      { maxJsonDepth: 0 },
      'maxJsonDepth must be an integer between 1 and 100000, got 0',
    ],
    [
      'a fractional maxContextBytes',
      { maxContextBytes: 1.5 },
      'maxContextBytes must be an integer between 1 and 1000000000, got 1.5',
    ],
  ])('refuses %s before opening an engine', async (_label, override, message) => {
    const mock = new MockNativeModule();
    const attempt = openClient(mock, { database: ':memory:', ...override });
    await expect(attempt).rejects.toThrow(new InvalidArgumentError(message));
    expect(mock.engines).toHaveLength(0);
  });
});

describe('TaskerClient.createTask', () => {
  it('sends the context as JSON with defaults, and returns the created task', async () => {
    const { client: c, engine } = await client();
    const task = await c.createTask({
      namespace: 'shop',
      name: 'checkout',
      context: { order_id: 5 },
    });
    expect(engine.createTaskRequests).toStrictEqual([
      { namespace: 'shop', name: 'checkout', version: '1.0.0', context: '{"order_id":5}' },
    ]);
    expect(task.state).toBe('pending');
    expect(task.context).toEqual({ order_id: 5 });
    expect(task.idempotencyKey).toBeNull();
  });

  it('sends version, an empty context by default, and the idempotency key', async () => {
    const { client: c, engine } = await client();
    await c.createTask({
      namespace: 'shop',
      name: 'checkout',
      version: '2.0.0',
      idempotencyKey: 'k1',
    });
    expect(engine.createTaskRequests[0]).toStrictEqual({
      namespace: 'shop',
      name: 'checkout',
      version: '2.0.0',
      context: '{}',
      idempotencyKey: 'k1',
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['an array', [1], /context must be a plain object, got an array/],
    ['null', null, /context must be a plain object, got null/],
    ['a string', 'x', /context must be a plain object, got string/],
    ['a class instance', new Date(0), /context must be a plain object, got a Date/],
  ])('rejects a context that is %s before calling the core', async (_l, context, message) => {
    const { client: c, engine } = await client();
    const attempt = c.createTask({ namespace: 'n', name: 't', context: context as never });
    await expect(attempt).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(attempt).rejects.toThrow(message);
    expect(engine.createTaskRequests).toHaveLength(0);
  });

  it('rejects a context that cannot be serialized', async () => {
    const { client: c, engine } = await client();
    const context: Record<string, unknown> = {};
    context.self = context;
    await expect(c.createTask({ namespace: 'n', name: 't', context })).rejects.toThrow(
      /context cannot be serialized to JSON: Converting circular structure/,
    );
    expect(engine.createTaskRequests).toHaveLength(0);
  });

  it('rejects a missing namespace, naming the field', async () => {
    const { client: c } = await client();
    await expect(c.createTask({ name: 't' } as never)).rejects.toThrow(
      'namespace must be a non-empty string, got undefined',
    );
  });

  it('converts a core error', async () => {
    const { client: c, engine } = await client();
    engine.createTaskError = nativeError('TEMPLATE_NOT_FOUND', 'no template shop/nope@1.0.0');
    const attempt = c.createTask({ namespace: 'shop', name: 'nope' });
    await expect(attempt).rejects.toBeInstanceOf(TemplateNotFoundError);
    await expect(attempt).rejects.toThrow('no template shop/nope@1.0.0');
  });
});

describe('TaskerClient.waitForTask and cancelTask', () => {
  it('resolves with the task once it finishes', async () => {
    const { client: c, engine } = await client();
    const created = await c.createTask({ namespace: 'n', name: 't' });
    const waiting = c.waitForTask(created.taskUuid, { timeoutMs: 1000 });
    engine.updateTask(created.taskUuid, { state: 'complete' });
    expect((await waiting).state).toBe('complete');
    expect(engine.waitCalls).toEqual([{ taskUuid: created.taskUuid, timeoutMs: 1000 }]);
  });

  it('defaults the timeout to 30000 ms', async () => {
    const { client: c, engine } = await client();
    const created = await c.createTask({ namespace: 'n', name: 't' });
    engine.updateTask(created.taskUuid, { state: 'complete' });
    await c.waitForTask(created.taskUuid);
    expect(engine.waitCalls[0].timeoutMs).toBe(30000);
  });

  it('rejects with TaskTimeoutError when the core times out', async () => {
    const { client: c } = await client();
    const created = await c.createTask({ namespace: 'n', name: 't' });
    await expect(c.waitForTask(created.taskUuid, { timeoutMs: 10 })).rejects.toBeInstanceOf(
      TaskTimeoutError,
    );
  });

  it('rejects a bad timeout before calling the core', async () => {
    const { client: c, engine } = await client();
    await expect(c.waitForTask('t', { timeoutMs: 0 })).rejects.toThrow(
      /timeoutMs must be a positive integer/,
    );
    expect(engine.waitCalls).toHaveLength(0);
  });

  it('cancels with a reason', async () => {
    const { client: c, engine } = await client();
    const created = await c.createTask({ namespace: 'n', name: 't' });
    const cancelled = await c.cancelTask(created.taskUuid, 'customer asked');
    expect(cancelled.state).toBe('cancelled');
    expect(engine.cancelCalls).toEqual([{ taskUuid: created.taskUuid, reason: 'customer asked' }]);
  });

  it('converts TASK_NOT_FOUND', async () => {
    const { client: c } = await client();
    await expect(c.cancelTask('missing')).rejects.toBeInstanceOf(TaskNotFoundError);
  });
});

describe('TaskerClient.sendSignal', () => {
  it('sends the payload as JSON and returns what the core did', async () => {
    const { client: c, engine } = await client();
    const created = await c.createTask({ namespace: 'n', name: 't' });
    const sent = await c.sendSignal(created.taskUuid, 'approve', { approved: true, by: 'ann' });
    expect(sent).toEqual({
      applied: true,
      stepState: 'complete',
      taskState: created.state,
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(engine.signalCalls).toEqual([
      {
        taskUuid: created.taskUuid,
        stepName: 'approve',
        payload: '{"approved":true,"by":"ann"}',
      },
    ]);
  });

  it('refuses a payload that is not a plain object, or cannot be serialized, before the core', async () => {
    const { client: c, engine } = await client();
    await expect(c.sendSignal('t', 'approve', [1] as never)).rejects.toThrow(
      new InvalidArgumentError('sendSignal: payload must be a plain object, got an array'),
    );
    await expect(c.sendSignal('t', 'approve', 'yes' as never)).rejects.toThrow(
      'sendSignal: payload must be a plain object, got string',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(c.sendSignal('t', 'approve', cyclic)).rejects.toThrow(
      /^sendSignal: payload cannot be serialized to JSON: Converting circular structure/,
    );
    await expect(c.sendSignal('t', 'approve', { n: 1n } as never)).rejects.toThrow(
      /^sendSignal: payload cannot be serialized to JSON: .*BigInt/,
    );
    await expect(c.sendSignal('', 'approve', {})).rejects.toThrow(
      'taskUuid must be a non-empty string, got ""',
    );
    await expect(c.sendSignal('t', '', {})).rejects.toThrow(
      'stepName must be a non-empty string, got ""',
    );
    expect(engine.signalCalls).toHaveLength(0);
  });

  it('converts TASK_NOT_FOUND', async () => {
    const { client: c } = await client();
    await expect(c.sendSignal('missing', 'approve', {})).rejects.toBeInstanceOf(TaskNotFoundError);
  });
});

describe('TaskerClient.close', () => {
  it('closes the engine it owns, once', async () => {
    const { client: c, engine } = await client();
    await c.close();
    await c.close();
    expect(engine.closeCalls).toBe(1);
    await expect(c.getTask('t')).rejects.toBeInstanceOf(ClosedError);
  });

  it('opens its engine on the resolved database', async () => {
    const { mock } = await client();
    expect(mock.engine.options).toEqual({ databaseUrl: 'sqlite::memory:' });
  });
});
