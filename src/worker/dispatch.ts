import { PermanentError } from '../errors/permanent-error';
import type { NativeStepEvent, StepPayload } from '../native';

/**
 * A step event whose payload cannot be used; the step fails permanently with this message
 * (also when it surfaces inside the handler, from dependency results parsed on first read).
 */
export class InvalidPayloadError extends PermanentError {
  constructor(message: string) {
    super(message, { errorType: 'invalid_payload' });
    this.name = 'InvalidPayloadError';
  }
}

/**
 * Parse a `step` event's payload: the one place where step JSON from the core is parsed.
 * Checks just enough shape for the StepContext to be sound; throws `InvalidPayloadError`.
 */
export function parseStepPayload(event: NativeStepEvent): StepPayload {
  if (typeof event.payload !== 'string') {
    throw new InvalidPayloadError(`step event for step ${event.stepUuid} has no payload`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(event.payload);
  } catch (err) {
    throw new InvalidPayloadError(
      `step event for step ${event.stepUuid} has a payload that is not JSON: ${String(err)}`,
    );
  }
  const problem = findProblem(parsed);
  if (problem !== undefined) {
    throw new InvalidPayloadError(`step event for step ${event.stepUuid}: payload ${problem}`);
  }
  const payload = parsed as StepPayload;
  const raw = event.dependencies;
  if (raw !== undefined) {
    // Parsed on first read (most handlers of a wide fan-in read few results, many none).
    let cached: StepPayload['dependency_results'] | undefined;
    Object.defineProperty(payload, 'dependency_results', {
      enumerable: true,
      get: () => (cached ??= parseDependencies(event.stepUuid, raw)),
    });
  }
  return payload;
}

function parseDependencies(stepUuid: string, raw: string): StepPayload['dependency_results'] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new InvalidPayloadError(
      `step event for step ${stepUuid} has dependency results that are not JSON: ${String(err)}`,
    );
  }
  if (!isObject(parsed)) {
    throw new InvalidPayloadError(
      `step event for step ${stepUuid} has dependency results that are not an object`,
    );
  }
  return parsed as StepPayload['dependency_results'];
}

function findProblem(parsed: unknown): string | undefined {
  if (!isObject(parsed)) return 'is not an object';
  const { task, step } = parsed;
  if (!isObject(task)) return 'has no task object';
  if (!isObject(step)) return 'has no step object';
  for (const [where, obj, key] of [
    ['task', task, 'task_uuid'],
    ['step', step, 'step_uuid'],
    ['step', step, 'name'],
    ['step', step, 'handler_callable'],
  ] as const) {
    if (typeof obj[key] !== 'string') return `lacks the string ${where}.${key}`;
  }
  for (const [where, value] of [
    ['task.context', task.context],
    ['step.handler_initialization', step.handler_initialization],
    ['step.inputs', step.inputs],
    ['step.checkpoint', step.checkpoint],
    ['dependency_results', parsed.dependency_results],
  ] as const) {
    if (value !== undefined && value !== null && !isObject(value)) {
      return `has a ${where} that is not an object`;
    }
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
