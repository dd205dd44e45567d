import * as path from 'path';
import { describeValue } from '../describe-value';
import { InvalidArgumentError } from '../errors/invalid-argument-error';

/**
 * A schedule: at each fire time of `cron` (in `timezone`), one task of `task` is created with
 * `context`, whatever number of workers define the schedule. See docs/schedules.md.
 */
export interface ScheduleDefinition {
  /** Unique across the database; the task's idempotency key is `schedule:<name>:<fire time>`. */
  name: string;
  /**
   * A cron expression: 5 fields (`minute hour day-of-month month day-of-week`, e.g.
   * `'*\/5 * * * *'`), or 6 with seconds first.
   */
  cron: string;
  /** An IANA time zone name such as `'Europe/Berlin'`. Default `'UTC'`. */
  timezone?: string;
  /** The task template each fire time creates (`version` default `1.0.0`). */
  task: { namespace: string; name: string; version?: string };
  /** The context of every task it creates: a plain, JSON-serializable object. Default `{}`. */
  context?: Record<string, unknown>;
  /**
   * Fire times that passed while no worker with this schedule ran: `'latest'` (default) runs
   * the latest of them once, `'skip'` runs none that is more than a minute late, `'all'` runs
   * each of them (at most the latest 100).
   */
  missed?: 'latest' | 'skip' | 'all';
}

/** A stored schedule, as `client.listSchedules()` returns it. Times are ISO 8601 (UTC). */
export interface Schedule {
  name: string;
  cron: string;
  timezone: string;
  task: { namespace: string; name: string; version: string };
  context: Record<string, unknown>;
  missed: 'latest' | 'skip' | 'all';
  /** The latest fire time handled (a task created for it, or skipped); `null` before the first. */
  lastFireAt: string | null;
  /** `null` when the expression has no next fire time. */
  nextFireAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/**
 * The `schedules` option as the core reads it (JSON of the list; the core checks every field
 * and names the schedule and the field in its messages), and the `schedulesPath` files.
 */
export function resolveSchedules(
  schedules: unknown,
  schedulesPath: unknown,
): { json: string | undefined; paths: string[] } {
  let json: string | undefined;
  if (schedules !== undefined) {
    if (!Array.isArray(schedules)) {
      throw new InvalidArgumentError(
        `schedules: expected a list of schedule definitions, got ${describeValue(schedules)}`,
      );
    }
    try {
      json = JSON.stringify(schedules);
    } catch (err) {
      throw new InvalidArgumentError(
        `schedules: cannot be serialized to JSON (${(err as Error).message})`,
      );
    }
  }
  const list = typeof schedulesPath === 'string' ? [schedulesPath] : schedulesPath;
  if (
    list !== undefined &&
    (!Array.isArray(list) || !list.every((p): p is string => typeof p === 'string' && p !== ''))
  ) {
    throw new InvalidArgumentError(
      'schedulesPath: expected the path of a YAML schedules file, or an array of them',
    );
  }
  return { json, paths: (list ?? []).map((p) => path.resolve(p)) };
}
