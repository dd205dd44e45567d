import { describeValue } from '../describe-value';
import { InvalidArgumentError } from '../errors/invalid-argument-error';

/**
 * Who and what a task is for (docs/task-metadata.md). Every field is optional. The core checks
 * the limits (lengths, characters, how many tags) for every caller; this side checks the types.
 */
export interface TaskMetadataOptions {
  /**
   * Ties the task to the request, message or job it belongs to; handlers see it as
   * `ctx.correlationId`. Default: a new UUID v7. At most 128 characters, no control characters.
   */
  correlationId?: string;
  /** The correlation id of the work that caused this task (at most 128 characters). */
  parentCorrelationId?: string;
  /** Who asked for the task: a user, a service account (at most 255 characters). */
  initiator?: string;
  /** Which system asked for it (at most 255 characters). */
  sourceSystem?: string;
  /** Why it was created (at most 1000 characters; line breaks allowed). */
  reason?: string;
  /**
   * Labels to find the task by (`listTasks({ tags })`): at most 32 distinct tags of 1 to 64
   * characters without whitespace. Repeats are dropped.
   */
  tags?: string[];
}

/** A task's metadata as a handler sees it (`ctx.taskMetadata`). */
export interface TaskMetadata {
  correlationId: string;
  parentCorrelationId: string | null;
  initiator: string | null;
  sourceSystem: string | null;
  reason: string | null;
  /** Distinct, in the order given; `[]` without any. */
  tags: readonly string[];
}

/** The metadata fields the core takes, in its form. */
export interface NativeTaskMetadata {
  correlationId?: string;
  parentCorrelationId?: string;
  initiator?: string;
  sourceSystem?: string;
  reason?: string;
  tags?: string[];
}

const TEXT_FIELDS = [
  'correlationId',
  'parentCorrelationId',
  'initiator',
  'sourceSystem',
  'reason',
] as const;

/** The metadata of `options` for the core; throws `InvalidArgumentError` naming the field. */
export function toNativeMetadata(options: TaskMetadataOptions): NativeTaskMetadata {
  const native: NativeTaskMetadata = {};
  for (const field of TEXT_FIELDS) {
    const value: unknown = options[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') {
      throw new InvalidArgumentError(
        `${field} must be a non-empty string, got ${describeValue(value)}`,
      );
    }
    native[field] = value;
  }
  if (options.tags !== undefined) native.tags = toTags('tags', options.tags);
  return native;
}

/** `value` as a list of tags (strings); throws `InvalidArgumentError` naming `field`. */
export function toTags(field: string, value: unknown): string[] {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(
      `${field} must be an array of strings, got ${describeValue(value)}`,
    );
  }
  value.forEach((tag: unknown, i) => {
    if (typeof tag !== 'string') {
      throw new InvalidArgumentError(`${field}[${i}] must be a string, got ${describeValue(tag)}`);
    }
  });
  return value as string[];
}
