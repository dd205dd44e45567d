/** describeValue: how values are shown in error messages; and the small task-state helpers. */
import { isTaskFinished, StepHandler } from '../../src/index';
import { TASK_STATES } from '../../src/client/task';
import { describeValue } from '../../src/describe-value';

describe('describeValue', () => {
  it('renders each kind of value readably and never throws', () => {
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(10n)).toBe('10n');
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(Symbol('s'))).toBe('Symbol(s)');
    expect(describeValue(function named() {})).toBe('[function named]');
    expect(
      describeValue(
        (
          () => () =>
            1
        )(),
      ),
    ).toBe('[anonymous function]');
    expect(describeValue({ a: 1 })).toBe('{"a":1}');
    // JSON.stringify gives undefined for this one: String() is used.
    expect(describeValue({ toJSON: () => undefined })).toBe('[object Object]');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('[object Object]');
    const long = describeValue('x'.repeat(600));
    expect(long).toHaveLength(501);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('isTaskFinished', () => {
  it('is true for complete, error and cancelled only', () => {
    expect(TASK_STATES.filter(isTaskFinished)).toEqual(['complete', 'error', 'cancelled']);
  });
});

describe('StepHandler.name', () => {
  it("falls back to the class's own name when it declares no handlerName", () => {
    class Unnamed extends StepHandler {
      async call() {
        return {};
      }
    }
    expect(new Unnamed().name).toBe('Unnamed');
  });
});
