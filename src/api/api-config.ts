import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import { IsOptional, ValidateNested } from 'class-validator';
import { describeValue } from '../describe-value';
import { ValidationError } from '../errors/validation-error';
import {
  Bool,
  Check,
  IntegerAtLeast,
  NonEmptyString,
  OneOf,
  isPlainObject,
} from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';
import { isSensitiveName } from './redactor';

/** Any string setting may instead name an environment variable holding it. */
export interface EnvRef {
  env: string;
}

export type ConfigString = string | EnvRef;
export type ConfigScalar = string | number | boolean | EnvRef;

export type ApiAuthConfig =
  | { type: 'bearer'; token: ConfigString }
  | { type: 'basic'; username: ConfigString; password: ConfigString }
  | { type: 'api_key'; name: ConfigString; value: ConfigString; in?: 'header' | 'query' };

export interface ApiTlsConfig {
  /** CA bundle to trust: a PEM string or a file path. */
  ca?: ConfigString;
  /** Client certificate (PEM string or file path); needs `key`. */
  cert?: ConfigString;
  /** Client private key (PEM string or file path); needs `cert`. */
  key?: ConfigString;
  /** Passphrase of an encrypted `key`. */
  passphrase?: ConfigString;
  /** Verify the server's certificate. Default `true`; turn off only for local testing. */
  reject_unauthorized?: boolean;
}

/**
 * The HTTP settings an `ApiHandler` reads from its step's `handler.initialization` (snake_case,
 * as written in the template). Other keys of the initialization are ignored.
 *
 * ```yaml
 * handler:
 *   callable: Users.Get
 *   initialization:
 *     base_url: https://api.example.com/v1
 *     timeout_ms: 5000
 *     headers: { Accept: application/json }
 *     params: { locale: en }
 *     auth: { type: bearer, token: { env: USERS_API_TOKEN } }
 *     tls: { ca: /etc/ssl/internal-ca.pem }
 * ```
 */
export interface ApiHandlerConfig {
  /** Prefix of every relative request path. Without it, paths must be absolute URLs. */
  base_url?: ConfigString;
  /** Per-request timeout. Default 30000. */
  timeout_ms?: number;
  /** Headers sent with every request. */
  headers?: Record<string, ConfigScalar>;
  /** Query parameters sent with every request. */
  params?: Record<string, ConfigScalar>;
  auth?: ApiAuthConfig;
  tls?: ApiTlsConfig;
  /**
   * What to do when the server redirects to another origin (scheme, host or port differ):
   * `strip_credentials` (the default) follows the redirect without any credential header (the
   * auth header, secret-looking headers, headers from the environment); `refuse` fails the step
   * permanently (`redirect_refused`) without sending anything there.
   */
  cross_origin_redirects?: CrossOriginRedirects;
}

export type CrossOriginRedirects = 'strip_credentials' | 'refuse';

/** Default per-request timeout. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The settings of one step's HTTP client, resolved and checked. */
export interface ApiSettings {
  baseUrl: string | undefined;
  timeoutMs: number;
  headers: Record<string, string>;
  params: Record<string, string>;
  /** Only when `tls` is configured. */
  httpsAgent: https.Agent | undefined;
  /** Whether credentials are configured (auth, or headers/params holding secrets): they must not be sent to another origin. */
  hasCredentials: boolean;
  /** Credential values to keep out of messages, metadata and logs. */
  secrets: string[];
  /** Names of the configured headers that carry credentials: never sent to another origin. */
  credentialHeaders: string[];
  crossOriginRedirects: CrossOriginRedirects;
}

const CONFIG_KEYS = [
  'base_url',
  'timeout_ms',
  'headers',
  'params',
  'auth',
  'tls',
  'cross_origin_redirects',
] as const;
const REDIRECT_MODES: readonly CrossOriginRedirects[] = ['strip_credentials', 'refuse'];
const AUTH_TYPES = ['bearer', 'basic', 'api_key'] as const;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// ---------------------------------------------------------------------------------------------
// Shapes (class-validator)

class AuthShape {
  @OneOf(AUTH_TYPES)
  type!: unknown;
}

class BearerAuthShape extends AuthShape {
  @NonEmptyString()
  token!: unknown;
}

class BasicAuthShape extends AuthShape {
  @NonEmptyString()
  username!: unknown;

  @Check('string', (v) =>
    typeof v === 'string' ? undefined : `must be a string, got ${describeValue(v)}`,
  )
  password!: unknown;
}

class ApiKeyAuthShape extends AuthShape {
  @NonEmptyString()
  name!: unknown;

  @NonEmptyString()
  value!: unknown;

  @IsOptional()
  @OneOf(['header', 'query'])
  in!: unknown;
}

const AUTH_SHAPES: Record<string, new () => AuthShape> = {
  bearer: BearerAuthShape,
  basic: BasicAuthShape,
  api_key: ApiKeyAuthShape,
};

class TlsShape {
  @IsOptional()
  @NonEmptyString()
  ca!: unknown;

  @Check('certWithKey', (v, o) =>
    v !== undefined && (o as TlsShape).key === undefined
      ? 'needs tls.key as well'
      : v === undefined
        ? undefined
        : nonEmpty(v),
  )
  cert!: unknown;

  @Check('keyWithCert', (v, o) =>
    v !== undefined && (o as TlsShape).cert === undefined
      ? 'needs tls.cert as well'
      : v === undefined
        ? undefined
        : nonEmpty(v),
  )
  key!: unknown;

  @IsOptional()
  @NonEmptyString()
  passphrase!: unknown;

  @IsOptional()
  @Bool()
  reject_unauthorized!: unknown;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== ''
    ? undefined
    : `must be a non-empty string, got ${describeValue(v)}`;
}

const nested = (cls: new () => object, what: string) =>
  Check('nestedObject', (v) =>
    v instanceof cls ? undefined : `must be ${what}, got ${describeValue(v)}`,
  );

const scalarRecord = (checkNames: boolean) =>
  Check('scalarRecord', (v) => {
    if (!isPlainObject(v)) return `must be an object, got ${describeValue(v)}`;
    for (const [name, value] of Object.entries(v)) {
      if (checkNames && !HEADER_NAME.test(name)) return `.${name}: is not a valid header name`;
      if (!['string', 'number', 'boolean'].includes(typeof value)) {
        return `.${name}: must be a string, number or boolean, got ${describeValue(value)}`;
      }
    }
    return undefined;
  });

class ApiConfigShape {
  @IsOptional()
  @Check('httpUrl', (v) => {
    if (typeof v !== 'string') return `must be an http(s) URL, got ${describeValue(v)}`;
    try {
      const url = new URL(v);
      if (url.protocol === 'http:' || url.protocol === 'https:') return undefined;
    } catch {
      // fall through
    }
    return `must be an http(s) URL, got ${describeValue(v)}`;
  })
  base_url!: unknown;

  @IsOptional()
  @IntegerAtLeast(1)
  timeout_ms!: unknown;

  @IsOptional()
  @scalarRecord(true)
  headers!: unknown;

  @IsOptional()
  @scalarRecord(false)
  params!: unknown;

  @IsOptional()
  @nested(AuthShape, "an object with a 'type'")
  @ValidateNested()
  auth!: unknown;

  @IsOptional()
  @nested(TlsShape, 'an object')
  @ValidateNested()
  tls!: unknown;

  @IsOptional()
  @OneOf(REDIRECT_MODES)
  cross_origin_redirects!: unknown;
}

// ---------------------------------------------------------------------------------------------
// Resolution

/**
 * Resolve and check a step's HTTP settings. `where` names them in errors (e.g. `ApiHandler
 * 'Users.Get' configuration`). Throws `ValidationError` (`configuration_error`, permanent) naming
 * the field, or the missing environment variable.
 */
export function resolveApiSettings(
  raw: Record<string, unknown>,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): ApiSettings {
  const fromEnv = new Set<string>();
  const config: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    if (raw[key] !== undefined && raw[key] !== null) {
      config[key] = resolveEnvRefs(raw[key], key, env, fromEnv, where);
    }
  }

  const shape = new ApiConfigShape();
  Object.assign(shape, config);
  if (isPlainObject(config.auth)) {
    const cls = AUTH_SHAPES[String(config.auth.type)] ?? AuthShape;
    shape.auth = Object.assign(new cls(), config.auth);
  }
  if (isPlainObject(config.tls)) shape.tls = Object.assign(new TlsShape(), config.tls);
  validateOrThrow(shape, where, 'configuration_error');

  const secrets: string[] = [];
  const credentialHeaders: string[] = [];
  const headers = stringRecord(config.headers, 'headers', fromEnv, secrets, credentialHeaders);
  const params = stringRecord(config.params, 'params', fromEnv, secrets);
  const auth = config.auth as ApiAuthConfig | undefined;
  if (auth !== undefined) {
    applyAuth(auth as ResolvedAuth, headers, params, secrets, credentialHeaders);
  }
  const hasCredentials = secrets.length > 0;

  return {
    baseUrl: config.base_url as string | undefined,
    timeoutMs: (config.timeout_ms as number | undefined) ?? DEFAULT_TIMEOUT_MS,
    headers,
    params,
    httpsAgent:
      config.tls === undefined
        ? undefined
        : httpsAgent(config.tls as ResolvedTls, where, cwd, secrets),
    hasCredentials,
    secrets,
    credentialHeaders,
    crossOriginRedirects:
      (config.cross_origin_redirects as CrossOriginRedirects | undefined) ?? 'strip_credentials',
  };
}

type ResolvedAuth =
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'api_key'; name: string; value: string; in?: 'header' | 'query' };

type ResolvedTls = { [K in keyof ApiTlsConfig]: Exclude<ApiTlsConfig[K], EnvRef> };

/**
 * Replace every `{env: 'NAME'}` inside `value` by the variable's value; a missing or empty
 * variable is an error naming both the field and the variable.
 */
function resolveEnvRefs(
  value: unknown,
  at: string,
  env: NodeJS.ProcessEnv,
  fromEnv: Set<string>,
  where: string,
): unknown {
  if (isEnvRef(value)) {
    const resolved = env[value.env];
    if (resolved === undefined || resolved === '') {
      throw new ValidationError(
        `${where}: ${at}: environment variable ${value.env} is ${resolved === undefined ? 'not set' : 'empty'}`,
        { errorType: 'configuration_error' },
      );
    }
    fromEnv.add(at);
    return resolved;
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = resolveEnvRefs(inner, `${at}.${key}`, env, fromEnv, where);
    }
    return out;
  }
  return value;
}

function isEnvRef(value: unknown): value is EnvRef {
  return (
    isPlainObject(value) &&
    Object.keys(value).length === 1 &&
    typeof value.env === 'string' &&
    value.env !== ''
  );
}

/**
 * Stringify a header/param map; values from the environment or under a sensitive name are
 * secrets (and their names go to `secretNames`).
 */
function stringRecord(
  value: unknown,
  at: string,
  fromEnv: Set<string>,
  secrets: string[],
  secretNames: string[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isPlainObject(value)) return out;
  for (const [name, inner] of Object.entries(value)) {
    const text = String(inner);
    out[name] = text;
    if (fromEnv.has(`${at}.${name}`) || isSensitiveName(name)) {
      secrets.push(text);
      secretNames.push(name);
    }
  }
  return out;
}

function applyAuth(
  auth: ResolvedAuth,
  headers: Record<string, string>,
  params: Record<string, string>,
  secrets: string[],
  credentialHeaders: string[],
): void {
  switch (auth.type) {
    case 'bearer':
      setHeader(headers, 'Authorization', `Bearer ${auth.token}`);
      credentialHeaders.push('Authorization');
      secrets.push(auth.token);
      return;
    case 'basic': {
      const encoded = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
      setHeader(headers, 'Authorization', `Basic ${encoded}`);
      credentialHeaders.push('Authorization');
      secrets.push(encoded);
      if (auth.password !== '') secrets.push(auth.password);
      return;
    }
    case 'api_key':
      if (auth.in === 'query') {
        params[auth.name] = auth.value;
      } else {
        setHeader(headers, auth.name, auth.value);
        credentialHeaders.push(auth.name);
      }
      secrets.push(auth.value);
      return;
  }
}

/** Set a header, replacing one of the same name in any letter case. */
function setHeader(headers: Record<string, string>, name: string, value: string): void {
  for (const existing of Object.keys(headers)) {
    if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
  }
  headers[name] = value;
}

function httpsAgent(tls: ResolvedTls, where: string, cwd: string, secrets: string[]): https.Agent {
  const options: https.AgentOptions = { rejectUnauthorized: tls.reject_unauthorized ?? true };
  if (tls.ca !== undefined) options.ca = pem(tls.ca, 'tls.ca', where, cwd);
  if (tls.cert !== undefined) options.cert = pem(tls.cert, 'tls.cert', where, cwd);
  if (tls.key !== undefined) {
    options.key = pem(tls.key, 'tls.key', where, cwd);
    secrets.push(options.key);
  }
  if (tls.passphrase !== undefined) {
    options.passphrase = tls.passphrase;
    secrets.push(tls.passphrase);
  }
  return new https.Agent(options);
}

/** A PEM given inline, or the contents of the file it names (relative to `cwd`). */
function pem(value: string, at: string, where: string, cwd: string): string {
  if (value.includes('-----BEGIN ')) return value;
  const file = path.resolve(cwd, value);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ValidationError(`${where}: ${at}: cannot read the file ${file} (${reason})`, {
      errorType: 'configuration_error',
    });
  }
}
