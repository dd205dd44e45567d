import { StepContext } from '../context/step-context';
import { PermanentError } from '../errors/permanent-error';
import { RetryableError } from '../errors/retryable-error';
import type { HandlerRegistry } from '../handler/registry';
import { attachStep, type StepHandlerClass } from '../handler/step-handler';
import { stepLogger, type Logger } from '../logger';
import type { NativeStepEvent, NativeStepResult, StepPayload } from '../native';
import { describeValue } from '../describe-value';
import { checkpointJson } from '../context/checkpoint';
import { ValidationError } from '../errors/validation-error';
import { checkpointYieldOf } from './checkpoint-yield';
import { parseStepPayload } from './dispatch';
import {
  isError,
  mapOutcome,
  permanentFailure,
  type MappedResult,
  type StepOutcome,
} from './result-mapping';

export interface StepRunnerDeps {
  registry: HandlerRegistry;
  /** Must not throw (see `safeLogger`). */
  logger: Logger;
  /** Persists a step's checkpoint (`NativeWorker.checkpoint`). */
  checkpoint: (stepUuid: string, claimId: string, checkpoint: string) => Promise<boolean>;
  /** Added to the fields of the step's log lines. */
  workerId: string;
  /**
   * Runs the handler (given as `handle`) for the step of `payload`, e.g. inside a span. Must not
   * reject unless `handle` does.
   */
  around?: <T>(payload: StepPayload, handle: () => Promise<T>) => Promise<T>;
}

/**
 * Run one claimed step to a result. Never rejects: whatever goes wrong becomes a failure result,
 * because an exception escaping here would be lost (and the step left to its lease).
 */
export async function runStep(
  event: NativeStepEvent,
  signal: AbortSignal,
  deps: StepRunnerDeps,
): Promise<NativeStepResult> {
  const startedAt = performance.now();
  const finish = (mapped: MappedResult): NativeStepResult => ({
    stepUuid: event.stepUuid,
    claimId: event.claimId,
    ...mapped,
    durationMs: Math.max(0, performance.now() - startedAt),
  });
  try {
    return finish(await execute(event, signal, deps));
  } catch (err) {
    // Unreachable unless something very odd was thrown (e.g. a getter that throws on `message`).
    deps.logger.error(
      { taskUuid: event.taskUuid, stepUuid: event.stepUuid, workerId: deps.workerId, err },
      `internal error while running step ${event.stepUuid}`,
    );
    return finish({
      success: false,
      error: {
        message: `tasker-node failed while running the step: ${safeMessage(err)}`,
        errorType: 'internal_error',
        retryable: true,
      },
    });
  }
}

async function execute(
  event: NativeStepEvent,
  signal: AbortSignal,
  deps: StepRunnerDeps,
): Promise<MappedResult> {
  let ctx: StepContext;
  let payload: StepPayload;
  let resume: (checkpoint: Record<string, unknown>) => StepContext;
  try {
    const parsed = parseStepPayload(event);
    payload = parsed;
    const logger = stepLogger(deps.logger, {
      taskUuid: payload.task.task_uuid,
      correlationId: payload.task.correlation_id ?? payload.task.task_uuid,
      stepUuid: payload.step.step_uuid,
      step: payload.step.name,
      workerId: deps.workerId,
      attempt: (payload.step.attempts ?? 0) + 1,
    });
    const writer = (checkpoint: string) =>
      deps.checkpoint(event.stepUuid, event.claimId, checkpoint);
    ctx = new StepContext(payload, signal, logger, writer);
    // After a checkpoint yield: the same step, resuming from the checkpoint just saved.
    resume = (checkpoint) =>
      new StepContext({ ...parsed, step: { ...parsed.step, checkpoint } }, signal, logger, writer);
  } catch (err) {
    deps.logger.error(
      { taskUuid: event.taskUuid, stepUuid: event.stepUuid, workerId: deps.workerId },
      safeMessage(err),
    );
    return permanentFailure('invalid_payload', safeMessage(err));
  }
  const { around, registry } = deps;
  return around === undefined
    ? handle(ctx, registry, resume)
    : around(payload, () => handle(ctx, registry, resume));
}

async function handle(
  first: StepContext,
  registry: HandlerRegistry,
  resume: (checkpoint: Record<string, unknown>) => StepContext,
): Promise<MappedResult> {
  const cls = registry.get(first.handlerName);
  if (cls === undefined) {
    const message = `no handler is registered under '${first.handlerName}' (step '${first.stepName}')`;
    first.logger.error(message);
    return permanentFailure('handler_not_found', message);
  }

  let ctx = first;
  let lastCursor: string | undefined;
  for (;;) {
    const outcome = await invoke(cls, ctx);
    const yielded = checkpointYieldOf(outcome);
    if (yielded === undefined) {
      const mapped = mapOutcome(outcome, ctx.stepName);
      logOutcome(ctx, outcome, mapped);
      return mapped;
    }
    // A checkpoint yield: save the cursor, then run the handler again from it.
    const cursor = JSON.stringify(yielded.cursor);
    if (cursor === lastCursor) {
      const message =
        `step '${ctx.stepName}' yielded at cursor ${cursor} twice in a row: a checkpoint yield ` +
        'must move the cursor forward';
      ctx.logger.warn(message);
      return permanentFailure('checkpoint_error', message);
    }
    lastCursor = cursor;
    const input = {
      cursor: yielded.cursor,
      itemsProcessed: yielded.itemsProcessed as number,
      accumulatedResults: yielded.accumulatedResults as Record<string, unknown> | undefined,
    };
    let saved: string;
    try {
      // Checked (ValidationError naming the field), then persisted under this attempt's claim.
      saved = checkpointJson(input);
      await ctx.saveCheckpoint(input);
    } catch (err) {
      const message = `checkpoint yield of step '${ctx.stepName}' failed: ${safeMessage(err)}`;
      ctx.logger.warn(message);
      return {
        success: false,
        error: {
          message,
          errorType: 'checkpoint_error',
          retryable: !(err instanceof ValidationError),
        },
      };
    }
    if (ctx.signal.aborted) {
      return {
        success: false,
        error: {
          message: `step '${ctx.stepName}' was aborted after a checkpoint yield`,
          errorType: 'aborted',
          retryable: true,
        },
      };
    }
    ctx.logger.debug({ cursor: yielded.cursor }, 'checkpoint yield saved; running the step again');
    ctx = resume(JSON.parse(saved) as Record<string, unknown>);
  }
}

async function invoke(cls: StepHandlerClass, ctx: StepContext): Promise<StepOutcome> {
  try {
    const handler = new cls();
    attachStep(handler, ctx);
    return { kind: 'returned', value: await handler.call(ctx) };
  } catch (error) {
    return { kind: 'threw', error };
  }
}

function logOutcome(ctx: StepContext, outcome: StepOutcome, mapped: MappedResult): void {
  if (mapped.success) {
    ctx.logger.debug('step succeeded');
    return;
  }
  const { message, errorType, retryable } = mapped.error ?? {};
  const fields: Record<string, unknown> = { errorType, retryable };
  // Failures the handler chose (a failure result, a typed error) are routine; anything else
  // (an unexpected exception, an unserializable result) is worth a warning.
  const expected =
    errorType !== 'serialization_error' &&
    (outcome.kind === 'returned' ||
      outcome.error instanceof PermanentError ||
      outcome.error instanceof RetryableError);
  if (expected) {
    ctx.logger.info(fields, `step failed: ${message}`);
  } else {
    if (outcome.kind === 'threw' && isError(outcome.error)) fields.stack = outcome.error.stack;
    ctx.logger.warn(fields, `step failed: ${message}`);
  }
}

function safeMessage(err: unknown): string {
  try {
    return isError(err) ? err.message : describeValue(err);
  } catch {
    return describeValue(err);
  }
}
