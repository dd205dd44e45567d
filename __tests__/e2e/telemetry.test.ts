/**
 * OpenTelemetry, with the SDK's in-memory exporters: a task created inside the creator's span
 * runs `fetch` (fails once, then completes) and `charge` (fails for good). Each of the three
 * step executions is one span `tasker.step <name>`, a child of the creator's span in the same
 * trace, with the task, step, attempt and outcome as attributes, and the error on failure; the
 * handler's own spans are children of its step's span. The counters, the duration histogram
 * and the backlog gauge say the same.
 */
import { context, metrics, propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { PermanentError, RetryableError, type Worker } from '../../src/index';
import { defineHandler, describeEachBackend, eventually, startWorker } from '../helpers/e2e';

/** A reader the test collects from when it wants. */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

const spans = new InMemorySpanExporter();
let reader: TestReader;

beforeAll(() => {
  context.setGlobalContextManager(new AsyncHooksContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

beforeEach(() => {
  // Fresh providers per test: the worker takes its meter when it is created.
  trace.disable();
  metrics.disable();
  spans.reset();
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  );
  reader = new TestReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
});

afterAll(() => {
  trace.disable();
  metrics.disable();
  context.disable();
  propagation.disable();
});

async function collected(): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const byName = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  }
  return byName;
}

/** The value of each data point of a counter or gauge, keyed by its step name (or `*`). */
function values(metric: MetricData | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const point of (metric?.dataPoints ?? []) as DataPoint<number>[]) {
    const step = point.attributes['tasker.step.name'];
    out[typeof step === 'string' ? step : '*'] = point.value;
  }
  return out;
}

function stepSpans(): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.name.startsWith('tasker.step '));
}

function handlers() {
  const inner = trace.getTracer('handlers');
  return [
    defineHandler('Telemetry.Fetch', (ctx) => {
      inner.startActiveSpan('fetch.inner', (span) => span.end());
      if (ctx.retryCount === 0) throw new RetryableError('upstream answered 503');
      return { fetched: true };
    }),
    defineHandler('Telemetry.Charge', () => {
      throw new PermanentError('card declined');
    }),
    defineHandler('Telemetry.Ship', () => ({ shipped: true })),
  ];
}

describeEachBackend('OpenTelemetry', (backend) => {
  it('one span per step execution under the creator’s span, and the metrics to match', async () => {
    const worker: Worker = await startWorker({
      database: await backend.database(),
      templates: 'telemetry',
      handlers: handlers(),
      start: false,
    });
    const creator = trace.getTracer('app').startSpan('checkout');
    const task = await context.with(trace.setSpan(context.active(), creator), () =>
      worker.client.createTask({ namespace: 'e2e', name: 'telemetry' }),
    );
    creator.end();

    // Before the worker starts, the first step waits: the backlog gauge shows it.
    const before = await collected();
    expect(values(before.get('tasker.steps.ready'))).toEqual({ '*': 1 });
    expect(values(before.get('tasker.steps.ready.oldest_age'))['*']).toBeGreaterThanOrEqual(0);
    expect(before.get('tasker.steps.ready')?.dataPoints[0].attributes).toEqual({
      'tasker.worker.id': worker.workerId,
    });

    await worker.start();
    const done = await worker.client.waitForTask(task.taskUuid, { timeoutMs: 20_000 });
    expect(done.state).toBe('error');
    const ended = await eventually('three step spans', () =>
      stepSpans().length === 3 ? stepSpans() : undefined,
    );

    const parent = creator.spanContext();
    const summary = ended.map((s) => ({
      name: s.name,
      attempt: s.attributes['tasker.step.attempt'],
      outcome: s.attributes['tasker.step.outcome'],
      status: s.status,
      errorType: s.attributes['error.type'],
    }));
    expect(summary).toEqual(
      expect.arrayContaining([
        {
          name: 'tasker.step fetch',
          attempt: 1,
          outcome: 'retry',
          status: { code: SpanStatusCode.ERROR, message: 'upstream answered 503' },
          errorType: 'retryable_error',
        },
        {
          name: 'tasker.step fetch',
          attempt: 2,
          outcome: 'completed',
          status: { code: SpanStatusCode.UNSET },
          errorType: undefined,
        },
        {
          name: 'tasker.step charge',
          attempt: 1,
          outcome: 'failed',
          status: { code: SpanStatusCode.ERROR, message: 'card declined' },
          errorType: 'permanent_error',
        },
      ]),
    );
    for (const span of ended) {
      expect(span.spanContext().traceId).toBe(parent.traceId);
      expect(span.parentSpanContext?.spanId).toBe(parent.spanId);
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.attributes).toMatchObject({
        'tasker.task.uuid': task.taskUuid,
        'tasker.task.namespace': 'e2e',
        'tasker.task.name': 'telemetry',
        'tasker.task.version': '1.0.0',
        'tasker.step.uuid': done.steps.find((s) => `tasker.step ${s.name}` === span.name)?.stepUuid,
        'tasker.step.max_attempts': span.name === 'tasker.step fetch' ? 2 : 3,
        'tasker.worker.id': worker.workerId,
      });
    }
    // The handler's own spans are children of its step's span.
    const inner = spans.getFinishedSpans().filter((s) => s.name === 'fetch.inner');
    expect(inner).toHaveLength(2);
    const fetchSpans = ended.filter((s) => s.name === 'tasker.step fetch');
    expect(inner.map((s) => s.parentSpanContext?.spanId).sort()).toEqual(
      fetchSpans.map((s) => s.spanContext().spanId).sort(),
    );

    const after = await collected();
    expect(values(after.get('tasker.steps.claimed'))).toEqual({ fetch: 2, charge: 1 });
    expect(values(after.get('tasker.steps.completed'))).toEqual({ fetch: 1 });
    expect(values(after.get('tasker.steps.retried'))).toEqual({ fetch: 1 });
    expect(values(after.get('tasker.steps.failed'))).toEqual({ charge: 1 });
    expect(values(after.get('tasker.steps.reaped'))).toEqual({ '*': 0 });
    expect(values(after.get('tasker.steps.ready'))).toEqual({ '*': 0 });
    expect(after.get('tasker.steps.claimed')?.dataPoints[0].attributes).toEqual({
      'tasker.task.namespace': 'e2e',
      'tasker.task.name': 'telemetry',
      'tasker.step.name': expect.any(String),
    });
    const durations = after.get('tasker.step.duration');
    expect(durations?.descriptor.unit).toBe('ms');
    const histogram = (durations?.dataPoints ?? []) as DataPoint<Histogram>[];
    expect(
      histogram
        .map(
          (p) =>
            `${p.attributes['tasker.step.name']} ${p.attributes['tasker.step.outcome']} ${p.value.count}`,
        )
        .sort(),
    ).toEqual(['charge failed 1', 'fetch completed 1', 'fetch retry 1']);
    expect(histogram.every((p) => (p.value.min ?? -1) >= 0)).toBe(true);

    // The worker's own counters agree.
    expect(worker.stats()).toMatchObject({ claimed: 3, completed: 1, retried: 1, failed: 1 });
  });

  it('a task created outside any span has step spans of a trace of their own', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'telemetry',
      handlers: handlers(),
    });
    const task = await worker.client.createTask({ namespace: 'e2e', name: 'telemetry' });
    await worker.client.waitForTask(task.taskUuid, { timeoutMs: 20_000 });
    const ended = await eventually('three step spans', () =>
      stepSpans().length === 3 ? stepSpans() : undefined,
    );
    for (const span of ended) expect(span.parentSpanContext).toBeUndefined();
  });

  it('nothing, with telemetry: false', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'telemetry',
      handlers: handlers(),
      telemetry: false,
    });
    const task = await worker.client.createTask({ namespace: 'e2e', name: 'telemetry' });
    expect((await worker.client.waitForTask(task.taskUuid, { timeoutMs: 20_000 })).state).toBe(
      'error',
    );
    await worker.shutdown();
    expect(stepSpans()).toEqual([]);
    const after = await collected();
    expect(after.has('tasker.steps.claimed')).toBe(false);
    // The core still counts.
    expect(worker.stats()).toMatchObject({ completed: 1, retried: 1, failed: 1 });
  });
});
