/**
 * ApiHandler end to end: the example `api/user_orders` workflow (examples/templates/api_handler.yaml)
 * calls a real HTTP server on 127.0.0.1 started by each test, through the real worker. Failures
 * are classified by status with no code in the handlers: a 404 fails the task at once, a 500 is
 * retried after the backoff, and a 429's Retry-After holds the next attempt back.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { apiHandlers } from '../../examples/handlers/api';
import {
  arrows,
  describeEachBackend,
  exampleTemplate,
  runTask,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
  track,
  type Backend,
} from '../helpers/e2e';

/** One request the server received. */
interface Received {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  /** `Date.now()` when the request arrived. */
  at: number;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** Answers a request; `n` counts the earlier requests to the same path (0 for the first). */
type Route = (n: number, req: Received) => Reply;

interface ApiServer {
  baseUrl: string;
  requests: Received[];
  /** Requests to `path`, in order. */
  to(path: string): Received[];
}

/** A JSON API on 127.0.0.1 (a free port), closed after the test. Unknown paths get a 404. */
async function startApiServer(routes: Record<string, Route>): Promise<ApiServer> {
  const requests: Received[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const received: Received = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      at: Date.now(),
    };
    const n = requests.filter((r) => r.path === received.path).length;
    requests.push(received);
    const route = routes[received.path];
    const reply: Reply = route
      ? route(n, received)
      : { status: 404, body: { error: `no route for ${received.path}` } };
    const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...(body === '' ? {} : { 'Content-Type': 'application/json' }),
      ...reply.headers,
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  track(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    to: (path) => requests.filter((r) => r.path === path),
  };
}

const ADA = { id: 'u-1', name: 'Ada Lovelace', email: 'ada@example.com' };
const ADA_ORDERS = {
  orders: [
    { id: 'o-1', total: 19.99, placed_at: '2024-03-02T10:00:00Z' },
    { id: 'o-2', total: 5.01, placed_at: '2024-05-17T08:30:00Z' },
    { id: 'o-3', total: 120, placed_at: '2024-04-11T12:00:00Z' },
  ],
};

async function runUserOrders(backend: Backend, server: ApiServer, userId: string) {
  const worker = await startWorker({
    database: await backend.database(),
    templates: exampleTemplate('api_handler.yaml'),
    handlers: apiHandlers,
  });
  return runTask(worker.client, {
    namespace: 'api',
    name: 'user_orders',
    context: { user_id: userId, api_base_url: server.baseUrl },
  });
}

describeEachBackend('ApiHandler', (backend) => {
  it('api handler success: fetches a user and their orders with the configured headers and params', async () => {
    const server = await startApiServer({
      '/users/u-1': () => ({ status: 200, body: ADA }),
      '/users/u-1/orders': () => ({ status: 200, body: ADA_ORDERS }),
    });

    const task = await runUserOrders(backend, server, 'u-1');

    expect(task.state).toBe('complete');
    expect(task.steps.map((s) => [s.name, s.state, s.attempts])).toEqual([
      ['fetch_user', 'complete', 1],
      ['fetch_orders', 'complete', 1],
      ['summarize', 'complete', 1],
    ]);
    expect(stepOf(task, 'fetch_user').result).toEqual({ user: ADA, status: 200 });
    expect(stepOf(task, 'fetch_orders').result).toEqual({ orders: ADA_ORDERS.orders, count: 3 });
    expect(stepOf(task, 'summarize').result).toEqual({
      user_id: 'u-1',
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      order_count: 3,
      lifetime_value: 145,
      last_order_at: '2024-05-17T08:30:00Z',
    });

    // Exactly one request per step, in dependency order, carrying the template's settings.
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /users/u-1',
      'GET /users/u-1/orders',
    ]);
    for (const r of server.requests) {
      expect(r.headers.accept).toBe('application/json');
      expect(r.headers['x-client']).toBe('tasker-node-example');
    }
    expect(server.requests[0].query).toEqual({});
    expect(server.requests[1].query).toEqual({ limit: '50' });
  });

  it('api handler error classification: a permanent 404 fails the task at once, after 1 attempt', async () => {
    const server = await startApiServer({
      '/users/missing': () => ({ status: 404, body: { error: 'no such user' } }),
    });

    const task = await runUserOrders(backend, server, 'missing');

    expect(task.state).toBe('error');
    expect(stepOf(task, 'fetch_user')).toMatchObject({
      state: 'error',
      attempts: 1,
      maxAttempts: 3,
      result: null,
      error: {
        message: `GET ${server.baseUrl}/users/missing failed with HTTP 404 Not Found: no such user`,
        errorType: 'not_found',
        retryable: false,
        statusCode: 404,
      },
    });
    // The failure keeps what the server said (credentials would be redacted; there are none).
    expect(stepOf(task, 'fetch_user').metadata).toEqual({
      method: 'GET',
      url: `${server.baseUrl}/users/missing`,
      status_code: 404,
      response_body: { error: 'no such user' },
    });
    expect(server.to('/users/missing')).toHaveLength(1);
    expect(server.requests).toHaveLength(1);
    expect(stepHops(task, 'fetch_user').at(-1)).toEqual({
      from: 'in_progress',
      to: 'error',
      reason: expect.stringMatching(/^the handler reported a permanent failure \(not_found: /),
    });
    // Never waited for a retry; the dependents never ran.
    expect(arrows(taskHops(task))).toEqual([
      '∅→pending',
      'pending→steps_in_process',
      'steps_in_process→error',
    ]);
    expect(stepOf(task, 'fetch_orders')).toMatchObject({ state: 'cancelled', attempts: 0 });
    expect(stepOf(task, 'summarize')).toMatchObject({ state: 'cancelled', attempts: 0 });
  });

  it('api handler error classification: a retryable 500 is retried, then succeeds', async () => {
    const server = await startApiServer({
      '/users/u-2': () => ({ status: 200, body: { id: 'u-2', name: 'Grace', email: null } }),
      '/users/u-2/orders': (n) =>
        n === 0
          ? { status: 500, body: { error: 'database unavailable' } }
          : { status: 200, body: { orders: [{ id: 'o-9', total: 42.5 }] } },
    });

    const task = await runUserOrders(backend, server, 'u-2');

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'fetch_user')).toMatchObject({ state: 'complete', attempts: 1 });
    expect(stepOf(task, 'fetch_orders')).toMatchObject({
      state: 'complete',
      attempts: 2,
      error: null,
      result: { orders: [{ id: 'o-9', total: 42.5, placed_at: null }], count: 1 },
    });
    expect(stepOf(task, 'summarize').result).toMatchObject({
      user_id: 'u-2',
      order_count: 1,
      lifetime_value: 42.5,
      last_order_at: null,
    });
    expect(server.to('/users/u-2/orders')).toHaveLength(2);
    const hops = stepHops(task, 'fetch_orders');
    expect(arrows(hops)).toEqual([
      '∅→pending',
      'pending→enqueued',
      'enqueued→in_progress',
      'in_progress→waiting_for_retry',
      'waiting_for_retry→in_progress',
      'in_progress→complete',
    ]);
    // Retried after the template's backoff (100 ms base, jittered down by at most 15%).
    expect(hops[3].reason).toMatch(
      /^attempt 1 of 3 failed \(internal_server_error: GET \S+\/users\/u-2\/orders failed with HTTP 500 Internal Server Error: database unavailable\); retrying in (8[5-9]|9\d|100) ms$/,
    );
  });

  it('api handler error classification: a 429 with Retry-After: 1 holds the next attempt back 1 s', async () => {
    const server = await startApiServer({
      '/users/u-3': (n) =>
        n === 0
          ? { status: 429, headers: { 'Retry-After': '1' }, body: { error: 'slow down' } }
          : { status: 200, body: { id: 'u-3', name: 'Edsger', email: 'ewd@example.com' } },
      '/users/u-3/orders': () => ({ status: 200, body: { orders: [] } }),
    });

    const task = await runUserOrders(backend, server, 'u-3');

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'fetch_user')).toMatchObject({ state: 'complete', attempts: 2 });
    const [first, second] = server.to('/users/u-3');
    expect(server.to('/users/u-3')).toHaveLength(2);
    // Measured on the server: the retry arrived at least the requested second after the 429
    // (the template's own backoff would have retried after ~100 ms).
    const gap = second.at - first.at;
    expect(gap).toBeGreaterThanOrEqual(1000);
    expect(gap).toBeLessThan(5000);
    expect(stepHops(task, 'fetch_user')[3]).toEqual({
      from: 'in_progress',
      to: 'waiting_for_retry',
      reason: expect.stringMatching(
        /^attempt 1 of 3 failed \(rate_limited: GET \S+\/users\/u-3 failed with HTTP 429 Too Many Requests: slow down\); retrying in 1000 ms \(server-requested delay\)$/,
      ),
    });
    expect(stepOf(task, 'summarize').result).toMatchObject({ user_id: 'u-3', order_count: 0 });
  });
});
