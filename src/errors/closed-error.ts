import { TaskerError } from './tasker-error';

/** The engine, client or worker was already closed or shut down (native code `CLOSED`). */
export class ClosedError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('CLOSED', message, options);
    this.name = 'ClosedError';
  }
}
