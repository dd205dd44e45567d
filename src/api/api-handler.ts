import type { AxiosInstance } from 'axios';
import type { StepContext } from '../context/step-context';
import { attachedStep, StepHandler, type StepHandlerClass } from '../handler/step-handler';
import { resolveApiSettings } from './api-config';
import {
  HttpClient,
  type ApiRequest,
  type ApiRequestOptions,
  type ApiResponse,
} from './http-client';

/**
 * A step handler that calls an HTTP API. Its client is configured by the step's
 * `handler.initialization` (see `ApiHandlerConfig`: `base_url`, `timeout_ms`, `headers`,
 * `params`, `auth`, `tls`, `cross_origin_redirects`), honours `ctx.signal`, and classifies failures so that the worker
 * reports them correctly without any code in the handler:
 *
 * | outcome | thrown | `errorType` |
 * |---|---|---|
 * | 2xx | nothing: the `ApiResponse` is returned | |
 * | 400 401 403 404 405 409 410 422, other 4xx | `PermanentError` | `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`, `gone`, `unprocessable_entity`, `client_error` |
 * | 429 | `RateLimitError` (retryable) | `rate_limited` |
 * | 503 | `ServiceUnavailableError` (retryable) | `service_unavailable` |
 * | 408 500 502 504, other 5xx | `RetryableError` | `request_timeout`, `internal_server_error`, `bad_gateway`, `gateway_timeout`, `server_error` |
 * | connection refused/reset, DNS failure | `RetryableError` | `connection_error` |
 * | timeout (`timeout_ms`) | `RetryableError` | `timeout` |
 * | `ctx.signal` aborted | `RetryableError` | `aborted` |
 * | certificate verification failed | `PermanentError` | `tls_error` |
 * | redirect to another origin, with `cross_origin_redirects: refuse` | `PermanentError` | `redirect_refused` |
 *
 * A retryable failure carries `Retry-After` (seconds or an HTTP-date, capped at one hour) as
 * `retryAfterMs`: the core waits exactly that long before the next attempt. Every failure keeps
 * the HTTP status as `statusCode`. Credentials (auth values, secret headers) are redacted from
 * error messages, failure metadata and logs, and are never sent to another origin: not to an
 * absolute URL outside `base_url`, and not on a redirect.
 *
 * A new handler instance runs each step, so the methods take the step's context:
 *
 * ```ts
 * class GetUser extends ApiHandler {
 *   static override handlerName = 'Users.Get';
 *   async call(ctx: StepContext) {
 *     const res = await this.get<{ name: string }>(ctx, `/users/${ctx.getInput('user_id')}`);
 *     return { name: res.body.name };
 *   }
 * }
 * ```
 *
 * To catch a failure yourself (say, treat 404 as "absent"), catch `PermanentError` and look at
 * its `statusCode`.
 */
export abstract class ApiHandler extends StepHandler {
  static override capabilities: readonly string[] = [
    ...StepHandler.capabilities,
    'http_client',
    'error_classification',
    'retry_headers',
  ];

  #client: { ctx: StepContext; client: HttpClient } | undefined;

  /**
   * The step's configured axios instance (base URL, headers, auth, timeout, TLS, abort signal),
   * for what `get`/`post`/`request` don't cover: `await this.client.get('/users/42')`. Its
   * requests are plain axios: a non-2xx response throws `AxiosError`, and nothing is classified
   * as retryable or permanent (an `AxiosError` thrown from `call` is retried like any error).
   * Available while the handler runs a step (inside `call`).
   */
  get client(): AxiosInstance {
    const ctx = attachedStep(this);
    if (ctx === undefined) {
      throw new Error(
        `ApiHandler.client of '${this.name}' is available only while a worker runs the handler ` +
          `(inside call()); outside one, use this.request(ctx, …) with a StepContext`,
      );
    }
    return this.clientFor(ctx).plainAxios();
  }

  /** `GET path`. */
  get<T = unknown>(
    ctx: StepContext,
    path: string,
    options: ApiRequestOptions = {},
  ): Promise<ApiResponse<T>> {
    return this.request<T>(ctx, { ...options, method: 'GET', path });
  }

  /** `POST path` with `body` (JSON when it is an object or array). */
  post<T = unknown>(
    ctx: StepContext,
    path: string,
    body?: unknown,
    options: ApiRequestOptions = {},
  ): Promise<ApiResponse<T>> {
    return this.request<T>(ctx, { ...options, method: 'POST', path, body });
  }

  /** `PUT path` with `body`. */
  put<T = unknown>(
    ctx: StepContext,
    path: string,
    body?: unknown,
    options: ApiRequestOptions = {},
  ): Promise<ApiResponse<T>> {
    return this.request<T>(ctx, { ...options, method: 'PUT', path, body });
  }

  /** `PATCH path` with `body`. */
  patch<T = unknown>(
    ctx: StepContext,
    path: string,
    body?: unknown,
    options: ApiRequestOptions = {},
  ): Promise<ApiResponse<T>> {
    return this.request<T>(ctx, { ...options, method: 'PATCH', path, body });
  }

  /** `DELETE path`. */
  delete<T = unknown>(
    ctx: StepContext,
    path: string,
    options: ApiRequestOptions = {},
  ): Promise<ApiResponse<T>> {
    return this.request<T>(ctx, { ...options, method: 'DELETE', path });
  }

  /**
   * Any request. Resolves with the 2xx response; throws a classified error otherwise (see the
   * class description), or `ValidationError` (`configuration_error`) when the step's HTTP
   * configuration is invalid (the message names the field, or the missing environment variable).
   */
  async request<T = unknown>(ctx: StepContext, request: ApiRequest): Promise<ApiResponse<T>> {
    return this.clientFor(ctx).request<T>(request);
  }

  /**
   * The HTTP settings of this step (see `ApiHandlerConfig`). Default: the step's
   * `handler.initialization`. Override to supply or compute settings in code:
   * `return { ...ctx.stepConfig, base_url: 'https://api.example.com' }`.
   */
  protected apiConfig(ctx: StepContext): Record<string, unknown> {
    return ctx.stepConfig;
  }

  /** One client per step execution, built on first use. */
  private clientFor(ctx: StepContext): HttpClient {
    if (this.#client?.ctx !== ctx) {
      const name =
        (this.constructor as Partial<StepHandlerClass>).handlerName ?? this.constructor.name;
      const where = `ApiHandler '${name}'`;
      const settings = resolveApiSettings(this.apiConfig(ctx), `${where} configuration`);
      this.#client = { ctx, client: new HttpClient(settings, ctx.signal, ctx.logger, where) };
    }
    return this.#client.client;
  }
}
