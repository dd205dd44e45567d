/**
 * What reaches the worker's `logger` from the core: a timed-out step (warn, naming task, step,
 * worker and attempt), and on PostgreSQL a database outage — told once when it starts, once when
 * it ends ("database reachable again after 3.1 s") — with work resuming soon after the server
 * answers and no result lost. The outage is made by a TCP proxy between the worker and the
 * server that drops every connection and refuses new ones.
 */
import { Client as PgClient } from 'pg';
import {
  TestLogger,
  pgServerUrl,
  aborted,
  defineHandler,
  deferred,
  describeEachBackend,
  eventually,
  openClient,
  runTask,
  sleep,
  startWorker,
  stepOf,
  track,
} from '../helpers/e2e';
import { Proxy } from '../helpers/tcp-proxy';

describeEachBackend('worker logging', (backend) => {
  it('tells the logger which step of which task timed out, on which attempt', async () => {
    const slow = defineHandler('Timeout.Slow', async (ctx) => {
      if (ctx.retryCount > 0) return { ok: true };
      throw await aborted(ctx.signal);
    });
    const logger = new TestLogger();
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'timeout',
      handlers: [slow],
      logger,
    });

    const task = await runTask(worker.client, { name: 'timeout' });

    expect(task.state).toBe('complete');
    const told = logger.entries.filter(
      (e) => e.message.startsWith(`worker ${worker.workerId}:`) && /timed out/.test(e.message),
    );
    expect(told).toEqual([
      {
        level: 'warn',
        message: `worker ${worker.workerId}: step 'slow' timed out after 300 ms (attempt 1 of 3) in task ${task.taskUuid}; its handler was aborted`,
        fields: {
          workerId: worker.workerId,
          taskUuid: task.taskUuid,
          stepUuid: stepOf(task, 'slow').stepUuid,
          step: 'slow',
          attempt: 1,
        },
      },
    ]);
  });
});

describeEachBackend(
  'worker logging during a database outage',
  (backend) => {
    it('tells the outage once, tells the recovery, resumes within about a second, loses nothing', async () => {
      const direct = await backend.database();
      const url = new URL(direct);
      const proxy = new Proxy(url.hostname, Number(url.port || 5432));
      await proxy.open();
      track(() => proxy.close());
      const viaProxy = new URL(direct);
      viaProxy.hostname = '127.0.0.1';
      viaProxy.port = String(proxy.port);

      const started: string[] = [];
      const finishDuringOutage = deferred();
      const handler = defineHandler('Idempotency.Once', async (ctx) => {
        const order = ctx.getInput<number>('order');
        started.push(String(order));
        // The first task's handler finishes while the database is away: its result must wait
        // in the worker and be recorded when the database answers (not run again).
        if (order === 1) await finishDuringOutage.promise;
        return { order };
      });
      const logger = new TestLogger();
      const worker = await startWorker({
        database: viaProxy.toString(),
        templates: 'idempotency',
        handlers: [handler],
        logger,
        allowLoggedErrors: false,
      });
      const client = await openClient(direct);
      const first = await client.createTask({
        namespace: 'e2e',
        name: 'idempotency',
        context: { order: 1 },
      });
      await eventually('the first handler to start', () => started.includes('1'));

      await proxy.cut();
      const cutAt = Date.now();
      // Work created during the outage, by a process that still reaches the database.
      const second = await client.createTask({
        namespace: 'e2e',
        name: 'idempotency',
        context: { order: 2 },
      });
      finishDuringOutage.resolve();
      const down = await eventually('the outage to be logged', () =>
        logger.entries.find((e) => e.level === 'warn' && /database unavailable/.test(e.message)),
      );
      expect(down.message).toMatch(
        new RegExp(
          `^worker ${worker.workerId}: database unavailable while [a-z0-9 ]+: .*127\\.0\\.0\\.1:${proxy.port}.*; retrying until it answers$`,
        ),
      );
      expect(down.fields).toMatchObject({ workerId: worker.workerId, cause: expect.any(String) });
      await sleep(3000);
      // Told once, not once per failed statement.
      expect(
        logger.entries.filter((e) => e.level === 'warn' && /database/.test(e.message)),
      ).toHaveLength(1);

      await proxy.open();
      const backAt = Date.now();
      const done = await client.waitForTask(second.taskUuid, { timeoutMs: 10_000 });
      const resumedAfterMs = Date.now() - backAt;
      expect(done.state).toBe('complete');
      // Within about a second of the server answering (was 4-5 s).
      expect(resumedAfterMs).toBeLessThan(2500);

      const firstDone = await client.waitForTask(first.taskUuid, { timeoutMs: 10_000 });
      expect(stepOf(firstDone, 'once')).toMatchObject({
        state: 'complete',
        attempts: 1,
        result: { order: 1 },
      });
      expect(started).toEqual(['1', '2']);

      const back = await eventually('the recovery to be logged', () =>
        logger.entries.find((e) => /database reachable again/.test(e.message)),
      );
      expect(back.level).toBe('info');
      expect(back.message).toMatch(
        new RegExp(`^worker ${worker.workerId}: database reachable again after \\d+\\.\\d s$`),
      );
      const downMs = back.fields?.downMs as number;
      expect(downMs).toBeGreaterThanOrEqual(2500);
      expect(downMs).toBeLessThan(backAt - cutAt + 3000);
    });

    it('tells why the database refuses connections, and when it accepts them again', async () => {
      const database = await backend.database();
      const name = new URL(database).pathname.slice(1);
      const logger = new TestLogger();
      const handler = defineHandler('Idempotency.Once', (ctx) => ({
        order: ctx.getInput('order'),
      }));
      const worker = await startWorker({
        database,
        templates: 'idempotency',
        handlers: [handler],
        logger,
      });
      const admin = new PgClient({ connectionString: pgServerUrl() });
      await admin.connect();
      track(async () => {
        await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
        await admin.end();
      });
      // The database stops accepting connections, and the worker's are closed.
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1',
        [name],
      );
      const down = await eventually('the outage to be logged', () =>
        logger.entries.find((e) => e.level === 'warn' && /^worker \S+: database/.test(e.message)),
      );
      // Told once, with the first cause (the connection closed, or refused at once); the
      // server's reason for refusing new connections is in the lines that follow.
      expect(down.message).toMatch(
        /(terminating connection due to administrator command|not currently accepting connections).*; retrying until it answers$/,
      );
      await eventually('the server’s reason to be logged', () =>
        logger.entries.find((e) =>
          /database "[^"]+" is not currently accepting connections/.test(e.message),
        ),
      );
      expect(down.fields).toMatchObject({ workerId: worker.workerId });

      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      // Created by another process's engine: the worker's own pool may still hold a connection
      // that the server closed after this worker last used it (known gap, see the closing note).
      const fresh = await openClient(database);
      const task = await fresh.createTask({
        namespace: 'e2e',
        name: 'idempotency',
        context: { order: 3 },
      });
      expect((await fresh.waitForTask(task.taskUuid, { timeoutMs: 10_000 })).state).toBe(
        'complete',
      );
      await eventually('the recovery to be logged', () =>
        logger.entries.find(
          (e) => e.level === 'info' && /database (reachable|working) again after/.test(e.message),
        ),
      );
    });
  },
  { only: ['postgres'] },
);
