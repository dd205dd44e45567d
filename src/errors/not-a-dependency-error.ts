import { PermanentError } from './permanent-error';

/**
 * Thrown by `ctx.getDependencyResult(name)` / `ctx.getDependencyField(name, …)` when `name` is a
 * step upstream of the running step that its template step does not list in `dependencies:`. A
 * step receives the results of its dependencies only (tasker-core hands it every ancestor's);
 * add the step to its dependencies to read its result (docs/handlers.md). Thrown from a handler,
 * it fails the step for good (`not_a_dependency`): a retry would read the same.
 */
export class NotADependencyError extends PermanentError {
  /** The step whose handler asked. */
  readonly stepName: string;
  /** The ancestor it asked for. */
  readonly ancestor: string;

  constructor(stepName: string, ancestor: string, message: string) {
    super(message, { errorType: 'not_a_dependency' });
    this.name = 'NotADependencyError';
    this.stepName = stepName;
    this.ancestor = ancestor;
  }
}
