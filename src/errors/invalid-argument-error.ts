import { TaskerError } from './tasker-error';

/** An option or argument is invalid; the message names it (native code `INVALID_ARGUMENT`). */
export class InvalidArgumentError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
    this.name = 'InvalidArgumentError';
  }
}
