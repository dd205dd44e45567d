/** Step handlers of the benchmark templates (bench/templates/). Deliberately trivial. */
import { StepContext, StepHandler } from '../src';
import { marks } from './marks';

/**
 * `linear4`: the previous step's `value` (or the task's `start`) plus one. With
 * `initialization: { mark: true }` (the last step) it also takes the run's "last handler ran"
 * timestamp.
 */
export class Add extends StepHandler {
  static override handlerName = 'Bench.Add';

  async call(ctx: StepContext) {
    const from = ctx.getConfig<string>('from');
    const previous =
      from === undefined
        ? (ctx.getInput<number>('start') ?? 0)
        : (ctx.getDependencyField(from, 'value') as number);
    if (ctx.getConfig<boolean>('mark') === true) marks.record(ctx.taskUuid);
    return { value: previous + 1 };
  }
}

/** `single_step`, and the fan-out's first and parallel steps: nothing at all. */
export class Noop extends StepHandler {
  static override handlerName = 'Bench.Noop';

  async call() {
    return { ok: true };
  }
}

/** The fan-out's last step: takes the run's "last handler ran" timestamp. */
export class Mark extends StepHandler {
  static override handlerName = 'Bench.Mark';

  async call(ctx: StepContext) {
    marks.record(ctx.taskUuid);
    return { ok: true };
  }
}

export const benchHandlers = [Add, Noop, Mark];
