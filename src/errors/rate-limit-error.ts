import { RetryableError, type RetryableErrorOptions } from './retryable-error';

/**
 * The remote service is rate limiting us (HTTP 429): retryable, `rate_limited`. `retryAfterMs`
 * (from `Retry-After`) makes the core wait exactly that long before the next attempt.
 */
export class RateLimitError extends RetryableError {
  constructor(message: string, options: RetryableErrorOptions = {}) {
    super(message, {
      ...options,
      errorType: options.errorType ?? 'rate_limited',
      statusCode: options.statusCode ?? 429,
    });
    this.name = 'RateLimitError';
  }
}
