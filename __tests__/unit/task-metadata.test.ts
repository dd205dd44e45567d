import { InvalidArgumentError } from '../../src/index';
import { openClient } from '../../src/client/create-client';
import { StepContext } from '../../src/context/step-context';
import type { StepPayload } from '../../src/native';
import { MockNativeModule, RecordingLogger } from '../helpers/mock-native';

async function client() {
  const mock = new MockNativeModule();
  const c = await openClient(mock, { database: ':memory:' });
  return { client: c, engine: mock.engine };
}

describe('createTask metadata', () => {
  it('passes every field to the core as given', async () => {
    const { client: c, engine } = await client();
    const task = await c.createTask({
      namespace: 'shop',
      name: 'checkout',
      correlationId: 'req-1',
      parentCorrelationId: 'batch-9',
      initiator: 'alice',
      sourceSystem: 'web',
      reason: 'customer checkout',
      tags: ['eu', 'vip'],
    });
    expect(engine.createTaskRequests[0]).toMatchObject({
      correlationId: 'req-1',
      parentCorrelationId: 'batch-9',
      initiator: 'alice',
      sourceSystem: 'web',
      reason: 'customer checkout',
      tags: ['eu', 'vip'],
    });
    expect(task).toMatchObject({ correlationId: 'req-1', tags: ['eu', 'vip'] });
    await c.close();
  });

  it('sends no metadata fields when none are given (the core generates the correlation id)', async () => {
    const { client: c, engine } = await client();
    await c.createTask({ namespace: 'shop', name: 'checkout' });
    const request = engine.createTaskRequests[0]!;
    for (const field of [
      'correlationId',
      'parentCorrelationId',
      'initiator',
      'sourceSystem',
      'reason',
      'tags',
    ]) {
      expect(request).not.toHaveProperty(field);
    }
    await c.close();
  });

  it.each([
    [{ correlationId: 42 }, 'correlationId must be a non-empty string, got 42'],
    [{ correlationId: '' }, 'correlationId must be a non-empty string, got ""'],
    [{ parentCorrelationId: null }, 'parentCorrelationId must be a non-empty string, got null'],
    [{ initiator: { id: 1 } }, 'initiator must be a non-empty string, got {"id":1}'],
    [{ sourceSystem: true }, 'sourceSystem must be a non-empty string, got true'],
    [{ reason: [] }, 'reason must be a non-empty string, got []'],
    [{ tags: 'eu' }, 'tags must be an array of strings, got "eu"'],
    [{ tags: ['eu', 7] }, 'tags[1] must be a string, got 7'],
  ])('refuses %j: %s', async (fields, message) => {
    const { client: c, engine } = await client();
    const attempt = c.createTask({ namespace: 'shop', name: 'checkout', ...(fields as object) });
    await expect(attempt).rejects.toThrow(new InvalidArgumentError(message));
    expect(engine.createTaskRequests).toHaveLength(0);
    await c.close();
  });

  it('names the request of a bulk create', async () => {
    const { client: c } = await client();
    const attempt = c.createTasks([
      { namespace: 'shop', name: 'checkout' },
      { namespace: 'shop', name: 'checkout', tags: [1] as unknown as string[] },
    ]);
    await expect(attempt).rejects.toThrow(
      new InvalidArgumentError('createTasks: request 1: tags[0] must be a string, got 1'),
    );
    await c.close();
  });
});

describe('listTasks and countTasks metadata filters', () => {
  it('passes correlation ids and tags to the core', async () => {
    const { client: c, engine } = await client();
    await c.listTasks({ correlationId: 'req-1', parentCorrelationId: 'p', tags: ['eu'] });
    expect(engine.listFilters.at(-1)).toMatchObject({
      correlationId: 'req-1',
      parentCorrelationId: 'p',
      tags: ['eu'],
    });
    await c.close();
  });

  it.each([
    [{ correlationId: 5 }, 'listTasks: correlationId must be a non-empty string, got 5'],
    [
      { parentCorrelationId: '' },
      'listTasks: parentCorrelationId must be a non-empty string, got ""',
    ],
    [{ tags: 'eu' }, 'listTasks: tags must be an array of strings, got "eu"'],
    [{ tags: [null] }, 'listTasks: tags[0] must be a string, got null'],
  ])('listTasks refuses %j', async (filter, message) => {
    const { client: c } = await client();
    await expect(c.listTasks(filter as object)).rejects.toThrow(new InvalidArgumentError(message));
    await c.close();
  });

  it('countTasks checks the same filter', async () => {
    const { client: c } = await client();
    await expect(c.countTasks({ tags: [3] as unknown as string[] })).rejects.toThrow(
      new InvalidArgumentError('countTasks: tags[0] must be a string, got 3'),
    );
    await c.close();
  });
});

describe('StepContext metadata', () => {
  const payload = (task: Partial<StepPayload['task']>): StepPayload => ({
    task: { task_uuid: 't-1', namespace: 'n', name: 'x', version: '1.0.0', context: {}, ...task },
    step: {
      step_uuid: 's-1',
      name: 'a',
      template_step_name: 'a',
      step_type: 'standard',
      handler_callable: 'A',
      handler_initialization: {},
      inputs: {},
      attempts: 0,
      max_attempts: 1,
      timeout_ms: 1000,
      checkpoint: null,
    },
    dependency_results: {},
  });

  it('exposes the correlation id and the metadata, frozen', () => {
    const ctx = new StepContext(
      payload({
        correlation_id: 'req-1',
        parent_correlation_id: null,
        initiator: 'alice',
        source_system: null,
        reason: null,
        tags: ['eu'],
      }),
      new AbortController().signal,
      new RecordingLogger(),
    );
    expect(ctx.correlationId).toBe('req-1');
    expect(ctx.taskMetadata).toEqual({
      correlationId: 'req-1',
      parentCorrelationId: null,
      initiator: 'alice',
      sourceSystem: null,
      reason: null,
      tags: ['eu'],
    });
    expect(Object.isFrozen(ctx.taskMetadata)).toBe(true);
    expect(Object.isFrozen(ctx.taskMetadata.tags)).toBe(true);
  });

  it('falls back to the task uuid for a payload without a correlation id', () => {
    const ctx = new StepContext(payload({}), new AbortController().signal, new RecordingLogger());
    expect(ctx.correlationId).toBe('t-1');
    expect(ctx.taskMetadata.tags).toEqual([]);
  });
});
