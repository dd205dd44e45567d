import { TaskerError } from './tasker-error';

/** No task has the given uuid (native code `TASK_NOT_FOUND`). */
export class TaskNotFoundError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('TASK_NOT_FOUND', message, options);
    this.name = 'TaskNotFoundError';
  }
}
