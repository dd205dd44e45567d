/**
 * The dashboard's request handler over real HTTP with a stand-in client: every refusal a
 * request can get (methods, segments, bodies, the client's errors) and what startDashboard
 * binds. The real thing, on both backends and in a browser: __tests__/e2e/dashboard.test.ts.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { createDashboard, startDashboard, type DashboardOptions } from '../../src/dashboard';
import type { TaskerClient } from '../../src/client/client';
import { TaskerError } from '../../src/errors/tasker-error';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
});

function fakeClient(overrides: Partial<Record<keyof TaskerClient, unknown>> = {}): TaskerClient {
  const base = {
    getTask: async () => null,
    listTasks: async () => [],
    countTasks: async () => ({}),
    stepActivity: async () => [],
    retryTask: async () => ({ state: 'steps_in_process' }),
    cancelTask: async () => ({ state: 'cancelled' }),
    resolveStep: async () => ({ state: 'complete' }),
    sendSignal: async () => ({ applied: true }),
    ...overrides,
  };
  return base as unknown as TaskerClient;
}

async function serve(options: DashboardOptions): Promise<string> {
  const server = http.createServer(createDashboard(options));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

interface Answer {
  status: number;
  body: string;
}

function request(
  base: string,
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: `/${path}`,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (a: Answer) => ({ status: a.status, body: JSON.parse(a.body) as unknown });
const TOKEN = { 'X-Tasker-Token': 't', 'Content-Type': 'application/json' };

describe('dashboard handler', () => {
  it('refuses what it does not serve, with the status and a sentence', async () => {
    const base = await serve({ client: fakeClient() });
    expect(json(await request(base, '', { method: 'POST' }))).toEqual({
      status: 405,
      body: { error: 'POST is not allowed here' },
    });
    expect(json(await request(base, 'api/tasks', { method: 'PUT' }))).toEqual({
      status: 405,
      body: { error: 'PUT is not allowed on /api/tasks' },
    });
    expect(json(await request(base, 'api/tasks/%E0%A4%A'))).toEqual({
      status: 400,
      body: { error: "bad URL segment '%E0%A4%A'" },
    });
    const head = await request(base, '', { method: 'HEAD' });
    expect(head).toEqual({ status: 200, body: '' });
  });

  it("passes the client's errors on as their status; anything else is an internal error", async () => {
    const base = await serve({
      client: fakeClient({
        getTask: async (uuid: string) => {
          if (uuid === 'gone') throw new TaskerError('TASK_NOT_FOUND', 'no task gone');
          if (uuid === 'db') throw new TaskerError('DATABASE', 'the database went away');
          throw new Error('a bug with a secret inside');
        },
      }),
    });
    expect(json(await request(base, 'api/tasks/gone'))).toEqual({
      status: 404,
      body: { error: 'no task gone' },
    });
    expect(json(await request(base, 'api/tasks/db'))).toEqual({
      status: 500,
      body: { error: 'the database went away' },
    });
    expect(json(await request(base, 'api/tasks/other'))).toEqual({
      status: 500,
      body: { error: 'internal error' },
    });
  });

  it('checks the bodies of actions', async () => {
    const base = await serve({ client: fakeClient(), allowActions: true, token: 't' });
    const post = (path: string, body: string | Buffer, headers: http.OutgoingHttpHeaders = TOKEN) =>
      request(base, path, { method: 'POST', headers, body }).then(json);
    expect(await post('api/tasks/x/cancel', '{"reason": 5}')).toEqual({
      status: 400,
      body: { error: 'reason must be a string' },
    });
    expect(await post('api/tasks/x/cancel', '[1]')).toEqual({
      status: 400,
      body: { error: 'the request body must be a JSON object' },
    });
    expect(await post('api/tasks/x/cancel', '{nope')).toEqual({
      status: 400,
      body: { error: 'the request body is not valid JSON' },
    });
    expect(await post('api/tasks/x/cancel', Buffer.alloc(1024 * 1024 + 1, 32))).toEqual({
      status: 413,
      body: { error: 'request body over 1048576 bytes' },
    });
    // An empty body is no body; no reason is fine, and an empty one is none.
    expect(await post('api/tasks/x/cancel', '')).toEqual({
      status: 200,
      body: { task: { state: 'cancelled' } },
    });
    expect(await post('api/tasks/x/cancel', '{"reason": ""}')).toMatchObject({ status: 200 });
    expect(
      await post('api/tasks/x/steps/s/resolve', '{"result": {"a": 1}, "reason": "by hand"}'),
    ).toMatchObject({ status: 200, body: { task: { state: 'complete' } } });
    expect(await post('api/tasks/x/steps/s/signal', '')).toMatchObject({
      status: 200,
      body: { signal: { applied: true } },
    });
    expect(
      json(await request(base, 'api/tasks/x/steps/s/other', { method: 'POST', headers: TOKEN })),
    ).toEqual({ status: 404, body: { error: 'no API POST /api/tasks/x/steps/s/other' } });
  });

  it('refuses a Host header it cannot read', async () => {
    const base = await serve({ client: fakeClient(), allowedHosts: ['localhost'] });
    const bad = json(await request(base, 'api/config', { headers: { Host: 'bad host' } }));
    expect(bad.status).toBe(403);
    expect((bad.body as { error: string }).error).toContain("not to Host 'bad host'");
  });

  it('refuses options that are not an object', () => {
    expect(() => createDashboard(null as unknown as DashboardOptions)).toThrow(
      'createDashboard: expected an options object',
    );
  });
});

describe('startDashboard binding', () => {
  it('checks no Host when bound to every address, unless told to', async () => {
    const open = await startDashboard({ client: fakeClient(), host: '0.0.0.0', port: 0 });
    try {
      const { port } = open.server.address() as AddressInfo;
      const any = await request(`http://127.0.0.1:${port}/`, 'api/config', {
        headers: { Host: 'tasks.example' },
      });
      expect(any.status).toBe(200);
    } finally {
      await open.close();
    }
    const named = await startDashboard({
      client: fakeClient(),
      host: '0.0.0.0',
      port: 0,
      allowedHosts: ['tasks.internal'],
    });
    try {
      const { port } = named.server.address() as AddressInfo;
      const other = await request(`http://127.0.0.1:${port}/`, 'api/config', {
        headers: { Host: 'tasks.example' },
      });
      expect(other.status).toBe(403);
    } finally {
      await named.close();
    }
  });

  it('shows an IPv6 address in brackets', async () => {
    const open = await startDashboard({ client: fakeClient(), host: '::1', port: 0 });
    try {
      expect(open.url).toMatch(/^http:\/\/\[::1\]:\d+\/$/);
      const res = await fetch(new URL('api/config', open.url));
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
