import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InvalidArgumentError, resolveDatabaseUrl } from '../../src/index';

describe('resolveDatabaseUrl', () => {
  let cwd: string;
  beforeEach(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-db-'));
  });
  afterEach(() => {
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  const resolve = (database?: string, env: NodeJS.ProcessEnv = {}) =>
    resolveDatabaseUrl(database, { env, cwd });

  it.each<[string, string]>([
    [':memory:', 'sqlite::memory:'],
    ['memory', 'sqlite::memory:'],
    ['sqlite::memory:', 'sqlite::memory:'],
    ['sqlite:///var/data/app.db', 'sqlite:///var/data/app.db'],
    ['sqlite://rel.db?mode=rwc', 'sqlite://rel.db?mode=rwc'],
    ['postgres://u:p@db:5432/tasker', 'postgres://u:p@db:5432/tasker'],
    ['postgresql://db/tasker', 'postgresql://db/tasker'],
    ['/var/data/app.db', 'sqlite:///var/data/app.db'],
    ['/var/data/app.SQLITE', 'sqlite:///var/data/app.SQLITE'],
  ])('maps %s to %s', (input, expected) => {
    expect(resolve(input)).toBe(expected);
  });

  it('makes a relative file path absolute against cwd', () => {
    expect(resolve('data/app.sqlite')).toBe(`sqlite://${path.join(cwd, 'data/app.sqlite')}`);
  });

  it('prefers the option to TASKER_DATABASE_URL', () => {
    expect(resolve(':memory:', { TASKER_DATABASE_URL: 'postgres://db/x' })).toBe('sqlite::memory:');
  });

  it('uses TASKER_DATABASE_URL, normalized, when there is no option', () => {
    expect(resolve(undefined, { TASKER_DATABASE_URL: 'postgres://db/x' })).toBe('postgres://db/x');
    expect(resolve(undefined, { TASKER_DATABASE_URL: 'memory' })).toBe('sqlite::memory:');
  });

  it('defaults to .tasker/tasker.db under cwd and creates the folder', () => {
    expect(resolve(undefined, { TASKER_DATABASE_URL: '  ' })).toBe(
      `sqlite://${path.join(cwd, '.tasker', 'tasker.db')}`,
    );
    expect(fs.statSync(path.join(cwd, '.tasker')).isDirectory()).toBe(true);
  });

  it.each(['mysql://db/x', 'app.txt', 'http://x', ''])('rejects %p with a clear error', (input) => {
    expect(() => resolve(input)).toThrow(InvalidArgumentError);
    expect(() => resolve(input)).toThrow(
      /is not a database this library understands: use ':memory:'/,
    );
  });

  it('says when the bad value came from TASKER_DATABASE_URL', () => {
    expect(() => resolve(undefined, { TASKER_DATABASE_URL: 'redis://x' })).toThrow(
      /^TASKER_DATABASE_URL 'redis:\/\/x'/,
    );
  });
});
