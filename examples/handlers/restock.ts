/**
 * Step handlers of the example `restock/inventory_restock` workflow
 * (examples/templates/inventory_restock.yaml), the one `npm run demo` runs. The task context:
 *
 * ```json
 * {"api_base_url": "http://127.0.0.1:41234", "request_id": "PR-1001",
 *  "csv_path": "examples/data/inventory.csv", "budget_remaining": 20000}
 * ```
 *
 * Only the steps specific to this workflow are here; the approval steps are those of
 * `approvals/approval_routing` (./approval.ts), and the batch steps extend those of
 * `csv/csv_processing` (./csv.ts).
 *
 * The purchasing API they expect:
 * - `GET /purchase-requests/:id` →
 *   `{"id": "PR-1001", "requester": "ada", "amount": 4750, "supplier": "Northwind Supply"}`
 */
import {
  PermanentError,
  RetryableError,
  StepContext,
  StepHandler,
  ValidationError,
} from '../../src';
import { ExampleApiHandler } from './api';
import type { ExpenseRequest } from './approval';
import { AnalyzeCsv, ProcessCsvBatch, type CsvRow, type RowResult } from './csv';

/** A purchase request as the purchasing API returns it. */
export type PurchaseRequest = {
  id: string;
  requester: string;
  amount: number;
  supplier: string | null;
};

/** The result of `validate`: the request as the approval steps read it, plus its supplier. */
export type ValidatedPurchaseRequest = ExpenseRequest & { supplier: string | null };

/** `GET /purchase-requests/:request_id` (task context `request_id`) → `{request, status}`. */
export class FetchPurchaseRequest extends ExampleApiHandler {
  static override handlerName = 'Restock.FetchRequest';

  async call(ctx: StepContext) {
    const requestId = ctx.getInput<unknown>('request_id');
    if (typeof requestId !== 'string' || requestId.trim() === '') {
      throw new ValidationError('the task context needs a non-empty string request_id');
    }
    const response = await this.get<unknown>(
      ctx,
      `/purchase-requests/${encodeURIComponent(requestId)}`,
    );
    return { request: response.body, status: response.status };
  }
}

/**
 * Checks the fetched request. Its result has the shape of `approvals/approval_routing`'s
 * `validate` (an `ExpenseRequest`), so the approval handlers after it are reused as they are.
 */
export class ValidatePurchaseRequest extends StepHandler {
  static override handlerName = 'Restock.ValidateRequest';

  async call(ctx: StepContext): Promise<ValidatedPurchaseRequest> {
    const body = ctx.getDependencyField('fetch_request', 'request');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new PermanentError(`the purchasing API returned no request: ${JSON.stringify(body)}`);
    }
    const request = body as Partial<Record<keyof PurchaseRequest, unknown>>;
    if (typeof request.id !== 'string' || request.id === '') {
      throw new ValidationError('the purchase request has no id');
    }
    if (typeof request.requester !== 'string' || request.requester === '') {
      throw new ValidationError(`purchase request ${request.id} has no requester`);
    }
    const amount = request.amount;
    if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
      throw new ValidationError(
        `purchase request ${request.id}: amount must be a positive number, got ${JSON.stringify(amount)}`,
      );
    }
    return {
      request_id: request.id,
      requester: request.requester,
      amount,
      supplier: typeof request.supplier === 'string' ? request.supplier : null,
    };
  }
}

/**
 * The batchable step: audit the inventory only for an approved request. A rejected one gets no
 * batches (the core then creates the no-op placeholder worker, and the aggregate is all zeros).
 */
export class AnalyzeInventory extends AnalyzeCsv {
  static override handlerName = 'Restock.AnalyzeInventory';

  override async call(ctx: StepContext) {
    const status = ctx.getDependencyField('finalize', 'status');
    if (status !== 'approved') {
      return this.noBatchesOutcome(`purchase request ${String(status)}`, {
        file: null,
        total_rows: 0,
      });
    }
    return super.call(ctx);
  }
}

/** Rows into its slice at which the simulated failure strikes (after the first checkpoint). */
const SIMULATED_FAILURE_AFTER = 7;

/**
 * A batch worker: the CSV example's, plus an optional simulated failure to show checkpoints at
 * work. When the task context's `fail_batch_once` is this worker's batch id (e.g. `"002"`), its
 * first attempt fails with a retryable error partway through its slice; the retry resumes from
 * the last checkpoint (its result's `resumed_from`), so no row is counted twice.
 */
export class ProcessInventoryBatch extends ProcessCsvBatch {
  static override handlerName = 'Restock.ProcessInventoryBatch';

  #failAtRow: number | null = null;

  override async call(ctx: StepContext) {
    const batch = this.extractCursorContext<number>(ctx);
    this.#failAtRow =
      ctx.retryCount === 0 &&
      !batch.noOp &&
      ctx.getInput<unknown>('fail_batch_once') === batch.batchId
        ? batch.startCursor + SIMULATED_FAILURE_AFTER
        : null;
    return super.call(ctx);
  }

  protected override processRow(ctx: StepContext, row: CsvRow): RowResult | Promise<RowResult> {
    if (row.rowNumber === this.#failAtRow) {
      throw new RetryableError(`connection lost at row ${row.rowNumber}`, {
        errorType: 'simulated_failure',
      });
    }
    return super.processRow(ctx, row);
  }
}

export const restockHandlers = [
  FetchPurchaseRequest,
  ValidatePurchaseRequest,
  AnalyzeInventory,
  ProcessInventoryBatch,
];
