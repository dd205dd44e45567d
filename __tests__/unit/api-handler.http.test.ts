import nock from 'nock';
import {
  ApiHandler,
  PermanentError,
  RateLimitError,
  RetryableError,
  ServiceUnavailableError,
  StepContext,
  StepHandler,
  ValidationError,
  type ApiRequest,
  type ApiResponse,
} from '../../src/index';
import {
  RecordingLogger,
  parsedOutcome,
  runHandler,
  stepPayload,
  type StepEventSpec,
  withoutStack,
} from '../helpers/mock-native';

const API = 'https://api.example.test';

/** Performs the request given in the task context (`context.request`) and returns the response. */
class CallApi extends ApiHandler {
  static override handlerName = 'Api.Call';
  async call(ctx: StepContext): Promise<ApiResponse> {
    return this.request(ctx, ctx.getInput<ApiRequest>('request') as ApiRequest);
  }
}

function context(
  config: Record<string, unknown>,
  logger = new RecordingLogger(),
  spec: Partial<StepEventSpec> = {},
): StepContext {
  return new StepContext(
    stepPayload({ handler: CallApi.handlerName, config, ...spec }),
    new AbortController().signal,
    logger,
  );
}

/** An error as Node's networking raises it. */
function netError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Run the request through a worker with the given handler configuration. */
function runRequest(config: Record<string, unknown>, request: Partial<ApiRequest> = {}) {
  return runHandler(CallApi, {
    config,
    context: { request: { method: 'GET', path: '/thing', ...request } },
  });
}

beforeAll(() => {
  if (!nock.isActive()) nock.activate();
  nock.disableNetConnect();
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('ApiHandler: requests', () => {
  it('combines base_url, configured headers and params with per-request ones', async () => {
    nock(API, { reqheaders: { 'x-client': 'tasker', 'x-trace': 'abc' } })
      .get('/v1/users/42')
      .query({ locale: 'en', page: '2' })
      .reply(200, { id: 42, name: 'Ada' }, { 'Content-Type': 'application/json', 'X-Rate': '9' });
    const { result } = await runRequest(
      {
        base_url: `${API}/v1/`,
        headers: { 'X-Client': 'tasker' },
        params: { locale: 'en' },
      },
      { path: '/users/42', params: { page: 2 }, headers: { 'X-Trace': 'abc' } },
    );
    expect(parsedOutcome(result)).toStrictEqual({
      success: true,
      result: {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-rate': '9' },
        body: { id: 42, name: 'Ada' },
      },
    });
  });

  it.each<['get' | 'delete']>([['get'], ['delete']])(
    '%s(ctx, path, options) sends no body',
    async (method) => {
      nock(API)
        .intercept('/items/7', method.toUpperCase())
        .query({ q: 'x' })
        .reply(200, (_uri, body) => ({ received: body }));
      const res = await new CallApi()[method](context({ base_url: API }), '/items/7', {
        params: { q: 'x' },
      });
      expect(res.body).toEqual({ received: '' });
    },
  );

  it.each<['post' | 'put' | 'patch']>([['post'], ['put'], ['patch']])(
    '%s(ctx, path, body, options) sends the body as JSON',
    async (method) => {
      nock(API, { reqheaders: { 'content-type': /application\/json/ } })
        .intercept('/items', method.toUpperCase())
        .reply(201, (_uri, body) => ({ received: body }));
      const res = await new CallApi()[method](context({ base_url: API }), '/items', {
        name: 'widget',
        tags: ['a'],
      });
      expect(res).toStrictEqual({
        status: 201,
        headers: { 'content-type': 'application/json' },
        body: { received: { name: 'widget', tags: ['a'] } },
      });
    },
  );

  it('request() sends a string body as is and honours the method', async () => {
    nock(API, { reqheaders: { 'content-type': 'text/csv' } })
      .intercept('/upload', 'PUT', 'a,b\n1,2\n')
      .reply(204);
    const res = await new CallApi().request(context({ base_url: API }), {
      method: 'PUT',
      path: 'upload',
      body: 'a,b\n1,2\n',
      headers: { 'Content-Type': 'text/csv' },
    });
    expect(res).toStrictEqual({ status: 204, headers: {}, body: null });
  });

  it.each<[string, string, Record<string, string>, unknown]>([
    ['JSON', '{"a":1}', { 'Content-Type': 'application/json; charset=utf-8' }, { a: 1 }],
    [
      'a +json type',
      '{"title":"x"}',
      { 'Content-Type': 'application/problem+json' },
      { title: 'x' },
    ],
    ['invalid JSON (kept as text)', '{oops', { 'Content-Type': 'application/json' }, '{oops'],
    ['text', 'hello', { 'Content-Type': 'text/plain' }, 'hello'],
    ['no content type', '{"a":1}', {}, '{"a":1}'],
    ['UTF-8 text', 'héllo ✓', { 'Content-Type': 'text/plain; charset=utf-8' }, 'héllo ✓'],
  ])('parses a %s body', async (_label, raw, headers, expected) => {
    nock(API).get('/body').reply(200, raw, headers);
    const res = await new CallApi().get(context({ base_url: API }), '/body');
    expect(res.body).toEqual(expected);
  });

  it('per-request headers replace configured ones in any letter case; a null param removes one', async () => {
    nock(API, { reqheaders: { accept: 'text/csv' } })
      .get('/report')
      .query({ keep: '1' })
      .reply(200, 'ok');
    const ctx = context({
      base_url: API,
      headers: { Accept: 'application/json' },
      params: { keep: 1, drop: 'x' },
    });
    const res = await new CallApi().get(ctx, '/report', {
      headers: { accept: 'text/csv' },
      params: { drop: null, absent: undefined },
    });
    expect(res.body).toBe('ok');
  });

  it('accepts an absolute URL on the base_url origin, and any absolute URL without base_url', async () => {
    nock(API).get('/a').reply(200, 'a');
    nock('https://other.example.test').get('/b').reply(200, 'b');
    const handler = new CallApi();
    const withBase = context({ base_url: `${API}/v1`, auth: { type: 'bearer', token: 't0k' } });
    expect((await handler.get(withBase, `${API}/a`)).body).toBe('a');
    expect((await new CallApi().get(context({}), 'https://other.example.test/b')).body).toBe('b');
  });

  it('reuses one client per step execution and reads the configuration through apiConfig()', async () => {
    let configReads = 0;
    class Configured extends ApiHandler {
      static override handlerName = 'Api.Configured';
      protected override apiConfig(ctx: StepContext): Record<string, unknown> {
        configReads += 1;
        return { ...ctx.stepConfig, base_url: API, headers: { 'X-From': 'code' } };
      }
      async call(ctx: StepContext) {
        const first = await this.get<{ n: number }>(ctx, '/n');
        const second = await this.get<{ n: number }>(ctx, '/n');
        return { total: first.body.n + second.body.n };
      }
    }
    nock(API, { reqheaders: { 'x-from': 'code' } })
      .get('/n')
      .twice()
      .reply(200, { n: 2 });
    const { result } = await runHandler(Configured, { config: { unrelated: true } });
    expect(parsedOutcome(result)).toStrictEqual({ success: true, result: { total: 4 } });
    expect(configReads).toBe(1);
  });

  it('logs each exchange at debug level', async () => {
    nock(API).get('/ping').reply(200, 'pong');
    const logger = new RecordingLogger();
    await new CallApi().get(context({ base_url: API }, logger), '/ping');
    expect(logger.entries).toEqual([
      {
        level: 'debug',
        message: expect.stringMatching(/^GET https:\/\/api\.example\.test\/ping → 200 \(\d+ ms\)$/),
        fields: undefined,
      },
    ]);
  });

  it('adds http_client, error_classification and retry_headers to the capabilities', () => {
    expect(ApiHandler.capabilities).toEqual([
      ...StepHandler.capabilities,
      'http_client',
      'error_classification',
      'retry_headers',
    ]);
    expect(CallApi.capabilities).toBe(ApiHandler.capabilities);
  });
});

describe('ApiHandler: status classification through the worker', () => {
  it.each<[number, string, boolean, string]>([
    [400, 'bad_request', false, 'Bad Request'],
    [401, 'unauthorized', false, 'Unauthorized'],
    [403, 'forbidden', false, 'Forbidden'],
    [404, 'not_found', false, 'Not Found'],
    [405, 'method_not_allowed', false, 'Method Not Allowed'],
    [408, 'request_timeout', true, 'Request Timeout'],
    [409, 'conflict', false, 'Conflict'],
    [410, 'gone', false, 'Gone'],
    [418, 'client_error', false, "I'm a Teapot"],
    [422, 'unprocessable_entity', false, 'Unprocessable Entity'],
    [429, 'rate_limited', true, 'Too Many Requests'],
    [451, 'client_error', false, 'Unavailable For Legal Reasons'],
    [500, 'internal_server_error', true, 'Internal Server Error'],
    [501, 'server_error', true, 'Not Implemented'],
    [502, 'bad_gateway', true, 'Bad Gateway'],
    [503, 'service_unavailable', true, 'Service Unavailable'],
    [504, 'gateway_timeout', true, 'Gateway Timeout'],
    [507, 'server_error', true, 'Insufficient Storage'],
    [304, 'http_error', false, 'Not Modified'],
  ])('HTTP %i → %s (retryable: %s)', async (status, errorType, retryable, statusText) => {
    nock(API).get('/thing').reply(status);
    const { result } = await runRequest({ base_url: API });
    expect(parsedOutcome(result)).toStrictEqual({
      success: false,
      error: {
        message: `GET ${API}/thing failed with HTTP ${status} ${statusText}`,
        errorType,
        retryable,
        statusCode: status,
      },
      metadata: { method: 'GET', url: `${API}/thing`, status_code: status },
    });
  });

  it('puts the error detail of a JSON body in the message and the body in the metadata', async () => {
    nock(API)
      .get('/thing')
      .reply(422, { error: { message: 'email is invalid' }, field: 'email' });
    const { result } = await runRequest({ base_url: API });
    expect(parsedOutcome(result)).toMatchObject({
      error: {
        message: `GET ${API}/thing failed with HTTP 422 Unprocessable Entity: email is invalid`,
        errorType: 'unprocessable_entity',
      },
      metadata: { response_body: { error: { message: 'email is invalid' }, field: 'email' } },
    });
  });

  it.each<[string, unknown, string]>([
    ['message', { message: 'nope' }, 'nope'],
    ['detail', { detail: 'too big' }, 'too big'],
    ['a text body', 'plain failure', 'plain failure'],
    ['a long text body (truncated)', 'x'.repeat(400), `${'x'.repeat(300)}…`],
  ])('takes the detail from %s', async (_label, body, detail) => {
    nock(API)
      .get('/thing')
      .reply(400, body as Record<string, unknown>);
    const { result } = await runRequest({ base_url: API });
    expect(result.error?.message).toBe(
      `GET ${API}/thing failed with HTTP 400 Bad Request: ${detail}`,
    );
  });

  it('keeps only the start of a long response body in the metadata', async () => {
    nock(API)
      .get('/thing')
      .reply(500, { items: Array.from({ length: 500 }, (_, i) => `item-${i}`) });
    const { result } = await runRequest({ base_url: API });
    const body = (parsedOutcome(result).metadata as { response_body: string }).response_body;
    expect(typeof body).toBe('string');
    expect(body).toHaveLength(2001);
    expect(body.startsWith('{"items":["item-0"')).toBe(true);
  });

  it.each<[number, new (...args: never[]) => Error, string]>([
    [429, RateLimitError, 'RateLimitError'],
    [503, ServiceUnavailableError, 'ServiceUnavailableError'],
    [500, RetryableError, 'RetryableError'],
    [404, PermanentError, 'PermanentError'],
  ])('HTTP %i throws %p', async (status, cls, name) => {
    nock(API).get('/thing').reply(status);
    const err = await new CallApi()
      .get(context({ base_url: API }), '/thing')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect((err as Error).name).toBe(name);
    expect((err as PermanentError).statusCode).toBe(status);
  });

  it('lets a handler treat a 404 as absent by catching it', async () => {
    class FindUser extends ApiHandler {
      static override handlerName = 'Users.Find';
      async call(ctx: StepContext) {
        try {
          return { user: (await this.get(ctx, '/users/9')).body };
        } catch (err) {
          if (err instanceof PermanentError && err.statusCode === 404) return { user: null };
          throw err;
        }
      }
    }
    nock(API).get('/users/9').reply(404);
    const { result } = await runHandler(FindUser, { config: { base_url: API } });
    expect(parsedOutcome(result)).toStrictEqual({ success: true, result: { user: null } });
  });
});

describe('ApiHandler: Retry-After end to end', () => {
  it.each<[number, string, string]>([
    [429, 'rate_limited', '30'],
    [503, 'service_unavailable', '12'],
    [500, 'internal_server_error', '5'],
    [502, 'bad_gateway', '1'],
  ])(
    'HTTP %i (%s) with Retry-After: %s seconds → retryAfterMs',
    async (status, errorType, header) => {
      nock(API).get('/thing').reply(status, '', { 'Retry-After': header });
      const { result } = await runRequest({ base_url: API });
      const ms = Number(header) * 1000;
      expect(withoutStack(result.error)).toStrictEqual({
        message: expect.stringContaining(`HTTP ${status}`),
        errorType,
        retryable: true,
        retryAfterMs: ms,
        statusCode: status,
      });
      expect(parsedOutcome(result).metadata).toMatchObject({ retry_after_ms: ms });
    },
  );

  it('reads an HTTP-date Retry-After as the time until then', async () => {
    const at = new Date(Date.now() + 120_000);
    at.setUTCMilliseconds(0);
    nock(API).get('/thing').reply(429, '', { 'Retry-After': at.toUTCString() });
    const before = Date.now();
    const { result } = await runRequest({ base_url: API });
    const waited = result.error?.retryAfterMs ?? -1;
    expect(waited).toBeLessThanOrEqual(at.getTime() - before);
    expect(waited).toBeGreaterThan(at.getTime() - Date.now() - 1000);
  });

  it('caps Retry-After at one hour', async () => {
    nock(API).get('/thing').reply(503, '', { 'Retry-After': '86400' });
    const { result } = await runRequest({ base_url: API });
    expect(result.error?.retryAfterMs).toBe(3_600_000);
  });

  it('ignores an unparseable Retry-After, and any Retry-After on a permanent failure', async () => {
    nock(API).get('/thing').reply(429, '', { 'Retry-After': 'later' });
    nock(API).get('/thing').reply(404, '', { 'Retry-After': '30' });
    const first = await runRequest({ base_url: API });
    const second = await runRequest({ base_url: API });
    expect(withoutStack(first.result.error)).toStrictEqual({
      message: `GET ${API}/thing failed with HTTP 429 Too Many Requests`,
      errorType: 'rate_limited',
      retryable: true,
      statusCode: 429,
    });
    expect(second.result.error?.retryAfterMs).toBeUndefined();
    expect(second.result.error?.retryable).toBe(false);
  });
});

describe('ApiHandler: authentication', () => {
  const ENV_KEYS = [
    'TEST_API_TOKEN',
    'TEST_API_USER',
    'TEST_API_PASSWORD',
    'TEST_API_KEY',
    'TEST_EMPTY',
  ];
  afterEach(() => {
    for (const key of ENV_KEYS) delete process.env[key];
  });

  it.each<[string, Record<string, unknown>, Record<string, string>, Record<string, string>]>([
    [
      'bearer',
      { type: 'bearer', token: 's3cret-token' },
      { authorization: 'Bearer s3cret-token' },
      {},
    ],
    [
      'basic',
      { type: 'basic', username: 'ada', password: 'pa55:word' },
      { authorization: `Basic ${Buffer.from('ada:pa55:word').toString('base64')}` },
      {},
    ],
    [
      'api_key in a header (the default)',
      { type: 'api_key', name: 'X-Api-Key', value: 'k-123456' },
      { 'x-api-key': 'k-123456' },
      {},
    ],
    [
      'api_key in the query',
      { type: 'api_key', name: 'api_key', value: 'k-123456', in: 'query' },
      {},
      { api_key: 'k-123456' },
    ],
  ])('%s', async (_label, auth, headers, query) => {
    nock(API, { reqheaders: headers }).get('/thing').query(query).reply(200, 'ok');
    const { result } = await runRequest({ base_url: API, auth });
    expect(parsedOutcome(result)).toMatchObject({ success: true, result: { body: 'ok' } });
  });

  it('replaces a configured Authorization header with the auth setting', async () => {
    nock(API, { reqheaders: { authorization: 'Bearer from-auth' } })
      .get('/thing')
      .reply(200, 'ok');
    const { result } = await runRequest({
      base_url: API,
      headers: { authorization: 'Bearer from-headers' },
      auth: { type: 'bearer', token: 'from-auth' },
    });
    expect(result.success).toBe(true);
  });

  it('reads any string setting from the environment with {env: NAME}', async () => {
    process.env.TEST_API_TOKEN = 'env-token-value';
    process.env.TEST_API_USER = 'ada';
    process.env.TEST_API_PASSWORD = 'env-password';
    process.env.TEST_API_KEY = 'env-key';
    nock(API, {
      reqheaders: {
        authorization: `Basic ${Buffer.from('ada:env-password').toString('base64')}`,
        'x-extra': 'env-key',
      },
    })
      .get('/thing')
      .query({ token: 'env-token-value' })
      .reply(200, 'ok');
    const { result } = await runRequest({
      base_url: API,
      auth: {
        type: 'basic',
        username: { env: 'TEST_API_USER' },
        password: { env: 'TEST_API_PASSWORD' },
      },
      headers: { 'X-Extra': { env: 'TEST_API_KEY' } },
      params: { token: { env: 'TEST_API_TOKEN' } },
    });
    expect(result.success).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a missing variable',
      { auth: { type: 'bearer', token: { env: 'TEST_API_TOKEN' } } },
      "ApiHandler 'Api.Call' configuration: auth.token: environment variable TEST_API_TOKEN is not set",
    ],
    [
      'an empty variable',
      { headers: { 'X-Key': { env: 'TEST_EMPTY' } } },
      "ApiHandler 'Api.Call' configuration: headers.X-Key: environment variable TEST_EMPTY is empty",
    ],
    [
      'a missing base_url variable',
      { base_url: { env: 'TEST_API_USER' } },
      "ApiHandler 'Api.Call' configuration: base_url: environment variable TEST_API_USER is not set",
    ],
  ])('fails permanently on %s, naming it', async (_label, config, message) => {
    process.env.TEST_EMPTY = '';
    const { result } = await runRequest({ base_url: API, ...config });
    expect(withoutStack(result.error)).toStrictEqual({
      message,
      errorType: 'configuration_error',
      retryable: false,
    });
  });

  it('throws ValidationError for configuration problems', async () => {
    const err = await new CallApi()
      .get(context({ auth: { type: 'bearer', token: { env: 'TEST_API_TOKEN' } } }), '/x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
  });
});

describe('ApiHandler: credentials never leak', () => {
  const TOKEN = 'tok-9f8e7d6c5b4a';
  const PASSWORD = 'hunter2-correct-horse';
  const KEY = 'key/with+special&chars';

  /** Everything a run produced that could be stored or printed. */
  function everything(run: Awaited<ReturnType<typeof runHandler>>): string {
    return JSON.stringify({ result: run.result, logs: run.logger.entries });
  }

  it('redacts a bearer token echoed in an error body', async () => {
    nock(API)
      .get('/thing')
      .reply(401, {
        error: `token ${TOKEN} is expired`,
        echo: { authorization: `Bearer ${TOKEN}` },
      });
    const run = await runRequest({ base_url: API, auth: { type: 'bearer', token: TOKEN } });
    expect(everything(run)).not.toContain(TOKEN);
    expect(parsedOutcome(run.result)).toMatchObject({
      error: {
        message: `GET ${API}/thing failed with HTTP 401 Unauthorized: token [REDACTED] is expired`,
      },
      metadata: { response_body: { echo: { authorization: 'Bearer [REDACTED]' } } },
    });
  });

  it('redacts basic credentials, in plain and base64 form', async () => {
    const encoded = Buffer.from(`ada:${PASSWORD}`).toString('base64');
    nock(API)
      .get('/thing')
      .reply(500, { message: `bad password ${PASSWORD}`, header: `Basic ${encoded}` });
    const run = await runRequest({
      base_url: API,
      auth: { type: 'basic', username: 'ada', password: PASSWORD },
    });
    const text = everything(run);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(encoded);
  });

  it('redacts an api key sent in the query, also URL-encoded', async () => {
    nock(API)
      .get('/thing')
      .query({ api_key: KEY })
      .reply(400, { error: `invalid key ${encodeURIComponent(KEY)} (${KEY})` });
    const run = await runRequest({
      base_url: API,
      auth: { type: 'api_key', name: 'api_key', value: KEY, in: 'query' },
    });
    const text = everything(run);
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(encodeURIComponent(KEY));
    expect(run.result.error?.message).toBe(
      `GET ${API}/thing failed with HTTP 400 Bad Request: invalid key [REDACTED] ([REDACTED])`,
    );
  });

  it('redacts secret-looking headers, env-sourced values and per-request credentials', async () => {
    process.env.TEST_SECRET_PARAM = 'env-sourced-value';
    try {
      nock(API)
        .get('/thing')
        .query(true)
        .reply(500, 'seen: cfg-cookie-value env-sourced-value per-call-token');
      const run = await runRequest(
        {
          base_url: API,
          headers: { Cookie: 'cfg-cookie-value' },
          params: { p: { env: 'TEST_SECRET_PARAM' } },
        },
        { headers: { 'X-Auth-Token': 'per-call-token' } },
      );
      expect(run.result.error?.message).toBe(
        `GET ${API}/thing failed with HTTP 500 Internal Server Error: seen: [REDACTED] [REDACTED] [REDACTED]`,
      );
    } finally {
      delete process.env.TEST_SECRET_PARAM;
    }
  });

  it('redacts credentials from connection failure messages', async () => {
    nock(API)
      .get(`/users/${TOKEN}`)
      .replyWithError(netError('ECONNRESET', `reset while sending ${TOKEN}`));
    const ctx = context({ base_url: API, auth: { type: 'bearer', token: TOKEN } });
    const err = (await new CallApi()
      .get(ctx, `/users/${TOKEN}`)
      .catch((e: unknown) => e)) as RetryableError;
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.errorType).toBe('connection_error');
    expect(err.message).toBe(
      `GET ${API}/users/[REDACTED] failed: ECONNRESET: reset while sending [REDACTED]`,
    );
    expect(err.cause).toBeUndefined();
    expect(JSON.stringify(err.metadata)).not.toContain(TOKEN);
  });

  it('refuses an unparseable absolute URL when credentials are configured', async () => {
    const ctx = context({ base_url: API, auth: { type: 'bearer', token: TOKEN } });
    await expect(new CallApi().get(ctx, `http://[${TOKEN}`)).rejects.toThrow(
      new ValidationError(
        "ApiHandler 'Api.Call': path: 'http://[[REDACTED]' is not the origin of base_url " +
          `(${API}); configured credentials are only sent to base_url`,
      ),
    );
  });

  it('refuses to send configured credentials to another origin', async () => {
    const ctx = context({ base_url: API, auth: { type: 'bearer', token: TOKEN } });
    await expect(new CallApi().get(ctx, 'https://evil.example.test/steal')).rejects.toThrow(
      new ValidationError(
        "ApiHandler 'Api.Call': path: https://evil.example.test is not the origin of base_url " +
          `(${API}); configured credentials are only sent to base_url`,
      ),
    );
  });
});

describe('ApiHandler: request errors without a response', () => {
  it.each<[string, string, string]>([
    ['ECONNREFUSED', 'connection_error', 'connection refused'],
    ['ECONNRESET', 'connection_error', 'socket hang up'],
    ['ENOTFOUND', 'connection_error', 'getaddrinfo ENOTFOUND api.example.test'],
    ['EAI_AGAIN', 'connection_error', 'getaddrinfo EAI_AGAIN api.example.test'],
    ['ETIMEDOUT', 'timeout', 'connect ETIMEDOUT'],
  ])('%s → retryable %s', async (code, errorType, message) => {
    nock(API).get('/thing').replyWithError(netError(code, message));
    const { result } = await runRequest({ base_url: API });
    expect(withoutStack(result.error)).toStrictEqual({
      message: expect.stringContaining(`GET ${API}/thing`),
      errorType,
      retryable: true,
    });
    expect(result.error?.message).toContain(message);
  });

  it.each<[string, string]>([
    ['CERT_HAS_EXPIRED', 'tls_error'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls_error'],
  ])('%s → permanent %s', async (code, errorType) => {
    nock(API).get('/thing').replyWithError(netError(code, 'certificate problem'));
    const { result } = await runRequest({ base_url: API });
    expect(result.error).toMatchObject({ errorType, retryable: false });
  });

  it('fails permanently when the request cannot be built (a body that is not JSON)', async () => {
    const body: Record<string, unknown> = {};
    body.self = body;
    const err = (await new CallApi()
      .post(context({ base_url: API }), '/thing', body)
      .catch((e: unknown) => e)) as PermanentError;
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.errorType).toBe('invalid_request');
    expect(err.message).toMatch(/^POST https:\/\/api\.example\.test\/thing could not be sent: /);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a relative path without base_url',
      {},
      "ApiHandler 'Api.Call': path: '/thing' is relative, and no base_url is configured",
    ],
  ])('rejects %s', async (_label, config, message) => {
    await expect(new CallApi().get(context(config), '/thing')).rejects.toThrow(
      new ValidationError(message),
    );
  });

  it('rejects an empty path', async () => {
    await expect(new CallApi().get(context({ base_url: API }), '')).rejects.toThrow(
      new ValidationError(`ApiHandler 'Api.Call': path: must be a non-empty string, got ""`),
    );
  });
});
