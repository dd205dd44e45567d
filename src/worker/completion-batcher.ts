import { ClosedError } from '../errors/closed-error';
import type { Logger } from '../logger';
import type { NativeStepResult } from '../native';
import { describeValue } from '../describe-value';
import { isError } from './result-mapping';

/**
 * Collects the step results produced in one turn of the event loop and reports them with one
 * `complete()` call. If the addon rejects a batch, each result is retried alone, and a result
 * it still rejects is replaced by a primitive-only failure so the step is not left hanging.
 * Never throws.
 */
export class CompletionBatcher {
  private pending: NativeStepResult[] = [];
  private scheduled = false;

  constructor(
    private readonly send: (results: NativeStepResult[]) => void,
    private readonly logger: Logger,
  ) {}

  add(result: NativeStepResult): void {
    this.pending.push(result);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Report everything collected so far (also called on shutdown). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const err = this.trySend(batch);
    if (err === undefined) return;
    if (err instanceof ClosedError) {
      this.logger.warn({}, `${batch.length} step result(s) not reported: ${err.message}`);
      return;
    }
    if (batch.length === 1) this.sendAlone(batch[0], err);
    else for (const result of batch) this.sendAlone(result, this.trySend([result]));
  }

  private sendAlone(result: NativeStepResult, err: unknown): void {
    if (err === undefined) return;
    if (err instanceof ClosedError) {
      this.logger.warn(
        { stepUuid: result.stepUuid },
        `result of step ${result.stepUuid} not reported: ${err.message}`,
      );
      return;
    }
    const reason = isError(err) ? err.message : describeValue(err);
    this.logger.error(
      { stepUuid: result.stepUuid },
      `the core rejected the result of step ${result.stepUuid}: ${reason}`,
    );
    const fallback: NativeStepResult = {
      stepUuid: result.stepUuid,
      claimId: result.claimId,
      success: false,
      error: {
        message: `the step's result could not be reported: ${reason}`,
        errorType: 'completion_error',
        retryable: false,
      },
      durationMs: result.durationMs,
    };
    const again = this.trySend([fallback]);
    if (again !== undefined) {
      this.logger.error(
        { stepUuid: result.stepUuid, err: again },
        `result of step ${result.stepUuid} lost; its lease will expire`,
      );
    }
  }

  /** The error `send` threw, or `undefined` if it succeeded. */
  private trySend(results: NativeStepResult[]): unknown {
    try {
      this.send(results);
      return undefined;
    } catch (err) {
      return err ?? new Error('complete() threw undefined');
    }
  }
}
