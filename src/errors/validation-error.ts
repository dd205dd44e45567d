import { PermanentError, type PermanentErrorOptions } from './permanent-error';

/** Throw from a handler when its input is invalid: a permanent failure, `validation_error`. */
export class ValidationError extends PermanentError {
  constructor(message: string, options: PermanentErrorOptions = {}) {
    super(message, { ...options, errorType: options.errorType ?? 'validation_error' });
    this.name = 'ValidationError';
  }
}
