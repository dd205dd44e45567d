import { StepHandlerResult } from '../../src/index';

describe('StepHandlerResult', () => {
  it('success carries the result and metadata', () => {
    const r = StepHandlerResult.success({ a: 1 }, { m: 2 });
    expect(r.isSuccess()).toBe(true);
    expect([r.success, r.result, r.error, r.metadata]).toEqual([true, { a: 1 }, null, { m: 2 }]);
  });

  it('success defaults to an empty result and metadata', () => {
    const r = StepHandlerResult.success();
    expect([r.result, r.metadata]).toEqual([{}, {}]);
  });

  it('failure defaults to a retryable handler_error', () => {
    const r = StepHandlerResult.failure('boom');
    expect(r.isSuccess()).toBe(false);
    expect(r.result).toBeNull();
    expect(r.error).toStrictEqual({ message: 'boom', errorType: 'handler_error', retryable: true });
  });

  it('failure keeps its options', () => {
    const r = StepHandlerResult.failure('slow down', {
      errorType: 'rate_limited',
      retryable: true,
      retryAfterMs: 3000,
      statusCode: 429,
      metadata: { limit: 10 },
    });
    expect(r.error).toStrictEqual({
      message: 'slow down',
      errorType: 'rate_limited',
      retryable: true,
      retryAfterMs: 3000,
      statusCode: 429,
    });
    expect(r.metadata).toEqual({ limit: 10 });
  });
});
