import {
  PermanentError,
  RetryableError,
  StepHandlerResult,
  ValidationError,
} from '../../src/index';
import type { NativeStepResult } from '../../src/native';
import { runOneStep, withoutStack } from '../helpers/mock-native';

/** The reported result without identity and timing, for exact comparison. */
function outcome(
  result: NativeStepResult,
): Omit<NativeStepResult, 'stepUuid' | 'claimId' | 'durationMs'> {
  const { stepUuid: _s, claimId: _c, durationMs: _d, ...rest } = result;
  return rest;
}

describe('worker result mapping: returned values', () => {
  it.each<[string, unknown, string]>([
    [
      'an object',
      { order_id: 7, lines: [{ sku_code: 'A' }] },
      '{"order_id":7,"lines":[{"sku_code":"A"}]}',
    ],
    ['undefined', undefined, '{}'],
    ['null', null, '{}'],
    ['an array', [1, 'two'], '[1,"two"]'],
    ['a string', 'ok', '"ok"'],
    ['zero', 0, '0'],
    ['false', false, 'false'],
  ])('returning %s succeeds with that value as JSON', async (_label, value, json) => {
    const result = await runOneStep(() => value);
    expect(outcome(result)).toStrictEqual({ success: true, result: json });
  });

  it('passes a returned StepHandlerResult.success through, with its metadata', async () => {
    const result = await runOneStep(() =>
      StepHandlerResult.success({ total: 3 }, { source_system: 'cache' }),
    );
    expect(outcome(result)).toStrictEqual({
      success: true,
      result: '{"total":3}',
      metadata: '{"source_system":"cache"}',
    });
  });

  it('reports StepHandlerResult.success() with no arguments as an empty object', async () => {
    const result = await runOneStep(() => StepHandlerResult.success());
    expect(outcome(result)).toStrictEqual({ success: true, result: '{}' });
  });

  it('passes a returned StepHandlerResult.failure through', async () => {
    const result = await runOneStep(() =>
      StepHandlerResult.failure('order not found', {
        errorType: 'not_found',
        retryable: false,
        statusCode: 404,
        metadata: { order_id: 9 },
      }),
    );
    expect(outcome(result)).toStrictEqual({
      success: false,
      error: {
        message: 'order not found',
        errorType: 'not_found',
        retryable: false,
        statusCode: 404,
      },
      metadata: '{"order_id":9}',
    });
  });

  it('defaults a StepHandlerResult.failure to a retryable handler_error', async () => {
    const result = await runOneStep(() =>
      StepHandlerResult.failure('try later', { retryAfterMs: 250 }),
    );
    expect(outcome(result)).toStrictEqual({
      success: false,
      error: {
        message: 'try later',
        errorType: 'handler_error',
        retryable: true,
        retryAfterMs: 250,
      },
    });
  });

  it('reports the handler duration in (fractional) milliseconds', async () => {
    const result = await runOneStep(() => new Promise((r) => setTimeout(() => r({}), 30)));
    expect(Number.isFinite(result.durationMs)).toBe(true); // fractional ms: the core subtracts it from the dispatch time
    expect(result.durationMs).toBeGreaterThanOrEqual(25);
  });
});

describe('worker result mapping: thrown values', () => {
  it.each<[string, () => unknown, NativeStepResult['error'], string | undefined]>([
    [
      'PermanentError',
      () => {
        throw new PermanentError('card declined', {
          statusCode: 402,
          metadata: { card_last4: '4242' },
        });
      },
      { message: 'card declined', errorType: 'permanent_error', retryable: false, statusCode: 402 },
      '{"card_last4":"4242"}',
    ],
    [
      'PermanentError with an errorType',
      () => {
        throw new PermanentError('gone', { errorType: 'gone' });
      },
      { message: 'gone', errorType: 'gone', retryable: false },
      undefined,
    ],
    [
      'ValidationError',
      () => {
        throw new ValidationError('email is invalid');
      },
      { message: 'email is invalid', errorType: 'validation_error', retryable: false },
      undefined,
    ],
    [
      'RetryableError with retryAfterMs',
      () => {
        throw new RetryableError('rate limited', {
          retryAfterMs: 1500,
          errorType: 'rate_limited',
          statusCode: 429,
        });
      },
      {
        message: 'rate limited',
        errorType: 'rate_limited',
        retryable: true,
        retryAfterMs: 1500,
        statusCode: 429,
      },
      undefined,
    ],
    [
      'RetryableError with defaults',
      () => {
        throw new RetryableError('flaky');
      },
      { message: 'flaky', errorType: 'retryable_error', retryable: true },
      undefined,
    ],
    [
      'a TypeError',
      () => {
        throw new TypeError('x.map is not a function');
      },
      { message: 'x.map is not a function', errorType: 'TypeError', retryable: true },
      undefined,
    ],
    [
      'a custom Error subclass',
      () => {
        class UpstreamDown extends Error {
          override name = 'UpstreamDown';
        }
        throw new UpstreamDown('payments API is down');
      },
      { message: 'payments API is down', errorType: 'UpstreamDown', retryable: true },
      undefined,
    ],
    [
      'a string',
      () => {
        throw 'boom';
      },
      {
        message: 'handler threw a non-Error value: "boom"',
        errorType: 'non_error_thrown',
        retryable: true,
      },
      undefined,
    ],
    [
      'undefined',
      () => {
        throw undefined;
      },
      { message: 'handler threw undefined', errorType: 'non_error_thrown', retryable: true },
      undefined,
    ],
    [
      'a number',
      () => {
        throw 42;
      },
      {
        message: 'handler threw a non-Error value: 42',
        errorType: 'non_error_thrown',
        retryable: true,
      },
      undefined,
    ],
    [
      'null',
      () => {
        throw null;
      },
      {
        message: 'handler threw a non-Error value: null',
        errorType: 'non_error_thrown',
        retryable: true,
      },
      undefined,
    ],
    [
      'a plain object',
      () => {
        throw { code: 'E_FAIL', detail: 'x' };
      },
      {
        message: 'handler threw a non-Error value: {"code":"E_FAIL","detail":"x"}',
        errorType: 'non_error_thrown',
        retryable: true,
      },
      undefined,
    ],
    [
      'a circular plain object',
      () => {
        const o: Record<string, unknown> = {};
        o.self = o;
        throw o;
      },
      {
        message: 'handler threw a non-Error value: [object Object]',
        errorType: 'non_error_thrown',
        retryable: true,
      },
      undefined,
    ],
  ])('throwing %s', async (_label, impl, error, metadata) => {
    const result = await runOneStep(impl);
    const expected: Record<string, unknown> = { success: false, error };
    if (metadata !== undefined) expected.metadata = metadata;
    const { stack, ...reported } = result.error ?? { stack: undefined };
    expect(
      outcome({ ...result, error: result.error && (reported as typeof result.error) }),
    ).toStrictEqual(expected);
    // A thrown Error's stack trace goes with it (the core stores it, capped); a thrown
    // non-Error has none.
    if (error?.errorType === 'non_error_thrown') expect(stack).toBeUndefined();
    else {
      expect(stack?.split('\n')[0]).toMatch(new RegExp(`^\\w+: ${escapeRegExp(error!.message)}$`));
      expect(stack).toContain('worker.result-mapping.test.ts');
    }
  });

  it('passes the stack of a returned StepHandlerResult.failure only when it names one', async () => {
    const without = await runOneStep(() => StepHandlerResult.failure('declined'));
    expect(without.error?.stack).toBeUndefined();
    const withStack = await runOneStep(() =>
      StepHandlerResult.failure('declined', {
        stack: 'Declined: declined\n    at charge (pay.ts:1:1)',
      }),
    );
    expect(withStack.error?.stack).toBe('Declined: declined\n    at charge (pay.ts:1:1)');
  });

  it('treats a rejected promise like a throw', async () => {
    const result = await runOneStep(() => Promise.reject(new RangeError('out of range')));
    expect(withoutStack(result.error)).toStrictEqual({
      message: 'out of range',
      errorType: 'RangeError',
      retryable: true,
    });
  });

  it.each<[string, number, number | undefined]>([
    ['NaN', Number.NaN, undefined],
    ['a negative number', -5, undefined],
    ['Infinity', Number.POSITIVE_INFINITY, undefined],
    ['a fraction', 1.6, 2],
  ])('sanitizes a retryAfterMs of %s', async (_label, retryAfterMs, expected) => {
    const result = await runOneStep(() => {
      throw new RetryableError('later', { retryAfterMs });
    });
    expect(result.error?.retryAfterMs).toBe(expected);
    expect(result.error !== undefined && 'retryAfterMs' in result.error).toBe(
      expected !== undefined,
    );
  });

  it('does not send retryAfterMs with a permanent failure', async () => {
    const result = await runOneStep(() =>
      StepHandlerResult.failure('no', { retryable: false, retryAfterMs: 100 }),
    );
    expect(withoutStack(result.error)).toStrictEqual({
      message: 'no',
      errorType: 'handler_error',
      retryable: false,
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
