import { describeValue } from '../describe-value';
import { ValidationError } from '../errors/validation-error';
import { Check, isPlainObject, outcomeTag, uniqueNameListProblem } from '../validation/constraints';
import { validateOrThrow } from '../validation/validate';

/** The kinds of decision outcome, as values (`DecisionOutcomeType.CREATE_STEPS`) and as a type. */
export const DecisionOutcomeType = Object.freeze({
  CREATE_STEPS: 'CreateSteps',
  NO_BRANCHES: 'NoBranches',
} as const);
export type DecisionOutcomeType = (typeof DecisionOutcomeType)[keyof typeof DecisionOutcomeType];

/** The wire form of a decision (at `result.decision_point_outcome`), read by the Rust core. */
export type DecisionPointOutcomeJson = {
  outcome_type: DecisionOutcomeType;
  step_names: string[];
};

class StepNamesShape {
  @Check('stepNames', (v) => uniqueNameListProblem(v, 'step name'))
  step_names!: unknown;
}

/**
 * What a decision step decided: create these steps (`CreateSteps`), or nothing (`NoBranches`).
 * Immutable; build it with `createSteps()` / `noBranches()` or read it with `fromJSON()`.
 * Step names are checked here, before anything reaches the core: a non-empty list of unique,
 * non-empty strings (the core then checks that each names a descendant of the decision).
 */
export class DecisionPointOutcome {
  private constructor(
    readonly outcomeType: DecisionOutcomeType,
    readonly stepNames: readonly string[],
  ) {}

  /** Create the named steps (and their non-deferred descendants). */
  static createSteps(stepNames: string | readonly string[]): DecisionPointOutcome {
    const names = typeof stepNames === 'string' ? [stepNames] : stepNames;
    validateOrThrow(
      Object.assign(new StepNamesShape(), { step_names: names }),
      'DecisionPointOutcome.createSteps',
    );
    return new DecisionPointOutcome('CreateSteps', Object.freeze([...(names as string[])]));
  }

  /** Create no steps: the task completes once the existing steps finish. */
  static noBranches(): DecisionPointOutcome {
    return new DecisionPointOutcome('NoBranches', Object.freeze([]));
  }

  /**
   * Read an outcome in either wire form: `{"outcome_type": "CreateSteps" | "NoBranches",
   * "step_names": [...]}`, or the reference's `{"type": "create_steps" | "no_branches",
   * "step_names"?: [...]}` (both tags may be given if they agree). Throws `ValidationError` naming
   * the bad field.
   */
  static fromJSON(json: unknown): DecisionPointOutcome {
    const what = 'DecisionPointOutcome.fromJSON';
    if (!isPlainObject(json)) {
      throw new ValidationError(`${what}: expected an object, got ${describeValue(json)}`);
    }
    const [field, type] = outcomeTag(json, what);
    if (type === 'CreateSteps' || type === 'create_steps') {
      validateOrThrow(Object.assign(new StepNamesShape(), { step_names: json.step_names }), what);
      return new DecisionPointOutcome(
        'CreateSteps',
        Object.freeze([...(json.step_names as string[])]),
      );
    }
    if (type === 'NoBranches' || type === 'no_branches') {
      const names = json.step_names;
      if (names !== undefined && names !== null && !(Array.isArray(names) && names.length === 0)) {
        throw new ValidationError(
          `${what}: step_names: must be empty for a no-branches outcome, got ${describeValue(names)}`,
        );
      }
      return DecisionPointOutcome.noBranches();
    }
    throw new ValidationError(
      `${what}: ${field}: must be 'CreateSteps' or 'NoBranches' (or 'create_steps' / 'no_branches' ` +
        `as 'type'), got ${describeValue(type)}`,
    );
  }

  isCreateSteps(): boolean {
    return this.outcomeType === 'CreateSteps';
  }

  isNoBranches(): boolean {
    return this.outcomeType === 'NoBranches';
  }

  toJSON(): DecisionPointOutcomeJson {
    return { outcome_type: this.outcomeType, step_names: [...this.stepNames] };
  }
}
