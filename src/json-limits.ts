import { describeValue } from './describe-value';
import { InvalidArgumentError } from './errors/invalid-argument-error';
import type { NativeEngineOptions } from './native';

/**
 * Limits on the JSON the engine accepts (docs/handlers.md#json-limits). Sizes are bytes of the
 * JSON text `JSON.stringify` writes; depth counts nested arrays and objects (`{}` is 1 level).
 */
export interface JsonLimitOptions {
  /**
   * Deepest nesting of a task context, step result, metadata or checkpoint (core default 1000,
   * at most 100000). A result nested deeper fails its step permanently (`result_too_deep`); a
   * context nested deeper is refused by `createTask`.
   */
  maxJsonDepth?: number;
  /**
   * Largest task context, in bytes (core default 16777216, 16 MiB; at most 1000000000).
   * `createTask` refuses a larger one.
   */
  maxContextBytes?: number;
}

export interface ResultLimitOptions {
  /**
   * Largest step result, and largest metadata or checkpoint, in bytes (core default 16777216,
   * 16 MiB; at most 1000000000). A larger result fails its step permanently
   * (`result_too_large`).
   */
  maxResultBytes?: number;
}

/** The ranges the core accepts (`JsonLimits::validate` in crates/tasker-domain/src/json.rs). */
const MAX_DEPTH = 100_000;
const MAX_BYTES = 1_000_000_000;

type JsonLimitSettings = Pick<
  NativeEngineOptions,
  'maxJsonDepth' | 'maxContextBytes' | 'maxResultBytes'
>;

/** The limits that are set, checked; throws `InvalidArgumentError` naming the bad option. */
export function resolveJsonLimits(
  options: JsonLimitOptions & ResultLimitOptions,
): JsonLimitSettings {
  const settings: JsonLimitSettings = {};
  const depth = integerInRange('maxJsonDepth', options.maxJsonDepth, MAX_DEPTH);
  if (depth !== undefined) settings.maxJsonDepth = depth;
  const context = integerInRange('maxContextBytes', options.maxContextBytes, MAX_BYTES);
  if (context !== undefined) settings.maxContextBytes = context;
  const result = integerInRange('maxResultBytes', options.maxResultBytes, MAX_BYTES);
  if (result !== undefined) settings.maxResultBytes = result;
  return settings;
}

function integerInRange(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(
      `${name} must be an integer between 1 and ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}
