/**
 * A pino logger passed straight in: it type-checks as `Logger` (and as the worker's `logger`
 * option), its level is read so that the core filters in Rust, and what the worker, a handler's
 * `ctx.logger` and the core write reaches it as pino lines whose fields are an object.
 */
import { Writable } from 'stream';
import pino from 'pino';
import type { Logger, WorkerOptions } from '../../src/index';
import { resolveWorkerOptions } from '../../src/worker/options';
import { defineHandler, startWorker, stepEvent } from '../helpers/mock-native';

/** A pino logger writing to lines kept in memory. */
function capturedPino(level = 'debug'): {
  log: pino.Logger;
  lines: () => Record<string, unknown>[];
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = pino({ level, base: undefined, timestamp: false }, stream);
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('a pino logger', () => {
  it('is a Logger as it is, and a worker takes it as its logger option', () => {
    const log = pino({ level: 'info' }, new Writable({ write: (_c, _e, done) => done() }));
    const logger: Logger = log;
    const options: WorkerOptions = { templates: 'templates', handlers: [], logger: log };
    expect(logger).toBe(log);
    expect(resolveWorkerOptions(options).logger.level).toBe('info');
  });

  it('receives the worker’s, the handler’s and the core’s lines with their fields as an object', async () => {
    const { log, lines } = capturedPino('info');
    const handler = defineHandler('orders.charge', (ctx) => {
      ctx.logger.info({ orderId: 7 }, 'charged');
      ctx.logger.debug('below the level');
      return { ok: true };
    });
    const { worker, nativeWorker } = await startWorker([handler], { logger: log });
    // The core drops lines below pino's level before they cross to JavaScript.
    expect(nativeWorker.options.logLevel).toBe('info');

    nativeWorker.push(
      stepEvent({ handler: 'orders.charge', stepName: 'charge', taskUuid: 't-1', attempts: 1 }),
    );
    await nativeWorker.waitForResults(1);
    nativeWorker.push({
      kind: 'log',
      stepUuid: '',
      taskUuid: '',
      claimId: '',
      level: 'warn',
      message: `worker ${worker.workerId}: database unavailable while claiming steps: refused`,
      fields: JSON.stringify({ workerId: worker.workerId, doing: 'claiming steps' }),
    });
    await worker.shutdown();

    const charged = lines().find((l) => l.msg === 'charged');
    expect(charged).toEqual({
      level: 30,
      msg: 'charged',
      orderId: 7,
      taskUuid: 't-1',
      // The mock payload has no correlation id: the task uuid stands in.
      correlationId: 't-1',
      stepUuid: expect.any(String),
      step: 'charge',
      workerId: worker.workerId,
      attempt: 2,
    });
    expect(lines().some((l) => l.msg === 'below the level')).toBe(false);
    expect(lines()).toContainEqual({
      level: 40,
      msg: `worker ${worker.workerId}: database unavailable while claiming steps: refused`,
      workerId: worker.workerId,
      doing: 'claiming steps',
    });
  });

  it('gets errors under `err`, which pino serializes with their message and stack', async () => {
    const { log, lines } = capturedPino();
    const { worker, nativeWorker } = await startWorker([defineHandler('h', () => ({}))], {
      logger: log,
    });
    nativeWorker.pollError = new Error('poll broke');
    // The pending poll resolves with an unknown event; the next poll rejects.
    nativeWorker.push({ kind: 'other' as 'log', stepUuid: '', taskUuid: '', claimId: '' });
    await worker.shutdown();
    const failed = lines().find((l) => String(l.msg).includes('poll failed'));
    expect(failed?.err).toMatchObject({ message: 'poll broke', stack: expect.any(String) });
  });
});

describe('the logger option', () => {
  it.each([null, 'console', { info: () => undefined }])('refuses %p', (logger) => {
    expect(() =>
      resolveWorkerOptions({
        templates: 'templates',
        handlers: [],
        logger: logger as unknown as Logger,
      }),
    ).toThrow(
      'logger must be an object with debug, info, warn and error methods (a pino logger, or ' +
        'see docs/logging.md to adapt another)',
    );
  });
});
