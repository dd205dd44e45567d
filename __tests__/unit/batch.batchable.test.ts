import nock from 'nock';
import {
  ApiHandler,
  Batchable,
  BatchWorkerContext,
  DecisionHandler,
  HandlerRegistry,
  StepContext,
  StepHandler,
  StepHandlerResult,
  ValidationError,
} from '../../src/index';
import {
  RecordingLogger,
  parsedOutcome,
  runHandler,
  stepPayload,
  type StepEventSpec,
} from '../helpers/mock-native';

const BATCH_CAPABILITIES = ['batchable', 'batch_processing', 'parallel_execution', 'cursor_based'];

/** Analyzer: splits `context.total` items over 3 workers. */
class Analyzer extends Batchable(StepHandler) {
  static override handlerName = 'Csv.Analyze';
  async call(ctx: StepContext) {
    const total = ctx.getInputOr('total', 0);
    if (total === 0) return this.noBatchesOutcome('empty file', { file: 'a.csv' });
    return this.createBatchesOutcome(
      'process_csv_batch',
      this.createCursorConfigs(total, 3),
      total,
      {
        file: 'a.csv',
      },
    );
  }
}

/** Worker: sums the item numbers of its slice. */
class Worker extends Batchable(StepHandler) {
  static override handlerName = 'Csv.Worker';
  async call(ctx: StepContext) {
    const noOp = this.handleNoOpWorker(ctx);
    if (noOp) return noOp;
    const batch = this.extractCursorContext(ctx);
    let sum = 0;
    for (let i = batch.startCursor; i < batch.endCursor; i += 1) sum += i;
    return { batch_id: batch.batchId, items_processed: batch.batchSize, sum };
  }
}

/** Step inputs as the core gives them to a batch worker. */
function workerInputs(cursor: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    cursor,
    batch_metadata: { cursor_field: 'row_number', failure_strategy: 'continue_on_failure' },
    is_no_op: false,
    __template_step_name: 'process_csv_batch',
    mode: 'inventory',
    ...extra,
  };
}

function context(spec: Partial<StepEventSpec> = {}): StepContext {
  return new StepContext(
    stepPayload({ handler: 'h', stepName: 'process_csv_batch_001', ...spec }),
    new AbortController().signal,
    new RecordingLogger(),
  );
}

describe('Batchable: the mixin', () => {
  it('works on StepHandler, ApiHandler and DecisionHandler, extending their capabilities', () => {
    const OnStep = Batchable(StepHandler);
    const OnApi = Batchable(ApiHandler);
    const OnDecision = Batchable(DecisionHandler);
    expect(OnStep.capabilities).toEqual([...StepHandler.capabilities, ...BATCH_CAPABILITIES]);
    expect(OnApi.capabilities).toEqual([...ApiHandler.capabilities, ...BATCH_CAPABILITIES]);
    expect(OnDecision.capabilities).toEqual([
      ...DecisionHandler.capabilities,
      ...BATCH_CAPABILITIES,
    ]);
    expect(StepHandler.capabilities).toEqual(['process']);
  });

  it('produces classes the registry accepts and that are instances of their base', () => {
    class ApiWorker extends Batchable(ApiHandler) {
      static override handlerName = 'Api.BatchWorker';
      async call() {
        return {};
      }
    }
    const registry = new HandlerRegistry().register(Analyzer).register(ApiWorker);
    expect(registry.names()).toEqual(['Csv.Analyze', 'Api.BatchWorker']);
    expect(new ApiWorker()).toBeInstanceOf(ApiHandler);
    expect(new ApiWorker()).toBeInstanceOf(StepHandler);
  });

  it('lets a Batchable(ApiHandler) worker fetch its slice over HTTP', async () => {
    class ApiWorker extends Batchable(ApiHandler) {
      static override handlerName = 'Api.Pages';
      async call(ctx: StepContext) {
        const batch = this.extractCursorContext(ctx);
        const res = await this.get<{ items: number[] }>(ctx, '/items', {
          params: { from: batch.startCursor, to: batch.endCursor },
        });
        return { batch_id: batch.batchId, items_processed: res.body.items.length };
      }
    }
    if (!nock.isActive()) nock.activate();
    nock('https://items.example.test')
      .get('/items')
      .query({ from: '5', to: '9' })
      .reply(200, { items: [5, 6, 7, 8] });
    try {
      const { result } = await runHandler(ApiWorker, {
        config: { base_url: 'https://items.example.test' },
        inputs: workerInputs({ batch_id: '002', start_cursor: 5, end_cursor: 9, batch_size: 4 }),
      });
      expect(parsedOutcome(result)).toStrictEqual({
        success: true,
        result: { batch_id: '002', items_processed: 4 },
      });
    } finally {
      nock.cleanAll();
      nock.restore();
    }
  });
});

describe('Batchable: analyzer outcomes', () => {
  it('createBatchesOutcome reports the outcome, worker_count and total_items', async () => {
    const { result } = await runHandler(Analyzer, { context: { total: 10 } });
    expect(parsedOutcome(result)).toStrictEqual({
      success: true,
      result: {
        file: 'a.csv',
        batch_processing_outcome: {
          outcome_type: 'CreateBatches',
          worker_template_name: 'process_csv_batch',
          worker_count: 3,
          cursor_configs: [
            { batch_id: '001', start_cursor: 1, end_cursor: 5, batch_size: 4 },
            { batch_id: '002', start_cursor: 5, end_cursor: 9, batch_size: 4 },
            { batch_id: '003', start_cursor: 9, end_cursor: 11, batch_size: 2 },
          ],
          total_items: 10,
        },
        worker_count: 3,
        total_items: 10,
      },
    });
  });

  it('noBatchesOutcome reports the outcome and the reason', async () => {
    const { result } = await runHandler(Analyzer, { context: { total: 0 } });
    expect(parsedOutcome(result)).toStrictEqual({
      success: true,
      result: {
        file: 'a.csv',
        batch_processing_outcome: { outcome_type: 'NoBatches' },
        reason: 'empty file',
      },
    });
  });

  it('keeps the reserved keys when metadata uses the same names', () => {
    const analyzer = new Analyzer();
    const created = analyzer.createBatchesOutcome('w', analyzer.createCursorConfigs(2, 1), 2, {
      worker_count: 99,
      batch_processing_outcome: 'mine',
    });
    expect(created.result).toMatchObject({ worker_count: 1, total_items: 2 });
    expect((created.result as Record<string, unknown>).batch_processing_outcome).toMatchObject({
      outcome_type: 'CreateBatches',
    });
    const none = analyzer.noBatchesOutcome('nothing', { reason: 'other' });
    expect(none.result).toStrictEqual({
      reason: 'nothing',
      batch_processing_outcome: { outcome_type: 'NoBatches' },
    });
    expect(none).toBeInstanceOf(StepHandlerResult);
  });

  it.each<[string, () => unknown, string]>([
    [
      'no cursor configs (0 items)',
      () => new Analyzer().createBatchesOutcome('w', new Analyzer().createCursorConfigs(0, 3), 0),
      'BatchProcessingOutcome.createBatches: cursor_configs: must contain at least one cursor config (return a no-batches outcome when there is nothing to process)',
    ],
    [
      'an empty worker template name',
      () => new Analyzer().createBatchesOutcome(' ', new Analyzer().createCursorConfigs(1, 1), 1),
      'BatchProcessingOutcome.createBatches: worker_template_name: must not be empty',
    ],
    [
      'metadata that is not an object',
      () => new Analyzer().createBatchesOutcome('w', [], 0, 3 as never),
      'Batchable.createBatchesOutcome: metadata: must be an object, got 3',
    ],
    [
      'an empty reason',
      () => new Analyzer().noBatchesOutcome(''),
      'Batchable.noBatchesOutcome: reason: must not be empty',
    ],
    [
      'a missing reason and bad metadata',
      () => new Analyzer().noBatchesOutcome(undefined as never, [] as never),
      'Batchable.noBatchesOutcome: reason: must be a non-empty string, got undefined; metadata: must be an object, got []',
    ],
    [
      'zero workers',
      () => new Analyzer().createCursorConfigs(10, 0),
      'createCursorConfigs: workerCount: must be an integer >= 1, got 0',
    ],
  ])('rejects %s', (_label, build, message) => {
    expect(build).toThrow(new ValidationError(message));
  });

  it('fails the analyzer step permanently on an invalid outcome', async () => {
    class Broken extends Batchable(StepHandler) {
      static override handlerName = 'Broken.Analyze';
      async call() {
        return this.createBatchesOutcome('w', this.createCursorConfigs(0, 2), 0);
      }
    }
    const { result } = await runHandler(Broken);
    expect(result.error).toMatchObject({ errorType: 'validation_error', retryable: false });
  });
});

describe('Batchable: workers', () => {
  it('extractCursorContext reads the cursor, metadata and template name', () => {
    const batch = new Worker().extractCursorContext(
      context({
        inputs: workerInputs({ batch_id: '002', start_cursor: 5, end_cursor: 9, batch_size: 4 }),
      }),
    );
    expect(batch).toBeInstanceOf(BatchWorkerContext);
    expect({ ...batch }).toStrictEqual({
      batchId: '002',
      startCursor: 5,
      endCursor: 9,
      batchSize: 4,
      noOp: false,
      metadata: { cursor_field: 'row_number', failure_strategy: 'continue_on_failure' },
      templateStepName: 'process_csv_batch',
    });
    expect(Object.isFrozen(batch.metadata)).toBe(true);
  });

  it('accepts a minimal cursor and non-numeric cursors', () => {
    const batch = BatchWorkerContext.fromStepContext<string>(
      context({
        inputs: {
          cursor: {
            batch_id: 'jan',
            start_cursor: '2024-01-01',
            end_cursor: '2024-02-01',
            batch_size: 31,
          },
        },
      }),
    );
    expect({ ...batch }).toStrictEqual({
      batchId: 'jan',
      startCursor: '2024-01-01',
      endCursor: '2024-02-01',
      batchSize: 31,
      noOp: false,
      metadata: {},
      templateStepName: undefined,
    });
  });

  it('runs a worker over its slice through the worker', async () => {
    const { result } = await runHandler(Worker, {
      stepName: 'process_csv_batch_003',
      inputs: workerInputs({ batch_id: '003', start_cursor: 9, end_cursor: 11, batch_size: 2 }),
    });
    expect(parsedOutcome(result)).toStrictEqual({
      success: true,
      result: { batch_id: '003', items_processed: 2, sum: 19 },
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'no cursor',
      {},
      'cursor: is missing: this step was not created by a batch outcome (is its handler a batch worker?)',
    ],
    ['a cursor that is not an object', { cursor: 5 }, 'cursor: must be an object, got 5'],
    [
      'a cursor without batch_id',
      { cursor: { start_cursor: 1, end_cursor: 2, batch_size: 1 } },
      'cursor.batch_id: must be a non-empty string, got undefined',
    ],
    [
      'a negative batch_size and a missing end',
      { cursor: { batch_id: '1', start_cursor: 1, batch_size: -1 } },
      'cursor.end_cursor: is required; cursor.batch_size: must be an integer >= 0, got -1',
    ],
    [
      'a non-boolean is_no_op',
      { cursor: { batch_id: '1', start_cursor: 1, end_cursor: 2, batch_size: 1 }, is_no_op: 'yes' },
      'is_no_op: must be a boolean, got "yes"',
    ],
    [
      'batch_metadata that is not an object',
      {
        cursor: { batch_id: '1', start_cursor: 1, end_cursor: 2, batch_size: 1 },
        batch_metadata: [],
      },
      'batch_metadata: must be an object, got []',
    ],
  ])('extractCursorContext rejects %s', (_label, inputs, problem) => {
    expect(() => new Worker().extractCursorContext(context({ inputs }))).toThrow(
      new ValidationError(`extractCursorContext: step 'process_csv_batch_001' inputs: ${problem}`),
    );
  });

  it('handleNoOpWorker answers for the placeholder worker, and returns null otherwise', () => {
    const placeholder = context({
      stepName: 'process_csv_batch_000',
      inputs: workerInputs(
        { batch_id: '000', start_cursor: 0, end_cursor: 0, batch_size: 0 },
        { is_no_op: true },
      ),
    });
    const worker = new Worker();
    const expected = { batch_id: '000', no_op: true, processed_count: 0 };
    expect(worker.handleNoOpWorker(placeholder)?.result).toStrictEqual(expected);
    expect(worker.handleNoOpWorker(worker.extractCursorContext(placeholder))?.result).toStrictEqual(
      expected,
    );
    const real = context({
      inputs: workerInputs({ batch_id: '001', start_cursor: 1, end_cursor: 5, batch_size: 4 }),
    });
    expect(worker.handleNoOpWorker(real)).toBeNull();
    expect(worker.handleNoOpWorker(worker.extractCursorContext(real))).toBeNull();
    // Not a batch worker at all: nothing to short-circuit, and no error.
    expect(worker.handleNoOpWorker(context())).toBeNull();
    expect(worker.handleNoOpWorker(context({ inputs: { is_no_op: true } }))?.result).toStrictEqual(
      expected,
    );
  });

  it('completes the placeholder worker through the worker', async () => {
    const { result } = await runHandler(Worker, {
      stepName: 'process_csv_batch_000',
      inputs: workerInputs(
        { batch_id: '000', start_cursor: 0, end_cursor: 0, batch_size: 0 },
        { is_no_op: true },
      ),
    });
    expect(parsedOutcome(result)).toStrictEqual({
      success: true,
      result: { batch_id: '000', no_op: true, processed_count: 0 },
    });
  });
});
