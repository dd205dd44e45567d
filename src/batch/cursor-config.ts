import { IntegerAtLeast } from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';

/**
 * One batch worker's slice of the work (snake_case: it crosses to the core as is and comes back
 * in the worker's `ctx.stepInputs.cursor`). `start_cursor` is inclusive, `end_cursor` exclusive.
 * Cursors are usually numbers but may be any JSON (a timestamp string, an object).
 */
export type CursorConfig<TCursor = number> = {
  /** Unique within an outcome; the worker step is named `<worker_template>_<batch_id>`. */
  batch_id: string;
  start_cursor: TCursor;
  end_cursor: TCursor;
  batch_size: number;
};

class CursorConfigsArgs {
  @IntegerAtLeast(0)
  totalItems!: unknown;

  @IntegerAtLeast(1)
  workerCount!: unknown;
}

/**
 * Split items `1..totalItems` into at most `workerCount` contiguous slices of
 * `ceil(totalItems / workerCount)` items (the last may be smaller): 1-based `start_cursor`,
 * exclusive `end_cursor`, `batch_id` `"001"`, `"002"`, …. Never emits an empty range, so it may
 * return fewer configs than workers (3 items / 5 workers → three configs of 1), and none for 0
 * items. Throws `ValidationError` unless `totalItems` is an integer >= 0 and `workerCount` an
 * integer >= 1.
 *
 * 10 items / 3 workers → `[1,5) [5,9) [9,11)`.
 */
export function createCursorConfigs(totalItems: number, workerCount: number): CursorConfig[] {
  validateOrThrow(
    Object.assign(new CursorConfigsArgs(), { totalItems, workerCount }),
    'createCursorConfigs',
  );
  const perWorker = Math.ceil(totalItems / workerCount);
  const configs: CursorConfig[] = [];
  for (let i = 0; i < workerCount; i += 1) {
    const start = i * perWorker + 1;
    if (start > totalItems) break;
    const end = Math.min(start + perWorker, totalItems + 1);
    configs.push({
      batch_id: String(i + 1).padStart(3, '0'),
      start_cursor: start,
      end_cursor: end,
      batch_size: end - start,
    });
  }
  return configs;
}
