import { InvalidArgumentError } from '../errors/invalid-argument-error';
import { describeValue } from '../describe-value';

/**
 * A handler's limits, as in a template step (see docs/limits.md): they hold across every worker
 * on the database. The template's snake_case names (`rate_limit`, `per_second`, `limit_key`) are
 * accepted too.
 */
export interface HandlerLimit {
  /** At most this many steps of the handler (per key) in progress at once. */
  concurrency?: number;
  /** At most `perSecond` starts a second on average, `burst` (default `perSecond` rounded up) at once. */
  rateLimit?: { perSecond: number; burst?: number };
  /**
   * One limit per value of the task context: `"customer:{{customer.id}}"`, or a JSONPath such
   * as `"$.customer.id"`.
   */
  limitKey?: string;
}

/** Limits by handler callable (`'Billing.Charge'`), for the steps whose templates set none. */
export type HandlerLimits = Record<string, HandlerLimit>;

/**
 * The `limits` option as the core reads it: JSON with the template's field names (the core
 * checks every field and names the handler and the field in its messages).
 */
export function resolveLimits(limits: unknown): string | undefined {
  if (limits === undefined) return undefined;
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) {
    throw new InvalidArgumentError(
      `limits: expected an object of handler name → limits, got ${describeValue(limits)}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [callable, limit] of Object.entries(limits)) {
    out[callable] = snakeKeys(limit);
  }
  return JSON.stringify(out);
}

/** camelCase keys of plain objects (two levels: a limit and its `rateLimit`) in snake_case. */
function snakeKeys(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || depth > 1) {
    return value;
  }
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
      snakeKeys(v, depth + 1),
    ]),
  );
}
