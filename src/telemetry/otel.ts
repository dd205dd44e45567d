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
