/**
 * Identity strategies (docs/identity.md), end to end on both backends: `strict` templates
 * dedupe creates on their context (whatever the key order), `caller_provided` ones require an
 * idempotency key, and `onDuplicate: 'error'` turns a duplicate into a `DuplicateTaskError`.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { DuplicateTaskError, InvalidArgumentError } from '../../src/index';
import {
  REPO_ROOT,
  defineHandler,
  describeEachBackend,
  openClient,
  startWorker,
} from '../helpers/e2e';

const BIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** `tasker ...args` against `database` (synchronously: the worker here is not started). */
function tasker(args: string[], database: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TASKER_DATABASE_URL: database };
  const run = spawnSync(process.execPath, [BIN, ...args], {
    env,
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describeEachBackend('identity strategies', (backend) => {
  const place = defineHandler('Identity.Place', (ctx) => ({ order: ctx.getInput('order') }));
  const strict = { namespace: 'e2e', name: 'strict_order' };
  const keyed = { namespace: 'e2e', name: 'keyed_order' };

  it('strict: the same context is the same task, from any engine', async () => {
    const database = await backend.database();
    const worker = await startWorker({ database, templates: 'identity', handlers: [place] });
    const other = backend.name === 'postgres' ? await openClient(database) : worker.client;
    const [a, b] = await Promise.all([
      worker.client.createTask({ ...strict, context: { order: 7, lines: [{ sku: 'a', qty: 1 }] } }),
      other.createTask({ ...strict, context: { lines: [{ qty: 1, sku: 'a' }], order: 7 } }),
    ]);
    expect(b.taskUuid).toBe(a.taskUuid);
    expect(a.identityHash).toMatch(/^[0-9a-f]{64}$/);
    const c = await worker.client.createTask({ ...strict, context: { order: 8 } });
    expect(c.taskUuid).not.toBe(a.taskUuid);
    const done = await worker.client.waitForTask(a.taskUuid, { timeoutMs: 10000 });
    expect(done.state).toBe('complete');
    // A finished task still counts: the same context returns it.
    const again = await worker.client.createTask({
      ...strict,
      context: { order: 7, lines: [{ sku: 'a', qty: 1 }] },
    });
    expect(again).toMatchObject({ taskUuid: a.taskUuid, state: 'complete' });
    expect(await worker.client.listTasks({ name: 'strict_order' })).toHaveLength(2);
  });

  it("onDuplicate: 'error' fails with DuplicateTaskError naming the task", async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'identity',
      handlers: [place],
      start: false,
    });
    const client = worker.client;
    const first = await client.createTask({ ...strict, context: { order: 1 } });
    const call = client.createTask({ ...strict, context: { order: 1 }, onDuplicate: 'error' });
    await expect(call).rejects.toThrow(DuplicateTaskError);
    await expect(call).rejects.toThrow(
      `task ${first.taskUuid} of e2e/strict_order@1.0.0 already has the same context ` +
        "(identity_strategy strict) (onDuplicate: 'error')",
    );
    const k = await client.createTask({ ...keyed, idempotencyKey: 'order-1' });
    await expect(
      client.createTask({ ...keyed, idempotencyKey: 'order-1', onDuplicate: 'error' }),
    ).rejects.toThrow(
      `task ${k.taskUuid} of e2e/keyed_order@1.0.0 already has the idempotency key 'order-1'`,
    );
    await expect(client.createTask({ ...strict, onDuplicate: 'never' as 'error' })).rejects.toThrow(
      new InvalidArgumentError(`onDuplicate must be 'return' or 'error', got "never"`),
    );
  });

  it('caller_provided: a create without an idempotency key is refused', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'identity',
      handlers: [place],
      start: false,
    });
    const client = worker.client;
    const call = client.createTask({ ...keyed, context: { order: 1 } });
    await expect(call).rejects.toThrow(InvalidArgumentError);
    await expect(call).rejects.toThrow(
      'the template e2e/keyed_order@1.0.0 has identity_strategy caller_provided: every create ' +
        'must give an idempotencyKey',
    );
    const a = await client.createTask({ ...keyed, idempotencyKey: 'k', context: { order: 1 } });
    const b = await client.createTask({ ...keyed, idempotencyKey: 'k', context: { order: 2 } });
    expect(b.taskUuid).toBe(a.taskUuid);
    expect(b.context).toEqual({ order: 1 });
  });

  it('the CLI: --on-duplicate error exits 1 naming the task; a bad value is a usage error', async () => {
    const database = await backend.database({ shared: true });
    await startWorker({ database, templates: 'identity', handlers: [place], start: false });
    const args = ['tasks', 'create', 'e2e/strict_order', '--context', '{"order":3}'];
    const first = tasker(args, database);
    expect(first.stderr).toBe('');
    const uuid = first.stdout.trim();
    expect(tasker(args, database).stdout.trim()).toBe(uuid);
    const refused = tasker([...args, '--on-duplicate', 'error'], database);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `tasker: task ${uuid} of e2e/strict_order@1.0.0 already has the same context ` +
        "(identity_strategy strict) (onDuplicate: 'error')\n",
    );
    const bad = tasker([...args, '--on-duplicate', 'fail'], database);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--on-duplicate must be return or error, got 'fail'");
  });
});
