/**
 * parseStepPayload: the one place step JSON from the core is parsed. A payload it cannot use
 * fails the step permanently (invalid_payload) with a message naming the step.
 */
import { InvalidPayloadError, parseStepPayload } from '../../src/worker/dispatch';
import type { NativeStepEvent } from '../../src/native';

const payload = {
  task: { task_uuid: 't1', context: {} },
  step: { step_uuid: 's1', name: 'fetch', handler_callable: 'H' },
};

function event(fields: Partial<NativeStepEvent>): NativeStepEvent {
  return {
    kind: 'step',
    stepUuid: 's1',
    taskUuid: 't1',
    claimId: 'c1',
    payload: JSON.stringify(payload),
    ...fields,
  } as NativeStepEvent;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPayloadError);
    expect((err as InvalidPayloadError).errorType).toBe('invalid_payload');
    return (err as Error).message;
  }
  throw new Error('expected InvalidPayloadError');
}

describe('parseStepPayload', () => {
  it.each<[string, Partial<NativeStepEvent>, string]>([
    ['no payload', { payload: undefined }, 'step event for step s1 has no payload'],
    ['an array', { payload: '[]' }, 'step event for step s1: payload is not an object'],
    [
      'no step object',
      { payload: JSON.stringify({ task: payload.task }) },
      'step event for step s1: payload has no step object',
    ],
    [
      'a step without its name',
      { payload: JSON.stringify({ ...payload, step: { ...payload.step, name: 3 } }) },
      'step event for step s1: payload lacks the string step.name',
    ],
    [
      'inputs that are not an object',
      { payload: JSON.stringify({ ...payload, step: { ...payload.step, inputs: [1] } }) },
      'step event for step s1: payload has a step.inputs that is not an object',
    ],
  ])('refuses a payload with %s', (_what, fields, message) => {
    expect(messageOf(() => parseStepPayload(event(fields)))).toBe(message);
  });

  it('parses dependency results on first read, and refuses ones that are not an object', () => {
    const ok = parseStepPayload(event({ dependencies: '{"a":{"n":1}}' }));
    expect(ok.dependency_results).toEqual({ a: { n: 1 } });
    const notJson = parseStepPayload(event({ dependencies: '{' }));
    expect(messageOf(() => notJson.dependency_results)).toMatch(
      /^step event for step s1 has dependency results that are not JSON: SyntaxError/,
    );
    const list = parseStepPayload(event({ dependencies: '[1]' }));
    expect(messageOf(() => list.dependency_results)).toBe(
      'step event for step s1 has dependency results that are not an object',
    );
  });
});
