import {
  BatchAggregationScenario,
  StepContext,
  StepHandler,
  ValidationError,
  aggregateBatchResults,
  createCursorConfigs,
} from '../../src/index';
import { RecordingLogger, parsedOutcome, runHandler, stepPayload } from '../helpers/mock-native';

const configs = createCursorConfigs(10, 3);
const created = {
  batch_processing_outcome: {
    outcome_type: 'CreateBatches',
    worker_template_name: 'process_csv_batch',
    worker_count: 3,
    cursor_configs: configs,
    total_items: 10,
  },
  worker_count: 3,
  total_items: 10,
};
const workers = {
  process_csv_batch_001: {
    items_processed: 4,
    items_succeeded: 4,
    items_failed: 0,
    items_skipped: 0,
    errors: [],
  },
  process_csv_batch_002: {
    items_processed: 4,
    items_succeeded: 3,
    items_failed: 1,
    items_skipped: 0,
    errors: [{ row: 6, message: 'bad sku' }],
  },
  process_csv_batch_003: {
    items_processed: 2,
    items_succeeded: 1,
    items_failed: 0,
    items_skipped: 1,
  },
};

function detect(results: Record<string, unknown>) {
  return BatchAggregationScenario.detect(results, 'analyze_csv', 'process_csv_batch');
}

describe('BatchAggregationScenario.detect', () => {
  it('with_batches: collects every worker named by the outcome, in batch order', () => {
    const scenario = detect({
      analyze_csv: created,
      process_csv_batch_003: workers.process_csv_batch_003,
      process_csv_batch_001: workers.process_csv_batch_001,
      process_csv_batch_002: workers.process_csv_batch_002,
      validate_file: { ok: true },
    });
    expect(scenario.kind).toBe('with_batches');
    expect(scenario.isWithBatches()).toBe(true);
    expect(scenario.isNoBatches()).toBe(false);
    expect(scenario.workerCount).toBe(3);
    expect(scenario.batchableResult).toBe(created);
    expect(Object.keys(scenario.workerResults)).toEqual([
      'process_csv_batch_001',
      'process_csv_batch_002',
      'process_csv_batch_003',
    ]);
  });

  it.each<[string, unknown]>([
    ['the seed form', { outcome_type: 'NoBatches' }],
    ['the reference form', { type: 'no_batches' }],
  ])('no_batches: from the outcome in %s, ignoring the placeholder worker', (_label, outcome) => {
    const scenario = detect({
      analyze_csv: { batch_processing_outcome: outcome, reason: 'empty' },
      process_csv_batch_000: { batch_id: '000', no_op: true, processed_count: 0 },
    });
    expect(scenario.kind).toBe('no_batches');
    expect(scenario.isNoBatches()).toBe(true);
    expect(scenario.workerResults).toEqual({});
    expect(scenario.workerCount).toBe(0);
  });

  it('reads the reference create_batches form', () => {
    const scenario = detect({
      analyze_csv: {
        batch_processing_outcome: {
          type: 'create_batches',
          worker_template_name: 'process_csv_batch',
          worker_count: 1,
          cursor_configs: [{ batch_id: '001', start_cursor: 0, end_cursor: 10, batch_size: 10 }],
          total_items: 10,
        },
      },
      process_csv_batch_001: { items_processed: 10 },
    });
    expect(scenario.workerResults).toEqual({ process_csv_batch_001: { items_processed: 10 } });
  });

  it('without an outcome, tells the scenarios apart by the worker names', () => {
    expect(detect({ analyze_csv: {}, process_csv_batch_000: { no_op: true } }).kind).toBe(
      'no_batches',
    );
    const scenario = detect({
      analyze_csv: {},
      process_csv_batch_002: { items_processed: 1 },
      process_csv_batch_001: { items_processed: 2 },
    });
    expect(scenario.kind).toBe('with_batches');
    expect(Object.keys(scenario.workerResults)).toEqual([
      'process_csv_batch_001',
      'process_csv_batch_002',
    ]);
  });

  it('reads the dependency results of a StepContext', () => {
    const ctx = new StepContext(
      stepPayload({
        handler: 'h',
        dependencyResults: { analyze_csv: created, ...workers },
      }),
      new AbortController().signal,
      new RecordingLogger(),
    );
    expect(
      BatchAggregationScenario.detect(ctx, 'analyze_csv', 'process_csv_batch').workerCount,
    ).toBe(3);
  });

  it('names the fix when the batchable step is an ancestor but not a dependency', () => {
    const ctx = new StepContext(
      stepPayload({
        handler: 'h',
        stepName: 'aggregate_csv',
        dependencyResults: workers,
        dependencies: ['process_csv_batch'],
        indirectAncestors: ['analyze_csv'],
      }),
      new AbortController().signal,
      new RecordingLogger(),
    );
    expect(() => BatchAggregationScenario.detect(ctx, 'analyze_csv', 'process_csv_batch')).toThrow(
      "step 'aggregate_csv' reads the result of 'analyze_csv', which is an ancestor but not one " +
        "of its dependencies (process_csv_batch): add 'analyze_csv' to its dependencies to read it",
    );
  });

  it.each<[string, Record<string, unknown>, string, string, string]>([
    ['an empty batchable step name', {}, '', 'w', 'batchableStepName: must not be empty'],
    [
      'a missing worker template name',
      {},
      'a',
      undefined as never,
      'workerTemplateName: must be a non-empty string, got undefined',
    ],
    [
      'no result for the batchable step',
      { other: {} },
      'analyze_csv',
      'process_csv_batch',
      "no result for the batchable step 'analyze_csv' among the dependency results (have: other)",
    ],
    [
      'no dependency results at all',
      {},
      'analyze_csv',
      'process_csv_batch',
      "no result for the batchable step 'analyze_csv' among the dependency results (there are none)",
    ],
    [
      'a worker template that is not the outcome’s',
      { analyze_csv: created },
      'analyze_csv',
      'other_batch',
      "workerTemplateName: 'other_batch' is not the worker template of 'analyze_csv' ('process_csv_batch')",
    ],
    [
      'missing worker results',
      { analyze_csv: created, process_csv_batch_001: {} },
      'analyze_csv',
      'process_csv_batch',
      "no result for the batch worker(s) 'process_csv_batch_002', 'process_csv_batch_003'",
    ],
    [
      'no outcome and no workers',
      { analyze_csv: {}, x: 1 },
      'analyze_csv',
      'process_csv_batch',
      "the result of 'analyze_csv' has no batch_processing_outcome and no dependency result is named 'process_csv_batch_<batch_id>' (have: analyze_csv, x)",
    ],
  ])('rejects %s', (_label, results, batchable, template, problem) => {
    expect(() => BatchAggregationScenario.detect(results, batchable, template)).toThrow(
      new ValidationError(`BatchAggregationScenario.detect: ${problem}`),
    );
  });

  it('rejects an invalid outcome, naming the field', () => {
    expect(() => detect({ analyze_csv: { batch_processing_outcome: { type: 'bogus' } } })).toThrow(
      /^BatchProcessingOutcome\.fromJSON: type: must be 'NoBatches' or 'CreateBatches'/,
    );
  });
});

describe('aggregation', () => {
  it('sums the workers’ counts and gathers their errors', () => {
    expect(detect({ analyze_csv: created, ...workers }).aggregate()).toStrictEqual({
      scenario: 'with_batches',
      worker_count: 3,
      total_processed: 10,
      total_succeeded: 8,
      total_failed: 1,
      total_skipped: 1,
      batch_count: 3,
      success_rate: 0.8,
      errors: [{ row: 6, message: 'bad sku' }],
      error_count: 1,
    });
  });

  it('is all zeros for no_batches', () => {
    expect(
      detect({
        analyze_csv: { batch_processing_outcome: { outcome_type: 'NoBatches' } },
      }).aggregate(),
    ).toStrictEqual({
      scenario: 'no_batches',
      worker_count: 0,
      total_processed: 0,
      total_succeeded: 0,
      total_failed: 0,
      total_skipped: 0,
      batch_count: 0,
      success_rate: 0,
      errors: [],
      error_count: 0,
    });
  });

  it('aggregateBatchResults reads batch_worker_outcome, skips non-objects, ignores non-numbers', () => {
    expect(
      aggregateBatchResults([
        { batch_worker_outcome: { items_processed: 5, items_succeeded: 5, errors: ['e1'] } },
        { items_processed: '7', items_failed: 2 },
        null,
        'text',
        { items_processed: Number.NaN },
      ]),
    ).toStrictEqual({
      total_processed: 5,
      total_succeeded: 5,
      total_failed: 2,
      total_skipped: 0,
      batch_count: 3,
      success_rate: 1,
      errors: ['e1'],
      error_count: 1,
    });
  });

  it('accepts results by name, and keeps at most maxErrors errors while counting them all', () => {
    const totals = aggregateBatchResults(
      {
        a: { items_processed: 1, errors: ['a1', 'a2'] },
        b: { items_processed: 1, errors: ['b1', 'b2'] },
      },
      { maxErrors: 3 },
    );
    expect(totals.errors).toEqual(['a1', 'a2', 'b1']);
    expect(totals.error_count).toBe(4);
    expect(aggregateBatchResults([{ errors: ['x'] }], { maxErrors: 0 }).errors).toEqual([]);
  });

  it('rejects a negative maxErrors', () => {
    expect(() => aggregateBatchResults([], { maxErrors: -1 })).toThrow(
      new ValidationError('aggregateBatchResults: maxErrors: must be an integer >= 0, got -1'),
    );
  });

  it('works in a convergence handler through the worker', async () => {
    class Aggregate extends StepHandler {
      static override handlerName = 'Csv.Aggregate';
      async call(ctx: StepContext) {
        return BatchAggregationScenario.detect(ctx, 'analyze_csv', 'process_csv_batch').aggregate();
      }
    }
    const { result } = await runHandler(Aggregate, {
      dependencyResults: { analyze_csv: created, ...workers },
    });
    expect(parsedOutcome(result)).toMatchObject({
      success: true,
      result: { scenario: 'with_batches', worker_count: 3, total_processed: 10 },
    });
  });
});
