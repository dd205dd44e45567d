/** `tasker prune`: delete finished tasks older than a duration. */
import type { Command } from 'commander';
import type { TaskState } from '../client/task';
import { FINISHED_STATES, parseDuration, parseTaskState } from './args';
import { withClient, withDatabaseOption, type DatabaseOption } from './database';
import type { Output } from './output';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function registerPruneCommand(program: Command, out: Output): void {
  withDatabaseOption(
    program
      .command('prune')
      .description(
        'delete finished tasks (with their steps, edges and transitions) that finished longer ago than --older-than',
      )
      .requiredOption('--older-than <duration>', 'e.g. 7d, 12h, 30m (units ms, s, m, h, d, w)')
      .option(
        '--state <state>',
        `only tasks in this state (repeatable; one of ${FINISHED_STATES.join(', ')}; default all three)`,
        collect,
      ),
  ).action(async (opts: DatabaseOption & { olderThan: string; state?: string[] }) => {
    const olderThan = parseDuration(opts.olderThan, '--older-than');
    const states: TaskState[] | undefined = opts.state?.map((s) =>
      parseTaskState(s, '--state', FINISHED_STATES),
    );
    const { tasks } = await withClient(opts, (client) =>
      client.prune({
        olderThan,
        ...(states !== undefined && { states: [...new Set(states)] }),
      }),
    );
    const which = (states ? [...new Set(states)] : FINISHED_STATES).join(', ');
    out.out(
      `Deleted ${tasks} task${tasks === 1 ? '' : 's'} (${which}) finished more than ` +
        `${opts.olderThan.trim()} ago.`,
    );
  });
}
