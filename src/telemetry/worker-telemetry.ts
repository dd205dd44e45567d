/**
 * A worker's OpenTelemetry: one span per step execution, parented to the context stored with
 * the task, and the worker's metrics. Used only when `@opentelemetry/api` is installed (see
 * `otel.ts`); the names below are what a user sees, and docs/operating.md lists them.
 */
import type {
  Attributes,
  BatchObservableResult,
  Context,
  Counter,
  Histogram,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
  Span,
  Tracer,
} from '@opentelemetry/api';
import type {
  NativeReadyBacklog,
  NativeStepEvent,
  NativeStepResult,
  NativeWorkerStats,
  StepPayload,
} from '../native';
import { otelApi, type OtelApi } from './otel';
import { parentContext } from './trace-context';

/** The name of the tracer and meter. */
export const INSTRUMENTATION_SCOPE = 'tasker-node';

/** Span and metric attribute keys. */
export const ATTR = {
  taskUuid: 'tasker.task.uuid',
  namespace: 'tasker.task.namespace',
  taskName: 'tasker.task.name',
  taskVersion: 'tasker.task.version',
  stepUuid: 'tasker.step.uuid',
  stepName: 'tasker.step.name',
  attempt: 'tasker.step.attempt',
  maxAttempts: 'tasker.step.max_attempts',
  outcome: 'tasker.step.outcome',
  workerId: 'tasker.worker.id',
  errorType: 'error.type',
} as const;

/** Metric names. */
export const METRIC = {
  claimed: 'tasker.steps.claimed',
  completed: 'tasker.steps.completed',
  retried: 'tasker.steps.retried',
  failed: 'tasker.steps.failed',
  reaped: 'tasker.steps.reaped',
  duration: 'tasker.step.duration',
  ready: 'tasker.steps.ready',
  readyAge: 'tasker.steps.ready.oldest_age',
} as const;

/** What became of a result, as the core tells it (`NativeStepEvent.outcome`). */
export type StepOutcomeName = NonNullable<NativeStepEvent['outcome']>;

/** What the telemetry reads from its worker. */
export interface TelemetrySource {
  readonly workerId: string;
  stats(): NativeWorkerStats;
  readyBacklog(): Promise<NativeReadyBacklog>;
}

/** A step execution whose span is open. */
interface OpenStep {
  span: Span;
  /** The metric attributes of the step (namespace, task name, step name). */
  attributes: Attributes;
  startedAt: number;
  result?: NativeStepResult;
  abortReason?: string;
}

function key(stepUuid: string, claimId: string): string {
  return JSON.stringify([stepUuid, claimId]);
}

export class WorkerTelemetry {
  private readonly open = new Map<string, OpenStep>();
  private readonly tracer: Tracer;
  private readonly meter: Meter;
  private readonly claimed: Counter;
  private readonly completed: Counter;
  private readonly retried: Counter;
  private readonly failed: Counter;
  private readonly duration: Histogram;
  private readonly reaped: ObservableCounter;
  private readonly ready: ObservableGauge;
  private readonly readyAge: ObservableGauge;
  private readonly observables: Observable[];
  private observing = false;

  /** The worker's telemetry, or `undefined` without `@opentelemetry/api`. */
  static create(source: TelemetrySource): WorkerTelemetry | undefined {
    const api = otelApi();
    return api === undefined ? undefined : new WorkerTelemetry(api, source);
  }

  private constructor(
    private readonly api: OtelApi,
    private readonly source: TelemetrySource,
  ) {
    // Obtained now, not at import: a meter taken before the application registers its
    // MeterProvider would stay a no-op.
    this.tracer = api.trace.getTracer(INSTRUMENTATION_SCOPE);
    const meter = api.metrics.getMeter(INSTRUMENTATION_SCOPE);
    this.meter = meter;
    const steps = { unit: '{step}' };
    this.claimed = meter.createCounter(METRIC.claimed, {
      ...steps,
      description: 'Steps claimed by this worker (one per attempt)',
    });
    this.completed = meter.createCounter(METRIC.completed, {
      ...steps,
      description: 'Attempts recorded as completing their step',
    });
    this.retried = meter.createCounter(METRIC.retried, {
      ...steps,
      description: 'Attempts recorded as failed, with the step to be tried again',
    });
    this.failed = meter.createCounter(METRIC.failed, {
      ...steps,
      description: 'Attempts recorded as failing their step for good',
    });
    this.duration = meter.createHistogram(METRIC.duration, {
      unit: 'ms',
      description: 'How long step handlers ran, by outcome',
    });
    this.reaped = meter.createObservableCounter(METRIC.reaped, {
      ...steps,
      description: 'Expired leases (of workers that crashed or hung) this worker reaped',
    });
    this.ready = meter.createObservableGauge(METRIC.ready, {
      ...steps,
      description: "Steps ready to run but not claimed, for this worker's handlers",
    });
    this.readyAge = meter.createObservableGauge(METRIC.readyAge, {
      unit: 'ms',
      description: 'How long the oldest ready, unclaimed step has waited',
    });
    this.observables = [this.reaped, this.ready, this.readyAge];
    // Observed from the worker's creation (its backlog is there before it starts) until stop().
    this.meter.addBatchObservableCallback(this.observe, this.observables);
    this.observing = true;
  }

  /**
   * Stop observing, and end the spans still open (their results were never recorded as far as
   * this worker knows) with the outcome `unrecorded`.
   */
  stop(): void {
    if (this.observing) {
      this.observing = false;
      this.meter.removeBatchObservableCallback(this.observe, this.observables);
    }
    for (const [id, step] of this.open) {
      this.open.delete(id);
      this.end(step, 'unrecorded');
    }
  }

  /**
   * Run `handle` (the step's handler) inside a new span `tasker.step <step name>`, whose parent
   * is the context stored with the task (its creator's span), so that the handler's own spans
   * are its children.
   */
  run<T>(event: NativeStepEvent, payload: StepPayload, handle: () => Promise<T>): Promise<T> {
    const { api } = this;
    const { task, step } = payload;
    const attributes: Attributes = {
      [ATTR.namespace]: task.namespace,
      [ATTR.taskName]: task.name,
      [ATTR.stepName]: step.name,
    };
    let span: Span;
    let parent: Context;
    try {
      parent = parentContext(api, event.traceContext);
      span = this.tracer.startSpan(
        `tasker.step ${step.name}`,
        {
          kind: api.SpanKind.CONSUMER,
          attributes: {
            ...attributes,
            [ATTR.taskUuid]: task.task_uuid,
            [ATTR.taskVersion]: task.version,
            [ATTR.stepUuid]: step.step_uuid,
            [ATTR.attempt]: (step.attempts ?? 0) + 1,
            [ATTR.maxAttempts]: step.max_attempts,
            [ATTR.workerId]: this.source.workerId,
          },
        },
        parent,
      );
      this.claimed.add(1, attributes);
    } catch {
      // A broken SDK must not stop the step.
      return handle();
    }
    this.open.set(key(event.stepUuid, event.claimId), {
      span,
      attributes,
      startedAt: performance.now(),
    });
    return api.context.with(api.trace.setSpan(parent, span), handle);
  }

  /** The handler's result, as reported to the core (ends nothing: the core decides). */
  reported(event: NativeStepEvent, result: NativeStepResult): void {
    const step = this.open.get(key(event.stepUuid, event.claimId));
    if (step !== undefined) step.result = result;
  }

  /** The step's handler was aborted (a timeout, a cancellation, a lost claim, a shutdown). */
  aborted(event: NativeStepEvent): void {
    const step = this.open.get(key(event.stepUuid, event.claimId));
    if (step !== undefined && step.abortReason === undefined) step.abortReason = event.reason;
  }

  /** The core recorded (or ignored) a result of the execution: end its span, count it. */
  recorded(event: NativeStepEvent): void {
    const id = key(event.stepUuid, event.claimId);
    const step = this.open.get(id);
    if (step === undefined) return; // a late result of an execution already ended
    this.open.delete(id);
    this.end(step, event.outcome ?? 'unrecorded');
  }

  private end(step: OpenStep, outcome: StepOutcomeName): void {
    try {
      const { span, attributes, result } = step;
      span.setAttribute(ATTR.outcome, outcome);
      if (outcome === 'retry' || outcome === 'failed') {
        const message = result?.error?.message ?? step.abortReason ?? 'the step failed';
        span.setStatus({ code: this.api.SpanStatusCode.ERROR, message });
        span.setAttribute(ATTR.errorType, result?.error?.errorType ?? 'timeout');
      }
      span.end();
      if (outcome === 'completed') this.completed.add(1, attributes);
      else if (outcome === 'retry') this.retried.add(1, attributes);
      else if (outcome === 'failed') this.failed.add(1, attributes);
      const ms = result?.durationMs ?? performance.now() - step.startedAt;
      this.duration.record(ms, { ...attributes, [ATTR.outcome]: outcome });
    } catch {
      // A broken SDK must not break the worker.
    }
  }

  private readonly observe = async (observer: BatchObservableResult): Promise<void> => {
    const worker = { [ATTR.workerId]: this.source.workerId };
    try {
      observer.observe(this.reaped, this.source.stats().reaped, worker);
    } catch {
      // The worker has shut down meanwhile.
    }
    try {
      const backlog = await this.source.readyBacklog();
      observer.observe(this.ready, backlog.count, worker);
      observer.observe(this.readyAge, backlog.oldestMs ?? 0, worker);
    } catch {
      // The database did not answer (its outage is logged by the worker): no observation.
    }
  };
}
