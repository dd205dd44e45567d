import { TaskerError } from './tasker-error';

/**
 * The task or step is not in a state that allows the operation: retrying a task that did not
 * fail, resolving a step that already completed (native code `INVALID_STATE`).
 */
export class InvalidStateError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_STATE', message, options);
    this.name = 'InvalidStateError';
  }
}
