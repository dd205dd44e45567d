import type { NativeErrorCode } from '../native';

/**
 * Base class of every error the library itself raises. `code` is the error taxonomy shared with
 * the Rust core (`NativeErrorCode`); subclasses exist so callers can `instanceof` on the kind.
 */
export class TaskerError extends Error {
  readonly code: NativeErrorCode;

  constructor(code: NativeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TaskerError';
    this.code = code;
  }
}
