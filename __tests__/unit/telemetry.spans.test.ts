/**
 * The worker's spans in the cases the e2e suite does not reach, on the mock core: a timeout
 * recorded before the handler settles (the abort's reason is the span's error), a stale result,
 * spans still open at shutdown (`unrecorded`), and trace contexts that cannot be read.
 */
import { ROOT_CONTEXT, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { captureTraceContext, parentContext } from '../../src/telemetry/trace-context';
import { otelApi } from '../../src/telemetry/otel';
import { abortEvent, defineHandler, startWorker, stepEvent } from '../helpers/mock-native';

const spans = new InMemorySpanExporter();

beforeAll(() => {
  context.setGlobalContextManager(new AsyncHooksContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  );
});
afterEach(() => spans.reset());
afterAll(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason as Error)),
  );
}

describe('step spans', () => {
  it('take the abort reason as the error of a timeout recorded before the handler settles', async () => {
    let release: () => void = () => undefined;
    const settled = new Promise<void>((r) => (release = r));
    const { worker, nativeWorker } = await startWorker([
      defineHandler('slow', async (ctx) => {
        await aborted(ctx.signal).catch(() => settled);
        return {};
      }),
    ]);
    const step = stepEvent({ handler: 'slow' });
    nativeWorker.push(step);
    await new Promise((r) => setImmediate(r));
    nativeWorker.push(abortEvent(step, "step 'slow' timed out after 1 s (attempt 1 of 3)"));
    nativeWorker.push({ ...step, kind: 'recorded', payload: undefined, outcome: 'retry' });
    await new Promise((r) => setImmediate(r));
    const [span] = spans.getFinishedSpans();
    expect(span.attributes['tasker.step.outcome']).toBe('retry');
    expect(span.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: "step 'slow' timed out after 1 s (attempt 1 of 3)",
    });
    expect(span.attributes['error.type']).toBe('timeout');
    // The handler's late result, and what the core says of it, end nothing more.
    release();
    await nativeWorker.waitForResults(1);
    nativeWorker.push({ ...step, kind: 'recorded', payload: undefined, outcome: 'stale' });
    await worker.shutdown();
    expect(spans.getFinishedSpans()).toHaveLength(1);
  });

  it('end as stale without an error, and as unrecorded when the worker stops first', async () => {
    const { worker, nativeWorker } = await startWorker([
      defineHandler('h', () => ({})),
      defineHandler('stuck', (ctx) => aborted(ctx.signal)),
    ]);
    nativeWorker.options.reportOutcomes = false; // this test tells the outcomes itself
    const stale = stepEvent({ handler: 'h', stepName: 'stale_one' });
    nativeWorker.push(stale);
    await nativeWorker.waitForResults(1);
    nativeWorker.push({ ...stale, kind: 'recorded', payload: undefined, outcome: 'stale' });
    nativeWorker.push(stepEvent({ handler: 'stuck', stepName: 'stuck_one' }));
    await new Promise((r) => setImmediate(r));
    await worker.shutdown();
    const ended = Object.fromEntries(
      spans.getFinishedSpans().map((s) => [s.name, s.attributes['tasker.step.outcome']]),
    );
    expect(ended).toEqual({
      'tasker.step stale_one': 'stale',
      'tasker.step stuck_one': 'unrecorded',
    });
    const staleSpan = spans.getFinishedSpans().find((s) => s.name === 'tasker.step stale_one');
    expect(staleSpan?.status.code).toBe(SpanStatusCode.UNSET);
  });
});

describe('trace contexts', () => {
  const api = otelApi()!;

  it('are captured only inside a span, and only traceparent and tracestate', () => {
    expect(captureTraceContext()).toBeUndefined();
    const span = trace.getTracer('t').startSpan('creator');
    const captured = context.with(trace.setSpan(context.active(), span), () =>
      captureTraceContext(),
    );
    span.end();
    expect(JSON.parse(captured ?? '{}')).toEqual({
      traceparent: `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`,
    });
  });

  it.each([undefined, '', 'not json', '[1]', '"text"', '{"traceparent": 7}'])(
    'that cannot be read (%p) start a new trace',
    (stored) => {
      const parent = parentContext(api, stored);
      expect(trace.getSpanContext(parent)).toBeUndefined();
      if (stored === undefined || stored === '') expect(parent).toBe(ROOT_CONTEXT);
    },
  );
});
