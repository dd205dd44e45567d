import { TaskerError } from './tasker-error';

/**
 * A create duplicates an existing task (the same idempotency key, or under
 * `identity_strategy: strict` the same template and context) and was asked to fail then, with
 * `onDuplicate: 'error'`; the message names the existing task (native code `DUPLICATE_TASK`).
 * See docs/identity.md.
 */
export class DuplicateTaskError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('DUPLICATE_TASK', message, options);
    this.name = 'DuplicateTaskError';
  }
}
