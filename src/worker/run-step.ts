import { StepContext } from '../context/step-context';
import { PermanentError } from '../errors/permanent-error';
import { RetryableError } from '../errors/retryable-error';
import type { HandlerRegistry } from '../handler/registry';
import { attachStep, type StepHandlerClass } from '../handler/step-handler';
import { stepLogger, type Logger } from '../logger';
import type { NativeStepEvent, NativeStepResult, StepPayload } from '../native';
import { describeValue } from '../describe-value';
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
  try {
    payload = parseStepPayload(event);
    const logger = stepLogger(deps.logger, {
      taskUuid: payload.task.task_uuid,
      stepUuid: payload.step.step_uuid,
      step: payload.step.name,
      workerId: deps.workerId,
      attempt: (payload.step.attempts ?? 0) + 1,
    });
    ctx = new StepContext(payload, signal, logger, (checkpoint) =>
      deps.checkpoint(event.stepUuid, event.claimId, checkpoint),
    );
  } catch (err) {
    deps.logger.error(
      { taskUuid: event.taskUuid, stepUuid: event.stepUuid, workerId: deps.workerId },
      safeMessage(err),
    );
    return permanentFailure('invalid_payload', safeMessage(err));
  }
  const { around, registry } = deps;
  return around === undefined
    ? handle(ctx, registry)
    : around(payload, () => handle(ctx, registry));
}

async function handle(ctx: StepContext, registry: HandlerRegistry): Promise<MappedResult> {
  const cls = registry.get(ctx.handlerName);
  if (cls === undefined) {
    const message = `no handler is registered under '${ctx.handlerName}' (step '${ctx.stepName}')`;
    ctx.logger.error(message);
    return permanentFailure('handler_not_found', message);
  }

  const outcome = await invoke(cls, ctx);
  const mapped = mapOutcome(outcome, ctx.stepName);
  logOutcome(ctx, outcome, mapped);
  return mapped;
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
