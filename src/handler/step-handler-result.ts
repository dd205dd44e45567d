/** Why a step attempt failed, as reported to the orchestrator. */
export interface StepFailure {
  message: string;
  /** Free-form classification, e.g. `permanent_error`, `rate_limited`, `TypeError`. */
  errorType: string;
  /** Only `false` makes the failure permanent. */
  retryable: boolean;
  /** Wait at least this long before the next attempt. */
  retryAfterMs?: number;
  statusCode?: number;
  /** A stack trace stored with the failure (a thrown error's own is kept; at most 8 KiB). */
  stack?: string;
}

export interface StepFailureOptions {
  /** Default `handler_error`. */
  errorType?: string;
  /** Default `true`. */
  retryable?: boolean;
  retryAfterMs?: number;
  statusCode?: number;
  metadata?: object;
  /** A stack trace to store with the failure (e.g. of an error you caught); at most 8 KiB. */
  stack?: string;
}

/**
 * An explicit outcome a handler may return instead of returning data (success) or throwing
 * (failure). Build it with `StepHandlerResult.success()` or `StepHandlerResult.failure()`.
 */
export class StepHandlerResult {
  private constructor(
    readonly success: boolean,
    /** The step's result (an object) on success; `null` on failure. */
    readonly result: object | null,
    /** The failure; `null` on success. */
    readonly error: StepFailure | null,
    /** Extra JSON-serializable detail stored with the outcome. */
    readonly metadata: object,
  ) {}

  static success(result: object = {}, metadata: object = {}): StepHandlerResult {
    return new StepHandlerResult(true, result, null, metadata);
  }

  static failure(message: string, options: StepFailureOptions = {}): StepHandlerResult {
    const error: StepFailure = {
      message,
      errorType: options.errorType ?? 'handler_error',
      retryable: options.retryable ?? true,
    };
    if (options.retryAfterMs !== undefined) error.retryAfterMs = options.retryAfterMs;
    if (options.statusCode !== undefined) error.statusCode = options.statusCode;
    if (options.stack !== undefined) error.stack = options.stack;
    return new StepHandlerResult(false, null, error, options.metadata ?? {});
  }

  isSuccess(): boolean {
    return this.success;
  }
}
