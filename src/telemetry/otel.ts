/**
 * The OpenTelemetry API, when the application has installed it. `@opentelemetry/api` is an
 * optional peer dependency: it is loaded once, on first use, with a guarded `require`, and
 * without it the package works as before, with no telemetry. Only types come from it at compile
 * time (and none of them is part of the package's public API).
 */
import type * as Otel from '@opentelemetry/api';

export type OtelApi = typeof Otel;

let loaded: OtelApi | null | undefined;

/** The API, or `undefined` when `@opentelemetry/api` cannot be loaded. */
export function otelApi(): OtelApi | undefined {
  if (loaded === undefined) {
    try {
      loaded = require('@opentelemetry/api') as OtelApi;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * Whether an OpenTelemetry SDK is registered: a global tracer provider (behind the API's proxy)
 * or a global meter provider. Many applications have `@opentelemetry/api` installed, as a
 * dependency of other packages, without any SDK: then there is nothing to record, and workers
 * skip the work. Read when a worker is created, so the SDK must be started before.
 */
export function sdkRegistered(api: OtelApi): boolean {
  try {
    const tracers = api.trace.getTracerProvider();
    const tracing =
      !(tracers instanceof api.ProxyTracerProvider) ||
      tracers.getDelegate() !== new api.ProxyTracerProvider().getDelegate();
    const metering = api.metrics.getMeter('tasker-node') !== api.createNoopMeter();
    return tracing || metering;
  } catch {
    return false;
  }
}
