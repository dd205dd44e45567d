/**
 * `tasker steps resolve`: an operator completes a failed or stuck step by hand.
 * `tasker steps signal`: a person (or a script) sends the signal a signal step waits for.
 */
import type { Command } from 'commander';
import { parseJsonObject, parseUuid } from './args';
import { withClient, withDatabaseOption, type DatabaseOption } from './database';
import { getTaskOrFail } from './tasks';
import { CliFailure } from './exit-codes';
import { colorState, type Output } from './output';

export function registerStepCommands(program: Command, out: Output): void {
  const steps = program.command('steps').description('act on one step of a task');
  withDatabaseOption(
    steps
      .command('resolve')
      .description(
        'complete a failed or stuck step by hand (state resolved_manually) with the given result; its dependents then run',
      )
      .argument('<uuid>', 'the task')
      .argument('<step>', 'the step name (as `tasker tasks show` lists it)')
      .requiredOption(
        '--result <json>',
        "the step's result, a JSON object, as its handler would return it",
      )
      .option(
        '--reason <text>',
        "recorded in the step's transitions",
        'resolved manually from the tasker CLI',
      ),
  ).action(
    async (
      uuid: string,
      stepName: string,
      opts: DatabaseOption & { result: string; reason: string },
    ) => {
      const id = parseUuid(uuid);
      const result = parseJsonObject(opts.result, '--result');
      const task = await withClient(opts, async (client) => {
        const before = await getTaskOrFail(client, id);
        if (!before.steps.some((s) => s.name === stepName)) {
          const names = before.steps.map((s) => s.name).join(', ');
          throw new CliFailure(`task ${id} has no step '${stepName}' (its steps: ${names})`);
        }
        return client.resolveStep(id, stepName, result, { reason: opts.reason });
      });
      const step = task.steps.find((s) => s.name === stepName);
      const c = out.colors;
      out.out(
        `Step '${stepName}' of task ${id} is ${colorState(c, step?.state ?? 'resolved_manually')}; ` +
          `the task is ${colorState(c, task.state)}.`,
      );
    },
  );
  withDatabaseOption(
    steps
      .command('signal')
      .description(
        'send the signal a signal step (type: signal) waits for: the payload becomes its result and its dependents run; sent before the step waits, it is kept until it does',
      )
      .argument('<uuid>', 'the task')
      .argument('<step>', 'the signal step name (as `tasker tasks show` lists it)')
      .option('--payload <json>', "the step's result, a JSON object", '{}'),
  ).action(async (uuid: string, stepName: string, opts: DatabaseOption & { payload: string }) => {
    const id = parseUuid(uuid);
    const payload = parseJsonObject(opts.payload, '--payload');
    const sent = await withClient(opts, (client) => client.sendSignal(id, stepName, payload));
    const c = out.colors;
    out.out(
      sent.applied
        ? `Signal sent: step '${stepName}' of task ${id} is ${colorState(c, sent.stepState)}; ` +
            `the task is ${colorState(c, sent.taskState)}.`
        : `Signal kept: step '${stepName}' of task ${id} is ${colorState(c, sent.stepState)}; ` +
            'it completes with this signal as soon as it waits for one.',
    );
  });
}
