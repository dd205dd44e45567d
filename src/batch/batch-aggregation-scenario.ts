import { StepContext } from '../context/step-context';
import { ValidationError } from '../errors/validation-error';
import { IntegerAtLeast, NonEmptyString, isPlainObject } from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';
import { BatchProcessingOutcome } from './batch-processing-outcome';

export type BatchAggregationKind = 'no_batches' | 'with_batches';

/**
 * Totals over batch workers' results (snake_case, and a type alias rather than an interface:
 * it is usually returned as a step result).
 */
export type BatchAggregateTotals = {
  total_processed: number;
  total_succeeded: number;
  total_failed: number;
  total_skipped: number;
  /** Workers whose result was an object. */
  batch_count: number;
  /** `total_succeeded / total_processed`, 0 when nothing was processed. */
  success_rate: number;
  /** The workers' `errors`, concatenated (at most `maxErrors`). */
  errors: unknown[];
  /** How many errors there were in all. */
  error_count: number;
};

export type BatchAggregateSummary = BatchAggregateTotals & {
  scenario: BatchAggregationKind;
  worker_count: number;
};

export interface AggregateOptions {
  /** Keep at most this many errors (default 100); `error_count` still counts them all. */
  maxErrors?: number;
}

class DetectArgs {
  @NonEmptyString()
  batchableStepName!: unknown;

  @NonEmptyString()
  workerTemplateName!: unknown;
}

class AggregateArgs {
  @IntegerAtLeast(0)
  maxErrors!: unknown;
}

/**
 * What a convergence step (`type: deferred_convergence`, depending on the worker template)
 * finds upstream: either the batchable step chose no batches (`no_batches`; the no-op
 * placeholder `<template>_000` ran) or it fanned out (`with_batches`), in which case
 * `workerResults` holds every worker's result by step name (`<template>_<batch_id>`), in
 * `batch_id` order.
 *
 * ```ts
 * const scenario = BatchAggregationScenario.detect(ctx, 'analyze_csv', 'process_csv_batch');
 * return scenario.aggregate(); // {scenario, worker_count, total_processed, …}
 * ```
 */
export class BatchAggregationScenario {
  private constructor(
    readonly kind: BatchAggregationKind,
    /** The batchable step's result. */
    readonly batchableResult: Readonly<Record<string, unknown>>,
    /** The workers' results by step name; empty for `no_batches`. */
    readonly workerResults: Readonly<Record<string, unknown>>,
  ) {}

  get workerCount(): number {
    return Object.keys(this.workerResults).length;
  }

  isNoBatches(): boolean {
    return this.kind === 'no_batches';
  }

  isWithBatches(): boolean {
    return this.kind === 'with_batches';
  }

  /**
   * Tell the scenarios apart from the dependency results (a `StepContext`, or results by step
   * name as in `ctx.dependencyResults`). The batchable step's `batch_processing_outcome` says
   * which workers exist; every one of them must have a result. Throws `ValidationError` when the
   * batchable step's result or a worker's result is missing, or the names do not match.
   */
  static detect(
    source: StepContext | Readonly<Record<string, unknown>>,
    batchableStepName: string,
    workerTemplateName: string,
  ): BatchAggregationScenario {
    const what = 'BatchAggregationScenario.detect';
    validateOrThrow(
      Object.assign(new DetectArgs(), { batchableStepName, workerTemplateName }),
      what,
    );
    const results = source instanceof StepContext ? source.dependencyResults : source;
    // From a StepContext, a batchable step upstream that the step does not list in its
    // dependencies is named as such (NotADependencyError), not reported missing.
    const batchable =
      source instanceof StepContext
        ? source.getDependencyResult(batchableStepName)
        : Object.hasOwn(results, batchableStepName)
          ? results[batchableStepName]
          : undefined;
    if (!isPlainObject(batchable)) {
      throw new ValidationError(
        `${what}: no result for the batchable step '${batchableStepName}' among the dependency ` +
          `results (${describeNames(Object.keys(results))})`,
      );
    }
    const prefix = `${workerTemplateName}_`;
    const placeholder = `${prefix}000`;

    if (batchable.batch_processing_outcome === undefined) {
      // Not the batchable step's own outcome: fall back to the worker names.
      if (Object.hasOwn(results, placeholder)) {
        return new BatchAggregationScenario('no_batches', batchable, {});
      }
      const names = Object.keys(results)
        .filter((name) => name.startsWith(prefix))
        .sort();
      if (names.length === 0) {
        throw new ValidationError(
          `${what}: the result of '${batchableStepName}' has no batch_processing_outcome and no ` +
            `dependency result is named '${prefix}<batch_id>' (${describeNames(Object.keys(results))})`,
        );
      }
      return new BatchAggregationScenario('with_batches', batchable, pick(results, names));
    }

    const outcome = BatchProcessingOutcome.fromJSON(batchable.batch_processing_outcome);
    if (outcome.isNoBatches()) return new BatchAggregationScenario('no_batches', batchable, {});
    if (outcome.workerTemplateName !== workerTemplateName) {
      throw new ValidationError(
        `${what}: workerTemplateName: '${workerTemplateName}' is not the worker template of ` +
          `'${batchableStepName}' ('${String(outcome.workerTemplateName)}')`,
      );
    }
    const names = outcome.cursorConfigs.map((c) => `${prefix}${c.batch_id}`);
    const missing = names.filter((name) => !Object.hasOwn(results, name));
    if (missing.length > 0) {
      throw new ValidationError(
        `${what}: no result for the batch worker(s) ${missing.map((m) => `'${m}'`).join(', ')}`,
      );
    }
    return new BatchAggregationScenario('with_batches', batchable, pick(results, names));
  }

  /** Totals over the workers' results (all zero for `no_batches`), with the scenario. */
  aggregate(options: AggregateOptions = {}): BatchAggregateSummary {
    return {
      scenario: this.kind,
      worker_count: this.workerCount,
      ...aggregateBatchResults(Object.values(this.workerResults), options),
    };
  }
}

/**
 * Sum batch workers' `items_processed`, `items_succeeded`, `items_failed` and `items_skipped`
 * (read at the top level of each result, or under `batch_worker_outcome`) and concatenate their
 * `errors`. Results that are not objects are skipped; counts that are not numbers count as 0.
 */
export function aggregateBatchResults(
  results: Iterable<unknown> | Readonly<Record<string, unknown>>,
  options: AggregateOptions = {},
): BatchAggregateTotals {
  const maxErrors = options.maxErrors ?? 100;
  validateOrThrow(Object.assign(new AggregateArgs(), { maxErrors }), 'aggregateBatchResults');
  const list: unknown[] =
    Symbol.iterator in Object(results)
      ? [...(results as Iterable<unknown>)]
      : Object.values(results as Record<string, unknown>);
  const totals: BatchAggregateTotals = {
    total_processed: 0,
    total_succeeded: 0,
    total_failed: 0,
    total_skipped: 0,
    batch_count: 0,
    success_rate: 0,
    errors: [],
    error_count: 0,
  };
  for (const raw of list) {
    if (!isPlainObject(raw)) continue;
    const result = isPlainObject(raw.batch_worker_outcome) ? raw.batch_worker_outcome : raw;
    totals.batch_count += 1;
    totals.total_processed += count(result.items_processed);
    totals.total_succeeded += count(result.items_succeeded);
    totals.total_failed += count(result.items_failed);
    totals.total_skipped += count(result.items_skipped);
    if (Array.isArray(result.errors)) {
      totals.error_count += result.errors.length;
      const room = maxErrors - totals.errors.length;
      if (room > 0) totals.errors.push(...result.errors.slice(0, room));
    }
  }
  totals.success_rate =
    totals.total_processed > 0 ? totals.total_succeeded / totals.total_processed : 0;
  return totals;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function pick(
  results: Readonly<Record<string, unknown>>,
  names: string[],
): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const name of names) out[name] = results[name];
  return Object.freeze(out);
}

function describeNames(names: string[]): string {
  return names.length === 0 ? 'there are none' : `have: ${names.join(', ')}`;
}
