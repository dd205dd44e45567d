/** The database the command works on: `--database <url>` or `TASKER_DATABASE_URL`. */
import type { Command } from 'commander';
import { createClient } from '../client/create-client';
import { InvalidArgumentError } from '../errors/invalid-argument-error';
import type { TaskerClient } from '../client/client';
import { redactDatabaseUrl } from '../redact-url';
import { UsageError } from './exit-codes';

export interface DatabaseOption {
  database?: string;
}

const EXIT_CODES =
  'Exit codes: 0 done, 1 failed (no such task, a refused operation, a database error), ' +
  '2 bad usage (see tasker --help).';

/** Adds `--database <url>` to a command that needs one, and its exit codes to its help. */
export function withDatabaseOption(command: Command, exitCodes = EXIT_CODES): Command {
  return command
    .option(
      '-d, --database <url>',
      'the database: a postgres:// URL or a SQLite file (default: $TASKER_DATABASE_URL)',
    )
    .addHelpText('after', `\n${exitCodes}`);
}

/** The database URL given, or a `UsageError` when there is none. */
export function databaseUrl(options: DatabaseOption, env: NodeJS.ProcessEnv = process.env): string {
  const given = options.database?.trim() || env.TASKER_DATABASE_URL?.trim();
  if (!given) {
    throw new UsageError(
      'no database given: pass --database <url> or set TASKER_DATABASE_URL ' +
        '(a postgres:// URL or a SQLite file such as ./tasker.db)',
    );
  }
  if (given === ':memory:' || given === 'memory' || given === 'sqlite::memory:') {
    throw new UsageError(
      `the database '${given}' is an in-memory database, which only the process that opened ` +
        'it can see: give a SQLite file or a PostgreSQL URL',
    );
  }
  return given;
}

/** Runs `fn` with a client on the database, closing it afterwards. */
export async function withClient<T>(
  options: DatabaseOption,
  fn: (client: TaskerClient) => Promise<T>,
): Promise<T> {
  const url = databaseUrl(options);
  let client: TaskerClient;
  try {
    client = await createClient({ database: url });
  } catch (err) {
    // A database string the library does not understand is bad usage, said as it is.
    if (err instanceof InvalidArgumentError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    // The library's messages already hide passwords; say which database, without its secrets.
    const shown = redactDatabaseUrl(url);
    const message = reason.includes(shown) ? reason : `${reason} (database ${shown})`;
    throw Object.assign(err instanceof Error ? err : new Error(reason), {
      message: `cannot open the database: ${message}`,
    });
  }
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}
