import { InvalidArgumentError } from '../errors/invalid-argument-error';

/** An optional integer option, at least `min`; anything else is an `InvalidArgumentError`. */
export function integerOption(name: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}
