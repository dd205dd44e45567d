import { RetryableError, StepHandlerResult } from '../../src/index';
import { runOneStep, withoutStack } from '../helpers/mock-native';

describe('worker: results that cannot be serialized to JSON', () => {
  it('fails a step returning a circular structure permanently, naming the step', async () => {
    const result = await runOneStep(
      () => {
        const node: Record<string, unknown> = { id: 1 };
        node.parent = node;
        return node;
      },
      { stepName: 'make_cycle' },
    );
    expect(result.success).toBe(false);
    expect(result.result).toBeUndefined();
    expect(result.error?.errorType).toBe('serialization_error');
    expect(result.error?.retryable).toBe(false);
    expect(result.error?.message).toMatch(
      /^step 'make_cycle' returned a result that cannot be serialized to JSON: Converting circular structure to JSON/,
    );
  });

  it('fails a step returning a BigInt permanently', async () => {
    const result = await runOneStep(() => ({ total: 10n }), { stepName: 'sum_big' });
    expect(withoutStack(result.error)).toStrictEqual({
      message:
        "step 'sum_big' returned a result that cannot be serialized to JSON: Do not know how to serialize a BigInt",
      errorType: 'serialization_error',
      retryable: false,
    });
  });

  it('fails a step returning a function (JSON.stringify produces nothing)', async () => {
    const result = await runOneStep(() => function makeThing() {}, { stepName: 'fn_step' });
    expect(result.error?.errorType).toBe('serialization_error');
    expect(result.error?.message).toBe(
      "step 'fn_step' returned a result that cannot be serialized to JSON: JSON.stringify produced nothing for [function makeThing]",
    );
  });

  it('reports the error thrown by a toJSON method', async () => {
    const result = await runOneStep(() => ({
      toJSON() {
        throw new Error('toJSON exploded');
      },
    }));
    expect(result.error?.errorType).toBe('serialization_error');
    expect(result.error?.message).toMatch(/cannot be serialized to JSON: toJSON exploded$/);
  });

  it('fails a success whose metadata cannot be serialized', async () => {
    const meta: Record<string, unknown> = {};
    meta.loop = meta;
    const result = await runOneStep(() => StepHandlerResult.success({ ok: true }, meta), {
      stepName: 'meta_step',
    });
    expect(result.success).toBe(false);
    expect(result.error?.errorType).toBe('serialization_error');
    expect(result.error?.message).toMatch(
      /^step 'meta_step' returned metadata that cannot be serialized to JSON: Converting circular/,
    );
  });

  it('keeps a retryable failure retryable when only its metadata cannot be serialized', async () => {
    const result = await runOneStep(
      () => {
        throw new RetryableError('upstream 503', { metadata: { big: 1n } });
      },
      { stepName: 'call_api' },
    );
    expect(result.success).toBe(false);
    expect(result.metadata).toBeUndefined();
    expect(result.error?.retryable).toBe(true);
    expect(result.error?.errorType).toBe('retryable_error');
    expect(result.error?.message).toBe(
      "upstream 503 (metadata of step 'call_api' dropped: cannot be serialized to JSON: Do not know how to serialize a BigInt)",
    );
  });
});
