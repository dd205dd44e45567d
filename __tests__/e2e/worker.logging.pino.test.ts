/**
 * A pino logger passed straight in as the worker's `logger`: during a database outage (a TCP
 * proxy in front of PostgreSQL, cut) the core's warning reaches pino at warn (40) with its fields
 * as an object, and the recovery at info (30); a handler's `ctx.logger` lines carry the step's
 * fields. pino writes to a stream the test captures.
 */
import { Writable } from 'stream';
import pino from 'pino';
import {
  defineHandler,
  describeEachBackend,
  eventually,
  openClient,
  startWorker,
  stepOf,
} from '../helpers/e2e';
import { proxied } from '../helpers/tcp-proxy';

/** pino writing JSON lines into memory. */
function capturedPino(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describeEachBackend(
  'a pino logger during a database outage',
  (backend) => {
    it('gets the outage at warn and the recovery at info, with fields as objects', async () => {
      const direct = await backend.database();
      const { proxy, url } = await proxied(direct);
      const { log, lines } = capturedPino();
      const handler = defineHandler('Idempotency.Once', (ctx) => {
        ctx.logger.info({ order: ctx.getInput('order') }, 'handling');
        return { order: ctx.getInput('order') };
      });
      const worker = await startWorker({
        database: url,
        templates: 'idempotency',
        handlers: [handler],
        logger: log,
      });
      const client = await openClient(direct);
      const first = await client.createTask({
        namespace: 'e2e',
        name: 'idempotency',
        context: { order: 1 },
      });
      const done = await client.waitForTask(first.taskUuid, { timeoutMs: 10_000 });
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 30,
          msg: 'handling',
          order: 1,
          taskUuid: first.taskUuid,
          stepUuid: stepOf(done, 'once').stepUuid,
          step: 'once',
          workerId: worker.workerId,
          attempt: 1,
        }),
      );

      await proxy.cut();
      const down = await eventually('the outage to reach pino', () =>
        lines.find((l) => l.level === 40 && /database unavailable/.test(String(l.msg))),
      );
      expect(down).toMatchObject({
        msg: expect.stringMatching(
          new RegExp(
            `^worker ${worker.workerId}: database unavailable while [a-z0-9 ]+: .*127\\.0\\.0\\.1:${proxy.port}.*; retrying until it answers$`,
          ),
        ),
        workerId: worker.workerId,
        doing: expect.any(String),
        cause: expect.stringContaining(`127.0.0.1:${proxy.port}`),
        pid: process.pid,
      });
      // Nothing below pino's level (the core drops those lines before they reach JavaScript).
      expect(lines.some((l) => l.level === 20)).toBe(false);

      await proxy.open();
      const second = await client.createTask({
        namespace: 'e2e',
        name: 'idempotency',
        context: { order: 2 },
      });
      expect((await client.waitForTask(second.taskUuid, { timeoutMs: 10_000 })).state).toBe(
        'complete',
      );
      const back = await eventually('the recovery to reach pino', () =>
        lines.find((l) => /database reachable again/.test(String(l.msg))),
      );
      expect(back).toMatchObject({
        level: 30,
        workerId: worker.workerId,
        downMs: expect.any(Number),
      });
    });
  },
  { only: ['postgres'] },
);
