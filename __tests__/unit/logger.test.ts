import { createConsoleLogger } from '../../src/index';
import { levelOf, logLevelFromEnv, safeLogger, stepLogger } from '../../src/logger';
import { RecordingLogger } from '../helpers/mock-native';

describe('console logger', () => {
  const methods = ['debug', 'info', 'warn', 'error'] as const;
  let spies: Record<(typeof methods)[number], jest.SpyInstance>;
  beforeEach(() => {
    spies = Object.fromEntries(
      methods.map((m) => [m, jest.spyOn(console, m).mockImplementation(() => undefined)]),
    ) as typeof spies;
  });
  afterEach(() => jest.restoreAllMocks());

  function logAll(level?: Parameters<typeof createConsoleLogger>[0]) {
    const logger = createConsoleLogger(level);
    for (const m of methods) logger[m]({}, `${m} message`);
    return methods.filter((m) => spies[m].mock.calls.length > 0);
  }

  it('writes warn and error only, by default', () => {
    expect(logAll('warn')).toEqual(['warn', 'error']);
    expect(spies.warn).toHaveBeenCalledWith('tasker: warn message');
  });

  it('writes everything at debug, nothing when silent', () => {
    expect(logAll('debug')).toEqual(['debug', 'info', 'warn', 'error']);
    jest.clearAllMocks();
    expect(logAll('silent')).toEqual([]);
  });

  it('takes the fields first, as pino does, and prints them after the message', () => {
    createConsoleLogger('info').info({ step: 's1' }, 'claimed');
    expect(spies.info).toHaveBeenCalledWith('tasker: claimed', { step: 's1' });
  });

  it('says its level, so that the core filters its lines in Rust', () => {
    expect(createConsoleLogger('info').level).toBe('info');
    expect(levelOf(createConsoleLogger('silent'))).toBe('silent');
  });

  it.each<[string | undefined, string]>([
    [undefined, 'warn'],
    ['DEBUG', 'debug'],
    [' info ', 'info'],
    ['loud', 'warn'],
  ])('reads TASKER_LOG_LEVEL=%p as %s', (value, level) => {
    expect(logLevelFromEnv(value === undefined ? {} : { TASKER_LOG_LEVEL: value })).toBe(level);
  });
});

describe('levelOf', () => {
  it.each<[unknown, string]>([
    ['trace', 'debug'],
    ['debug', 'debug'],
    ['info', 'info'],
    ['WARN', 'warn'],
    ['error', 'error'],
    ['fatal', 'error'],
    ['silent', 'silent'],
    ['verbose', 'debug'],
    [30, 'debug'],
    [undefined, 'debug'],
  ])('reads a logger level %p as %s', (level, expected) => {
    expect(levelOf({ level } as { level?: string })).toBe(expected);
  });

  it('reads a level that throws as debug', () => {
    const logger = {
      get level(): string {
        throw new Error('no level');
      },
    };
    expect(levelOf(logger)).toBe('debug');
  });
});

describe('stepLogger', () => {
  const step = { taskUuid: 't1', stepUuid: 's1', step: 'charge', workerId: 'w1', attempt: 2 };

  it('adds the step fields to every line, called as pino: (fields, message) or (message)', () => {
    const base = new RecordingLogger();
    const log = stepLogger(base, step);
    log.info('started');
    log.warn({ orderId: 7 }, 'slow');
    log.error({ attempt: 3 }, 'failed');
    expect(base.entries).toEqual([
      { level: 'info', message: 'started', fields: step },
      { level: 'warn', message: 'slow', fields: { ...step, orderId: 7 } },
      { level: 'error', message: 'failed', fields: { ...step, attempt: 3 } },
    ]);
  });

  it('keeps the fields of a line written in the console order, (message, fields)', () => {
    const base = new RecordingLogger();
    const log = stepLogger(base, step) as unknown as {
      debug(message: string, fields: unknown): void;
    };
    log.debug('legacy', { n: 1 });
    log.debug('not fields', 42);
    expect(base.entries).toEqual([
      { level: 'debug', message: 'legacy', fields: { ...step, n: 1 } },
      { level: 'debug', message: 'not fields', fields: step },
    ]);
  });
});

describe('safeLogger', () => {
  it('swallows exceptions from a broken logger', () => {
    const broken = {
      debug: () => {
        throw new Error('x');
      },
      info: () => {
        throw new Error('x');
      },
      warn: () => {
        throw new Error('x');
      },
      error: () => {
        throw new Error('x');
      },
    };
    expect(() => safeLogger(broken).error({}, 'm')).not.toThrow();
  });

  it('passes the fields and message on, and says the level of the logger it wraps', () => {
    const base = Object.assign(new RecordingLogger(), { level: 'info' });
    const safe = safeLogger(base);
    safe.info({ a: 1 }, 'hello');
    expect(base.entries).toEqual([{ level: 'info', message: 'hello', fields: { a: 1 } }]);
    expect(safe.level).toBe('info');
    base.level = 'error';
    expect(safe.level).toBe('error');
  });
});
