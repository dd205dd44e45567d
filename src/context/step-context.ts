import type { Logger } from '../logger';
import type { StepPayload } from '../native';

/** Everything a handler gets about the step it runs. Built once per execution. */
export class StepContext {
  readonly taskUuid: string;
  readonly stepUuid: string;
  readonly stepName: string;
  readonly namespace: string;
  readonly taskName: string;
  readonly taskVersion: string;
  /** The template's `handler.callable` for this step. */
  readonly handlerName: string;
  /** The task's context (its input), shared by every step. */
  readonly inputData: Record<string, unknown>;
  /** The template's `handler.initialization` for this step. */
  readonly stepConfig: Record<string, unknown>;
  /** Inputs of this step row (e.g. a batch worker's cursor). */
  readonly stepInputs: Record<string, unknown>;
  /** Results of completed ancestor steps, by step name. */
  readonly dependencyResults: Readonly<Record<string, unknown>>;
  /** Attempts made before this one (0 on the first run). */
  readonly retryCount: number;
  /** The step's `max_attempts`. */
  readonly maxRetries: number;
  readonly checkpoint: Record<string, unknown> | null;
  /** Aborted when the step times out, its task is cancelled, or the worker shuts down. */
  readonly signal: AbortSignal;
  /** Logs with the task uuid and step name as prefix. */
  readonly logger: Logger;

  constructor(payload: StepPayload, signal: AbortSignal, logger: Logger) {
    const { task, step } = payload;
    this.taskUuid = task.task_uuid;
    this.stepUuid = step.step_uuid;
    this.stepName = step.name;
    this.namespace = task.namespace;
    this.taskName = task.name;
    this.taskVersion = task.version;
    this.handlerName = step.handler_callable;
    this.inputData = task.context ?? {};
    this.stepConfig = step.handler_initialization ?? {};
    this.stepInputs = step.inputs ?? {};
    this.dependencyResults = unwrapDependencyResults(payload.dependency_results ?? {});
    this.retryCount = step.attempts ?? 0;
    this.maxRetries = step.max_attempts ?? 1;
    this.checkpoint = step.checkpoint ?? null;
    this.signal = signal;
    this.logger = logger;
  }

  /** The result of the named ancestor step, or `null` if there is none. */
  getDependencyResult(name: string): unknown {
    return Object.hasOwn(this.dependencyResults, name)
      ? (this.dependencyResults[name] ?? null)
      : null;
  }

  /**
   * A field inside an ancestor's result: `getDependencyField('fetch', 'order', 'items', 0)`.
   * `null` when the step, or any part of the path, is missing.
   */
  getDependencyField(name: string, ...path: (string | number)[]): unknown {
    let current = this.getDependencyResult(name);
    for (const key of path) {
      if (typeof current !== 'object' || current === null) return null;
      const k = String(key);
      if (!Object.hasOwn(current, k)) return null;
      current = (current as Record<string, unknown>)[k];
    }
    return current ?? null;
  }

  /** Non-null results of the ancestors whose name starts with `prefix` (all if omitted). */
  getAllDependencyResults(prefix = ''): unknown[] {
    return Object.entries(this.dependencyResults)
      .filter(
        ([name, result]) => name.startsWith(prefix) && result !== null && result !== undefined,
      )
      .map(([, result]) => result);
  }

  /** Names of the ancestors whose results are available. */
  getDependencyResultKeys(): string[] {
    return Object.keys(this.dependencyResults);
  }

  /** A field of the task's context. */
  getInput<T = unknown>(key: string): T | undefined {
    return (Object.hasOwn(this.inputData, key) ? this.inputData[key] : undefined) as T | undefined;
  }

  /** A field of the task's context, or `fallback` when it is absent (`undefined`; `null` is kept). */
  getInputOr<T>(key: string, fallback: T): T {
    const value = this.getInput<T>(key);
    return value === undefined ? fallback : value;
  }

  /** A field of the step's `handler.initialization`. */
  getConfig<T = unknown>(key: string): T | undefined {
    return (Object.hasOwn(this.stepConfig, key) ? this.stepConfig[key] : undefined) as
      T | undefined;
  }

  /** Whether an earlier attempt of this step failed. */
  isRetry(): boolean {
    return this.retryCount > 0;
  }

  /** Whether this is the last attempt the step gets. */
  isLastRetry(): boolean {
    return this.retryCount >= this.maxRetries - 1;
  }
}

function unwrapDependencyResults(
  raw: StepPayload['dependency_results'],
): Readonly<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(raw)) {
    results[name] =
      typeof entry === 'object' && entry !== null && 'result' in entry ? entry.result : entry;
  }
  return Object.freeze(results);
}
