import {
  DecisionHandler,
  DecisionPointOutcome,
  StepHandler,
  StepHandlerResult,
  ValidationError,
  type StepContext,
} from '../../src/index';
import { parsedOutcome, runHandler, withoutStack } from '../helpers/mock-native';

class Router extends DecisionHandler {
  static override handlerName = 'Approvals.Route';
  static override version = '2.0.0';
  async call(ctx: StepContext) {
    const amount = ctx.getInputOr('amount', 0);
    if (amount === 0) return this.decisionNoBranches({ reason: 'nothing to approve' });
    return amount < 1000
      ? this.decisionSuccess('auto_approve', { route: 'auto' })
      : this.decisionSuccess(
          ['manager_approval', 'finance_review'],
          { route: 'dual' },
          {
            approver_pool: 'emea',
          },
        );
  }
}

describe('DecisionPointOutcome', () => {
  it('createSteps takes one name or a list, and serializes as CreateSteps', () => {
    expect(DecisionPointOutcome.createSteps('ship').toJSON()).toStrictEqual({
      outcome_type: 'CreateSteps',
      step_names: ['ship'],
    });
    const outcome = DecisionPointOutcome.createSteps(['a', 'b']);
    expect(JSON.stringify(outcome)).toBe('{"outcome_type":"CreateSteps","step_names":["a","b"]}');
    expect(outcome.isCreateSteps()).toBe(true);
    expect(outcome.isNoBranches()).toBe(false);
    expect(outcome.outcomeType).toBe('CreateSteps');
    expect(outcome.stepNames).toEqual(['a', 'b']);
  });

  it('copies and freezes the names', () => {
    const names = ['a'];
    const outcome = DecisionPointOutcome.createSteps(names);
    names.push('b');
    expect(outcome.stepNames).toEqual(['a']);
    expect(Object.isFrozen(outcome.stepNames)).toBe(true);
  });

  it('noBranches serializes with an empty list', () => {
    const outcome = DecisionPointOutcome.noBranches();
    expect(JSON.stringify(outcome)).toBe('{"outcome_type":"NoBranches","step_names":[]}');
    expect(outcome.isNoBranches()).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ['an empty list', [], 'step_names: must contain at least one step name'],
    ['an empty name', ['a', ''], 'step_names[1]: must not be empty'],
    ['a blank name', ['  '], 'step_names[0]: must not be empty'],
    ['a duplicate', ['a', 'b', 'a'], "step_names[2]: duplicates [0] ('a')"],
    ['a number', ['a', 5], 'step_names[1]: must be a non-empty string, got 5'],
    ['null', null, 'step_names: must be an array of step names, got null'],
    ['an object', { a: 1 }, 'step_names: must be an array of step names, got {"a":1}'],
    ['an empty string', '', 'step_names[0]: must not be empty'],
  ])('createSteps rejects %s', (_label, names, problem) => {
    expect(() => DecisionPointOutcome.createSteps(names as string[])).toThrow(
      new ValidationError(`DecisionPointOutcome.createSteps: ${problem}`),
    );
  });

  it('throws a permanent ValidationError', () => {
    let error: unknown;
    try {
      DecisionPointOutcome.createSteps([]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ retryable: false, errorType: 'validation_error' });
  });

  it.each<[string, unknown, { outcome_type: string; step_names: string[] }]>([
    [
      'the seed form (CreateSteps)',
      { outcome_type: 'CreateSteps', step_names: ['a', 'b'] },
      { outcome_type: 'CreateSteps', step_names: ['a', 'b'] },
    ],
    [
      'the seed form (NoBranches)',
      { outcome_type: 'NoBranches', step_names: [] },
      { outcome_type: 'NoBranches', step_names: [] },
    ],
    [
      'the reference form (create_steps)',
      { type: 'create_steps', step_names: ['x'] },
      { outcome_type: 'CreateSteps', step_names: ['x'] },
    ],
    [
      'the reference form (no_branches, no names)',
      { type: 'no_branches' },
      { outcome_type: 'NoBranches', step_names: [] },
    ],
    [
      'no_branches with null names',
      { type: 'no_branches', step_names: null },
      { outcome_type: 'NoBranches', step_names: [] },
    ],
    [
      'both tags when they agree',
      { type: 'create_steps', outcome_type: 'CreateSteps', step_names: ['x'] },
      { outcome_type: 'CreateSteps', step_names: ['x'] },
    ],
  ])('fromJSON reads %s', (_label, json, expected) => {
    expect(DecisionPointOutcome.fromJSON(json).toJSON()).toStrictEqual(expected);
  });

  it('round-trips through JSON', () => {
    const outcome = DecisionPointOutcome.createSteps(['p', 'q']);
    expect(DecisionPointOutcome.fromJSON(JSON.parse(JSON.stringify(outcome)))).toEqual(outcome);
  });

  it.each<[string, unknown, string]>([
    ['a non-object', 'CreateSteps', 'expected an object, got "CreateSteps"'],
    ['an array', [], 'expected an object, got []'],
    [
      'an unknown outcome_type',
      { outcome_type: 'Maybe' },
      `outcome_type: must be 'CreateSteps' or 'NoBranches' (or 'create_steps' / 'no_branches' as 'type'), got "Maybe"`,
    ],
    [
      'no type at all',
      { step_names: ['a'] },
      `type: must be 'CreateSteps' or 'NoBranches' (or 'create_steps' / 'no_branches' as 'type'), got undefined`,
    ],
    [
      'CreateSteps without names',
      { outcome_type: 'CreateSteps' },
      'step_names: must be an array of step names, got undefined',
    ],
    [
      'create_steps with an empty name',
      { type: 'create_steps', step_names: [''] },
      'step_names[0]: must not be empty',
    ],
    [
      'NoBranches with names',
      { outcome_type: 'NoBranches', step_names: ['a'] },
      'step_names: must be empty for a no-branches outcome, got ["a"]',
    ],
    [
      'type and outcome_type that disagree',
      { type: 'no_branches', outcome_type: 'CreateSteps', step_names: ['a'] },
      'type is "no_branches" but outcome_type is "CreateSteps"; they must agree (set only one of them)',
    ],
  ])('fromJSON rejects %s', (_label, json, problem) => {
    expect(() => DecisionPointOutcome.fromJSON(json)).toThrow(
      new ValidationError(`DecisionPointOutcome.fromJSON: ${problem}`),
    );
  });
});

describe('DecisionHandler', () => {
  it('adds decision_point, dynamic_workflow and step_creation to the capabilities', () => {
    expect(DecisionHandler.capabilities).toEqual([
      ...StepHandler.capabilities,
      'decision_point',
      'dynamic_workflow',
      'step_creation',
    ]);
  });

  it.each<[string, number, unknown, unknown]>([
    [
      'one branch',
      10,
      {
        route: 'auto',
        decision_point_outcome: { outcome_type: 'CreateSteps', step_names: ['auto_approve'] },
      },
      { decision_handler: 'Approvals.Route', decision_version: '2.0.0' },
    ],
    [
      'several branches, with metadata',
      5000,
      {
        route: 'dual',
        decision_point_outcome: {
          outcome_type: 'CreateSteps',
          step_names: ['manager_approval', 'finance_review'],
        },
      },
      { approver_pool: 'emea', decision_handler: 'Approvals.Route', decision_version: '2.0.0' },
    ],
    [
      'no branches',
      0,
      {
        reason: 'nothing to approve',
        decision_point_outcome: { outcome_type: 'NoBranches', step_names: [] },
      },
      { decision_handler: 'Approvals.Route', decision_version: '2.0.0' },
    ],
  ])('reports %s through the worker', async (_label, amount, result, metadata) => {
    const run = await runHandler(Router, { context: { amount } });
    expect(parsedOutcome(run.result)).toStrictEqual({ success: true, result, metadata });
  });

  it('returns a StepHandlerResult; the outcome wins over a same-named result key', () => {
    const result = new Router().decisionSuccess('x', { decision_point_outcome: 'mine', n: 1 });
    expect(result).toBeInstanceOf(StepHandlerResult);
    expect(result.result).toStrictEqual({
      decision_point_outcome: { outcome_type: 'CreateSteps', step_names: ['x'] },
      n: 1,
    });
    expect(new Router().decisionNoBranches().result).toStrictEqual({
      decision_point_outcome: { outcome_type: 'NoBranches', step_names: [] },
    });
  });

  it.each<[string, () => unknown, string]>([
    [
      'an invalid step list',
      () => new Router().decisionSuccess(['a', 'a']),
      "DecisionPointOutcome.createSteps: step_names[1]: duplicates [0] ('a')",
    ],
    [
      'resultData that is not an object',
      () => new Router().decisionSuccess('a', [1] as never),
      'DecisionHandler.decisionSuccess: resultData: must be an object, got [1]',
    ],
    [
      'metadata that is not an object',
      () => new Router().decisionNoBranches({}, 'm' as never),
      'DecisionHandler.decisionNoBranches: metadata: must be an object, got "m"',
    ],
  ])('rejects %s', (_label, build, message) => {
    expect(build).toThrow(new ValidationError(message));
  });

  it('fails the step permanently when the decision is invalid', async () => {
    class Broken extends DecisionHandler {
      static override handlerName = 'Broken.Route';
      async call() {
        return this.decisionSuccess(['ok', '']);
      }
    }
    const { result } = await runHandler(Broken);
    expect(withoutStack(result.error)).toStrictEqual({
      message: 'DecisionPointOutcome.createSteps: step_names[1]: must not be empty',
      errorType: 'validation_error',
      retryable: false,
    });
  });
});
