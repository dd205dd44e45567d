/**
 * Step handlers of the example `csv/csv_processing` workflow (examples/templates/csv_processing.yaml):
 * validate an inventory CSV in parallel batches and total its stock.
 *
 * The task context names the file: `{"csv_path": "examples/data/inventory.csv"}` (a relative path
 * is resolved against the worker's working directory). The file has a header line with at least
 * `sku`, `quantity` and `unit_price`, then one record per line (fields may be double-quoted, with
 * `""` for a quote; a record may not span lines). Rows are numbered from 1 after the header;
 * blank lines are not rows.
 *
 * - `Csv.Analyze` counts the rows and fans out: one worker per `batch_size` rows (at most
 *   `max_workers`), or the no-op placeholder for an empty file.
 * - `Csv.ProcessBatch` validates its rows (`quantity` a whole number >= 0, `unit_price` a price
 *   >= 0 with at most two decimals), totals the valid ones, and saves a checkpoint every
 *   `checkpoint_interval` rows; a retried attempt resumes from the last checkpoint with the totals
 *   saved in it, so a row before the checkpoint is never counted twice.
 * - `Csv.Aggregate` combines the workers' totals.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import {
  Batchable,
  BatchAggregationScenario,
  PermanentError,
  StepContext,
  StepHandler,
  ValidationError,
  type BatchWorkerContext,
} from '../../src';

/** Columns a file must have. */
export const REQUIRED_COLUMNS = ['sku', 'quantity', 'unit_price'] as const;

/** One data row: its 1-based number and its fields by column name. */
export interface CsvRow {
  rowNumber: number;
  values: Record<string, string>;
}

/** What processing one row gave. */
export type RowResult =
  | { ok: true; sku: string; quantity: number; valueCents: number }
  | { ok: false; sku: string; reason: string };

/** An invalid row, as reported in `errors`. */
export interface RowError {
  row: number;
  sku: string;
  reason: string;
}

/** A worker's running totals: its result's counts, and what its checkpoints carry. */
export type BatchTotals = {
  items_processed: number;
  items_succeeded: number;
  items_failed: number;
  total_quantity: number;
  value_cents: number;
  errors: RowError[];
};

/** At most this many row errors are kept per worker (`items_failed` still counts them all). */
const MAX_ERRORS_PER_WORKER = 50;

// ---------------------------------------------------------------------------------------------
// Handlers

/** The batchable step: count the rows and split them among workers. */
export class AnalyzeCsv extends Batchable(StepHandler) {
  static override handlerName = 'Csv.Analyze';

  async call(ctx: StepContext) {
    const file = csvPath(ctx);
    const workerTemplate = ctx.getConfig<string>('worker_template_name') ?? 'process_csv_batch';
    const batchSize = positiveInteger(ctx, 'batch_size', 100);
    const maxWorkers = positiveInteger(ctx, 'max_workers', 10);

    const { columns, rows } = await countCsvRows(file);
    if (rows === 0) {
      return this.noBatchesOutcome('empty_file', { file, columns, total_rows: 0 });
    }
    const workers = Math.min(maxWorkers, Math.ceil(rows / batchSize));
    const cursorConfigs = this.createCursorConfigs(rows, workers);
    return this.createBatchesOutcome(workerTemplate, cursorConfigs, rows, {
      file,
      columns,
      total_rows: rows,
    });
  }
}

/** A batch worker: rows `[start_cursor, end_cursor)` of the file, resumable from a checkpoint. */
export class ProcessCsvBatch extends Batchable(StepHandler) {
  static override handlerName = 'Csv.ProcessBatch';

  async call(ctx: StepContext) {
    const noOp = this.handleNoOpWorker(ctx);
    if (noOp) return noOp;

    const batch = this.extractCursorContext<number>(ctx);
    const file = csvPath(ctx);
    const interval = positiveInteger(ctx, 'checkpoint_interval', 0, true);
    const resumeFrom = resumeCursor(ctx, batch);
    const totals = resumeFrom === batch.startCursor ? emptyTotals() : savedTotals(ctx);

    let sinceCheckpoint = 0;
    let next = resumeFrom;
    for await (const row of readCsvRows(file, resumeFrom, batch.endCursor)) {
      ctx.signal.throwIfAborted();
      tally(totals, row.rowNumber, await this.processRow(ctx, row));
      next = row.rowNumber + 1;
      sinceCheckpoint += 1;
      if (interval > 0 && sinceCheckpoint >= interval && next < batch.endCursor) {
        await ctx.saveCheckpoint({
          cursor: next,
          itemsProcessed: totals.items_processed,
          accumulatedResults: totals,
        });
        sinceCheckpoint = 0;
      }
    }
    if (next !== batch.endCursor) {
      throw new PermanentError(
        `${file} has fewer rows than analyzed: batch ${batch.batchId} expected rows ` +
          `${batch.startCursor}..${batch.endCursor - 1}, the file ends after row ${next - 1}`,
        { errorType: 'file_changed' },
      );
    }
    return {
      batch_id: batch.batchId,
      start_cursor: batch.startCursor,
      end_cursor: batch.endCursor,
      resumed_from: resumeFrom === batch.startCursor ? null : resumeFrom,
      ...totals,
      items_skipped: 0,
      inventory_value: totals.value_cents / 100,
    };
  }

  /**
   * Validate one row and compute its stock value. Invalid data is reported, not thrown: the row
   * counts as failed and the batch goes on. Override to do more per row (keep it idempotent: rows
   * after the last checkpoint are processed again on retry).
   */
  protected processRow(_ctx: StepContext, row: CsvRow): RowResult | Promise<RowResult> {
    const sku = (row.values.sku ?? '').trim();
    if (sku === '') return { ok: false, sku, reason: 'sku is empty' };
    const quantityText = (row.values.quantity ?? '').trim();
    if (!/^\d+$/.test(quantityText)) {
      return {
        ok: false,
        sku,
        reason: `quantity must be a whole number >= 0, got '${quantityText}'`,
      };
    }
    const priceCents = parseCents(row.values.unit_price ?? '');
    if (priceCents === undefined) {
      return {
        ok: false,
        sku,
        reason: `unit_price must be a price >= 0, got '${(row.values.unit_price ?? '').trim()}'`,
      };
    }
    const quantity = Number(quantityText);
    return { ok: true, sku, quantity, valueCents: quantity * priceCents };
  }
}

/** The convergence step: combine the workers' results. */
export class AggregateCsv extends Batchable(StepHandler) {
  static override handlerName = 'Csv.Aggregate';

  async call(ctx: StepContext) {
    const batchableStep = ctx.getConfig<string>('batchable_step') ?? 'analyze_csv';
    const workerTemplate = ctx.getConfig<string>('worker_template') ?? 'process_csv_batch';
    const scenario = BatchAggregationScenario.detect(ctx, batchableStep, workerTemplate);
    let totalQuantity = 0;
    let valueCents = 0;
    for (const result of Object.values(scenario.workerResults)) {
      const r = result as Partial<BatchTotals>;
      totalQuantity += r.total_quantity ?? 0;
      valueCents += r.value_cents ?? 0;
    }
    return {
      ...scenario.aggregate(),
      file: scenario.batchableResult.file ?? null,
      total_rows: scenario.batchableResult.total_rows ?? 0,
      total_quantity: totalQuantity,
      inventory_value: valueCents / 100,
    };
  }
}

export const csvHandlers = [AnalyzeCsv, ProcessCsvBatch, AggregateCsv];

// ---------------------------------------------------------------------------------------------
// Reading CSV files

/** Split one CSV record into fields (RFC 4180 quoting, within one line). */
export function parseCsvLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') {
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else {
      field += ch;
    }
  }
  fields.push(field);
  return fields;
}

/** The file's columns (checked) and how many data rows it has. */
export async function countCsvRows(file: string): Promise<{ columns: string[]; rows: number }> {
  let columns: string[] | undefined;
  let rows = 0;
  for await (const line of csvLines(file)) {
    if (columns === undefined) columns = checkHeader(file, line);
    else rows += 1;
  }
  return { columns: columns ?? checkHeader(file, ''), rows };
}

/** Rows `from` (inclusive) to `to` (exclusive), by 1-based row number; stops reading at `to`. */
export async function* readCsvRows(file: string, from: number, to: number): AsyncGenerator<CsvRow> {
  let columns: string[] | undefined;
  let rowNumber = 0;
  for await (const line of csvLines(file)) {
    if (columns === undefined) {
      columns = checkHeader(file, line);
      continue;
    }
    rowNumber += 1;
    if (rowNumber < from) continue;
    if (rowNumber >= to) return;
    const fields = parseCsvLine(line);
    const values: Record<string, string> = {};
    columns.forEach((name, i) => {
      values[name] = fields[i] ?? '';
    });
    yield { rowNumber, values };
  }
}

/** The non-blank lines of a file, streamed; the file is closed when the caller stops early. */
async function* csvLines(file: string): AsyncGenerator<string> {
  const stream = fs.createReadStream(file, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    stream.destroy();
    const code = (err as NodeJS.ErrnoException).code;
    throw new PermanentError(`cannot read ${file}: ${(err as Error).message}`, {
      errorType: code === 'ENOENT' ? 'file_not_found' : 'file_unreadable',
    });
  }
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.trim() !== '') yield line;
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

function checkHeader(file: string, line: string): string[] {
  const columns = parseCsvLine(line.replace(/^\uFEFF/, '')).map((c) => c.trim());
  const missing = REQUIRED_COLUMNS.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new PermanentError(
      `${file}: the header must name the columns ${REQUIRED_COLUMNS.join(', ')}; ` +
        `missing ${missing.join(', ')} (header: '${line}')`,
      { errorType: 'invalid_csv_header' },
    );
  }
  return columns;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The task context's `csv_path`, resolved against the working directory. */
function csvPath(ctx: StepContext): string {
  const file = ctx.getInput<unknown>('csv_path');
  if (typeof file !== 'string' || file.trim() === '') {
    throw new ValidationError('the task context needs csv_path, the path of the CSV file');
  }
  return path.resolve(file);
}

function positiveInteger(ctx: StepContext, key: string, fallback: number, zeroOk = false): number {
  const value = ctx.getConfig<unknown>(key);
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (zeroOk ? 0 : 1)) {
    throw new ValidationError(
      `handler.initialization.${key} must be an integer >= ${zeroOk ? 0 : 1}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Where this attempt starts: the checkpoint's cursor when it lies inside the batch. */
function resumeCursor(ctx: StepContext, batch: BatchWorkerContext<number>): number {
  const cursor = ctx.checkpointCursor;
  if (cursor === null) return batch.startCursor;
  if (
    typeof cursor !== 'number' ||
    !Number.isInteger(cursor) ||
    cursor < batch.startCursor ||
    cursor > batch.endCursor
  ) {
    throw new PermanentError(
      `checkpoint cursor ${JSON.stringify(cursor)} is outside batch ${batch.batchId} ` +
        `(${batch.startCursor}..${batch.endCursor})`,
      { errorType: 'invalid_checkpoint' },
    );
  }
  return cursor;
}

function emptyTotals(): BatchTotals {
  return {
    items_processed: 0,
    items_succeeded: 0,
    items_failed: 0,
    total_quantity: 0,
    value_cents: 0,
    errors: [],
  };
}

/** The totals saved with the checkpoint this attempt resumes from. */
function savedTotals(ctx: StepContext): BatchTotals {
  const saved = ctx.accumulatedResults as Partial<BatchTotals> | null;
  const totals = emptyTotals();
  if (saved === null) {
    throw new PermanentError('the checkpoint has no accumulated results to resume from', {
      errorType: 'invalid_checkpoint',
    });
  }
  for (const key of [
    'items_processed',
    'items_succeeded',
    'items_failed',
    'total_quantity',
    'value_cents',
  ] as const) {
    const value = saved[key];
    totals[key] = typeof value === 'number' ? value : 0;
  }
  totals.errors = Array.isArray(saved.errors) ? saved.errors : [];
  return totals;
}

function tally(totals: BatchTotals, row: number, result: RowResult): void {
  totals.items_processed += 1;
  if (result.ok) {
    totals.items_succeeded += 1;
    totals.total_quantity += result.quantity;
    totals.value_cents += result.valueCents;
  } else {
    totals.items_failed += 1;
    if (totals.errors.length < MAX_ERRORS_PER_WORKER) {
      totals.errors.push({ row, sku: result.sku, reason: result.reason });
    }
  }
}

/** `12`, `12.5`, `12.50` → cents; anything else → `undefined`. */
function parseCents(text: string): number | undefined {
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (match === null) return undefined;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}
