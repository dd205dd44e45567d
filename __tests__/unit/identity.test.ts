import { DuplicateTaskError, InvalidArgumentError, fromNativeError } from '../../src/index';
import { openClient } from '../../src/client/create-client';
import { MockNativeModule, nativeError } from '../helpers/mock-native';

async function client() {
  const mock = new MockNativeModule();
  const c = await openClient(mock, { database: ':memory:' });
  return { client: c, engine: mock.engine };
}

describe('createTask onDuplicate', () => {
  it.each(['return', 'error'] as const)('passes %s to the core', async (onDuplicate) => {
    const { client: c, engine } = await client();
    await c.createTask({ namespace: 'shop', name: 'order', onDuplicate });
    expect(engine.createTaskRequests[0]?.onDuplicate).toBe(onDuplicate);
    await c.close();
  });

  it('sends nothing by default (the core returns the existing task)', async () => {
    const { client: c, engine } = await client();
    await c.createTask({ namespace: 'shop', name: 'order' });
    expect(engine.createTaskRequests[0]).not.toHaveProperty('onDuplicate');
    await c.close();
  });

  it.each([['fail'], [true], [null]])('refuses %j', async (value) => {
    const { client: c, engine } = await client();
    const call = c.createTask({ namespace: 'shop', name: 'order', onDuplicate: value as 'error' });
    await expect(call).rejects.toThrow(
      new InvalidArgumentError(
        `onDuplicate must be 'return' or 'error', got ${JSON.stringify(value)}`,
      ),
    );
    expect(engine.createTaskRequests).toHaveLength(0);
    await c.close();
  });

  it('DUPLICATE_TASK from the core becomes a DuplicateTaskError with the message as given', () => {
    const err = fromNativeError(
      nativeError('DUPLICATE_TASK', 'task t-1 of shop/order@1.0.0 already has …'),
    );
    expect(err).toBeInstanceOf(DuplicateTaskError);
    expect(err.message).toBe('task t-1 of shop/order@1.0.0 already has …');
    expect((err as DuplicateTaskError).code).toBe('DUPLICATE_TASK');
  });
});
