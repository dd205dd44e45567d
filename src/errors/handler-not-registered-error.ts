import { TaskerError } from './tasker-error';

/** A template names a handler callable that is not registered (native code `HANDLER_NOT_REGISTERED`). */
export class HandlerNotRegisteredError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('HANDLER_NOT_REGISTERED', message, options);
    this.name = 'HandlerNotRegisteredError';
  }
}
