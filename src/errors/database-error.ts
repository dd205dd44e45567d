import { TaskerError } from './tasker-error';

/** The database could not be reached or a statement failed (native code `DATABASE`). */
export class DatabaseError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('DATABASE', message, options);
    this.name = 'DatabaseError';
  }
}
