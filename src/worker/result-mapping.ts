import * as util from 'util';
import { PermanentError } from '../errors/permanent-error';
import { RetryableError } from '../errors/retryable-error';
import { StepHandlerResult, type StepFailure } from '../handler/step-handler-result';
import type { NativeStepError, NativeStepResult } from '../native';
import { describeValue } from '../describe-value';

/** How a handler's `call()` settled. */
export type StepOutcome = { kind: 'returned'; value: unknown } | { kind: 'threw'; error: unknown };

/** A step result without its identity and timing (added by the runner). */
export type MappedResult = Pick<NativeStepResult, 'success' | 'result' | 'error' | 'metadata'>;

/**
 * Turn a handler outcome into what the core stores. Pure, and never throws:
 * - returned `StepHandlerResult` → as is; other data → success with it; `undefined`/`null` → `{}`;
 * - thrown `PermanentError`/`ValidationError` → not retryable; `RetryableError` → retryable with
 *   its `retryAfterMs`; other `Error` → retryable, `errorType` = its name; a non-Error → retryable,
 *   `non_error_thrown`;
 * - a success whose result or metadata is not JSON → permanent `serialization_error`.
 */
export function mapOutcome(outcome: StepOutcome, stepName: string): MappedResult {
  if (outcome.kind === 'threw') return mapThrown(outcome.error, stepName);
  const value = outcome.value;
  if (value instanceof StepHandlerResult) {
    if (value.error !== null) return failure(value.error, value.metadata, stepName);
    return success(value.result, value.metadata, stepName);
  }
  return success(value, undefined, stepName);
}

/** A failure built from primitives only (for payload problems, missing handlers…). */
export function permanentFailure(errorType: string, message: string): MappedResult {
  return { success: false, error: { message, errorType, retryable: false } };
}

function success(value: unknown, metadata: unknown, stepName: string): MappedResult {
  const result = toJson(value ?? {});
  if (!result.ok) {
    return permanentFailure(
      'serialization_error',
      `step '${stepName}' returned a result that cannot be serialized to JSON: ${result.reason}`,
    );
  }
  const mapped: MappedResult = { success: true, result: result.json };
  if (isNonEmptyObject(metadata)) {
    const meta = toJson(metadata);
    if (!meta.ok) {
      return permanentFailure(
        'serialization_error',
        `step '${stepName}' returned metadata that cannot be serialized to JSON: ${meta.reason}`,
      );
    }
    mapped.metadata = meta.json;
  }
  return mapped;
}

/**
 * A failure. Metadata that cannot be serialized is dropped (with a note in the message) rather
 * than turning a retryable failure into a permanent one.
 */
function failure(error: StepFailure, metadata: unknown, stepName: string): MappedResult {
  const nativeError = sanitizeError(error);
  const mapped: MappedResult = { success: false, error: nativeError };
  if (isNonEmptyObject(metadata)) {
    const meta = toJson(metadata);
    if (meta.ok) mapped.metadata = meta.json;
    else {
      nativeError.message += ` (metadata of step '${stepName}' dropped: cannot be serialized to JSON: ${meta.reason})`;
    }
  }
  return mapped;
}

function mapThrown(thrown: unknown, stepName: string): MappedResult {
  if (thrown instanceof PermanentError) {
    return failure(
      {
        message: thrown.message,
        errorType: thrown.errorType,
        retryable: false,
        statusCode: thrown.statusCode,
        stack: thrown.stack,
      },
      thrown.metadata,
      stepName,
    );
  }
  if (thrown instanceof RetryableError) {
    return failure(
      {
        message: thrown.message,
        errorType: thrown.errorType,
        retryable: true,
        retryAfterMs: thrown.retryAfterMs,
        statusCode: thrown.statusCode,
        stack: thrown.stack,
      },
      thrown.metadata,
      stepName,
    );
  }
  if (isError(thrown)) {
    return failure(
      {
        message: thrown.message,
        errorType: thrown.name || 'Error',
        retryable: true,
        stack: thrown.stack,
      },
      undefined,
      stepName,
    );
  }
  const message =
    thrown === undefined
      ? 'handler threw undefined'
      : `handler threw a non-Error value: ${describeValue(thrown)}`;
  return failure({ message, errorType: 'non_error_thrown', retryable: true }, undefined, stepName);
}

/** `instanceof Error`, or an Error from another realm (vm contexts, some test runners). */
export function isError(value: unknown): value is Error {
  return value instanceof Error || util.types.isNativeError(value);
}

/**
 * Coerce the fields to what the addon can convert (a NaN or negative number would make the
 * whole `complete()` batch fail): strings for text, non-negative integers for numbers.
 */
function sanitizeError(error: StepFailure): NativeStepError {
  const out: NativeStepError = {
    message: typeof error.message === 'string' ? error.message : describeValue(error.message),
    errorType:
      typeof error.errorType === 'string' && error.errorType !== ''
        ? error.errorType
        : 'handler_error',
    retryable: error.retryable !== false,
  };
  const retryAfterMs = toNonNegativeInteger(error.retryAfterMs);
  if (retryAfterMs !== undefined && out.retryable) out.retryAfterMs = retryAfterMs;
  const statusCode = toNonNegativeInteger(error.statusCode);
  if (statusCode !== undefined) out.statusCode = statusCode;
  if (typeof error.stack === 'string' && error.stack !== '') out.stack = error.stack;
  return out;
}

function toNonNegativeInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? Math.round(value)
    : undefined;
}

type JsonOutcome = { ok: true; json: string } | { ok: false; reason: string };

function toJson(value: unknown): JsonOutcome {
  try {
    const json = JSON.stringify(value);
    if (json === undefined) {
      return { ok: false, reason: `JSON.stringify produced nothing for ${describeValue(value)}` };
    }
    return { ok: true, json };
  } catch (err) {
    return { ok: false, reason: isError(err) ? err.message : describeValue(err) };
  }
}

function isNonEmptyObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}
