import { TaskerError } from './tasker-error';

/** Waiting for a task ran out of time (native code `TIMEOUT`). */
export class TaskTimeoutError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('TIMEOUT', message, options);
    this.name = 'TaskTimeoutError';
  }
}
