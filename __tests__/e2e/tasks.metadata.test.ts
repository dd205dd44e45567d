/**
 * Task metadata (docs/task-metadata.md), end to end on both backends: what `createTask` and
 * `createTasks` are given comes back in task views and reaches handlers (`ctx.correlationId`,
 * `ctx.taskMetadata`); a correlation id is generated when none is given; `listTasks` and
 * `countTasks` filter by correlation id and tags; the core's limits are refused naming the
 * field; and the CLI creates and lists tasks with them.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { InvalidArgumentError, type StepContext, type TaskMetadata } from '../../src/index';
import {
  REPO_ROOT,
  defineHandler,
  describeEachBackend,
  openClient,
  startWorker,
} from '../helpers/e2e';
import { RecordingLogger } from '../helpers/mock-native';

const BIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const request = { namespace: 'e2e', name: 'metadata' };

/** Runs `tasker ...args` against `database`; resolves with the exit code and the output. */
function tasker(
  args: string[],
  database: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TASKER_DATABASE_URL: database };
  delete env.FORCE_COLOR;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env,
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describeEachBackend('task metadata', (backend) => {
  function reporter(seen: { correlationId: string; metadata: TaskMetadata }[]) {
    return defineHandler('Metadata.Report', (ctx: StepContext) => {
      seen.push({ correlationId: ctx.correlationId, metadata: ctx.taskMetadata });
      ctx.logger.info('reporting');
      return { correlationId: ctx.correlationId };
    });
  }

  it('is stored, returned in task views and seen by handlers', async () => {
    const seen: { correlationId: string; metadata: TaskMetadata }[] = [];
    const logger = new RecordingLogger();
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'metadata',
      handlers: [reporter(seen)],
      logger,
    });
    const client = worker.client;
    const created = await client.createTask({
      ...request,
      correlationId: 'req-0001',
      parentCorrelationId: 'batch-7',
      initiator: 'alice@example.com',
      sourceSystem: 'shop-web',
      reason: 'customer checkout',
      tags: ['eu', 'vip', 'eu'],
    });
    const expected = {
      correlationId: 'req-0001',
      parentCorrelationId: 'batch-7',
      initiator: 'alice@example.com',
      sourceSystem: 'shop-web',
      reason: 'customer checkout',
      tags: ['eu', 'vip'],
    };
    expect(created).toMatchObject(expected);
    const done = await client.waitForTask(created.taskUuid, { timeoutMs: 10000 });
    expect(done).toMatchObject({ state: 'complete', ...expected, identityHash: null });
    expect(done.steps[0]!.result).toEqual({ correlationId: 'req-0001' });
    expect(seen).toEqual([{ correlationId: 'req-0001', metadata: expected }]);
    // The handler's log lines carry it.
    expect(logger.entries.find((e) => e.message === 'reporting')?.fields).toMatchObject({
      taskUuid: created.taskUuid,
      correlationId: 'req-0001',
    });
    expect((await client.listTasks({ correlationId: 'req-0001' }))[0]).toMatchObject(expected);

    // Without metadata: a generated UUID v7, nulls and no tags.
    const plain = await client.createTask(request);
    expect(plain.correlationId).toMatch(UUID_V7);
    expect(plain).toMatchObject({ initiator: null, sourceSystem: null, reason: null, tags: [] });
    await client.waitForTask(plain.taskUuid, { timeoutMs: 10000 });
    expect(seen[1]).toEqual({
      correlationId: plain.correlationId,
      metadata: {
        correlationId: plain.correlationId,
        parentCorrelationId: null,
        initiator: null,
        sourceSystem: null,
        reason: null,
        tags: [],
      },
    });
  });

  it('filters listTasks and countTasks by correlation id and tags', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'metadata',
      handlers: [reporter([])],
      start: false,
    });
    const client = worker.client;
    const [a, b, c] = await client.createTasks([
      { ...request, correlationId: 'order-1', tags: ['eu', 'vip'] },
      { ...request, correlationId: 'order-1', tags: ['eu'] },
      { ...request, parentCorrelationId: 'order-1', tags: ['us', 'vip'] },
    ]);
    // Each request of a bulk create without a correlation id gets its own.
    expect(c!.correlationId).toMatch(UUID_V7);
    const uuids = async (filter: Parameters<typeof client.listTasks>[0]) =>
      (await client.listTasks(filter)).map((t) => t.taskUuid).sort();

    expect(await uuids({ tags: ['eu'] })).toEqual([a!.taskUuid, b!.taskUuid].sort());
    expect(await uuids({ tags: ['vip', 'eu'] })).toEqual([a!.taskUuid]);
    expect(await uuids({ tags: ['nope'] })).toEqual([]);
    expect(await uuids({ correlationId: 'order-1' })).toEqual([a!.taskUuid, b!.taskUuid].sort());
    expect(await uuids({ parentCorrelationId: 'order-1' })).toEqual([c!.taskUuid]);
    expect(await uuids({ correlationId: 'order-1', tags: ['vip'] })).toEqual([a!.taskUuid]);
    const counts = await client.countTasks({ tags: ['vip'] });
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(2);
    expect((await client.countTasks({ correlationId: 'order-1' })).steps_in_process).toBe(2);
  });

  it('refuses metadata past the limits, naming the field', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'metadata',
      handlers: [reporter([])],
      start: false,
    });
    const client = worker.client;
    const of = 'of e2e/metadata@1.0.0';
    const cases: [Record<string, unknown>, string][] = [
      [
        { correlationId: 'c'.repeat(129) },
        `the correlationId ${of} is 129 characters long; at most 128 are accepted`,
      ],
      [
        { initiator: 'bob\u0007' },
        `the initiator ${of} must not contain control characters, got \\u{7} at character 4`,
      ],
      [
        { reason: 'r'.repeat(1001) },
        `the reason ${of} is 1001 characters long; at most 1000 are accepted`,
      ],
      [
        { tags: ['fine', 'not fine'] },
        `tag 1 ${of} 'not fine' must not contain whitespace (use '-', '_', ':' or '.' to join words)`,
      ],
      [
        { tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
        `the tags ${of} are 33 distinct tags; at most 32 are accepted`,
      ],
    ];
    for (const [fields, message] of cases) {
      const call = client.createTask({ ...request, ...fields });
      await expect(call).rejects.toThrow(InvalidArgumentError);
      await expect(call).rejects.toThrow(message);
    }
    await expect(client.createTasks([request, { ...request, tags: ['a b'] }])).rejects.toThrow(
      `request 1: tag 0 ${of} 'a b' must not contain whitespace`,
    );
    await expect(client.listTasks({ tags: ['a b'] })).rejects.toThrow(
      "listTasks: tag 0 'a b' must not contain whitespace",
    );
    expect(await client.listTasks()).toEqual([]);
  });

  it('the CLI creates tasks with metadata and lists them by it', async () => {
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build:ts\` first`);
    const database = await backend.database({ shared: true });
    const worker = await startWorker({
      database,
      templates: 'metadata',
      handlers: [reporter([])],
      start: false,
    });
    const client = backend.name === 'postgres' ? await openClient(database) : worker.client;
    const run = await tasker(
      [
        'tasks',
        'create',
        'e2e/metadata',
        '--correlation-id',
        'cli-1',
        '--initiator',
        'ops',
        '--reason',
        'backfill',
        '--tag',
        'backfill',
        '--tag',
        'eu',
      ],
      database,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const task = await client.getTask(run.stdout.trim());
    expect(task).toMatchObject({
      correlationId: 'cli-1',
      initiator: 'ops',
      sourceSystem: 'tasker-cli',
      reason: 'backfill',
      tags: ['backfill', 'eu'],
    });
    // --source-system replaces the default; no --correlation-id: a generated one.
    const other = await tasker(
      ['tasks', 'create', 'e2e/metadata', '--source-system', 'cron', '--tag', 'eu'],
      database,
    );
    const second = await client.getTask(other.stdout.trim());
    expect(second).toMatchObject({ sourceSystem: 'cron', tags: ['eu'] });
    expect(second!.correlationId).toMatch(UUID_V7);

    const listed = await tasker(['tasks', 'list', '--tag', 'eu', '--json'], database);
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.stdout) as { taskUuid: string }[]).map((t) => t.taskUuid);
    expect(ids.sort()).toEqual([task!.taskUuid, second!.taskUuid].sort());
    const byBoth = await tasker(
      ['tasks', 'list', '--tag', 'eu', '--tag', 'backfill', '--json'],
      database,
    );
    expect((JSON.parse(byBoth.stdout) as { taskUuid: string }[]).map((t) => t.taskUuid)).toEqual([
      task!.taskUuid,
    ]);
    const byCorrelation = await tasker(
      ['tasks', 'list', '--correlation-id', 'cli-1', '--json'],
      database,
    );
    expect(
      (JSON.parse(byCorrelation.stdout) as { taskUuid: string }[]).map((t) => t.taskUuid),
    ).toEqual([task!.taskUuid]);

    // The core's refusal is a usage error (exit 2), as for every invalid argument.
    const bad = await tasker(['tasks', 'create', 'e2e/metadata', '--tag', 'two words'], database);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      "tag 0 of e2e/metadata@1.0.0 'two words' must not contain whitespace",
    );
    const empty = await tasker(['tasks', 'list', '--correlation-id', ''], database);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--correlation-id must not be empty');
  });
});
