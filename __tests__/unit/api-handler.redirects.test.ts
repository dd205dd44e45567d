/**
 * ApiHandler and redirects, against two real HTTP servers on 127.0.0.1 (different ports, so
 * different origins): a redirect to another origin never carries a configured credential
 * (`cross_origin_redirects: strip_credentials`, the default) or is refused (`refuse`); a
 * same-origin redirect keeps every header.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { ApiHandler, StepContext, type ApiResponse } from '../../src/index';
import { parsedOutcome, runHandler, withoutStack } from '../helpers/mock-native';

class Get extends ApiHandler {
  static override handlerName = 'Api.Get';
  async call(ctx: StepContext): Promise<ApiResponse> {
    return this.get(ctx, ctx.getInputOr('path', '/'), {
      headers: { 'X-Upstream-Token': 'per-request-token', 'X-Trace-Id': 'trace-1' },
    });
  }
}

/** Headers every request carries that say nothing about credentials. */
const TRANSPORT = new Set(['host', 'connection', 'user-agent', 'accept-encoding']);

interface Received {
  path: string;
  headers: Record<string, string>;
}

/** A server that records each request; `/to?url=…` redirects (302) to `url`, anything else is 200. */
async function recordingServer(): Promise<{
  url: string;
  received: Received[];
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!TRANSPORT.has(name) && value !== undefined) headers[name] = String(value);
    }
    received.push({ path: url.pathname, headers });
    const target = url.searchParams.get('url');
    if (url.pathname === '/to' && target !== null) {
      res.writeHead(302, { Location: target }).end();
    } else {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"landed":true}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const ACCOUNT_ENV = 'TASKER_TEST_REDIRECT_ACCOUNT';

/** Every kind of credential header, plus headers that are not credentials. */
function config(apiUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    base_url: apiUrl,
    headers: {
      Accept: 'application/json',
      'X-Client': 'tasker-test',
      'X-Session-Id': 'session-123', // a secret-looking name
      'X-Account': { env: ACCOUNT_ENV }, // from the environment
    },
    auth: { type: 'api_key', name: 'X-Api-Key', value: 'api-key-456' },
    ...extra,
  };
}

/** All headers the configuration and the handler send. */
const ALL_HEADERS = {
  accept: 'application/json',
  'x-client': 'tasker-test',
  'x-session-id': 'session-123',
  'x-account': 'acct-789',
  'x-api-key': 'api-key-456',
  'x-upstream-token': 'per-request-token',
  'x-trace-id': 'trace-1',
};

/** The headers that are not credentials. */
const PUBLIC_HEADERS = {
  accept: 'application/json',
  'x-client': 'tasker-test',
  'x-trace-id': 'trace-1',
};

describe('ApiHandler: redirects', () => {
  let api: Awaited<ReturnType<typeof recordingServer>>;
  let elsewhere: Awaited<ReturnType<typeof recordingServer>>;

  beforeEach(async () => {
    process.env[ACCOUNT_ENV] = 'acct-789';
    api = await recordingServer();
    elsewhere = await recordingServer();
  });

  afterEach(async () => {
    delete process.env[ACCOUNT_ENV];
    await api.close();
    await elsewhere.close();
  });

  /** A path on the API that redirects to `target`. */
  const redirectTo = (target: string) => `/to?url=${encodeURIComponent(target)}`;

  it('follows a redirect to another origin without any credential header (the default)', async () => {
    const { result, logger } = await runHandler(Get, {
      config: config(api.url),
      context: { path: redirectTo(`${elsewhere.url}/landed`) },
    });

    expect(parsedOutcome(result)).toMatchObject({ success: true, result: { status: 200 } });
    expect(api.received).toEqual([{ path: '/to', headers: ALL_HEADERS }]);
    expect(elsewhere.received).toEqual([{ path: '/landed', headers: PUBLIC_HEADERS }]);
    const followed =
      `following a redirect (HTTP 302) to another origin, ${elsewhere.url}, without the ` +
      'credential headers (X-Session-Id, X-Account, X-Api-Key, X-Upstream-Token)';
    expect(logger.messages('debug').filter((m) => m.endsWith(followed))).toHaveLength(1);
  });

  it.each<[string, Record<string, unknown>]>([
    ['bearer', { type: 'bearer', token: 'bearer-token-1' }],
    ['basic', { type: 'basic', username: 'user', password: 'pass-word' }],
  ])(
    'drops the Authorization header of %s auth on a redirect to another origin',
    async (_kind, auth) => {
      const { result } = await runHandler(Get, {
        config: config(api.url, { auth }),
        context: { path: redirectTo(`${elsewhere.url}/landed`) },
      });

      expect(result.success).toBe(true);
      expect(api.received[0].headers.authorization).toMatch(/^(Bearer|Basic) /);
      expect(elsewhere.received).toEqual([{ path: '/landed', headers: PUBLIC_HEADERS }]);
    },
  );

  it('keeps every header on a redirect within the same origin', async () => {
    const { result } = await runHandler(Get, {
      config: config(api.url),
      context: { path: redirectTo(`${api.url}/landed`) },
    });

    expect(result.success).toBe(true);
    expect(api.received).toEqual([
      { path: '/to', headers: ALL_HEADERS },
      { path: '/landed', headers: ALL_HEADERS },
    ]);
  });

  it('does not send a dropped credential again when a later redirect comes back', async () => {
    const back = `${elsewhere.url}${redirectTo(`${api.url}/back`)}`;
    const { result } = await runHandler(Get, {
      config: config(api.url),
      context: { path: redirectTo(back) },
    });

    expect(result.success).toBe(true);
    expect(elsewhere.received).toEqual([{ path: '/to', headers: PUBLIC_HEADERS }]);
    expect(api.received).toEqual([
      { path: '/to', headers: ALL_HEADERS },
      { path: '/back', headers: PUBLIC_HEADERS },
    ]);
  });

  it('refuses a redirect to another origin with cross_origin_redirects: refuse', async () => {
    const path = redirectTo(`${elsewhere.url}/landed?api_key=api-key-456`);
    const { result } = await runHandler(Get, {
      config: config(api.url, { cross_origin_redirects: 'refuse' }),
      context: { path },
    });

    // The key is in the request's URL here too, so it is redacted there as well.
    const shownPath = path.replace('api-key-456', '[REDACTED]');
    expect(elsewhere.received).toEqual([]);
    expect(withoutStack(result.error)).toStrictEqual({
      message:
        `GET ${api.url}${shownPath} failed: the server redirected (HTTP 302) to another origin, ` +
        `${elsewhere.url}, and cross_origin_redirects is 'refuse'`,
      errorType: 'redirect_refused',
      retryable: false,
      statusCode: 302,
    });
    expect(parsedOutcome(result).metadata).toEqual({
      method: 'GET',
      url: `${api.url}${shownPath}`,
      status_code: 302,
      redirect_to: `${elsewhere.url}/landed?api_key=[REDACTED]`,
    });
  });

  it('still follows a same-origin redirect, with every header, when refusing cross-origin ones', async () => {
    const { result } = await runHandler(Get, {
      config: config(api.url, { cross_origin_redirects: 'refuse' }),
      context: { path: redirectTo(`${api.url}/landed`) },
    });

    expect(result.success).toBe(true);
    expect(api.received.map((r) => r.headers)).toEqual([ALL_HEADERS, ALL_HEADERS]);
  });

  it('rejects an unknown cross_origin_redirects value, naming the field', async () => {
    const { result } = await runHandler(Get, {
      config: config(api.url, { cross_origin_redirects: 'follow' }),
    });

    expect(withoutStack(result.error)).toStrictEqual({
      message:
        "ApiHandler 'Api.Get' configuration: cross_origin_redirects: must be one of " +
        `'strip_credentials', 'refuse', got "follow"`,
      errorType: 'configuration_error',
      retryable: false,
    });
    expect(api.received).toEqual([]);
  });
});
