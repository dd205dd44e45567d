import { TaskerError } from './tasker-error';

/** No template is registered for the requested (namespace, name, version) (native code `TEMPLATE_NOT_FOUND`). */
export class TemplateNotFoundError extends TaskerError {
  constructor(message: string, options?: ErrorOptions) {
    super('TEMPLATE_NOT_FOUND', message, options);
    this.name = 'TemplateNotFoundError';
  }
}
