import { IsOptional, ValidateNested } from 'class-validator';
import { describeValue } from '../describe-value';
import type { StepContext } from '../context/step-context';
import {
  Bool,
  Check,
  IntegerAtLeast,
  NonEmptyString,
  PlainObject,
  PresentJson,
  isPlainObject,
} from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';

class CursorInputShape {
  @NonEmptyString()
  batch_id!: unknown;

  @PresentJson()
  start_cursor!: unknown;

  @PresentJson()
  end_cursor!: unknown;

  /** 0 for the no-op placeholder. */
  @IntegerAtLeast(0)
  batch_size!: unknown;
}

class BatchWorkerInputsShape {
  @Check('cursor', (v) =>
    v instanceof CursorInputShape
      ? undefined
      : v === undefined
        ? 'is missing: this step was not created by a batch outcome (is its handler a batch worker?)'
        : `must be an object, got ${describeValue(v)}`,
  )
  @ValidateNested()
  cursor!: unknown;

  @IsOptional()
  @PlainObject()
  batch_metadata!: unknown;

  @IsOptional()
  @Bool()
  is_no_op!: unknown;

  @IsOptional()
  @NonEmptyString()
  __template_step_name!: unknown;
}

/**
 * A batch worker's slice, read from the step inputs the core gave it:
 * `{cursor: {batch_id, start_cursor, end_cursor, batch_size}, batch_metadata, is_no_op,
 * __template_step_name}`. Get it with `extractCursorContext(ctx)` (on a `Batchable` handler) or
 * `BatchWorkerContext.fromStepContext(ctx)`.
 *
 * To resume after a failure, start from `ctx.checkpointCursor ?? batch.startCursor`.
 */
export class BatchWorkerContext<TCursor = number> {
  private constructor(
    readonly batchId: string,
    /** Inclusive. */
    readonly startCursor: TCursor,
    /** Exclusive. */
    readonly endCursor: TCursor,
    readonly batchSize: number,
    /** The placeholder worker of a no-batches outcome: it has nothing to process. */
    readonly noOp: boolean,
    /** The template's `batch_config` details (`cursor_field`, `failure_strategy`). */
    readonly metadata: Readonly<Record<string, unknown>>,
    /** The `batch_worker` template step this worker was created from. */
    readonly templateStepName: string | undefined,
  ) {}

  /** Throws `ValidationError` naming the field when the step inputs are not a batch worker's. */
  static fromStepContext<TCursor = number>(ctx: StepContext): BatchWorkerContext<TCursor> {
    const inputs = ctx.stepInputs;
    const shape = Object.assign(new BatchWorkerInputsShape(), {
      cursor: isPlainObject(inputs.cursor)
        ? Object.assign(new CursorInputShape(), inputs.cursor)
        : inputs.cursor,
      batch_metadata: inputs.batch_metadata,
      is_no_op: inputs.is_no_op,
      __template_step_name: inputs.__template_step_name,
    });
    validateOrThrow(shape, `extractCursorContext: step '${ctx.stepName}' inputs`);
    const cursor = inputs.cursor as Record<string, unknown>;
    return new BatchWorkerContext<TCursor>(
      cursor.batch_id as string,
      cursor.start_cursor as TCursor,
      cursor.end_cursor as TCursor,
      cursor.batch_size as number,
      inputs.is_no_op === true,
      Object.freeze({ ...((inputs.batch_metadata as Record<string, unknown> | undefined) ?? {}) }),
      inputs.__template_step_name as string | undefined,
    );
  }
}
