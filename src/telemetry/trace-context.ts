import type { Context } from '@opentelemetry/api';
import { otelApi, type OtelApi } from './otel';

/** The W3C trace context headers kept with a task (baggage is not). */
const KEPT = ['traceparent', 'tracestate'] as const;

/**
 * The active trace context (the caller's span), as stored with a task: JSON of a W3C carrier,
 * `{"traceparent": …, "tracestate"?: …}`, injected by the registered propagator. `undefined`
 * without OpenTelemetry, without an active span, or without a W3C propagator.
 */
export function captureTraceContext(): string | undefined {
  const api = otelApi();
  if (api === undefined) return undefined;
  try {
    const injected: Record<string, string> = {};
    api.propagation.inject(api.context.active(), injected);
    if (typeof injected.traceparent !== 'string') return undefined;
    const carrier: Record<string, string> = {};
    for (const key of KEPT) {
      if (typeof injected[key] === 'string') carrier[key] = injected[key];
    }
    return JSON.stringify(carrier);
  } catch {
    return undefined;
  }
}

/**
 * The context a task's stored trace context names, to parent its steps' spans: the root context
 * (a new trace) when it has none or it cannot be read.
 */
export function parentContext(api: OtelApi, traceContext: string | undefined): Context {
  if (traceContext === undefined || traceContext === '') return api.ROOT_CONTEXT;
  try {
    const parsed: unknown = JSON.parse(traceContext);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return api.ROOT_CONTEXT;
    }
    const carrier: Record<string, string> = {};
    for (const key of KEPT) {
      const value = (parsed as Record<string, unknown>)[key];
      if (typeof value === 'string') carrier[key] = value;
    }
    return api.propagation.extract(api.ROOT_CONTEXT, carrier);
  } catch {
    return api.ROOT_CONTEXT;
  }
}
