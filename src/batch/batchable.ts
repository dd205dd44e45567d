import { IsOptional } from 'class-validator';
import { StepContext } from '../context/step-context';
import type { StepHandler } from '../handler/step-handler';
import { StepHandlerResult } from '../handler/step-handler-result';
import { NonEmptyString, PlainObject } from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';
import { BatchProcessingOutcome } from './batch-processing-outcome';
import { BatchWorkerContext } from './batch-worker-context';
import { createCursorConfigs, type CursorConfig } from './cursor-config';

/** A handler class `Batchable` can extend: `StepHandler` or any subclass (`ApiHandler`…). */
export type HandlerBaseClass = (abstract new (...args: any[]) => StepHandler) & {
  readonly capabilities: readonly string[];
};

class OutcomeMetadataArgs {
  @IsOptional()
  @PlainObject()
  metadata!: unknown;
}

class NoBatchesArgs extends OutcomeMetadataArgs {
  @NonEmptyString()
  reason!: unknown;
}

const BATCH_CAPABILITIES = ['batchable', 'batch_processing', 'parallel_execution', 'cursor_based'];

/**
 * Adds batch processing to a handler class: `class X extends Batchable(StepHandler)`,
 * `class Y extends Batchable(ApiHandler)`. The same methods serve the three roles of a batch
 * workflow:
 *
 * - the **analyzer** (`type: batchable`) decides how to split the work and returns
 *   `createBatchesOutcome(...)` or `noBatchesOutcome(...)`;
 * - each **worker** (instances of a `type: batch_worker` template) reads its slice with
 *   `extractCursorContext(ctx)`, returns `handleNoOpWorker(ctx)` when it is the placeholder of a
 *   no-batches outcome, and may save progress with `ctx.saveCheckpoint(...)`;
 * - the **aggregator** (`type: deferred_convergence`) combines them with
 *   `BatchAggregationScenario.detect(...)`.
 *
 * ```ts
 * class AnalyzeCsv extends Batchable(StepHandler) {
 *   static override handlerName = 'Csv.Analyze';
 *   async call(ctx: StepContext) {
 *     const rows = await countRows(ctx.getInput<string>('file'));
 *     if (rows === 0) return this.noBatchesOutcome('empty file');
 *     return this.createBatchesOutcome('process_csv_batch', this.createCursorConfigs(rows, 5), rows);
 *   }
 * }
 * ```
 */
export function Batchable<TBase extends HandlerBaseClass>(Base: TBase) {
  abstract class BatchableHandler extends Base {
    static override capabilities: readonly string[] = [...Base.capabilities, ...BATCH_CAPABILITIES];

    /** See the free function `createCursorConfigs`: 1-based, exclusive end, never empty ranges. */
    createCursorConfigs(totalItems: number, workerCount: number): CursorConfig[] {
      return createCursorConfigs(totalItems, workerCount);
    }

    /**
     * Succeed, fanning out into one worker per cursor config. The result is `metadata` plus
     * `batch_processing_outcome` (`{"outcome_type": "CreateBatches", ...}`), `worker_count` and
     * `total_items`. Throws `ValidationError` naming the field when the configs are empty or
     * invalid (use `noBatchesOutcome` when there is nothing to do).
     */
    createBatchesOutcome<TCursor = number>(
      workerTemplateName: string,
      cursorConfigs: readonly CursorConfig<TCursor>[],
      totalItems: number,
      metadata?: Record<string, unknown>,
    ): StepHandlerResult {
      validateOrThrow(
        Object.assign(new OutcomeMetadataArgs(), { metadata }),
        'Batchable.createBatchesOutcome',
      );
      const outcome = BatchProcessingOutcome.createBatches(
        workerTemplateName,
        cursorConfigs,
        totalItems,
      );
      return StepHandlerResult.success({
        ...metadata,
        batch_processing_outcome: outcome.toJSON(),
        worker_count: outcome.workerCount,
        total_items: outcome.totalItems,
      });
    }

    /**
     * Succeed without fanning out (`{"outcome_type": "NoBatches"}`); the core still runs the
     * no-op placeholder worker and the convergence step. The result is `metadata` plus
     * `batch_processing_outcome` and `reason`.
     */
    noBatchesOutcome(reason: string, metadata?: Record<string, unknown>): StepHandlerResult {
      validateOrThrow(
        Object.assign(new NoBatchesArgs(), { reason, metadata }),
        'Batchable.noBatchesOutcome',
      );
      return StepHandlerResult.success({
        ...metadata,
        batch_processing_outcome: BatchProcessingOutcome.noBatches().toJSON(),
        reason,
      });
    }

    /**
     * Save the cursor and run this step again from it, in the same attempt (tasker-core's
     * checkpoint yield): the worker persists `{cursor, items_processed, accumulated_results}` as
     * the step's checkpoint (renewing its lease) and calls `call` again with a context whose
     * `checkpointCursor`, `checkpointItemsProcessed` and `accumulatedResults` are these. The step
     * stays `in_progress` and uses no attempt. Return it from `call`:
     *
     * ```ts
     * if (row < batch.endCursor) return this.checkpointYield(row, done, { sum });
     * ```
     *
     * Each yield must move the cursor (the same cursor twice in a row fails the step with
     * `checkpoint_error`); an invalid checkpoint fails it permanently, naming the field.
     */
    checkpointYield(
      cursor: unknown,
      itemsProcessed: number,
      accumulatedResults?: Record<string, unknown>,
    ): StepHandlerResult {
      const result: Record<string, unknown> = {
        type: 'checkpoint_yield',
        cursor,
        items_processed: itemsProcessed,
      };
      if (accumulatedResults !== undefined) result.accumulated_results = accumulatedResults;
      return StepHandlerResult.success(result, { checkpoint_yield: true, batch_worker: true });
    }

    /** This worker's slice (see `BatchWorkerContext`). Throws `ValidationError` if it has none. */
    extractCursorContext<TCursor = number>(ctx: StepContext): BatchWorkerContext<TCursor> {
      return BatchWorkerContext.fromStepContext<TCursor>(ctx);
    }

    /**
     * For the no-op placeholder worker of a no-batches outcome: a success result
     * `{batch_id, no_op: true, processed_count: 0}`; for any other worker, `null`.
     *
     * ```ts
     * const noOp = this.handleNoOpWorker(ctx);
     * if (noOp) return noOp;
     * ```
     */
    handleNoOpWorker(source: StepContext | BatchWorkerContext<unknown>): StepHandlerResult | null {
      let noOp: boolean;
      let batchId: string;
      if (source instanceof StepContext) {
        noOp = source.stepInputs.is_no_op === true;
        const cursor = source.stepInputs.cursor as { batch_id?: unknown } | undefined;
        batchId = typeof cursor?.batch_id === 'string' ? cursor.batch_id : '000';
      } else {
        noOp = source.noOp;
        batchId = source.batchId;
      }
      if (!noOp) return null;
      return StepHandlerResult.success({ batch_id: batchId, no_op: true, processed_count: 0 });
    }
  }
  return BatchableHandler;
}
