import { IsOptional } from 'class-validator';
import { StepHandler } from '../handler/step-handler';
import { StepHandlerResult } from '../handler/step-handler-result';
import { PlainObject } from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';
import { DecisionPointOutcome } from './decision-point-outcome';

class DecisionDataShape {
  @IsOptional()
  @PlainObject()
  resultData!: unknown;

  @IsOptional()
  @PlainObject()
  metadata!: unknown;
}

/**
 * A handler for a `type: decision` step: it chooses which of the decision's descendant steps the
 * task creates. Return `decisionSuccess(...)` or `decisionNoBranches(...)` from `call()`; the
 * step's result then carries `decision_point_outcome`, which the core acts on (creating the named
 * steps, their non-deferred descendants, and any deferred convergence step that depends on them).
 *
 * ```ts
 * class RouteApproval extends DecisionHandler {
 *   static override handlerName = 'Approvals.Route';
 *   async call(ctx: StepContext) {
 *     const amount = ctx.getInputOr('amount', 0);
 *     return amount < 1000
 *       ? this.decisionSuccess('auto_approve', { route: 'auto' })
 *       : this.decisionSuccess(['manager_approval', 'finance_review'], { route: 'dual' });
 *   }
 * }
 * ```
 *
 * Keep decisions deterministic (a retried decision must choose the same steps); templates
 * usually give decision steps `retry: { retryable: false }`.
 */
export abstract class DecisionHandler extends StepHandler {
  static override capabilities: readonly string[] = [
    ...StepHandler.capabilities,
    'decision_point',
    'dynamic_workflow',
    'step_creation',
  ];

  /**
   * Succeed, creating the named step(s). The result is `resultData` plus `decision_point_outcome`
   * (`{"outcome_type": "CreateSteps", "step_names": [...]}`); `metadata` is stored with it, with
   * `decision_handler` and `decision_version` added. Throws `ValidationError` when a name is
   * empty or repeated, or the list is empty.
   */
  decisionSuccess(
    steps: string | readonly string[],
    resultData?: Record<string, unknown>,
    metadata?: Record<string, unknown>,
  ): StepHandlerResult {
    return this.decisionResult(
      DecisionPointOutcome.createSteps(steps),
      resultData,
      metadata,
      'decisionSuccess',
    );
  }

  /** Succeed without creating any step (`{"outcome_type": "NoBranches", "step_names": []}`). */
  decisionNoBranches(
    resultData?: Record<string, unknown>,
    metadata?: Record<string, unknown>,
  ): StepHandlerResult {
    return this.decisionResult(
      DecisionPointOutcome.noBranches(),
      resultData,
      metadata,
      'decisionNoBranches',
    );
  }

  private decisionResult(
    outcome: DecisionPointOutcome,
    resultData: Record<string, unknown> | undefined,
    metadata: Record<string, unknown> | undefined,
    method: string,
  ): StepHandlerResult {
    validateOrThrow(
      Object.assign(new DecisionDataShape(), { resultData, metadata }),
      `DecisionHandler.${method}`,
    );
    return StepHandlerResult.success(
      { ...resultData, decision_point_outcome: outcome.toJSON() },
      { ...metadata, decision_handler: this.name, decision_version: this.version },
    );
  }
}
