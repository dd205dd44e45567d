export interface RetryableErrorOptions {
  /** Wait at least this long before the next attempt (e.g. from a `Retry-After` header). */
  retryAfterMs?: number;
  /** Free-form classification stored with the failure. Default `retryable_error`. */
  errorType?: string;
  statusCode?: number;
  /** Extra JSON-serializable detail stored with the failure. */
  metadata?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * Throw from a handler to fail this attempt and ask for another one (subject to the step's
 * `max_attempts` and backoff). Any other thrown `Error` is retried too; this class adds
 * `retryAfterMs` and a chosen `errorType`.
 */
export class RetryableError extends Error {
  readonly retryable = true;
  readonly errorType: string;
  readonly retryAfterMs: number | undefined;
  readonly statusCode: number | undefined;
  readonly metadata: Record<string, unknown> | undefined;

  constructor(message: string, options: RetryableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RetryableError';
    this.errorType = options.errorType ?? 'retryable_error';
    this.retryAfterMs = options.retryAfterMs;
    this.statusCode = options.statusCode;
    this.metadata = options.metadata;
  }
}
