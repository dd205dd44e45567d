import * as fs from 'fs';
import * as path from 'path';
import { InvalidArgumentError } from './errors/invalid-argument-error';
import { redactDatabaseUrl } from './redact-url';

export interface ResolveDatabaseOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * The database URL to open: the explicit option, else `TASKER_DATABASE_URL`, else
 * `sqlite://<cwd>/.tasker/tasker.db` (creating `.tasker/`). Accepts `:memory:` / `memory`
 * (in-memory SQLite), a path ending in `.db` or `.sqlite` (a SQLite file, made absolute), or a
 * `sqlite:`, `postgres://` or `postgresql://` URL (passed through).
 */
export function resolveDatabaseUrl(
  database?: string,
  { env = process.env, cwd = process.cwd() }: ResolveDatabaseOptions = {},
): string {
  if (database !== undefined) return normalize(database, 'the database option', cwd);
  const fromEnv = env.TASKER_DATABASE_URL;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return normalize(fromEnv, 'TASKER_DATABASE_URL', cwd);
  }
  const dir = path.resolve(cwd, '.tasker');
  fs.mkdirSync(dir, { recursive: true });
  return `sqlite://${path.join(dir, 'tasker.db')}`;
}

function normalize(raw: unknown, source: string, cwd: string): string {
  if (typeof raw !== 'string') {
    throw new InvalidArgumentError(`${source} must be a string, got ${typeof raw}`);
  }
  const value = raw.trim();
  if (value === ':memory:' || value === 'memory') return 'sqlite::memory:';
  if (/^(postgres|postgresql):\/\//.test(value) || value.startsWith('sqlite:')) return value;
  if (/\.(db|sqlite)$/i.test(value)) return `sqlite://${path.resolve(cwd, value)}`;
  throw new InvalidArgumentError(
    `${source} '${redactDatabaseUrl(value)}' is not a database this library understands: use ':memory:', ` +
      `a SQLite file path ending in .db or .sqlite, or a sqlite:, postgres:// or postgresql:// URL`,
  );
}
