/**
 * PostgreSQL for the benchmark: a throwaway database per job (created and dropped with `pg`),
 * and the server's counters of what a run cost: `pg_stat_database.xact_commit` (commits) and,
 * when the server has it loaded, `pg_stat_statements` (statements). Nothing here changes the
 * server's configuration.
 */
import { randomBytes } from 'crypto';
import { Client } from 'pg';
import { sleep } from './stats';

/** The server to use: `TASKER_BENCH_DATABASE_URL`, else the default local server. */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.TASKER_BENCH_DATABASE_URL?.trim();
  return url ? url : 'postgres://postgres@127.0.0.1:5432';
}

/** `url` pointing at database `name` (the server part and query string are kept). */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A connected client on database `name` (default `postgres`) of the server. */
export async function connect(server: string, name = 'postgres'): Promise<Client> {
  const client = new Client({
    connectionString: withDatabase(server, name),
    connectionTimeoutMillis: 3000,
  });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

export interface TempDatabase {
  /** `postgres://…/<prefix><random>`. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * Create `<prefix><random>` on the server. Rejects when the server cannot be reached (the
 * caller turns that into a "skipped" notice).
 */
export async function createTempDatabase(
  server: string,
  prefix = 'tasker_bench_',
): Promise<TempDatabase> {
  const name = `${prefix}${randomBytes(6).toString('hex')}`;
  const client = await connect(server);
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return {
    url: withDatabase(server, name),
    name,
    async drop() {
      const c = await connect(server);
      try {
        // FORCE ends connections a child may still hold (PostgreSQL 13+).
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(async (err) => {
          if ((err as { code?: string }).code !== '42601') throw err;
          await c.query(`DROP DATABASE IF EXISTS ${name}`);
        });
      } finally {
        await c.end();
      }
    },
  };
}

/** The server's version and whether `pg_stat_statements` is loaded (shared_preload_libraries). */
export async function serverInfo(
  server: string,
): Promise<{ version: string; pgStatStatements: boolean }> {
  const c = await connect(server);
  try {
    const version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? '?';
    const preload = await c.query<{ setting: string }>(
      "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'",
    );
    const libs = (preload.rows[0]?.setting ?? '').split(',').map((s) => s.trim());
    return { version, pgStatStatements: libs.includes('pg_stat_statements') };
  } finally {
    await c.end();
  }
}

/**
 * Commits (and statements, when the server can count them) in one database between `before()`
 * and `after()`.
 *
 * PostgreSQL 15 publishes a backend's transaction counts when the backend has been idle a while
 * or exits, so both readings wait until `xact_commit` stops moving: callers close their
 * connections to the database first. The readings themselves run on the `postgres` database
 * and are not counted.
 */
export class PgCounters {
  private commitsBefore = 0;
  private statementsBefore: number | null = null;

  private constructor(
    private readonly admin: Client,
    private readonly server: string,
    private readonly database: string,
    readonly statementsAvailable: boolean,
  ) {}

  static async open(server: string, database: string): Promise<PgCounters> {
    const { pgStatStatements } = await serverInfo(server);
    const admin = await connect(server);
    const counters = new PgCounters(admin, server, database, pgStatStatements);
    if (pgStatStatements) {
      const c = await connect(server, database);
      try {
        await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      } finally {
        await c.end();
      }
    }
    return counters;
  }

  async before(): Promise<void> {
    this.statementsBefore = await this.statements();
    this.commitsBefore = await this.settledCommits();
  }

  /** Commits and statements since `before()`; statements are null without pg_stat_statements. */
  async after(): Promise<{ commits: number; statements: number | null }> {
    const commits = (await this.settledCommits()) - this.commitsBefore;
    const now = await this.statements();
    // The `before()` reading's own statement is counted in `now`.
    const statements =
      now === null || this.statementsBefore === null ? null : now - this.statementsBefore - 1;
    return { commits, statements };
  }

  async close(): Promise<void> {
    await this.admin.end().catch(() => undefined);
  }

  private async commits(): Promise<number> {
    const r = await this.admin.query<{ n: string }>(
      'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1',
      [this.database],
    );
    return Number(r.rows[0]?.n ?? 0);
  }

  /** `xact_commit` once it has not moved for 300 ms (at most 10 s). */
  private async settledCommits(): Promise<number> {
    let last = await this.commits();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      await sleep(300);
      const now = await this.commits();
      if (now === last) return now;
      last = now;
    }
    return last;
  }

  /** Statements executed in the database so far (its own connection, closed right after). */
  private async statements(): Promise<number | null> {
    if (!this.statementsAvailable) return null;
    const c = await connect(this.server, this.database);
    try {
      const r = await c.query<{ n: string }>(
        `SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
        [this.database],
      );
      return Number(r.rows[0]?.n ?? 0);
    } finally {
      await c.end();
    }
  }
}
