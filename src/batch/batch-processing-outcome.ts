import { ValidateNested } from 'class-validator';
import { describeValue } from '../describe-value';
import { ValidationError } from '../errors/validation-error';
import {
  Check,
  IntegerAtLeast,
  NonEmptyString,
  PresentJson,
  isPlainObject,
  outcomeTag,
} from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';
import type { CursorConfig } from './cursor-config';

/** The kinds of batch outcome, as values (`BatchOutcomeType.CREATE_BATCHES`) and as a type. */
export const BatchOutcomeType = Object.freeze({
  NO_BATCHES: 'NoBatches',
  CREATE_BATCHES: 'CreateBatches',
} as const);
export type BatchOutcomeType = (typeof BatchOutcomeType)[keyof typeof BatchOutcomeType];

/** The wire form of a batch outcome (at `result.batch_processing_outcome`), read by the core. */
export type BatchProcessingOutcomeJson =
  | { outcome_type: 'NoBatches' }
  | {
      outcome_type: 'CreateBatches';
      worker_template_name: string;
      worker_count: number;
      cursor_configs: CursorConfig<unknown>[];
      total_items: number;
    };

class CursorConfigShape {
  @NonEmptyString()
  batch_id!: unknown;

  @PresentJson()
  start_cursor!: unknown;

  @Check('cursorRange', (end, object) => {
    if (end === undefined || end === null) return 'is required';
    const start = (object as CursorConfigShape).start_cursor;
    if (typeof start === 'number' && typeof end === 'number' && !(end > start)) {
      return `must be greater than start_cursor (${start}), got ${end}`;
    }
    return undefined;
  })
  end_cursor!: unknown;

  @IntegerAtLeast(1)
  batch_size!: unknown;
}

const cursorList = Check('cursorConfigs', (value) => {
  if (!Array.isArray(value)) return `must be an array, got ${describeValue(value)}`;
  if (value.length === 0) {
    return 'must contain at least one cursor config (return a no-batches outcome when there is nothing to process)';
  }
  const seen = new Map<string, number>();
  for (const [i, item] of value.entries()) {
    if (!(item instanceof CursorConfigShape))
      return `[${i}]: must be an object, got ${describeValue(item)}`;
    if (typeof item.batch_id !== 'string') continue;
    const first = seen.get(item.batch_id);
    if (first !== undefined) {
      return `[${i}].batch_id: duplicates cursor_configs[${first}].batch_id ('${item.batch_id}')`;
    }
    seen.set(item.batch_id, i);
  }
  return undefined;
});

class CreateBatchesShape {
  @NonEmptyString()
  worker_template_name!: unknown;

  @cursorList
  @ValidateNested()
  cursor_configs!: unknown;

  @IntegerAtLeast(0)
  total_items!: unknown;

  @Check('workerCount', (count, object) => {
    const configs = (object as CreateBatchesShape).cursor_configs;
    const expected = Array.isArray(configs) ? configs.length : undefined;
    return count === expected
      ? undefined
      : `must equal the number of cursor_configs (${String(expected)}), got ${describeValue(count)}`;
  })
  worker_count!: unknown;
}

/**
 * What a `type: batchable` step decided: fan out into one batch worker per cursor config
 * (`CreateBatches`), or not (`NoBatches`: the core creates the single no-op placeholder worker
 * `<worker_template>_000` so the convergence step still runs). Immutable; build it with
 * `createBatches()` / `noBatches()` or read it with `fromJSON()`. Checked here, before anything
 * reaches the core: a non-empty worker template name, at least one cursor config, unique
 * `batch_id`s, non-empty ranges, `total_items` an integer >= 0.
 */
export class BatchProcessingOutcome {
  private constructor(
    readonly outcomeType: BatchOutcomeType,
    /** `undefined` for NoBatches. */
    readonly workerTemplateName: string | undefined,
    readonly cursorConfigs: readonly Readonly<CursorConfig<unknown>>[],
    readonly totalItems: number,
  ) {}

  get workerCount(): number {
    return this.cursorConfigs.length;
  }

  static noBatches(): BatchProcessingOutcome {
    return new BatchProcessingOutcome('NoBatches', undefined, Object.freeze([]), 0);
  }

  /** One worker per cursor config, from the `batch_worker` template step `workerTemplateName`. */
  static createBatches<TCursor>(
    workerTemplateName: string,
    cursorConfigs: readonly CursorConfig<TCursor>[],
    totalItems: number,
  ): BatchProcessingOutcome {
    return BatchProcessingOutcome.checked(
      {
        worker_template_name: workerTemplateName,
        cursor_configs: cursorConfigs,
        total_items: totalItems,
        worker_count: Array.isArray(cursorConfigs) ? cursorConfigs.length : undefined,
      },
      'BatchProcessingOutcome.createBatches',
    );
  }

  /**
   * Read an outcome in either wire form: `{"outcome_type": "NoBatches" | "CreateBatches", ...}`
   * or the reference's `{"type": "no_batches" | "create_batches", ...}`. Throws
   * `ValidationError` naming the bad field; a no-batches outcome with workers, items or cursor
   * configs, or whose two tags disagree, is refused as the core would refuse it.
   */
  static fromJSON(json: unknown): BatchProcessingOutcome {
    const what = 'BatchProcessingOutcome.fromJSON';
    if (!isPlainObject(json)) {
      throw new ValidationError(`${what}: expected an object, got ${describeValue(json)}`);
    }
    const [field, type] = outcomeTag(json, what);
    if (type === 'NoBatches' || type === 'no_batches') {
      for (const [key, empty] of [
        ['worker_count', 0],
        ['total_items', 0],
      ] as const) {
        const value = json[key];
        if (value !== undefined && value !== null && value !== empty) {
          throw new ValidationError(
            `${what}: ${key}: must be ${empty} for a no-batches outcome, got ${describeValue(value)}`,
          );
        }
      }
      const configs = json.cursor_configs;
      if (
        configs !== undefined &&
        configs !== null &&
        !(Array.isArray(configs) && configs.length === 0)
      ) {
        throw new ValidationError(
          `${what}: cursor_configs: must be empty for a no-batches outcome, got ${describeValue(configs)}`,
        );
      }
      if (json.worker_template_name !== undefined && json.worker_template_name !== null) {
        throw new ValidationError(
          `${what}: worker_template_name: must not be set for a no-batches outcome (the placeholder ` +
            `worker is handler.initialization.worker_template_name), got ${describeValue(json.worker_template_name)}`,
        );
      }
      return BatchProcessingOutcome.noBatches();
    }
    if (type === 'CreateBatches' || type === 'create_batches') {
      return BatchProcessingOutcome.checked(json, what);
    }
    throw new ValidationError(
      `${what}: ${field}: must be 'NoBatches' or 'CreateBatches' (or 'no_batches' / ` +
        `'create_batches' as 'type'), got ${describeValue(type)}`,
    );
  }

  private static checked(data: Record<string, unknown>, what: string): BatchProcessingOutcome {
    const configs = data.cursor_configs;
    const shape = Object.assign(new CreateBatchesShape(), {
      worker_template_name: data.worker_template_name,
      total_items: data.total_items,
      worker_count: data.worker_count,
      cursor_configs: Array.isArray(configs)
        ? configs.map((c: unknown) =>
            typeof c === 'object' && c !== null && !Array.isArray(c)
              ? Object.assign(new CursorConfigShape(), c)
              : c,
          )
        : configs,
    });
    validateOrThrow(shape, what);
    const cursorConfigs = (configs as Record<string, unknown>[]).map((c) =>
      Object.freeze({
        batch_id: c.batch_id as string,
        start_cursor: c.start_cursor,
        end_cursor: c.end_cursor,
        batch_size: c.batch_size as number,
      }),
    );
    return new BatchProcessingOutcome(
      'CreateBatches',
      data.worker_template_name as string,
      Object.freeze(cursorConfigs),
      data.total_items as number,
    );
  }

  isNoBatches(): boolean {
    return this.outcomeType === 'NoBatches';
  }

  isCreateBatches(): boolean {
    return this.outcomeType === 'CreateBatches';
  }

  toJSON(): BatchProcessingOutcomeJson {
    if (this.outcomeType === 'NoBatches') return { outcome_type: 'NoBatches' };
    return {
      outcome_type: 'CreateBatches',
      worker_template_name: this.workerTemplateName as string,
      worker_count: this.workerCount,
      cursor_configs: this.cursorConfigs.map((c) => ({ ...c })),
      total_items: this.totalItems,
    };
  }
}
