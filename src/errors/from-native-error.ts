import { splitNativeError, type NativeErrorCode } from '../native';
import { ClosedError } from './closed-error';
import { DatabaseError } from './database-error';
import { DuplicateTaskError } from './duplicate-task-error';
import { HandlerNotRegisteredError } from './handler-not-registered-error';
import { InvalidArgumentError } from './invalid-argument-error';
import { InvalidStateError } from './invalid-state-error';
import { TaskNotFoundError } from './task-not-found-error';
import { TaskTimeoutError } from './task-timeout-error';
import type { TaskerError } from './tasker-error';
import { TemplateError } from './template-error';
import { TemplateNotFoundError } from './template-not-found-error';

type TaskerErrorClass = new (message: string, options?: ErrorOptions) => TaskerError;

/** One class per code of `NATIVE_ERROR_CODES` (the `Record` type makes the compiler check that). */
const BY_CODE: Record<NativeErrorCode, TaskerErrorClass> = {
  TEMPLATE_INVALID: TemplateError,
  HANDLER_NOT_REGISTERED: HandlerNotRegisteredError,
  TEMPLATE_NOT_FOUND: TemplateNotFoundError,
  TASK_NOT_FOUND: TaskNotFoundError,
  INVALID_ARGUMENT: InvalidArgumentError,
  DATABASE: DatabaseError,
  TIMEOUT: TaskTimeoutError,
  CLOSED: ClosedError,
  INVALID_STATE: InvalidStateError,
  DUPLICATE_TASK: DuplicateTaskError,
};

/**
 * The one place where errors raised by the Rust addon become library errors. The addon puts a
 * stable `NativeErrorCode` in brackets at the start of the message (`[TEMPLATE_INVALID] x.yaml:
 * …`, see `splitNativeError`); an error with a known code becomes the matching `TaskerError`
 * subclass whose message is the native text verbatim (it names the file, step or field), with the
 * original as `cause`. A `code` property with a known code is honoured too. Anything else (e.g. a
 * Rust panic surfaced by napi) is returned unchanged if it is an `Error`, or wrapped.
 */
export function fromNativeError(err: unknown): Error {
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : String(message);
    if (isKnownCode(code)) return new BY_CODE[code](text, { cause: err });
    const split = splitNativeError(text);
    if (isKnownCode(split.code)) return new BY_CODE[split.code](split.text, { cause: err });
  }
  if (err instanceof Error) return err;
  return new Error(`tasker native call failed with a non-Error value: ${String(err)}`, {
    cause: err,
  });
}

function isKnownCode(code: unknown): code is NativeErrorCode {
  return typeof code === 'string' && Object.hasOwn(BY_CODE, code);
}
