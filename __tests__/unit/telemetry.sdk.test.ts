/**
 * Telemetry is on only when there is something to record: `@opentelemetry/api` installed (as a
 * dependency of other packages it often is) is not enough, an SDK's tracer or meter provider
 * must be registered when the worker is created.
 */
import { metrics, trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { otelApi, sdkRegistered } from '../../src/telemetry/otel';
import { resolveWorkerOptions } from '../../src/worker/options';

const options = { templates: 't', handlers: [] };

afterEach(() => {
  trace.disable();
  metrics.disable();
});

describe('telemetry', () => {
  it('is off with the API alone, no SDK registered', () => {
    expect(sdkRegistered(otelApi()!)).toBe(false);
    expect(resolveWorkerOptions(options).telemetry).toBe(false);
  });

  it('is on with a tracer provider registered, unless the worker says telemetry: false', () => {
    trace.setGlobalTracerProvider(new BasicTracerProvider());
    expect(resolveWorkerOptions(options).telemetry).toBe(true);
    expect(resolveWorkerOptions({ ...options, telemetry: false }).telemetry).toBe(false);
  });

  it('is on with a meter provider alone', () => {
    metrics.setGlobalMeterProvider(new MeterProvider());
    expect(resolveWorkerOptions(options).telemetry).toBe(true);
  });

  it('refuses a telemetry option that is not a boolean', () => {
    expect(() =>
      resolveWorkerOptions({ ...options, telemetry: 'yes' as unknown as boolean }),
    ).toThrow('telemetry must be true or false');
  });
});
