import { StepContext } from '../context/step-context';
import { PermanentError } from '../errors/permanent-error';
import { RetryableError } from '../errors/retryable-error';
import type { HandlerRegistry } from '../handler/registry';
import type { StepHandlerClass } from '../handler/step-handler';
import { prefixedLogger, type Logger } from '../logger';
import type { NativeStepEvent, NativeStepResult } from '../native';
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
    deps.logger.error(`internal error while running step ${event.stepUuid}`, { error: err });
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
  try {
    const payload = parseStepPayload(event);
    const logger = prefixedLogger(
      deps.logger,
      `[task ${payload.task.task_uuid} step ${payload.step.name}]`,
    );
    ctx = new StepContext(payload, signal, logger, (checkpoint) =>
      deps.checkpoint(event.stepUuid, event.claimId, checkpoint),
    );
  } catch (err) {
    deps.logger.error(safeMessage(err));
    return permanentFailure('invalid_payload', safeMessage(err));
  }

  const cls = deps.registry.get(ctx.handlerName);
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
    ctx.logger.info(`step failed: ${message}`, fields);
  } else {
    if (outcome.kind === 'threw' && isError(outcome.error)) fields.stack = outcome.error.stack;
    ctx.logger.warn(`step failed: ${message}`, fields);
  }
}

function safeMessage(err: unknown): string {
  try {
    return isError(err) ? err.message : describeValue(err);
  } catch {
    return describeValue(err);
  }
}
