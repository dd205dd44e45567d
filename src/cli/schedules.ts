/** `tasker schedules list|delete`: the cron schedules workers stored in the database. */
import type { Command } from 'commander';
import Table from 'cli-table3';
import { withClient, withDatabaseOption, type DatabaseOption } from './database';
import { CliFailure } from './exit-codes';
import { formatTime, printJson, type Output } from './output';

export function registerScheduleCommands(program: Command, out: Output): void {
  const schedules = program
    .command('schedules')
    .description('list and delete the cron schedules stored by workers');

  withDatabaseOption(
    schedules
      .command('list')
      .description('every stored schedule, with its last and next fire times')
      .option('--json', 'print the schedules as JSON'),
  ).action(async (opts: DatabaseOption & { json?: boolean }) => {
    const list = await withClient(opts, (client) => client.listSchedules());
    if (opts.json) {
      printJson(out, list);
      return;
    }
    if (list.length === 0) {
      out.out('No schedules.');
      return;
    }
    const c = out.colors;
    const table = new Table({
      head: ['name', 'cron', 'timezone', 'task', 'last fire (UTC)', 'next fire (UTC)'].map((h) =>
        c.bold(h),
      ),
      style: { head: [], border: [] },
      chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    });
    for (const s of list) {
      table.push([
        s.name,
        s.cron,
        s.timezone,
        `${s.task.namespace}/${s.task.name}@${s.task.version}`,
        formatTime(s.lastFireAt),
        formatTime(s.nextFireAt),
      ]);
    }
    out.out(table.toString());
    out.out(c.dim(`${list.length} schedule${list.length === 1 ? '' : 's'}`));
  });

  withDatabaseOption(
    schedules
      .command('delete')
      .description(
        "delete a stored schedule (take it out of the workers' definitions first, or a worker stores it again when it starts)",
      )
      .argument('<name>', 'the schedule name (as `tasker schedules list` shows it)'),
  ).action(async (name: string, opts: DatabaseOption) => {
    const deleted = await withClient(opts, async (client) => {
      if (await client.deleteSchedule(name)) return true;
      const names = (await client.listSchedules()).map((s) => s.name);
      throw new CliFailure(
        `no schedule '${name}' (${names.length ? `stored: ${names.join(', ')}` : 'none is stored'})`,
      );
    });
    if (deleted) out.out(`Deleted schedule '${name}'.`);
  });
}
