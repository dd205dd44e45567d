import type { NativeEngineOptions } from './native';
import { InvalidArgumentError } from './errors/invalid-argument-error';
import { describeValue } from './describe-value';
import { integerOption } from './validation/integer-option';

/** How to use a PostgreSQL database (ignored for SQLite). */
export interface PostgresOptions {
  /**
   * How long connecting may take before `createWorker`/`createClient` fails with a
   * `DatabaseError` saying why (refused, no answer, too many connections…); also the longest
   * wait for a pooled connection later. Core default 5000.
   */
  connectTimeoutMs?: number;
  /** The most connections the engine opens (one more listens for other processes). Default 8. */
  poolSize?: number;
  /**
   * The schema that holds tasker's tables, created when missing: 1 to 50 lower-case letters,
   * digits and underscores, not starting with a digit or `pg_`. Default `tasker`.
   */
  schema?: string;
}

type NativePostgresOptions = Pick<NativeEngineOptions, 'connectTimeoutMs' | 'poolSize' | 'schema'>;

/** The PostgreSQL options, checked, as the addon takes them (unset ones left out). */
export function resolvePostgresOptions(options: PostgresOptions): NativePostgresOptions {
  const out: NativePostgresOptions = {};
  const connectTimeoutMs = integerOption('connectTimeoutMs', options.connectTimeoutMs, 1);
  if (connectTimeoutMs !== undefined) out.connectTimeoutMs = connectTimeoutMs;
  const poolSize = integerOption('poolSize', options.poolSize, 1);
  if (poolSize !== undefined) {
    if (poolSize > 1000) {
      throw new InvalidArgumentError(`poolSize must be at most 1000, got ${poolSize}`);
    }
    out.poolSize = poolSize;
  }
  if (options.schema !== undefined) {
    if (typeof options.schema !== 'string') {
      throw new InvalidArgumentError(
        `schema must be a string, got ${describeValue(options.schema)}`,
      );
    }
    out.schema = options.schema; // the core checks the name and says what it may be
  }
  return out;
}
