import { validateSync, type ValidationError as FieldError } from 'class-validator';
import { ValidationError } from '../errors/validation-error';

/**
 * Validate a class-validator decorated instance and throw a `ValidationError` (permanent) whose
 * message is `<what>: <field path>: <problem>` for every invalid field, joined with `; `, e.g.
 * `DecisionPointOutcome.createSteps: step_names[1]: must not be empty`.
 *
 * Nested objects must already be instances of their decorated classes (see `Nested`), so the
 * check never relies on class-transformer.
 */
export function validateOrThrow(target: object, what: string, errorType?: string): void {
  const errors = validateSync(target, {
    stopAtFirstError: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
  });
  if (errors.length === 0) return;
  throw new ValidationError(`${what}: ${describeFieldErrors(errors).join('; ')}`, { errorType });
}

/**
 * One line per failing constraint. Constraint messages (see `constraint.ts`) already start with
 * their own property name; this prefixes the path of the parents (`cursor_configs[0].`).
 */
export function describeFieldErrors(errors: FieldError[], parentPath = ''): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    for (const message of Object.values(error.constraints ?? {})) {
      lines.push(parentPath === '' ? message : joinPath(parentPath, message));
    }
    if (error.children !== undefined && error.children.length > 0) {
      lines.push(...describeFieldErrors(error.children, joinPath(parentPath, error.property)));
    }
  }
  return lines;
}

function joinPath(parent: string, child: string): string {
  if (parent === '') return child;
  const index = /^(\d+)([\s\S]*)$/.exec(child);
  return index === null ? `${parent}.${child}` : `${parent}[${index[1]}]${index[2]}`;
}
