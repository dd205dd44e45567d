import {
  ClosedError,
  DatabaseError,
  HandlerNotRegisteredError,
  InvalidArgumentError,
  PermanentError,
  RateLimitError,
  RetryableError,
  ServiceUnavailableError,
  TaskNotFoundError,
  TaskTimeoutError,
  TaskerError,
  TemplateError,
  TemplateNotFoundError,
  ValidationError,
  fromNativeError,
} from '../../src/index';
import type { NativeErrorCode } from '../../src/native';
import { nativeError } from '../helpers/mock-native';

describe('fromNativeError', () => {
  it.each<[NativeErrorCode, new (m: string) => TaskerError, string]>([
    ['TEMPLATE_INVALID', TemplateError, 'TemplateError'],
    ['HANDLER_NOT_REGISTERED', HandlerNotRegisteredError, 'HandlerNotRegisteredError'],
    ['TEMPLATE_NOT_FOUND', TemplateNotFoundError, 'TemplateNotFoundError'],
    ['TASK_NOT_FOUND', TaskNotFoundError, 'TaskNotFoundError'],
    ['INVALID_ARGUMENT', InvalidArgumentError, 'InvalidArgumentError'],
    ['DATABASE', DatabaseError, 'DatabaseError'],
    ['TIMEOUT', TaskTimeoutError, 'TaskTimeoutError'],
    ['CLOSED', ClosedError, 'ClosedError'],
  ])('converts [%s] to %p, keeping the text verbatim', (code, ErrorClass, name) => {
    const text = `templates/orders.yaml: step 'charge': field 'handler.callable' is empty\nsee docs`;
    const original = new Error(`[${code}] ${text}`);
    const converted = fromNativeError(original);
    expect(converted).toBeInstanceOf(ErrorClass);
    expect(converted).toBeInstanceOf(TaskerError);
    expect(converted).toBeInstanceOf(Error);
    expect(converted.name).toBe(name);
    expect((converted as TaskerError).code).toBe(code);
    expect(converted.message).toBe(text);
    expect(converted.cause).toBe(original);
    expect(String(converted.stack)).toMatch(new RegExp(`^${name}: templates/orders.yaml`));
  });

  it('also honours a code property', () => {
    const original = Object.assign(new Error('task t1 not found'), { code: 'TASK_NOT_FOUND' });
    const converted = fromNativeError(original);
    expect(converted).toBeInstanceOf(TaskNotFoundError);
    expect(converted.message).toBe('task t1 not found');
  });

  it('converts a plain object carrying a coded message', () => {
    const converted = fromNativeError({ message: '[TIMEOUT] task t1 did not finish within 10ms' });
    expect(converted).toBeInstanceOf(TaskTimeoutError);
    expect(converted.message).toBe('task t1 did not finish within 10ms');
  });

  it.each([
    ['an unknown bracketed code', new Error('[PANIC] something broke')],
    [
      'napi GenericFailure',
      Object.assign(new Error('panicked at src/lib.rs:10'), { code: 'GenericFailure' }),
    ],
    ['no code at all', new Error('plain')],
    [
      'a code that is an inherited property name',
      Object.assign(new Error('odd'), { code: 'toString' }),
    ],
    ['a bracket that is not at the start', new Error('failed: [DATABASE] x')],
  ])('returns an Error with %s unchanged', (_label, original) => {
    expect(fromNativeError(original)).toBe(original);
  });

  it('wraps a non-Error value', () => {
    const converted = fromNativeError('bad thing');
    expect(converted).toBeInstanceOf(Error);
    expect(converted.message).toBe('tasker native call failed with a non-Error value: bad thing');
  });
});

describe('handler errors', () => {
  it('PermanentError is not retryable and defaults to permanent_error', () => {
    const err = new PermanentError('nope');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('PermanentError');
    expect(err.retryable).toBe(false);
    expect(err.errorType).toBe('permanent_error');
    expect(err.statusCode).toBeUndefined();
    expect(err.metadata).toBeUndefined();
  });

  it('PermanentError keeps its options', () => {
    const cause = new Error('root');
    const err = new PermanentError('nope', {
      errorType: 'gone',
      statusCode: 410,
      metadata: { id: 1 },
      cause,
    });
    expect([err.errorType, err.statusCode, err.metadata, err.cause]).toEqual([
      'gone',
      410,
      { id: 1 },
      cause,
    ]);
  });

  it('ValidationError is a PermanentError with validation_error', () => {
    const err = new ValidationError('email is invalid', { statusCode: 422 });
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.name).toBe('ValidationError');
    expect(err.errorType).toBe('validation_error');
    expect(err.retryable).toBe(false);
    expect(err.statusCode).toBe(422);
  });

  it('RetryableError is retryable and defaults to retryable_error', () => {
    const err = new RetryableError('busy');
    expect(err.name).toBe('RetryableError');
    expect(err.retryable).toBe(true);
    expect(err.errorType).toBe('retryable_error');
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('RetryableError keeps its options', () => {
    const err = new RetryableError('busy', {
      retryAfterMs: 2000,
      errorType: 'rate_limited',
      statusCode: 429,
    });
    expect([err.retryAfterMs, err.errorType, err.statusCode]).toEqual([2000, 'rate_limited', 429]);
  });

  it('error classes take no options, and keep a cause', () => {
    expect(new RetryableError('busy')).toMatchObject({
      errorType: 'retryable_error',
      retryAfterMs: undefined,
      statusCode: undefined,
      metadata: undefined,
    });
    expect(new RetryableError('busy').cause).toBeUndefined();
    const root = new Error('socket hang up');
    expect(new RetryableError('busy', { cause: root }).cause).toBe(root);
    expect(new RateLimitError('slow down')).toMatchObject({
      errorType: 'rate_limited',
      statusCode: 429,
    });
    expect(new ServiceUnavailableError('down')).toMatchObject({
      errorType: 'service_unavailable',
      statusCode: 503,
    });
  });

  it.each<[string, typeof RetryableError, string, number]>([
    ['RateLimitError', RateLimitError, 'rate_limited', 429],
    ['ServiceUnavailableError', ServiceUnavailableError, 'service_unavailable', 503],
  ])('%s is a retryable %s with status %i by default', (name, cls, errorType, statusCode) => {
    const err = new cls('slow down', { retryAfterMs: 1500, metadata: { host: 'api' } });
    expect(err).toBeInstanceOf(RetryableError);
    expect(err.name).toBe(name);
    expect(err.retryable).toBe(true);
    expect([err.errorType, err.statusCode, err.retryAfterMs]).toEqual([
      errorType,
      statusCode,
      1500,
    ]);
    expect(err.metadata).toEqual({ host: 'api' });
    const custom = new cls('x', { errorType: 'quota', statusCode: 420 });
    expect([custom.errorType, custom.statusCode, custom.retryAfterMs]).toEqual([
      'quota',
      420,
      undefined,
    ]);
  });
});
