/** Checking the values given on the command line; every problem is one `UsageError` sentence. */
import { FINISHED_TASK_STATES, TASK_STATES, type TaskState } from '../client/task';
import { UsageError } from './exit-codes';

/** States `prune` may delete (a task in any other state is still running). */
export const FINISHED_STATES = FINISHED_TASK_STATES;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseUuid(value: string, what = 'task uuid'): string {
  if (!UUID.test(value)) {
    throw new UsageError(
      `'${value}' is not a ${what} (expected 8-4-4-4-12 hexadecimal digits, ` +
        `e.g. 0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6)`,
    );
  }
  return value.toLowerCase();
}

export function parseTaskState(value: string, option: string, allowed = TASK_STATES): TaskState {
  const state = allowed.find((s) => s === value);
  if (state === undefined) {
    throw new UsageError(`${option} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
  return state;
}

/** A JSON object (`{...}`), for `--context` and `--result`. */
export function parseJsonObject(value: string, option: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new UsageError(`${option} is not valid JSON (${reason}): ${abbreviate(value)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    throw new UsageError(`${option} must be a JSON object ({...}), got ${kind}`);
  }
  return parsed as Record<string, unknown>;
}

/** A whole number within [min, max]. */
export function parseInteger(value: string, option: string, min: number, max: number): number {
  const pattern = min < 0 ? /^-?\d+$/ : /^\d+$/;
  const n = pattern.test(value.trim()) ? Number(value.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${option} must be a whole number from ${min} to ${max}, got '${value}'`);
  }
  return n;
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A duration such as `7d`, `12h`, `30m`, `45s`, `500ms` or `2w`; returns milliseconds. */
export function parseDuration(value: string, option: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(value.trim());
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!match || !Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(
      `${option} must be a duration such as 7d, 12h, 30m, 45s or 500ms (a positive whole ` +
        `number and one of the units ms, s, m, h, d, w), got '${value}'`,
    );
  }
  return ms;
}

export interface TemplateRef {
  namespace: string;
  name: string;
  version?: string;
}

/** `namespace/name` or `namespace/name@version`. */
export function parseTemplateRef(value: string): TemplateRef {
  const match = /^([^/@\s]+)\/([^/@\s]+)(?:@([^/@\s]+))?$/.exec(value);
  if (!match) {
    throw new UsageError(
      `'${value}' is not a task template reference: expected namespace/name or ` +
        `namespace/name@version (e.g. billing/invoice@1.0.0)`,
    );
  }
  const ref: TemplateRef = { namespace: match[1]!, name: match[2]! };
  if (match[3] !== undefined) ref.version = match[3];
  return ref;
}

export function abbreviate(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
