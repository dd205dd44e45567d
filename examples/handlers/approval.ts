/**
 * Step handlers of the example `approvals/approval_routing` workflow
 * (examples/templates/approval_routing.yaml). The task context is an expense request:
 *
 * ```json
 * {"request_id": "R-1", "requester": "ada", "amount": 2500,
 *  "budget_remaining": 10000, "preapproved_by": null}
 * ```
 *
 * `route` is a decision: under `auto_approve_limit` (1,000) only `auto_approve` is created; at or
 * above it `manager_approval` and `finance_review` are; with `preapproved_by` nothing is (no
 * branches, so `finalize` is never created either). `finalize` sees only the branches that ran.
 * `manager_approval` has no handler: it is a signal step, completed by the manager's answer
 * (an `Approval`, sent with `client.sendSignal`; docs/signals.md).
 */
import { DecisionHandler, StepContext, StepHandler, ValidationError } from '../../src';

export type ExpenseRequest = {
  request_id: string;
  requester: string;
  amount: number;
};

/** One approval step's verdict. */
export type Approval = {
  approved: boolean;
  approver: string;
  reason: string;
};

/** The approval steps `route` may choose, in the order `finalize` reports them. */
export const APPROVAL_STEPS = ['auto_approve', 'manager_approval', 'finance_review'] as const;

/** Checks the request; its result is the request as the other steps read it. */
export class ValidateRequest extends StepHandler {
  static override handlerName = 'Approvals.Validate';

  async call(ctx: StepContext): Promise<ExpenseRequest> {
    const requestId = ctx.getInput<unknown>('request_id');
    const requester = ctx.getInput<unknown>('requester');
    const amount = ctx.getInput<unknown>('amount');
    if (typeof requestId !== 'string' || requestId === '') {
      throw new ValidationError('request_id must be a non-empty string');
    }
    if (typeof requester !== 'string' || requester === '') {
      throw new ValidationError('requester must be a non-empty string');
    }
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
      throw new ValidationError(`amount must be a positive number, got ${JSON.stringify(amount)}`);
    }
    return { request_id: requestId, requester, amount };
  }
}

/** The decision: which approvals this request needs. */
export class RouteRequest extends DecisionHandler {
  static override handlerName = 'Approvals.Route';

  async call(ctx: StepContext) {
    const request = requestOf(ctx);
    const limit = ctx.getConfig<number>('auto_approve_limit') ?? 1000;
    const preapprovedBy = ctx.getInput<unknown>('preapproved_by');
    if (typeof preapprovedBy === 'string' && preapprovedBy !== '') {
      return this.decisionNoBranches({ route: 'preapproved', preapproved_by: preapprovedBy });
    }
    if (request.amount < limit) {
      return this.decisionSuccess('auto_approve', { route: 'auto', amount: request.amount, limit });
    }
    return this.decisionSuccess(['manager_approval', 'finance_review'], {
      route: 'dual',
      amount: request.amount,
      limit,
    });
  }
}

export class AutoApprove extends StepHandler {
  static override handlerName = 'Approvals.AutoApprove';

  async call(ctx: StepContext): Promise<Approval> {
    const { amount } = requestOf(ctx);
    return { approved: true, approver: 'system', reason: `amount ${amount} is under the limit` };
  }
}

/** Finance approves when the remaining budget (task context `budget_remaining`, if any) covers it. */
export class FinanceReview extends StepHandler {
  static override handlerName = 'Approvals.FinanceReview';

  async call(ctx: StepContext): Promise<Approval> {
    const { amount } = requestOf(ctx);
    const budget = ctx.getInput<unknown>('budget_remaining');
    if (typeof budget !== 'number') {
      return { approved: true, approver: 'finance', reason: 'no budget limit' };
    }
    return amount <= budget
      ? { approved: true, approver: 'finance', reason: `within the remaining budget of ${budget}` }
      : {
          approved: false,
          approver: 'finance',
          reason: `exceeds the remaining budget of ${budget}`,
        };
  }
}

/** The convergence: approved when every approval that ran approved. */
export class FinalizeRequest extends StepHandler {
  static override handlerName = 'Approvals.Finalize';

  async call(ctx: StepContext) {
    const request = requestOf(ctx);
    // Branches the decision did not choose were never created: their results are absent (null).
    const approvals = APPROVAL_STEPS.flatMap((step) => {
      const approval = ctx.getDependencyResult(step) as Approval | null;
      return approval === null ? [] : [{ step, ...approval }];
    });
    if (approvals.length === 0) {
      throw new ValidationError('finalize ran without any approval step before it');
    }
    const approved = approvals.every((a) => a.approved);
    return {
      request_id: request.request_id,
      status: approved ? 'approved' : 'rejected',
      route: ctx.getDependencyField('route', 'route'),
      approvals,
    };
  }
}

export const approvalHandlers = [
  ValidateRequest,
  RouteRequest,
  AutoApprove,
  FinanceReview,
  FinalizeRequest,
];

/** The validated request: the result of `validate`, which every step after it lists in its dependencies. */
function requestOf(ctx: StepContext): ExpenseRequest {
  const request = ctx.getDependencyResult('validate') as ExpenseRequest | null;
  if (request === null) throw new ValidationError("no result from 'validate'");
  return request;
}
