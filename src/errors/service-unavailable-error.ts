import { RetryableError, type RetryableErrorOptions } from './retryable-error';

/**
 * The remote service is temporarily unavailable (HTTP 503): retryable, `service_unavailable`.
 * `retryAfterMs` (from `Retry-After`) makes the core wait exactly that long before the next attempt.
 */
export class ServiceUnavailableError extends RetryableError {
  constructor(message: string, options: RetryableErrorOptions = {}) {
    super(message, {
      ...options,
      errorType: options.errorType ?? 'service_unavailable',
      statusCode: options.statusCode ?? 503,
    });
    this.name = 'ServiceUnavailableError';
  }
}
