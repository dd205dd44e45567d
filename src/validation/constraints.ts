import { ValidateBy, type ValidationArguments } from 'class-validator';
import { describeValue } from '../describe-value';
import { ValidationError } from '../errors/validation-error';

/**
 * Property decorators for the builders' input classes, built on class-validator's `ValidateBy`.
 * Each takes a `problem` function returning `undefined` when the value is fine, else what is
 * wrong with it (`must be a non-empty string, got 5`); the message becomes
 * `<property>: <problem>`, or `<property><problem>` when the problem names a sub-path
 * (`[1]: must not be empty`), which `validateOrThrow` then prefixes with the parents' path.
 */
export function Check(
  name: string,
  problem: (value: unknown, object: object) => string | undefined,
): PropertyDecorator {
  return ValidateBy({
    name,
    validator: {
      validate: (value: unknown, args?: ValidationArguments) =>
        problem(value, args?.object ?? {}) === undefined,
      defaultMessage: (args?: ValidationArguments) => {
        const property = args?.property ?? 'value';
        const text = problem(args?.value, args?.object ?? {}) ?? 'is invalid';
        return text.startsWith('[') || text.startsWith('.')
          ? `${property}${text}`
          : `${property}: ${text}`;
      },
    },
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function nonEmptyStringProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a non-empty string, got ${describeValue(value)}`;
  if (value.trim() === '') return 'must not be empty';
  return undefined;
}

/** A string with at least one non-space character. */
export const NonEmptyString = (): PropertyDecorator =>
  Check('nonEmptyString', nonEmptyStringProblem);

/** An integer (a JS number) of at least `min`. */
export const IntegerAtLeast = (min: number): PropertyDecorator =>
  Check('integerAtLeast', (value) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min
      ? undefined
      : `must be an integer >= ${min}, got ${describeValue(value)}`,
  );

/** A plain object (not an array, not a class instance). */
export const PlainObject = (): PropertyDecorator =>
  Check('plainObject', (value) =>
    isPlainObject(value) ? undefined : `must be an object, got ${describeValue(value)}`,
  );

/** One of the given strings. */
export const OneOf = (allowed: readonly string[]): PropertyDecorator =>
  Check('oneOf', (value) =>
    typeof value === 'string' && allowed.includes(value)
      ? undefined
      : `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
  );

/** A boolean. */
export const Bool = (): PropertyDecorator =>
  Check('boolean', (value) =>
    typeof value === 'boolean' ? undefined : `must be a boolean, got ${describeValue(value)}`,
  );

/** Any JSON value except `null`/`undefined` (cursors may be numbers, strings or objects). */
export const PresentJson = (): PropertyDecorator =>
  Check('presentJson', (value) => {
    if (value === undefined || value === null) return 'is required';
    return jsonProblem(value);
  });

/** A JSON-serializable value: `undefined` when it is, else why not. */
export function jsonProblem(value: unknown): string | undefined {
  try {
    if (JSON.stringify(value) === undefined) {
      return `must be JSON-serializable, got ${describeValue(value)}`;
    }
    return undefined;
  } catch (err) {
    return `must be JSON-serializable (${err instanceof Error ? err.message : String(err)})`;
  }
}

/**
 * The tag of an outcome in either wire form, `outcome_type` (`CreateSteps`) or `type`
 * (`create_steps`), as `[field, value]`. When both are set they must agree (compared without
 * case and underscores, as the core compares them); otherwise throws `ValidationError`.
 */
export function outcomeTag(json: Record<string, unknown>, what: string): [string, unknown] {
  const { outcome_type: outcomeType, type } = json;
  const norm = (v: unknown): unknown =>
    typeof v === 'string' ? v.toLowerCase().replace(/_/g, '') : v;
  if (outcomeType !== undefined && type !== undefined && norm(outcomeType) !== norm(type)) {
    throw new ValidationError(
      `${what}: type is ${describeValue(type)} but outcome_type is ${describeValue(outcomeType)}; ` +
        'they must agree (set only one of them)',
    );
  }
  return outcomeType !== undefined ? ['outcome_type', outcomeType] : ['type', type];
}

/**
 * A non-empty array of unique, non-empty strings; the problem names the first bad element:
 * `[1]: must not be empty`, `[2]: duplicates [0] ('ship')`.
 */
export function uniqueNameListProblem(value: unknown, noun: string): string | undefined {
  if (!Array.isArray(value)) return `must be an array of ${noun}s, got ${describeValue(value)}`;
  if (value.length === 0) return `must contain at least one ${noun}`;
  const seen = new Map<string, number>();
  for (const [i, item] of value.entries()) {
    const problem = nonEmptyStringProblem(item);
    if (problem !== undefined) return `[${i}]: ${problem}`;
    const first = seen.get(item as string);
    if (first !== undefined) return `[${i}]: duplicates [${first}] ('${String(item)}')`;
    seen.set(item as string, i);
  }
  return undefined;
}
