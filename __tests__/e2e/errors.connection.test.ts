/**
 * Connecting to PostgreSQL fails fast and says why (refused, no answer, too many connections),
 * and no message ever shows a credential of the URL. The refused and silent servers are local
 * sockets (no PostgreSQL needed); "too many connections" uses a throwaway database with
 * `CONNECTION LIMIT 1` and a throwaway role on the test server (its own limits are untouched).
 */
import { randomBytes } from 'crypto';
import * as net from 'net';
import { inspect } from 'util';
import { Client as PgClient } from 'pg';
import {
  DatabaseError,
  InvalidArgumentError,
  createClient,
  createWorker,
  type TaskerClient,
} from '../../src/index';
import {
  TestLogger,
  defineHandler,
  describeEachBackend,
  pgServerUrl,
  templateDir,
  track,
} from '../helpers/e2e';

/** The rejection of `promise` (fails the test if it resolves, closing what it opened). */
async function rejectionOf(promise: Promise<TaskerClient | { shutdown(): Promise<void> }>) {
  let opened: TaskerClient | { shutdown(): Promise<void> };
  try {
    opened = await promise;
  } catch (err) {
    return err as Error;
  }
  await ('close' in opened ? opened.close() : opened.shutdown());
  throw new Error('expected a rejection, but it connected');
}

/** A local port nothing listens on (bound, then closed). */
async function closedPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A local server that accepts connections and never answers (a black-holed host). */
async function silentServer(): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  track(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as net.AddressInfo).port;
}

function workerOn(database: string, extra: { connectTimeoutMs?: number } = {}) {
  return createWorker({
    database,
    templates: templateDir('linear'),
    handlers: [defineHandler('Linear.Add', () => ({}))],
    logger: new TestLogger(),
    ...extra,
  });
}

/** Generous: connecting must fail in about the timeout, not sqlx's old 30 s. */
const FAST = 10_000;

describe('connecting to PostgreSQL', () => {
  it('a refused port fails at once, naming the server: createWorker and createClient', async () => {
    const port = await closedPort();
    const url = `postgres://postgres@127.0.0.1:${port}/tasker`;
    const started = Date.now();

    const fromWorker = await rejectionOf(workerOn(url));
    const fromClient = await rejectionOf(createClient({ database: url }));

    for (const err of [fromWorker, fromClient]) {
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err).toMatchObject({ name: 'DatabaseError', code: 'DATABASE' });
      expect(err.message).toBe(
        `cannot connect to PostgreSQL at 127.0.0.1:${port} (database "tasker", user "postgres"): ` +
          `connection refused (is PostgreSQL running on 127.0.0.1, listening on port ${port}?)`,
      );
    }
    expect(Date.now() - started).toBeLessThan(FAST);
  });

  it('a host that never answers fails after connectTimeoutMs, saying so', async () => {
    const port = await silentServer();
    const url = `postgres://postgres@127.0.0.1:${port}/tasker`;
    const started = Date.now();

    const fromClient = await rejectionOf(createClient({ database: url, connectTimeoutMs: 300 }));
    const fromWorker = await rejectionOf(workerOn(url, { connectTimeoutMs: 400 }));

    expect(fromClient).toBeInstanceOf(DatabaseError);
    expect(fromClient.message).toBe(
      `cannot connect to PostgreSQL at 127.0.0.1:${port} (database "tasker", user "postgres"): ` +
        `no answer within 300 ms (connectTimeoutMs; check the host and port, and that nothing ` +
        'between here and the server drops the connection)',
    );
    expect(fromWorker).toBeInstanceOf(DatabaseError);
    expect(fromWorker.message).toBe(
      `cannot connect to PostgreSQL at 127.0.0.1:${port} (database "tasker", user "postgres"): ` +
        `no answer within 400 ms (connectTimeoutMs; check the host and port, and that nothing ` +
        'between here and the server drops the connection)',
    );
    expect(Date.now() - started).toBeLessThan(FAST);
  });

  it.each([
    [
      'createClient',
      (ms: unknown) => createClient({ database: ':memory:', connectTimeoutMs: ms as number }),
    ],
    ['createWorker', (ms: unknown) => workerOn(':memory:', { connectTimeoutMs: ms as number })],
  ])('%s rejects a connectTimeoutMs that is not a positive integer', async (_name, open) => {
    for (const bad of [0, 1.5, '3000']) {
      const err = await rejectionOf(open(bad));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe(`connectTimeoutMs must be an integer >= 1, got ${String(bad)}`);
    }
  });

  describe('no message shows a credential of the URL', () => {
    let port: number;
    let v6port: number;
    beforeAll(async () => {
      port = await closedPort();
      v6port = await closedPort('::1');
    });

    it.each<[string, (port: number, v6port: number) => string, string[]]>([
      [
        'a userinfo password',
        (p) => `postgres://postgres:userinfo-s3cret@127.0.0.1:${p}/tasker`,
        ['userinfo-s3cret'],
      ],
      [
        'a password= query parameter',
        (p) => `postgres://postgres@127.0.0.1:${p}/tasker?sslmode=disable&password=query-s3cret`,
        ['query-s3cret'],
      ],
      [
        'an sslpassword= query parameter',
        (p) => `postgres://postgres@127.0.0.1:${p}/tasker?sslpassword=sslpass-s3cret`,
        ['sslpass-s3cret'],
      ],
      [
        'a percent-encoded password, postgresql:// scheme',
        (p) => `postgresql://postgres:p%40ss%2Fenc-s3cret@127.0.0.1:${p}/tasker`,
        ['p%40ss%2Fenc-s3cret', 'p@ss/enc-s3cret', 'enc-s3cret'],
      ],
      [
        'an unencoded @ in the password',
        (p) => `postgres://postgres:at@sign-s3cret@127.0.0.1:${p}/tasker`,
        ['at@sign-s3cret', 'sign-s3cret'],
      ],
      [
        'an IPv6 host',
        (_p, v6) => `postgres://postgres:v6-s3cret@[::1]:${v6}/tasker?password=v6-query-s3cret`,
        ['v6-s3cret', 'v6-query-s3cret'],
      ],
    ])('%s', async (_form, makeUrl, secrets) => {
      const url = makeUrl(port, v6port);
      const err = await rejectionOf(createClient({ database: url, connectTimeoutMs: 2000 }));
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err.message).toMatch(
        /^(cannot connect to PostgreSQL at \S+ \(database "tasker", user "postgres"\): connection refused \(is PostgreSQL running on \S+, listening on port \d+\?\)|sslpassword in '\S+' is not supported: this driver cannot read an encrypted client key\. .*)$/,
      );
      const shown = `${err.message}\n${inspect(err)}`;
      for (const secret of secrets) expect(shown).not.toContain(secret);
    });

    it('a URL the parser rejects (an unencoded # in the password) is shown redacted', async () => {
      const url = `postgres://postgres:pa#ss-s3cret@127.0.0.1:${port}/tasker?password=q-s3cret`;
      const err = await rejectionOf(createClient({ database: url }));
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err.message).toBe(
        `cannot use the PostgreSQL URL 'postgres://***@127.0.0.1:${port}/tasker?password=***': ` +
          'error with configuration: invalid port number',
      );
      expect(inspect(err)).not.toContain('s3cret');
    });

    it('a value that is no database URL at all is shown redacted', async () => {
      const dsn = await rejectionOf(
        createClient({ database: 'host=127.0.0.1 user=postgres password=kv-s3cret' }),
      );
      expect(dsn).toBeInstanceOf(InvalidArgumentError);
      expect(dsn.message).toBe(
        "the database option 'host=127.0.0.1 user=postgres password=***' is not a database this " +
          "library understands: use ':memory:', a SQLite file path ending in .db or .sqlite, or " +
          'a sqlite:, postgres:// or postgresql:// URL',
      );
      const mysql = await rejectionOf(
        createClient({ database: 'mysql://bob:my-s3cret@db/x?password=my-other-s3cret' }),
      );
      expect(mysql.message).toMatch(
        /^the database option 'mysql:\/\/bob:\*\*\*@db\/x\?password=\*\*\*' /,
      );
      expect(`${inspect(dsn)}${inspect(mysql)}`).not.toContain('s3cret');
    });
  });
});

describeEachBackend(
  'connecting when PostgreSQL has no connection to spare',
  () => {
    it('fails at once with "too many connections", naming the server', async () => {
      const suffix = randomBytes(6).toString('hex');
      const database = `tasker_e2e_limited_${suffix}`;
      const role = `tasker_e2e_limited_${suffix}`;
      const admin = new PgClient({
        connectionString: pgServerUrl(),
        connectionTimeoutMillis: 5000,
      });
      await admin.connect();
      track(async () => {
        await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
        await admin.query(`DROP ROLE IF EXISTS "${role}"`);
        await admin.end();
      });
      // Superusers ignore connection limits: connect as a throwaway role.
      await admin.query(`CREATE ROLE "${role}" LOGIN`);
      await admin.query(`CREATE DATABASE "${database}" CONNECTION LIMIT 1`);
      const server = new URL(pgServerUrl());
      server.username = role;
      server.password = '';
      server.pathname = `/${database}`;
      const url = server.toString();
      const holder = new PgClient({ connectionString: url, connectionTimeoutMillis: 5000 });
      await holder.connect(); // the database's one connection
      track(() => holder.end());

      const started = Date.now();
      const err = await rejectionOf(createClient({ database: url, connectTimeoutMs: 3000 }));
      expect(err).toBeInstanceOf(DatabaseError);
      const endpoint = `${server.hostname}:${server.port || '5432'}`;
      expect(err.message).toBe(
        `cannot connect to PostgreSQL at ${endpoint} (database "${database}", user "${role}"): ` +
          `too many connections (the server said: too many connections for database ` +
          `"${database}"). Close other connections, lower the pool size, or raise the server's ` +
          "max_connections or the database's CONNECTION LIMIT",
      );
      expect(Date.now() - started).toBeLessThan(FAST);
    });
  },
  { only: ['postgres'] },
);
