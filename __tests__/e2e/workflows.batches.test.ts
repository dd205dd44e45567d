/**
 * Batch processing end to end, with the example `csv/csv_processing` workflow
 * (examples/templates/csv_processing.yaml) and its handlers on examples/data/inventory.csv: the
 * analyzer fans out into one worker per slice of rows, every row is processed exactly once, the
 * convergence step combines the workers, an empty file takes the no-op placeholder path, and a
 * worker that fails mid-range resumes from its last checkpoint.
 *
 * inventory.csv: 50 rows; rows 12, 27 and 39 are invalid; the 47 valid rows hold 2,612 items
 * worth 478,493.35. With `batch_size: 15` the analyzer makes ceil(50 / 15) = 4 workers of
 * ceil(50 / 4) = 13 rows: [1,14) [14,27) [27,40) [40,51).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  AggregateCsv,
  AnalyzeCsv,
  ProcessCsvBatch,
  csvHandlers,
  type CsvRow,
  type RowResult,
} from '../../examples/handlers/csv';
import {
  RetryableError,
  StepContext,
  type StepHandlerClass,
  type Task,
  type TaskerClient,
} from '../../src/index';
import {
  EXAMPLES,
  ExecutionLog,
  arrows,
  defineHandler,
  describeEachBackend,
  exampleTemplate,
  runTask,
  startWorker,
  stepHops,
  stepOf,
  taskHops,
  track,
  type Backend,
} from '../helpers/e2e';

const CSV_TEMPLATE = exampleTemplate('csv_processing.yaml');
const INVENTORY = path.join(EXAMPLES, 'data', 'inventory.csv');
const WORKERS = [
  'process_csv_batch_001',
  'process_csv_batch_002',
  'process_csv_batch_003',
  'process_csv_batch_004',
];
const CURSOR_CONFIGS = [
  { batch_id: '001', start_cursor: 1, end_cursor: 14, batch_size: 13 },
  { batch_id: '002', start_cursor: 14, end_cursor: 27, batch_size: 13 },
  { batch_id: '003', start_cursor: 27, end_cursor: 40, batch_size: 13 },
  { batch_id: '004', start_cursor: 40, end_cursor: 51, batch_size: 11 },
];
const INVALID_ROWS = [
  { row: 12, sku: 'SKU-0012', reason: "quantity must be a whole number >= 0, got 'n/a'" },
  { row: 27, sku: 'SKU-0027', reason: "quantity must be a whole number >= 0, got '-4'" },
  { row: 39, sku: 'SKU-0039', reason: "unit_price must be a price >= 0, got ''" },
];
/** What `aggregate_csv` returns for inventory.csv, however the work was split or retried. */
const INVENTORY_AGGREGATE = {
  scenario: 'with_batches',
  worker_count: 4,
  batch_count: 4,
  total_processed: 50,
  total_succeeded: 47,
  total_failed: 3,
  total_skipped: 0,
  success_rate: 0.94,
  errors: INVALID_ROWS,
  error_count: 3,
  file: INVENTORY,
  total_rows: 50,
  total_quantity: 2612,
  inventory_value: 478493.35,
};
/** The result of `process_csv_batch_002` (rows 14..26, all valid). */
const BATCH_002 = {
  batch_id: '002',
  start_cursor: 14,
  end_cursor: 27,
  items_processed: 13,
  items_succeeded: 13,
  items_failed: 0,
  items_skipped: 0,
  errors: [],
  total_quantity: 602,
  value_cents: 9841170,
  inventory_value: 98411.7,
};

/** One call of `processRow`. */
interface RowVisit {
  step: string;
  attempt: number;
  row: number;
}

/** The example worker, recording every row it processes and every attempt's context. */
class RowRecorder {
  readonly rows: RowVisit[] = [];
  readonly attempts = new ExecutionLog();
  readonly contexts: StepContext[] = [];

  /** `failAt(ctx, row)` may throw to fail the attempt just before that row is processed. */
  workerClass(failAt?: (ctx: StepContext, row: number) => void): StepHandlerClass {
    const recorder = this;
    return class RecordingProcessCsvBatch extends ProcessCsvBatch {
      static override handlerName = ProcessCsvBatch.handlerName;
      override async call(ctx: StepContext) {
        recorder.attempts.record(ctx);
        recorder.contexts.push(ctx);
        return super.call(ctx);
      }
      protected override processRow(ctx: StepContext, row: CsvRow): RowResult | Promise<RowResult> {
        failAt?.(ctx, row.rowNumber);
        recorder.rows.push({ step: ctx.stepName, attempt: ctx.retryCount, row: row.rowNumber });
        return super.processRow(ctx, row);
      }
    };
  }

  rowsOf(step: string, attempt?: number): number[] {
    return this.rows
      .filter((r) => r.step === step && (attempt === undefined || r.attempt === attempt))
      .map((r) => r.row);
  }

  /** How many times each row was processed, by row number. */
  timesByRow(): Map<number, number> {
    const times = new Map<number, number>();
    for (const { row } of this.rows) times.set(row, (times.get(row) ?? 0) + 1);
    return times;
  }
}

/** The example handlers with the worker replaced by `worker` (and the aggregator by `aggregator`). */
function handlersWith(
  worker: StepHandlerClass,
  aggregator: StepHandlerClass = AggregateCsv,
): StepHandlerClass[] {
  return csvHandlers.map((h) =>
    h === ProcessCsvBatch ? worker : h === AggregateCsv ? aggregator : h,
  );
}

async function csvWorker(backend: Backend, handlers: StepHandlerClass[]): Promise<TaskerClient> {
  const worker = await startWorker({
    database: await backend.database(),
    templates: CSV_TEMPLATE,
    handlers,
    concurrency: 4,
  });
  return worker.client;
}

function runCsv(client: TaskerClient, csvPath: string): Promise<Task> {
  return runTask(client, {
    namespace: 'csv',
    name: 'csv_processing',
    context: { csv_path: csvPath },
  });
}

/** Where in the task's history `step` reached `state` (-1 if it never did). */
function reached(task: Task, step: string, state: string): number {
  return task.transitions.findIndex(
    (t) => t.entity === 'step' && t.stepName === step && t.toState === state,
  );
}

/** `count` integers from `from`. */
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

describeEachBackend('batch processing', (backend) => {
  it('batch analyzer creates workers: one per cursor config, then the convergence step', async () => {
    const recorder = new RowRecorder();
    const client = await csvWorker(backend, handlersWith(recorder.workerClass()));

    const task = await runCsv(client, INVENTORY);

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'analyze_csv').result).toEqual({
      batch_processing_outcome: {
        outcome_type: 'CreateBatches',
        worker_template_name: 'process_csv_batch',
        worker_count: 4,
        cursor_configs: CURSOR_CONFIGS,
        total_items: 50,
      },
      worker_count: 4,
      total_items: 50,
      total_rows: 50,
      file: INVENTORY,
      columns: ['sku', 'name', 'category', 'quantity', 'unit_price'],
    });
    // Workers are named <template>_<batch_id>; the batch_worker template itself is never a step.
    expect(task.steps.map((s) => s.name)).toEqual(['analyze_csv', ...WORKERS, 'aggregate_csv']);
    expect(task.steps.every((s) => s.state === 'complete' && s.attempts === 1)).toBe(true);
    for (const name of [...WORKERS, 'aggregate_csv']) {
      expect(stepHops(task, name)[0]).toEqual({
        from: null,
        to: 'pending',
        reason: "created by the outcome of step 'analyze_csv'",
      });
    }
    // Each worker got its cursor in its step inputs, and the template's initialization as config.
    const byStep = new Map(recorder.contexts.map((ctx) => [ctx.stepName, ctx]));
    expect([...byStep.keys()].sort()).toEqual(WORKERS);
    WORKERS.forEach((name, i) => {
      const ctx = byStep.get(name)!;
      expect(ctx.stepInputs).toEqual({
        cursor: CURSOR_CONFIGS[i],
        batch_metadata: { cursor_field: 'row_number', failure_strategy: 'fail_fast' },
        is_no_op: false,
        __template_step_name: 'process_csv_batch',
      });
      expect(ctx.stepConfig).toEqual({ checkpoint_interval: 5 });
      expect(ctx.getDependencyResultKeys()).toEqual(['analyze_csv']);
    });
    // The convergence step was enqueued only once every worker had completed.
    const enqueued = reached(task, 'aggregate_csv', 'enqueued');
    for (const name of WORKERS) {
      expect(enqueued).toBeGreaterThan(reached(task, name, 'complete'));
    }
  });

  it('batch workers process cursors: every row exactly once, each worker exactly its range', async () => {
    const recorder = new RowRecorder();
    const client = await csvWorker(backend, handlersWith(recorder.workerClass()));

    const task = await runCsv(client, INVENTORY);

    expect(task.state).toBe('complete');
    // Every row of the file, once, by some worker.
    const times = recorder.timesByRow();
    expect([...times.keys()].sort((a, b) => a - b)).toEqual(range(1, 51));
    expect([...times.values()].every((n) => n === 1)).toBe(true);
    // Each worker processed its own cursor range [start, end), in order, in one attempt.
    WORKERS.forEach((name, i) => {
      const { start_cursor, end_cursor, batch_size } = CURSOR_CONFIGS[i];
      expect(recorder.rowsOf(name)).toEqual(range(start_cursor, end_cursor));
      expect(stepOf(task, name).result).toMatchObject({
        batch_id: CURSOR_CONFIGS[i].batch_id,
        start_cursor,
        end_cursor,
        resumed_from: null,
        items_processed: batch_size,
      });
    });
    expect(stepOf(task, 'process_csv_batch_002').result).toEqual({
      ...BATCH_002,
      resumed_from: null,
    });
    // Invalid rows are counted by the worker that owns them, not thrown.
    expect(stepOf(task, 'process_csv_batch_001').result).toMatchObject({
      items_succeeded: 12,
      items_failed: 1,
      errors: [INVALID_ROWS[0]],
    });
    expect(stepOf(task, 'process_csv_batch_003').result).toMatchObject({
      items_succeeded: 11,
      items_failed: 2,
      errors: [INVALID_ROWS[1], INVALID_ROWS[2]],
    });
  });

  it('batch aggregator combines results of every worker', async () => {
    const log = new ExecutionLog();
    class RecordingAggregateCsv extends AggregateCsv {
      static override handlerName = AggregateCsv.handlerName;
      override async call(ctx: StepContext) {
        log.record(ctx);
        return super.call(ctx);
      }
    }
    const client = await csvWorker(backend, handlersWith(ProcessCsvBatch, RecordingAggregateCsv));

    const task = await runCsv(client, INVENTORY);

    expect(task.state).toBe('complete');
    expect(stepOf(task, 'aggregate_csv').result).toEqual(INVENTORY_AGGREGATE);
    // It ran once, seeing the analyzer and all four workers.
    expect(log.of('aggregate_csv')).toHaveLength(1);
    expect(Object.keys(log.of('aggregate_csv')[0].dependencies).sort()).toEqual([
      'analyze_csv',
      ...WORKERS,
    ]);
    // Its totals are the sums of the workers' results.
    const workerResults = WORKERS.map(
      (name) => stepOf(task, name).result as { total_quantity: number; items_processed: number },
    );
    expect(workerResults.reduce((sum, r) => sum + r.total_quantity, 0)).toBe(2612);
    expect(workerResults.reduce((sum, r) => sum + r.items_processed, 0)).toBe(50);
    expect(taskHops(task).at(-1)).toEqual({
      from: 'steps_in_process',
      to: 'complete',
      reason: 'all 6 steps complete',
    });
  });

  it('an empty file takes the no-batches path: one no-op placeholder worker, then an all-zero aggregate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-csv-'));
    track(() => fs.rmSync(dir, { recursive: true, force: true }));
    const empty = path.join(dir, 'empty.csv');
    fs.writeFileSync(empty, 'sku,name,category,quantity,unit_price\n\n');
    const recorder = new RowRecorder();
    const client = await csvWorker(backend, handlersWith(recorder.workerClass()));

    const task = await runCsv(client, empty);

    expect(task.state).toBe('complete');
    expect(task.steps.map((s) => [s.name, s.state, s.attempts])).toEqual([
      ['analyze_csv', 'complete', 1],
      ['process_csv_batch_000', 'complete', 1],
      ['aggregate_csv', 'complete', 1],
    ]);
    expect(stepOf(task, 'analyze_csv').result).toEqual({
      batch_processing_outcome: { outcome_type: 'NoBatches' },
      reason: 'empty_file',
      file: empty,
      columns: ['sku', 'name', 'category', 'quantity', 'unit_price'],
      total_rows: 0,
    });
    // The placeholder ran through the normal lifecycle but processed nothing.
    expect(recorder.contexts).toHaveLength(1);
    expect(recorder.contexts[0].stepInputs).toEqual({
      cursor: { batch_id: '000', start_cursor: 0, end_cursor: 0, batch_size: 0 },
      batch_metadata: { cursor_field: 'row_number', failure_strategy: 'fail_fast' },
      is_no_op: true,
      __template_step_name: 'process_csv_batch',
    });
    expect(recorder.rows).toEqual([]);
    expect(stepOf(task, 'process_csv_batch_000').result).toEqual({
      batch_id: '000',
      no_op: true,
      processed_count: 0,
    });
    expect(stepOf(task, 'aggregate_csv').result).toEqual({
      scenario: 'no_batches',
      worker_count: 0,
      batch_count: 0,
      total_processed: 0,
      total_succeeded: 0,
      total_failed: 0,
      total_skipped: 0,
      success_rate: 0,
      errors: [],
      error_count: 0,
      file: empty,
      total_rows: 0,
      total_quantity: 0,
      inventory_value: 0,
    });
  });

  it('a batch worker that fails mid-range resumes from its last checkpoint', async () => {
    // Worker 002 covers rows 14..26 and checkpoints every 5 rows: after row 18 (cursor 19) and
    // after row 23 (cursor 24). Its first attempt fails just before row 22, so the last saved
    // checkpoint is cursor 19, and only rows 19..21 (fewer than the 5-row window) are processed
    // a second time.
    const FAIL_BEFORE_ROW = 22;
    const recorder = new RowRecorder();
    const worker = recorder.workerClass((ctx, row) => {
      if (
        ctx.stepName === 'process_csv_batch_002' &&
        ctx.retryCount === 0 &&
        row === FAIL_BEFORE_ROW
      ) {
        throw new RetryableError('inventory service hiccup', { errorType: 'upstream_hiccup' });
      }
    });
    const client = await csvWorker(backend, handlersWith(worker));

    const task = await runCsv(client, INVENTORY);

    expect(task.state).toBe('complete');
    const step = 'process_csv_batch_002';
    expect(stepOf(task, step)).toMatchObject({ state: 'complete', attempts: 2, error: null });
    expect(arrows(stepHops(task, step))).toEqual([
      '∅→pending',
      'pending→enqueued',
      'enqueued→in_progress',
      'in_progress→waiting_for_retry',
      'waiting_for_retry→in_progress',
      'in_progress→complete',
    ]);
    expect(stepHops(task, step)[3].reason).toMatch(
      /^attempt 1 of 3 failed \(upstream_hiccup: inventory service hiccup\); retrying in \d+ ms$/,
    );

    // The first attempt started at the batch's start with no checkpoint, and stopped at row 22.
    const attempts = recorder.contexts.filter((ctx) => ctx.stepName === step);
    expect(attempts.map((ctx) => ctx.retryCount)).toEqual([0, 1]);
    expect(attempts[0].checkpoint).toBeNull();
    expect(recorder.rowsOf(step, 0)).toEqual(range(14, FAIL_BEFORE_ROW));
    // The retry was handed the last checkpoint saved (cursor 19, after 5 rows, with their totals)…
    expect(attempts[1].checkpointCursor).toBe(19);
    expect(attempts[1].checkpointItemsProcessed).toBe(5);
    expect(attempts[1].accumulatedResults).toMatchObject({
      items_processed: 5,
      items_succeeded: 5,
      items_failed: 0,
    });
    // …and started exactly there.
    expect(recorder.rowsOf(step, 1)).toEqual(range(19, 27));
    // Only the rows between that checkpoint and the failure were processed twice.
    const twice = [...recorder.timesByRow()].filter(([, n]) => n > 1).map(([row]) => row);
    expect(twice).toEqual([19, 20, 21]);
    expect(twice.length).toBeLessThan(5); // the checkpoint window
    expect([...recorder.timesByRow().values()].every((n) => n <= 2)).toBe(true);
    expect(recorder.timesByRow().size).toBe(50);

    // getTask shows the worker's cursor range and the checkpoint it saved last.
    expect(stepOf(task, step).inputs).toMatchObject({
      cursor: { batch_id: '002', start_cursor: 14, end_cursor: 27 },
    });
    expect(stepOf(task, step).checkpoint).toMatchObject({ cursor: 24, items_processed: 10 });
    expect(stepOf(task, 'analyze_csv')).toMatchObject({ inputs: {}, checkpoint: null });
    // The resumed result counts each row once: the same as an uninterrupted run.
    expect(stepOf(task, step).result).toEqual({ ...BATCH_002, resumed_from: 19 });
    expect(stepOf(task, 'aggregate_csv').result).toEqual(INVENTORY_AGGREGATE);
    // The other workers were not affected.
    for (const name of WORKERS.filter((w) => w !== step)) {
      expect(stepOf(task, name)).toMatchObject({ state: 'complete', attempts: 1 });
    }
  });

  it('an invalid batch outcome fails the analyzer permanently (invalid_batch_outcome) and creates no worker', async () => {
    class MisconfiguredAnalyzeCsv extends AnalyzeCsv {
      static override handlerName = AnalyzeCsv.handlerName;
      override async call() {
        // Names the convergence step instead of the batch_worker template.
        return this.createBatchesOutcome('aggregate_csv', this.createCursorConfigs(50, 2), 50);
      }
    }
    const handlers = csvHandlers.map((h) => (h === AnalyzeCsv ? MisconfiguredAnalyzeCsv : h));
    const client = await csvWorker(backend, handlers);

    const task = await runCsv(client, INVENTORY);

    const message =
      "batchable step 'analyze_csv': worker template 'aggregate_csv' has type " +
      'deferred_convergence, expected batch_worker';
    expect(task.state).toBe('error');
    expect(task.steps.map((s) => s.name)).toEqual(['analyze_csv']);
    expect(stepOf(task, 'analyze_csv')).toMatchObject({
      state: 'error',
      attempts: 1,
      error: { message, errorType: 'invalid_batch_outcome', retryable: false },
    });
    expect(taskHops(task).at(-1)).toEqual({
      from: 'steps_in_process',
      to: 'error',
      reason: `step 'analyze_csv' failed permanently: ${message}`,
    });
  });

  const at = "batchable step 'analyze_csv': batch_processing_outcome";
  const createBatches = (change: Record<string, unknown>) => ({
    outcome_type: 'CreateBatches',
    worker_template_name: 'process_csv_batch',
    worker_count: 4,
    cursor_configs: CURSOR_CONFIGS,
    total_items: 50,
    ...change,
  });
  it.each<[string, Record<string, unknown>, string]>([
    [
      'a worker_count that is a string',
      createBatches({ worker_count: '4' }),
      `${at}.worker_count must be a whole number >= 1, got "4"`,
    ],
    [
      'a null worker_count',
      createBatches({ worker_count: null }),
      `${at}.worker_count must be a whole number >= 1, got null`,
    ],
    [
      'a negative total_items',
      createBatches({ total_items: -5 }),
      `${at}.total_items must be a whole number >= 0, got -5`,
    ],
    [
      'a batch_size of 0',
      createBatches({
        cursor_configs: [{ ...CURSOR_CONFIGS[0], batch_size: 0 }, ...CURSOR_CONFIGS.slice(1)],
      }),
      `${at}.cursor_configs[0].batch_size must be a whole number >= 1, got 0`,
    ],
    [
      'an empty range',
      createBatches({
        cursor_configs: [{ ...CURSOR_CONFIGS[0], end_cursor: 1 }, ...CURSOR_CONFIGS.slice(1)],
      }),
      `${at}.cursor_configs[0].end_cursor must be greater than start_cursor (1), got 1`,
    ],
    [
      'type and outcome_type that disagree',
      createBatches({ type: 'no_batches' }),
      `${at}.type is "no_batches" but its outcome_type is "CreateBatches"; they must agree (set only one of them)`,
    ],
    [
      'NoBatches with workers',
      { outcome_type: 'NoBatches', worker_count: 4, cursor_configs: CURSOR_CONFIGS },
      `${at}.worker_count must be 0 for NoBatches, got 4`,
    ],
  ])(
    'an outcome with %s fails the analyzer itself and creates no batch worker',
    async (_label, outcome, message) => {
      // A hand-written result: the builders cannot produce these outcomes.
      const analyzer = defineHandler(AnalyzeCsv.handlerName, () => ({
        batch_processing_outcome: outcome,
      }));
      const handlers = csvHandlers.map((h) => (h === AnalyzeCsv ? analyzer : h));
      const client = await csvWorker(backend, handlers);

      const task = await runCsv(client, INVENTORY);

      expect(task.state).toBe('error');
      expect(task.steps.map((s) => s.name)).toEqual(['analyze_csv']);
      expect(stepOf(task, 'analyze_csv')).toMatchObject({
        state: 'error',
        attempts: 1,
        result: null,
        error: { message, errorType: 'invalid_batch_outcome', retryable: false },
      });
      expect(taskHops(task).at(-1)).toEqual({
        from: 'steps_in_process',
        to: 'error',
        reason: `step 'analyze_csv' failed permanently: ${message}`,
      });
    },
  );
});
