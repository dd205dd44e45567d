import {
  BatchProcessingOutcome,
  ValidationError,
  createCursorConfigs,
  type CursorConfig,
} from '../../src/index';

/** `[start, end)` pairs of configs. */
function ranges(configs: CursorConfig[]): [number, number][] {
  return configs.map((c) => [c.start_cursor, c.end_cursor]);
}

describe('createCursorConfigs', () => {
  it('splits 10 items over 3 workers as [1,5) [5,9) [9,11)', () => {
    expect(createCursorConfigs(10, 3)).toStrictEqual([
      { batch_id: '001', start_cursor: 1, end_cursor: 5, batch_size: 4 },
      { batch_id: '002', start_cursor: 5, end_cursor: 9, batch_size: 4 },
      { batch_id: '003', start_cursor: 9, end_cursor: 11, batch_size: 2 },
    ]);
  });

  it.each<[number, number, [number, number][]]>([
    [
      3,
      5,
      [
        [1, 2],
        [2, 3],
        [3, 4],
      ],
    ],
    [
      5,
      4,
      [
        [1, 3],
        [3, 5],
        [5, 6],
      ],
    ],
    [1, 1, [[1, 2]]],
    [1, 10, [[1, 2]]],
    [
      9,
      3,
      [
        [1, 4],
        [4, 7],
        [7, 10],
      ],
    ],
    [7, 1, [[1, 8]]],
    [0, 3, []],
    [0, 1, []],
  ])('%i items / %i workers', (total, workers, expected) => {
    const configs = createCursorConfigs(total, workers);
    expect(ranges(configs)).toEqual(expected);
    for (const c of configs) expect(c.batch_size).toBe(c.end_cursor - c.start_cursor);
  });

  it('never emits an empty range and covers every item exactly once', () => {
    for (let total = 0; total <= 40; total += 1) {
      for (let workers = 1; workers <= 12; workers += 1) {
        const configs = createCursorConfigs(total, workers);
        expect(configs.length).toBeLessThanOrEqual(workers);
        const covered = configs.flatMap((c) => {
          expect(c.batch_size).toBeGreaterThan(0);
          return Array.from({ length: c.batch_size }, (_, i) => c.start_cursor + i);
        });
        expect(covered).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      }
    }
  });

  it('pads batch ids to three digits and keeps counting past 999', () => {
    const configs = createCursorConfigs(1001, 1001);
    expect(configs.map((c) => c.batch_id).slice(0, 2)).toEqual(['001', '002']);
    expect(configs.at(-1)?.batch_id).toBe('1001');
  });

  it.each<[number, number, string]>([
    [10, 0, 'workerCount: must be an integer >= 1, got 0'],
    [10, -2, 'workerCount: must be an integer >= 1, got -2'],
    [10, 1.5, 'workerCount: must be an integer >= 1, got 1.5'],
    [10, NaN, 'workerCount: must be an integer >= 1, got NaN'],
    [-1, 3, 'totalItems: must be an integer >= 0, got -1'],
    [2.5, 3, 'totalItems: must be an integer >= 0, got 2.5'],
    [Infinity, 3, 'totalItems: must be an integer >= 0, got Infinity'],
  ])('rejects %p items / %p workers', (total, workers, problem) => {
    expect(() => createCursorConfigs(total, workers)).toThrow(
      new ValidationError(`createCursorConfigs: ${problem}`),
    );
  });

  it('reports both invalid arguments at once', () => {
    expect(() => createCursorConfigs(-1, 0)).toThrow(
      'createCursorConfigs: totalItems: must be an integer >= 0, got -1; ' +
        'workerCount: must be an integer >= 1, got 0',
    );
  });
});

describe('BatchProcessingOutcome', () => {
  const configs = createCursorConfigs(10, 3);

  it('noBatches serializes as {"outcome_type":"NoBatches"}', () => {
    const outcome = BatchProcessingOutcome.noBatches();
    expect(JSON.stringify(outcome)).toBe('{"outcome_type":"NoBatches"}');
    expect(outcome.isNoBatches()).toBe(true);
    expect(outcome.isCreateBatches()).toBe(false);
    expect(outcome.workerCount).toBe(0);
  });

  it('createBatches serializes every field, with worker_count from the configs', () => {
    const outcome = BatchProcessingOutcome.createBatches('process_csv_batch', configs, 10);
    expect(outcome.toJSON()).toStrictEqual({
      outcome_type: 'CreateBatches',
      worker_template_name: 'process_csv_batch',
      worker_count: 3,
      cursor_configs: configs,
      total_items: 10,
    });
    expect(Object.keys(outcome.toJSON())).toEqual([
      'outcome_type',
      'worker_template_name',
      'worker_count',
      'cursor_configs',
      'total_items',
    ]);
    expect(outcome.isCreateBatches()).toBe(true);
  });

  it('accepts non-numeric cursors (timestamps, objects) and keeps only the known keys', () => {
    const outcome = BatchProcessingOutcome.createBatches(
      'w',
      [
        {
          batch_id: 'jan',
          start_cursor: '2024-01-01',
          end_cursor: '2024-02-01',
          batch_size: 31,
          extra: 1,
        } as CursorConfig<string>,
        {
          batch_id: 'feb',
          start_cursor: { page: 1 },
          end_cursor: { page: 9 },
          batch_size: 8,
        } as unknown as CursorConfig<string>,
      ],
      39,
    );
    expect(outcome.toJSON()).toMatchObject({
      cursor_configs: [
        { batch_id: 'jan', start_cursor: '2024-01-01', end_cursor: '2024-02-01', batch_size: 31 },
        { batch_id: 'feb', start_cursor: { page: 1 }, end_cursor: { page: 9 }, batch_size: 8 },
      ],
    });
    expect(outcome.cursorConfigs[0]).not.toHaveProperty('extra');
  });

  it.each<[string, () => unknown, string]>([
    [
      'an empty template name',
      () => BatchProcessingOutcome.createBatches('', configs, 10),
      'worker_template_name: must not be empty',
    ],
    [
      'no configs',
      () => BatchProcessingOutcome.createBatches('w', [], 0),
      'cursor_configs: must contain at least one cursor config (return a no-batches outcome when there is nothing to process)',
    ],
    [
      'configs that are not an array',
      () => BatchProcessingOutcome.createBatches('w', 'x' as never, 0),
      'cursor_configs: must be an array, got "x"',
    ],
    [
      'a config that is not an object',
      () => BatchProcessingOutcome.createBatches('w', [configs[0], 7 as never], 10),
      'cursor_configs[1]: must be an object, got 7',
    ],
    [
      'a duplicate batch_id',
      () =>
        BatchProcessingOutcome.createBatches(
          'w',
          [configs[0], { ...configs[1], batch_id: '001' }],
          10,
        ),
      "cursor_configs[1].batch_id: duplicates cursor_configs[0].batch_id ('001')",
    ],
    [
      'an empty batch_id',
      () => BatchProcessingOutcome.createBatches('w', [{ ...configs[0], batch_id: '' }], 10),
      'cursor_configs[0].batch_id: must not be empty',
    ],
    [
      'a missing start_cursor',
      () =>
        BatchProcessingOutcome.createBatches(
          'w',
          [{ ...configs[0], start_cursor: undefined as never }],
          10,
        ),
      'cursor_configs[0].start_cursor: is required',
    ],
    [
      'a null end_cursor',
      () =>
        BatchProcessingOutcome.createBatches(
          'w',
          [{ ...configs[0], end_cursor: null as never }],
          10,
        ),
      'cursor_configs[0].end_cursor: is required',
    ],
    [
      'an empty range',
      () => BatchProcessingOutcome.createBatches('w', [{ ...configs[0], end_cursor: 1 }], 10),
      'cursor_configs[0].end_cursor: must be greater than start_cursor (1), got 1',
    ],
    [
      'a negative range',
      () =>
        BatchProcessingOutcome.createBatches(
          'w',
          [configs[0], { ...configs[1], end_cursor: 2 }],
          10,
        ),
      'cursor_configs[1].end_cursor: must be greater than start_cursor (5), got 2',
    ],
    [
      'a zero batch_size',
      () => BatchProcessingOutcome.createBatches('w', [{ ...configs[0], batch_size: 0 }], 10),
      'cursor_configs[0].batch_size: must be an integer >= 1, got 0',
    ],
    [
      'a cursor that is not JSON',
      () =>
        BatchProcessingOutcome.createBatches(
          'w',
          [{ ...configs[0], start_cursor: 10n as never }],
          10,
        ),
      'cursor_configs[0].start_cursor: must be JSON-serializable (Do not know how to serialize a BigInt)',
    ],
    [
      'negative total_items',
      () => BatchProcessingOutcome.createBatches('w', configs, -1),
      'total_items: must be an integer >= 0, got -1',
    ],
  ])('createBatches rejects %s', (_label, build, problem) => {
    expect(build).toThrow(new ValidationError(`BatchProcessingOutcome.createBatches: ${problem}`));
  });

  it.each<[string, unknown, unknown]>([
    ['the seed NoBatches', { outcome_type: 'NoBatches' }, { outcome_type: 'NoBatches' }],
    ['the reference no_batches', { type: 'no_batches' }, { outcome_type: 'NoBatches' }],
    [
      'the seed CreateBatches',
      {
        outcome_type: 'CreateBatches',
        worker_template_name: 'w',
        worker_count: 3,
        cursor_configs: configs,
        total_items: 10,
      },
      {
        outcome_type: 'CreateBatches',
        worker_template_name: 'w',
        worker_count: 3,
        cursor_configs: configs,
        total_items: 10,
      },
    ],
    [
      'the reference create_batches (0-based cursors)',
      {
        type: 'create_batches',
        worker_template_name: 'process_csv_batch',
        worker_count: 2,
        cursor_configs: [
          { batch_id: '001', start_cursor: 0, end_cursor: 334, batch_size: 334 },
          { batch_id: '002', start_cursor: 334, end_cursor: 668, batch_size: 334 },
        ],
        total_items: 668,
      },
      {
        outcome_type: 'CreateBatches',
        worker_template_name: 'process_csv_batch',
        worker_count: 2,
        cursor_configs: [
          { batch_id: '001', start_cursor: 0, end_cursor: 334, batch_size: 334 },
          { batch_id: '002', start_cursor: 334, end_cursor: 668, batch_size: 334 },
        ],
        total_items: 668,
      },
    ],
  ])('fromJSON reads %s', (_label, json, expected) => {
    expect(BatchProcessingOutcome.fromJSON(json).toJSON()).toStrictEqual(expected);
  });

  it('round-trips through JSON', () => {
    const outcome = BatchProcessingOutcome.createBatches('w', configs, 10);
    expect(BatchProcessingOutcome.fromJSON(JSON.parse(JSON.stringify(outcome)))).toEqual(outcome);
  });

  it.each<[string, unknown, string]>([
    ['a non-object', null, 'expected an object, got null'],
    [
      'an unknown type',
      { type: 'some_batches' },
      `type: must be 'NoBatches' or 'CreateBatches' (or 'no_batches' / 'create_batches' as 'type'), got "some_batches"`,
    ],
    [
      'a worker_count that does not match',
      {
        outcome_type: 'CreateBatches',
        worker_template_name: 'w',
        worker_count: 5,
        cursor_configs: configs,
        total_items: 10,
      },
      'worker_count: must equal the number of cursor_configs (3), got 5',
    ],
    [
      'a missing worker_count',
      {
        type: 'create_batches',
        worker_template_name: 'w',
        cursor_configs: configs,
        total_items: 10,
      },
      'worker_count: must equal the number of cursor_configs (3), got undefined',
    ],
    [
      'several problems',
      { type: 'create_batches', worker_count: 0, cursor_configs: [], total_items: 'x' },
      'worker_template_name: must be a non-empty string, got undefined; ' +
        'cursor_configs: must contain at least one cursor config (return a no-batches outcome when there is nothing to process); ' +
        'total_items: must be an integer >= 0, got "x"',
    ],
    [
      'type and outcome_type that disagree',
      { type: 'no_batches', outcome_type: 'CreateBatches' },
      'type is "no_batches" but outcome_type is "CreateBatches"; they must agree (set only one of them)',
    ],
    [
      'NoBatches with workers',
      { outcome_type: 'NoBatches', worker_count: 2 },
      'worker_count: must be 0 for a no-batches outcome, got 2',
    ],
    [
      'NoBatches with items',
      { type: 'no_batches', total_items: -5 },
      'total_items: must be 0 for a no-batches outcome, got -5',
    ],
    [
      'NoBatches with cursor configs',
      { type: 'no_batches', cursor_configs: configs.slice(0, 1) },
      'cursor_configs: must be empty for a no-batches outcome, got [{"batch_id":"001","start_cursor":1,"end_cursor":5,"batch_size":4}]',
    ],
    [
      'NoBatches with a worker template',
      { type: 'no_batches', worker_template_name: 'w' },
      'worker_template_name: must not be set for a no-batches outcome (the placeholder worker is handler.initialization.worker_template_name), got "w"',
    ],
  ])('fromJSON rejects %s', (_label, json, problem) => {
    expect(() => BatchProcessingOutcome.fromJSON(json)).toThrow(
      new ValidationError(`BatchProcessingOutcome.fromJSON: ${problem}`),
    );
  });
});
