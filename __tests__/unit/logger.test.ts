import { createConsoleLogger } from '../../src/index';
import { logLevelFromEnv, prefixedLogger, safeLogger } from '../../src/logger';
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
    for (const m of methods) logger[m](`${m} message`);
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

  it('passes fields along', () => {
    createConsoleLogger('info').info('claimed', { step: 's1' });
    expect(spies.info).toHaveBeenCalledWith('tasker: claimed', { step: 's1' });
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

describe('prefixedLogger and safeLogger', () => {
  it('prefixes every message', () => {
    const base = new RecordingLogger();
    prefixedLogger(base, '[task t1 step s]').error('failed', { a: 1 });
    expect(base.entries).toEqual([
      { level: 'error', message: '[task t1 step s] failed', fields: { a: 1 } },
    ]);
  });

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
    expect(() => safeLogger(broken).error('m')).not.toThrow();
  });
});
