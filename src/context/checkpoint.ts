import { IsOptional } from 'class-validator';
import {
  Check,
  IntegerAtLeast,
  PresentJson,
  isPlainObject,
  jsonProblem,
} from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';
import { describeValue } from '../describe-value';
import { ValidationError } from '../errors/validation-error';

/** What a batch worker saves with `ctx.saveCheckpoint()`. */
export interface CheckpointInput {
  /** Where to resume: the first item not yet processed (any JSON value but `null`). */
  cursor: unknown;
  /** Items processed so far in this step (all attempts). */
  itemsProcessed: number;
  /** Partial results to carry over to a retried attempt (a JSON object). */
  accumulatedResults?: Record<string, unknown>;
}

/** The stored form (snake_case), as a retried attempt receives it in `ctx.checkpoint`. */
export interface CheckpointJson {
  cursor: unknown;
  items_processed: number;
  accumulated_results?: Record<string, unknown>;
}

/** Persists a checkpoint of the running attempt; resolves `false` when its claim is no longer current. */
export type CheckpointWriter = (checkpointJson: string) => Promise<boolean>;

class CheckpointShape {
  @PresentJson()
  cursor!: unknown;

  @IntegerAtLeast(0)
  itemsProcessed!: unknown;

  @IsOptional()
  @Check('jsonObject', (v) =>
    isPlainObject(v) ? jsonProblem(v) : `must be an object, got ${describeValue(v)}`,
  )
  accumulatedResults!: unknown;
}

/** Check a checkpoint and serialize it; throws `ValidationError` naming the field. */
export function checkpointJson(input: CheckpointInput): string {
  const data: unknown = input;
  if (!isPlainObject(data)) {
    throw new ValidationError(
      `saveCheckpoint: expected {cursor, itemsProcessed, accumulatedResults?}, got ${describeValue(data)}`,
    );
  }
  const { cursor, itemsProcessed, accumulatedResults } = input;
  validateOrThrow(
    Object.assign(new CheckpointShape(), { cursor, itemsProcessed, accumulatedResults }),
    'saveCheckpoint',
  );
  const json: CheckpointJson = { cursor, items_processed: itemsProcessed };
  if (accumulatedResults !== undefined && accumulatedResults !== null) {
    json.accumulated_results = accumulatedResults;
  }
  return JSON.stringify(json);
}
