import { ValidationError } from '../../src/index';
import { DEFAULT_TIMEOUT_MS, resolveApiSettings } from '../../src/api/api-config';
import { classifyRequestError, classifyStatus } from '../../src/api/classify';
import { REDACTED, Redactor, isSensitiveName } from '../../src/api/redactor';

const WHERE = "ApiHandler 'X' configuration";

function resolve(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  return resolveApiSettings(config, WHERE, env, '/nonexistent');
}

describe('resolveApiSettings', () => {
  it('defaults everything', () => {
    expect(resolve({})).toStrictEqual({
      baseUrl: undefined,
      timeoutMs: DEFAULT_TIMEOUT_MS,
      headers: {},
      params: {},
      httpsAgent: undefined,
      hasCredentials: false,
      secrets: [],
      credentialHeaders: [],
      crossOriginRedirects: 'strip_credentials',
    });
  });

  it('ignores keys that are not HTTP settings, and null settings', () => {
    expect(
      resolve({ mode: 'inventory', base_url: null, timeout_ms: null }).baseUrl,
    ).toBeUndefined();
  });

  it('stringifies header and param values, and keeps secret-looking ones as secrets', () => {
    const settings = resolve({
      base_url: 'http://localhost:8080/api',
      timeout_ms: 250,
      headers: { 'X-Count': 3, 'X-Flag': true, 'X-Session-Id': 'sess-1' },
      params: { limit: 10, access_token: 'tok' },
    });
    expect(settings).toMatchObject({
      baseUrl: 'http://localhost:8080/api',
      timeoutMs: 250,
      headers: { 'X-Count': '3', 'X-Flag': 'true', 'X-Session-Id': 'sess-1' },
      params: { limit: '10', access_token: 'tok' },
      hasCredentials: true,
      secrets: ['sess-1', 'tok'],
      credentialHeaders: ['X-Session-Id'],
    });
  });

  it.each<
    [string, Record<string, unknown>, Record<string, string>, Record<string, string>, string[]]
  >([
    ['bearer', { type: 'bearer', token: 't' }, { Authorization: 'Bearer t' }, {}, ['t']],
    [
      'basic',
      { type: 'basic', username: 'u', password: 'p' },
      { Authorization: 'Basic dTpw' },
      {},
      ['dTpw', 'p'],
    ],
    [
      'basic with an empty password',
      { type: 'basic', username: 'u', password: '' },
      { Authorization: 'Basic dTo=' },
      {},
      ['dTo='],
    ],
    [
      'api_key in a header',
      { type: 'api_key', name: 'X-Key', value: 'v', in: 'header' },
      { 'X-Key': 'v' },
      {},
      ['v'],
    ],
    [
      'api_key in the query',
      { type: 'api_key', name: 'key', value: 'v', in: 'query' },
      {},
      { key: 'v' },
      ['v'],
    ],
  ])('applies %s auth', (_label, auth, headers, params, secrets) => {
    expect(resolve({ auth })).toMatchObject({
      headers,
      params,
      secrets,
      hasCredentials: true,
      credentialHeaders: Object.keys(headers),
    });
  });

  it('resolves {env: NAME} anywhere in the settings', () => {
    const settings = resolve(
      {
        base_url: { env: 'BASE' },
        headers: { 'X-Tenant': { env: 'TENANT' } },
        auth: { type: 'api_key', name: { env: 'KEY_NAME' }, value: { env: 'KEY' } },
      },
      { BASE: 'https://x.test', TENANT: 'acme', KEY_NAME: 'X-Api-Key', KEY: 'k' },
    );
    expect(settings).toMatchObject({
      baseUrl: 'https://x.test',
      headers: { 'X-Tenant': 'acme', 'X-Api-Key': 'k' },
      secrets: ['acme', 'k'],
      credentialHeaders: ['X-Tenant', 'X-Api-Key'],
    });
  });

  it('treats an object that merely has an env key among others as a plain value', () => {
    expect(() => resolve({ headers: { 'X-A': { env: 'A', other: 1 } } }, { A: 'a' })).toThrow(
      `${WHERE}: headers.X-A: must be a string, number or boolean, got {"env":"A","other":1}`,
    );
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'base_url not a URL',
      { base_url: 'not a url' },
      'base_url: must be an http(s) URL, got "not a url"',
    ],
    [
      'base_url not http',
      { base_url: 'ftp://x.test' },
      'base_url: must be an http(s) URL, got "ftp://x.test"',
    ],
    ['base_url a number', { base_url: 5 }, 'base_url: must be an http(s) URL, got 5'],
    ['timeout_ms zero', { timeout_ms: 0 }, 'timeout_ms: must be an integer >= 1, got 0'],
    ['timeout_ms fractional', { timeout_ms: 1.5 }, 'timeout_ms: must be an integer >= 1, got 1.5'],
    [
      'timeout_ms a string',
      { timeout_ms: '100' },
      'timeout_ms: must be an integer >= 1, got "100"',
    ],
    ['headers an array', { headers: ['a'] }, 'headers: must be an object, got ["a"]'],
    [
      'a header value an object',
      { headers: { 'X-A': { a: 1 } } },
      'headers.X-A: must be a string, number or boolean, got {"a":1}',
    ],
    [
      'a header name with a space',
      { headers: { 'X A': '1' } },
      'headers.X A: is not a valid header name',
    ],
    [
      'a param value null',
      { params: { q: null } },
      'params.q: must be a string, number or boolean, got null',
    ],
    ['auth a string', { auth: 'bearer' }, `auth: must be an object with a 'type', got "bearer"`],
    [
      'auth without type',
      { auth: {} },
      "auth.type: must be one of 'bearer', 'basic', 'api_key', got undefined",
    ],
    [
      'auth of an unknown type',
      { auth: { type: 'oauth' } },
      `auth.type: must be one of 'bearer', 'basic', 'api_key', got "oauth"`,
    ],
    [
      'bearer without token',
      { auth: { type: 'bearer' } },
      'auth.token: must be a non-empty string, got undefined',
    ],
    [
      'bearer with an empty token',
      { auth: { type: 'bearer', token: ' ' } },
      'auth.token: must not be empty',
    ],
    [
      'basic without username',
      { auth: { type: 'basic', password: 'p' } },
      'auth.username: must be a non-empty string, got undefined',
    ],
    [
      'basic with a numeric password',
      { auth: { type: 'basic', username: 'u', password: 1 } },
      'auth.password: must be a string, got 1',
    ],
    [
      'api_key without name',
      { auth: { type: 'api_key', value: 'v' } },
      'auth.name: must be a non-empty string, got undefined',
    ],
    [
      'api_key in a cookie',
      { auth: { type: 'api_key', name: 'k', value: 'v', in: 'cookie' } },
      `auth.in: must be one of 'header', 'query', got "cookie"`,
    ],
    ['tls not an object', { tls: true }, 'tls: must be an object, got true'],
    ['tls cert without key', { tls: { cert: 'c.pem' } }, 'tls.cert: needs tls.key as well'],
    ['tls key without cert', { tls: { key: 'k.pem' } }, 'tls.key: needs tls.cert as well'],
    [
      'tls cert empty',
      { tls: { cert: '', key: 'k.pem' } },
      'tls.cert: must be a non-empty string, got ""',
    ],
    ['tls ca a number', { tls: { ca: 1 } }, 'tls.ca: must be a non-empty string, got 1'],
    [
      'tls reject_unauthorized a string',
      { tls: { reject_unauthorized: 'no' } },
      'tls.reject_unauthorized: must be a boolean, got "no"',
    ],
  ])('rejects %s', (_label, config, problem) => {
    expect(() => resolve(config)).toThrow(new ValidationError(`${WHERE}: ${problem}`));
  });

  it('reports every invalid field at once, as a permanent configuration_error', () => {
    let error: unknown;
    try {
      resolve({ timeout_ms: -1, auth: { type: 'bearer', token: 3 } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({
      message:
        `${WHERE}: timeout_ms: must be an integer >= 1, got -1; ` +
        'auth.token: must be a non-empty string, got 3',
      errorType: 'configuration_error',
      retryable: false,
    });
  });

  it('builds an https agent that verifies certificates unless told not to', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(resolve({ tls: { ca: pem } }).httpsAgent?.options).toMatchObject({
      rejectUnauthorized: true,
      ca: pem,
    });
    expect(resolve({ tls: { reject_unauthorized: false } }).httpsAgent?.options).toMatchObject({
      rejectUnauthorized: false,
    });
  });

  it('keeps a client key and its passphrase as secrets', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';
    const cert = '-----BEGIN CERTIFICATE-----\ndef\n-----END CERTIFICATE-----\n';
    const settings = resolve({ tls: { cert, key, passphrase: 'pp' } });
    expect(settings.secrets).toEqual([key, 'pp']);
    expect(settings.hasCredentials).toBe(false);
  });
});

describe('classifyStatus', () => {
  it.each<[number, ReturnType<typeof classifyStatus>]>([
    [200, null],
    [201, null],
    [204, null],
    [299, null],
    [100, { errorType: 'http_error', retryable: false }],
    [301, { errorType: 'http_error', retryable: false }],
    [400, { errorType: 'bad_request', retryable: false }],
    [408, { errorType: 'request_timeout', retryable: true }],
    [429, { errorType: 'rate_limited', retryable: true }],
    [499, { errorType: 'client_error', retryable: false }],
    [599, { errorType: 'server_error', retryable: true }],
    [600, { errorType: 'http_error', retryable: false }],
  ])('%i', (status, expected) => {
    expect(classifyStatus(status)).toEqual(expected);
  });
});

describe('classifyRequestError', () => {
  it.each<[string | undefined, string, boolean]>([
    ['ETIMEDOUT', 'timeout', true],
    ['ECONNABORTED', 'timeout', true],
    ['ERR_CANCELED', 'aborted', true],
    ['ECONNREFUSED', 'connection_error', true],
    ['ECONNRESET', 'connection_error', true],
    ['ENOTFOUND', 'connection_error', true],
    ['EHOSTUNREACH', 'connection_error', true],
    ['ERR_NETWORK', 'connection_error', true],
    [undefined, 'connection_error', true],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'tls_error', false],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'tls_error', false],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'tls_error', false],
    ['ERR_INVALID_URL', 'invalid_request', false],
    ['ERR_BAD_OPTION_VALUE', 'invalid_request', false],
  ])('%s → %s', (code, errorType, retryable) => {
    expect(classifyRequestError(code)).toEqual({ errorType, retryable });
  });
});

describe('Redactor', () => {
  it.each<[string[], string, string]>([
    [['abc123'], 'token abc123 and abc123', `token ${REDACTED} and ${REDACTED}`],
    [['a b&c'], 'q=a%20b%26c or q=a+b%26c', `q=${REDACTED} or q=${REDACTED}`],
    [['say "hi"'], '{"v":"say \\"hi\\""}', `{"v":"${REDACTED}"}`],
    [['abc', 'abcdef'], 'abcdef abc', `${REDACTED} ${REDACTED}`],
    [[''], 'nothing to hide', 'nothing to hide'],
    [[], 'nothing to hide', 'nothing to hide'],
  ])('%j: %s', (secrets, text, expected) => {
    expect(new Redactor(secrets).text(text)).toBe(expected);
  });

  it('redacts JSON values and keys, and with() adds secrets', () => {
    const redactor = new Redactor(['s3']).with(['k9']);
    expect(redactor.size).toBeGreaterThanOrEqual(2);
    expect(redactor.json({ a: 's3', k9: ['x s3 y'] })).toEqual({
      a: REDACTED,
      [REDACTED]: [`x ${REDACTED} y`],
    });
    expect(new Redactor().json({ a: 1 })).toEqual({ a: 1 });
    expect(redactor.json(undefined)).toBeUndefined();
  });

  it('falls back to text when redaction breaks the JSON structure', () => {
    expect(new Redactor([':1']).json({ a: 1 })).toBe(`{"a"${REDACTED}}`);
  });

  it.each<[string, boolean]>([
    ['Authorization', true],
    ['X-Api-Key', true],
    ['apikey', true],
    ['Cookie', true],
    ['x-auth-token', true],
    ['client_secret', true],
    ['Accept', false],
    ['X-Request-Id', false],
  ])('isSensitiveName(%s) = %s', (name, expected) => {
    expect(isSensitiveName(name)).toBe(expected);
  });
});
