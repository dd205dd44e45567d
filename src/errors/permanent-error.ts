/** Options shared by the errors a handler throws to describe a failure. */
export interface PermanentErrorOptions {
  /** Free-form classification stored with the failure. Default `permanent_error`. */
  errorType?: string;
  statusCode?: number;
  /** Extra JSON-serializable detail stored with the failure. */
  metadata?: Record<string, unknown>;
  cause?: unknown;
}

/** Throw from a handler to fail the step for good: it will not be retried. */
export class PermanentError extends Error {
  readonly retryable = false;
  readonly errorType: string;
  readonly statusCode: number | undefined;
  readonly metadata: Record<string, unknown> | undefined;

  constructor(message: string, options: PermanentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PermanentError';
    this.errorType = options.errorType ?? 'permanent_error';
    this.statusCode = options.statusCode;
    this.metadata = options.metadata;
  }
}
