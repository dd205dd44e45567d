import { TaskerError } from './tasker-error';

/** A template file failed to parse or validate; the message names the file and field (native code `TEMPLATE_INVALID`). */
export class TemplateError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('TEMPLATE_INVALID', message, options);
    this.name = 'TemplateError';
  }
}
