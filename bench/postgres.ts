/** A throwaway PostgreSQL database for one benchmark run, created and dropped with `pg`. */
import { randomBytes } from 'crypto';
import { Client } from 'pg';

/** The server to use: `TASKER_BENCH_DATABASE_URL`, else the default local server. */
export function serverUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.TASKER_BENCH_DATABASE_URL?.trim();
  return url ? url : 'postgres://postgres@127.0.0.1:5432';
}

/** `url` pointing at database `name` (the server part and query string are kept). */
function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin(server: string): Promise<Client> {
  const client = new Client({
    connectionString: withDatabase(server, 'postgres'),
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
  /** `postgres://…/tasker_bench_<random>`. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/**
 * Create `tasker_bench_<random>` on the server. Rejects when the server cannot be reached (the
 * caller turns that into a "skipped" notice).
 */
export async function createTempDatabase(server: string): Promise<TempDatabase> {
  const name = `tasker_bench_${randomBytes(6).toString('hex')}`;
  const client = await admin(server);
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return {
    url: withDatabase(server, name),
    name,
    async drop() {
      const c = await admin(server);
      try {
        // FORCE ends connections the engine may still hold (PostgreSQL 13+).
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
