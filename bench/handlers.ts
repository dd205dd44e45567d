/** Step handlers of the benchmark templates (bench/templates/). Deliberately trivial. */
import { StepContext, StepHandler } from '../src';

/** `linear4`: the previous step's `value` (or the task's `start`) plus one. */
export class Add extends StepHandler {
  static override handlerName = 'Bench.Add';

  async call(ctx: StepContext) {
    const from = ctx.getConfig<string>('from');
    const previous =
      from === undefined
        ? (ctx.getInput<number>('start') ?? 0)
        : (ctx.getDependencyField(from, 'value') as number);
    return { value: previous + 1 };
  }
}

/** `single_step`: nothing at all. */
export class Noop extends StepHandler {
  static override handlerName = 'Bench.Noop';

  async call() {
    return { ok: true };
  }
}

export const benchHandlers = [Add, Noop];
