import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { describeValue } from '../describe-value';
import { PermanentError } from '../errors/permanent-error';
import { RateLimitError } from '../errors/rate-limit-error';
import { RetryableError } from '../errors/retryable-error';
import { ServiceUnavailableError } from '../errors/service-unavailable-error';
import { ValidationError } from '../errors/validation-error';
import type { StepLogger } from '../logger';
import type { ApiSettings, CrossOriginRedirects } from './api-config';
import { classifyRequestError, classifyStatus, type HttpFailureClass } from './classify';
import { Redactor, isSensitiveName } from './redactor';
import { parseRetryAfter } from './retry-after';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

/** Per-request additions to the step's configured settings. */
export interface ApiRequestOptions {
  /**
   * Query parameters, merged over the configured `params`; a `null`/`undefined` value leaves the
   * parameter out (also a configured one).
   */
  params?: Record<string, string | number | boolean | null | undefined>;
  /** Headers, merged over the configured `headers` (same name in any case replaces). */
  headers?: Record<string, string | number | boolean | undefined>;
  /** Overrides the configured `timeout_ms` for this request. */
  timeoutMs?: number;
}

/** A request for `ApiHandler.request`. */
export interface ApiRequest extends ApiRequestOptions {
  method: HttpMethod;
  /** Relative to `base_url`, or an absolute URL. */
  path: string;
  /** Sent as JSON when it is an object or array; a string or Buffer is sent as is. */
  body?: unknown;
}

/**
 * A successful (2xx) response. (A type alias, not an interface, so that a handler may return it
 * as its result.)
 */
export type ApiResponse<T = unknown> = {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /**
   * Parsed JSON when the response says it is JSON (`application/json`, `…+json`), else the text;
   * `null` when the body is empty.
   */
  body: T;
};

/** Longest excerpt of a response body kept in a failure's metadata. */
const MAX_BODY_CHARS = 2000;
const MAX_DETAIL_CHARS = 300;

/**
 * The HTTP client of one step execution: axios with the step's settings, the step's abort
 * signal, and failure classification. Internal: handlers use `ApiHandler`'s methods.
 */
export class HttpClient {
  private readonly axios: AxiosInstance;
  private readonly redactor: Redactor;
  private plain: AxiosInstance | undefined;

  constructor(
    private readonly settings: ApiSettings,
    private readonly signal: AbortSignal,
    private readonly logger: StepLogger,
    private readonly where: string,
  ) {
    this.redactor = new Redactor(settings.secrets);
    this.axios = axios.create({
      httpsAgent: settings.httpsAgent,
      responseType: 'arraybuffer',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      transitional: {
        clarifyTimeoutError: true,
        silentJSONParsing: true,
        forcedJSONParsing: false,
      },
    });
  }

  /**
   * A plain axios instance with this step's settings: base URL, headers and params (auth
   * included), timeout, TLS, the step's abort signal, and the configured credentials kept from
   * other origins on a redirect. Its requests are axios's own: JSON parsed, non-2xx thrown as
   * `AxiosError`, nothing classified, redacted or logged (see `ApiHandler.client`).
   */
  plainAxios(): AxiosInstance {
    if (this.plain !== undefined) return this.plain;
    const { settings } = this;
    this.plain = axios.create({
      baseURL: settings.baseUrl,
      headers: { ...settings.headers },
      params: { ...settings.params },
      timeout: settings.timeoutMs,
      httpsAgent: settings.httpsAgent,
      signal: this.signal,
      beforeRedirect: (options, response, details) =>
        new RedirectGuard(
          settings.crossOriginRedirects,
          settings.credentialHeaders,
          this.logger,
          (text) => this.redactor.text(text),
        ).check(options, response, details),
    });
    return this.plain;
  }

  async request<T = unknown>(request: ApiRequest): Promise<ApiResponse<T>> {
    const url = this.url(request.path);
    const shownUrl = this.redactor.text(url);
    const label = `${request.method} ${shownUrl}`;
    const headers = mergeHeaders(this.settings.headers, request.headers);
    // A credential passed per request is as secret as a configured one.
    const redactor = this.redactor.with(
      Object.entries(request.headers ?? {})
        .filter(([name, value]) => isSensitiveName(name) && value !== undefined)
        .map(([, value]) => String(value)),
    );
    // Never sent to another origin: the configured credential headers, and per-request headers
    // with a secret-looking name (axios drops them on a cross-origin redirect).
    const credentialHeaders = [
      ...this.settings.credentialHeaders,
      ...Object.keys(request.headers ?? {}).filter(isSensitiveName),
    ];
    const redirects = new RedirectGuard(
      this.settings.crossOriginRedirects,
      credentialHeaders,
      this.logger,
      (text) => redactor.text(text),
    );
    const startedAt = performance.now();
    let response: AxiosResponse<Buffer>;
    try {
      response = await this.axios.request<Buffer>({
        method: request.method,
        url,
        params: mergeParams(this.settings.params, request.params),
        headers,
        data: request.body,
        timeout: request.timeoutMs ?? this.settings.timeoutMs,
        signal: this.signal,
        sensitiveHeaders: credentialHeaders,
        beforeRedirect: (options, response, details) => redirects.check(options, response, details),
      });
    } catch (err) {
      const refusal = redirects.refusal(request.method, shownUrl);
      if (refusal !== undefined) throw refusal;
      throw this.requestFailure(err, request.method, shownUrl, redactor);
    }
    const elapsed = Math.round(performance.now() - startedAt);
    this.logger.debug(`${label} → ${response.status} (${elapsed} ms)`);
    const responseHeaders = flattenHeaders(response.headers);
    const result: ApiResponse<T> = {
      status: response.status,
      headers: responseHeaders,
      body: decodeBody(response.data, responseHeaders['content-type']) as T,
    };
    const failure = classifyStatus(response.status);
    if (failure !== null) {
      throw statusFailure(failure, result, response.statusText, request.method, shownUrl, redactor);
    }
    return result;
  }

  /** `base_url` + `path` (path-joined, as axios does), refusing to send credentials elsewhere. */
  private url(path: string): string {
    if (typeof path !== 'string' || path === '') {
      throw new ValidationError(
        `${this.where}: path: must be a non-empty string, got ${describeValue(path)}`,
      );
    }
    const { baseUrl, hasCredentials } = this.settings;
    if (/^[a-z][a-z\d+.-]*:\/\//i.test(path)) {
      if (baseUrl !== undefined && hasCredentials) {
        const origin = originOf(path);
        const baseOrigin = new URL(baseUrl).origin;
        if (origin !== baseOrigin) {
          throw new ValidationError(
            `${this.where}: path: ${this.redactor.text(origin ?? `'${path}'`)} is not the origin ` +
              `of base_url (${baseOrigin}); configured credentials are only sent to base_url`,
          );
        }
      }
      return path;
    }
    if (baseUrl === undefined) {
      throw new ValidationError(
        `${this.where}: path: '${this.redactor.text(path)}' is relative, and no base_url is configured`,
      );
    }
    return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
  }

  private requestFailure(err: unknown, method: string, url: string, redactor: Redactor): Error {
    const label = `${method} ${url}`;
    if (!axios.isAxiosError(err)) {
      // Not from the exchange itself (e.g. a body that cannot be serialized).
      const reason = err instanceof Error ? err.message : describeValue(err);
      return new PermanentError(redactor.text(`${label} could not be sent: ${reason}`), {
        errorType: 'invalid_request',
      });
    }
    const cls = classifyRequestError(err.code);
    let reason: string;
    if (cls.errorType === 'aborted') {
      const why: unknown = this.signal.reason;
      reason = `aborted (${why instanceof Error ? why.message : describeValue(why)})`;
    } else if (cls.errorType === 'timeout') {
      reason = `timed out (${err.message})`;
    } else {
      reason = err.code === undefined ? err.message : `${err.code}: ${err.message}`;
    }
    const message = redactor.text(`${label} failed: ${reason}`);
    const metadata = { method, url };
    this.logger.debug(message);
    return cls.retryable
      ? new RetryableError(message, { errorType: cls.errorType, metadata })
      : new PermanentError(message, { errorType: cls.errorType, metadata });
  }
}

function statusFailure(
  cls: HttpFailureClass,
  response: ApiResponse,
  statusText: string | undefined,
  method: string,
  url: string,
  redactor: Redactor,
): Error {
  const status = response.status;
  const detail = errorDetail(response.body);
  const message = redactor.text(
    `${method} ${url} failed with HTTP ${status}${statusText ? ` ${statusText}` : ''}` +
      (detail === undefined ? '' : `: ${detail}`),
  );
  const retryAfterMs = cls.retryable
    ? parseRetryAfter(response.headers['retry-after'], Date.now())
    : undefined;
  const metadata: Record<string, unknown> = { method, url, status_code: status };
  if (retryAfterMs !== undefined) metadata.retry_after_ms = retryAfterMs;
  if (response.body !== null) metadata.response_body = redactor.json(excerpt(response.body));
  const options = { errorType: cls.errorType, statusCode: status, metadata };
  if (!cls.retryable) return new PermanentError(message, options);
  if (status === 429) return new RateLimitError(message, { ...options, retryAfterMs });
  if (status === 503) return new ServiceUnavailableError(message, { ...options, retryAfterMs });
  return new RetryableError(message, { ...options, retryAfterMs });
}

/** A short explanation from a JSON error body (`error`, `message`, `detail`…), if there is one. */
function errorDetail(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const record = body as Record<string, unknown>;
    for (const key of ['error', 'message', 'detail', 'error_message', 'msg']) {
      const value = record[key];
      const text =
        typeof value === 'string'
          ? value
          : typeof value === 'object' &&
              value !== null &&
              typeof (value as { message?: unknown }).message === 'string'
            ? (value as { message: string }).message
            : undefined;
      if (text !== undefined && text.trim() !== '') return truncate(text.trim(), MAX_DETAIL_CHARS);
    }
    return undefined;
  }
  if (typeof body === 'string' && body.trim() !== '')
    return truncate(body.trim(), MAX_DETAIL_CHARS);
  return undefined;
}

/** The body itself when its JSON is short, else the start of its text. */
function excerpt(body: unknown): unknown {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (text.length <= MAX_BODY_CHARS) return body;
  return truncate(text, MAX_BODY_CHARS);
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Watches the redirects of one request (axios follows them, through follow-redirects). A
 * redirect to another origin is refused (`refuse`), or followed (`strip_credentials`) with the
 * credential headers already dropped by axios's `sensitiveHeaders`, and logged at debug level.
 */
class RedirectGuard {
  /** Set when a redirect was refused: the status and the (redacted) target. */
  private refused: { status: number; location: string; origin: string } | undefined;

  constructor(
    private readonly mode: CrossOriginRedirects,
    private readonly credentialHeaders: string[],
    private readonly logger: StepLogger,
    private readonly redact: (text: string) => string,
  ) {}

  /** follow-redirects' `beforeRedirect`: `options` are those of the next request. */
  check(
    options: Record<string, unknown>,
    response: { statusCode: number },
    requestDetails?: { url: string },
  ): void {
    const next = typeof options.href === 'string' ? options.href : '';
    const from = originOf(requestDetails?.url ?? '');
    const to = originOf(next);
    if (from !== undefined && to === from) return;
    const shownTo = this.redact(to ?? next);
    if (this.mode === 'refuse') {
      this.refused = { status: response.statusCode, location: this.redact(next), origin: shownTo };
      throw new Error(`refused a redirect to another origin, ${shownTo}`);
    }
    this.logger.debug(
      `following a redirect (HTTP ${response.statusCode}) to another origin, ${shownTo}, ` +
        `without the credential headers (${this.credentialHeaders.join(', ') || 'none configured'})`,
    );
  }

  /** The error of the request when it failed because a redirect was refused. */
  refusal(method: string, url: string): PermanentError | undefined {
    if (this.refused === undefined) return undefined;
    const { status, location, origin } = this.refused;
    return new PermanentError(
      `${method} ${url} failed: the server redirected (HTTP ${status}) to another origin, ` +
        `${origin}, and cross_origin_redirects is 'refuse'`,
      {
        errorType: 'redirect_refused',
        statusCode: status,
        metadata: { method, url, status_code: status, redirect_to: location },
      },
    );
  }
}

/** The origin of an absolute URL, or `undefined` if it does not parse. */
function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function mergeHeaders(
  base: Record<string, string>,
  extra: ApiRequestOptions['headers'],
): Record<string, string> {
  const out = { ...base };
  for (const [name, value] of Object.entries(extra ?? {})) {
    for (const existing of Object.keys(out)) {
      if (existing.toLowerCase() === name.toLowerCase()) delete out[existing];
    }
    if (value !== undefined) out[name] = String(value);
  }
  return out;
}

function mergeParams(
  base: Record<string, string>,
  extra: ApiRequestOptions['params'],
): Record<string, string> {
  const out = { ...base };
  for (const [name, value] of Object.entries(extra ?? {})) {
    if (value === undefined || value === null) delete out[name];
    else out[name] = String(value);
  }
  return out;
}

function flattenHeaders(headers: unknown): Record<string, string> {
  const plain: unknown =
    typeof (headers as { toJSON?: unknown })?.toJSON === 'function'
      ? (headers as { toJSON: () => unknown }).toJSON()
      : headers;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries((plain ?? {}) as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function decodeBody(data: unknown, contentType: string | undefined): unknown {
  const text = Buffer.isBuffer(data)
    ? data.toString('utf8')
    : typeof data === 'string'
      ? data
      : data === undefined || data === null
        ? ''
        : Buffer.from(data as ArrayBuffer).toString('utf8');
  if (text === '') return null;
  const type = (contentType ?? '').toLowerCase();
  if (/[/+]json\b/.test(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
