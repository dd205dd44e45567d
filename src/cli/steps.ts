/** `tasker steps resolve`: an operator completes a failed or stuck step by hand. */
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
}
