/**
 * Checkpoint yields (tasker-core TAS-125): a batch worker returns `checkpointYield(…)` to save
 * its cursor and be run again from it, in the same attempt, holding the same claim. The worker
 * persists the checkpoint (which renews the lease) and calls the handler again with a context
 * whose `checkpoint` is the one just saved; the step stays `in_progress` and no attempt is used.
 */
import { StepHandlerResult } from '../handler/step-handler-result';
import { isPlainObject } from '../validation/constraints';
import type { StepOutcome } from './result-mapping';

/** What a yield asks for, in `saveCheckpoint`'s terms. */
export interface CheckpointYield {
  cursor: unknown;
  itemsProcessed: unknown;
  accumulatedResults?: unknown;
}

/**
 * Whether a handler's outcome is a checkpoint yield: a success result with
 * `metadata.checkpoint_yield === true` (what `checkpointYield` and tasker-core's handlers return),
 * whose result holds `cursor`, `items_processed` and `accumulated_results`.
 */
export function checkpointYieldOf(outcome: StepOutcome): CheckpointYield | undefined {
  if (outcome.kind !== 'returned') return undefined;
  const value = outcome.value;
  if (!(value instanceof StepHandlerResult) || !value.success) return undefined;
  const metadata: unknown = value.metadata;
  if (!isPlainObject(metadata) || metadata.checkpoint_yield !== true) return undefined;
  const result: Record<string, unknown> = isPlainObject(value.result) ? value.result : {};
  const yielded: CheckpointYield = {
    cursor: result.cursor,
    itemsProcessed: result.items_processed,
  };
  if (result.accumulated_results !== undefined) {
    yielded.accumulatedResults = result.accumulated_results;
  }
  return yielded;
}
