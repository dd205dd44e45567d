/** `tasker tasks …`: list, show, watch, create, cancel and retry tasks. */
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import type { Command } from 'commander';
import type { TaskerClient } from '../client/client';
import { isTaskFinished, type Task } from '../client/task';
import { TaskTimeoutError } from '../errors/task-timeout-error';
import { parseInteger, parseJsonObject, parseTaskState, parseTemplateRef, parseUuid } from './args';
import { endReason, isStepFinished, renderTask, taskTitle } from './dag';
import { withClient, withDatabaseOption, type DatabaseOption } from './database';
import { CliFailure, EXIT, type ExitCode } from './exit-codes';
import { colorState, formatDuration, formatTime, printJson, type Output } from './output';

/** The `sourceSystem` of the tasks `tasker tasks create` creates, unless --source-system says. */
export const CLI_SOURCE_SYSTEM = 'tasker-cli';

/** Commander's collector for an option given several times (`--tag a --tag b`). */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `value` of option `flag`, refused when empty. */
function nonEmpty(value: string | undefined, flag: string): string | undefined {
  if (value !== undefined && value === '') {
    throw new CliFailure(`${flag} must not be empty`, EXIT.USAGE);
  }
  return value;
}

/** What a finished task's state means as an exit code. */
export function exitCodeFor(task: Task): ExitCode {
  switch (task.state) {
    case 'complete':
      return EXIT.OK;
    case 'cancelled':
      return EXIT.CANCELLED;
    default:
      return EXIT.FAILED;
  }
}

export async function getTaskOrFail(client: TaskerClient, uuid: string): Promise<Task> {
  const task = await client.getTask(uuid);
  if (task === null) throw new CliFailure(`no task ${uuid} in this database`);
  return task;
}

export function registerTaskCommands(
  program: Command,
  out: Output,
  setExit: (code: ExitCode) => void,
): void {
  const tasks = program
    .command('tasks')
    .description('list, show, watch, create, cancel and retry tasks');

  withDatabaseOption(
    tasks
      .command('list')
      .description('the newest tasks, as a table')
      .option('--state <state>', 'only tasks in this state')
      .option('--namespace <namespace>', 'only tasks of this template namespace')
      .option('--name <name>', 'only tasks of templates with this name')
      .option('--correlation-id <id>', 'only tasks with this correlation id')
      .option('--parent-correlation-id <id>', 'only tasks with this parent correlation id')
      .option('--tag <tag>', 'only tasks with this tag (repeat: tasks with every one)', collect, [])
      .option('--limit <n>', 'at most this many tasks (1-1000)', '50')
      .option('--json', 'print the tasks as JSON'),
  ).action(
    async (
      opts: DatabaseOption & {
        state?: string;
        namespace?: string;
        name?: string;
        correlationId?: string;
        parentCorrelationId?: string;
        tag: string[];
        limit: string;
        json?: boolean;
      },
    ) => {
      const correlationId = nonEmpty(opts.correlationId, '--correlation-id');
      const parentCorrelationId = nonEmpty(opts.parentCorrelationId, '--parent-correlation-id');
      const filter = {
        ...(opts.state !== undefined && { state: parseTaskState(opts.state, '--state') }),
        ...(opts.namespace !== undefined && { namespace: opts.namespace }),
        ...(opts.name !== undefined && { name: opts.name }),
        ...(correlationId !== undefined && { correlationId }),
        ...(parentCorrelationId !== undefined && { parentCorrelationId }),
        ...(opts.tag.length > 0 && { tags: opts.tag }),
        limit: parseInteger(opts.limit, '--limit', 1, 1000),
      };
      const list = await withClient(opts, (client) => client.listTasks(filter));
      if (opts.json) {
        printJson(
          out,
          list.map(({ steps: _s, transitions: _t, ...task }) => task),
        );
        return;
      }
      if (list.length === 0) {
        out.out('No tasks.');
        return;
      }
      const c = out.colors;
      const table = new Table({
        head: ['uuid', 'task', 'state', 'created (UTC)', 'updated (UTC)'].map((h) => c.bold(h)),
        style: { head: [], border: [] },
        // No rule between rows.
        chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
      });
      for (const t of list) {
        table.push([
          t.taskUuid,
          `${t.namespace}/${t.name}@${t.version}`,
          colorState(c, t.state),
          formatTime(t.createdAt),
          formatTime(t.updatedAt),
        ]);
      }
      out.out(table.toString());
      out.out(c.dim(`${list.length} task${list.length === 1 ? '' : 's'}, newest first`));
    },
  );

  withDatabaseOption(
    tasks
      .command('show')
      .description(
        "a task's steps drawn by depth with their edges, states, attempts and times, then the failed steps' errors",
      )
      .argument('<uuid>', 'the task')
      .option('--json', 'print the task view (steps with their dependencies, transitions) as JSON'),
  ).action(async (uuid: string, opts: DatabaseOption & { json?: boolean }) => {
    const id = parseUuid(uuid);
    const task = await withClient(opts, (client) => getTaskOrFail(client, id));
    if (opts.json) printJson(out, task);
    else for (const line of renderTask(out.colors, task)) out.out(line);
  });

  withDatabaseOption(
    tasks
      .command('watch')
      .description('live progress of a task until it ends; the exit code says how it ended')
      .argument('<uuid>', 'the task')
      .option('--interval <ms>', 'how often to look, in milliseconds (50-60000)', '500'),
    'Exit codes: 0 the task completed, 1 it ended in error (or there is no such task, or a ' +
      'database error), 2 bad usage, 3 it was cancelled.',
  ).action(async (uuid: string, opts: DatabaseOption & { interval: string }) => {
    const id = parseUuid(uuid);
    const interval = parseInteger(opts.interval, '--interval', 50, 60000);
    const task = await withClient(opts, (client) => watchTask(client, out, id, interval));
    setExit(exitCodeFor(task));
  });

  withDatabaseOption(
    tasks
      .command('create')
      .description('create a task from a template registered in the database (by a worker)')
      .argument('<template>', 'namespace/name or namespace/name@version (default version 1.0.0)')
      .option('--context <json>', "the task's input, a JSON object", '{}')
      .option('--idempotency-key <key>', 'a second create with this key returns the first task')
      .option(
        '--on-duplicate <what>',
        'return (the existing task, default) or error, when this create duplicates a task ' +
          '(docs/identity.md)',
      )
      .option('--correlation-id <id>', 'default: a new UUID v7 (docs/task-metadata.md)')
      .option('--parent-correlation-id <id>', 'the correlation id of the work behind this task')
      .option('--initiator <who>', 'who asks for the task')
      .option('--source-system <name>', 'which system asks for it', CLI_SOURCE_SYSTEM)
      .option('--reason <text>', 'why the task is created')
      .option('--tag <tag>', 'a tag to find the task by (repeat for several)', collect, [])
      .option(
        '--priority <n>',
        'claim order among ready steps, -1000 to 1000, higher first (docs/priorities.md)',
      )
      .option('--wait', 'wait until the task ends, print it, and exit by its state')
      .option('--timeout <ms>', 'with --wait: give up after this many milliseconds', '60000')
      .option('--json', 'print the task view as JSON instead of the uuid (or the picture)')
      .addHelpText(
        'after',
        "\nPrints the new task's uuid; with --wait, the finished task as `tasker tasks show` " +
          'draws it.',
      ),
    'Exit codes: 0 created (with --wait: completed), 1 failed (an unknown template, a database ' +
      'error; with --wait: the task ended in error), 2 bad usage, 3 with --wait: cancelled, ' +
      '4 with --wait: not finished within --timeout.',
  ).action(
    async (
      template: string,
      opts: DatabaseOption & {
        context: string;
        idempotencyKey?: string;
        onDuplicate?: string;
        correlationId?: string;
        parentCorrelationId?: string;
        initiator?: string;
        sourceSystem: string;
        reason?: string;
        tag: string[];
        priority?: string;
        wait?: boolean;
        timeout: string;
        json?: boolean;
      },
    ) => {
      const ref = parseTemplateRef(template);
      const context = parseJsonObject(opts.context, '--context');
      const timeoutMs = parseInteger(opts.timeout, '--timeout', 1, 2 ** 31 - 1);
      const priority =
        opts.priority === undefined
          ? undefined
          : parseInteger(opts.priority, '--priority', -1000, 1000);
      if (opts.idempotencyKey !== undefined && opts.idempotencyKey === '') {
        throw new CliFailure('--idempotency-key must not be empty', EXIT.USAGE);
      }
      const onDuplicate = opts.onDuplicate;
      if (onDuplicate !== undefined && onDuplicate !== 'return' && onDuplicate !== 'error') {
        throw new CliFailure(
          `--on-duplicate must be return or error, got '${onDuplicate}'`,
          EXIT.USAGE,
        );
      }
      const metadata = {
        correlationId: nonEmpty(opts.correlationId, '--correlation-id'),
        parentCorrelationId: nonEmpty(opts.parentCorrelationId, '--parent-correlation-id'),
        initiator: nonEmpty(opts.initiator, '--initiator'),
        sourceSystem: nonEmpty(opts.sourceSystem, '--source-system'),
        reason: nonEmpty(opts.reason, '--reason'),
      };
      const task = await withClient(opts, async (client) => {
        const created = await client.createTask({
          ...ref,
          context,
          ...(opts.idempotencyKey !== undefined && { idempotencyKey: opts.idempotencyKey }),
          ...(priority !== undefined && { priority }),
          ...(onDuplicate !== undefined && { onDuplicate }),
          ...Object.fromEntries(Object.entries(metadata).filter(([, v]) => v !== undefined)),
          ...(opts.tag.length > 0 && { tags: opts.tag }),
        });
        if (!opts.wait) return created;
        try {
          return await client.waitForTask(created.taskUuid, { timeoutMs });
        } catch (err) {
          if (err instanceof TaskTimeoutError) {
            out.out(created.taskUuid);
            throw new CliFailure(err.message, EXIT.TIMEOUT);
          }
          throw err;
        }
      });
      if (opts.json) printJson(out, task);
      else if (opts.wait) for (const line of renderTask(out.colors, task)) out.out(line);
      else out.out(task.taskUuid);
      if (opts.wait) setExit(exitCodeFor(task));
    },
  );

  withDatabaseOption(
    tasks
      .command('cancel')
      .description('cancel a task: nothing more is started, running steps see their signal abort')
      .argument('<uuid>', 'the task')
      .option(
        '--reason <text>',
        "recorded in the task's transitions",
        'cancelled from the tasker CLI',
      ),
  ).action(async (uuid: string, opts: DatabaseOption & { reason: string }) => {
    const id = parseUuid(uuid);
    const { before, after } = await withClient(opts, async (client) => {
      const before = await getTaskOrFail(client, id);
      return { before, after: await client.cancelTask(id, opts.reason) };
    });
    if (before.state === 'cancelled') {
      out.out(`Task ${id} was already cancelled.`);
    } else if (after.state !== 'cancelled') {
      throw new CliFailure(`task ${id} had already finished (${after.state}): nothing to cancel`);
    } else {
      const stopped = after.steps.filter(
        (s) =>
          s.state === 'cancelled' &&
          before.steps.find((b) => b.name === s.name)?.state !== 'cancelled',
      ).length;
      out.out(
        `Task ${id} cancelled (${stopped} unfinished step${stopped === 1 ? '' : 's'} cancelled).`,
      );
    }
  });

  withDatabaseOption(
    tasks
      .command('retry')
      .description('run a task in error again from its failed steps (their attempts start over)')
      .argument('<uuid>', 'the task'),
  ).action(async (uuid: string, opts: DatabaseOption) => {
    const id = parseUuid(uuid);
    const { before, after } = await withClient(opts, async (client) => {
      const before = await getTaskOrFail(client, id);
      return { before, after: await client.retryTask(id) };
    });
    const again = before.steps.filter((s) => s.state === 'error').map((s) => s.name);
    out.out(
      `Task ${id} is ${after.state} again` +
        (again.length > 0 ? `: ${again.join(', ')} will run again.` : '.'),
    );
  });
}

function progress(task: Task): { done: number; total: number; running: string } {
  const done = task.steps.filter(isStepFinished).length;
  const running = task.steps.filter((s) => s.state === 'in_progress').map((s) => s.name);
  const retrying = task.steps.filter((s) => s.state === 'waiting_for_retry').map((s) => s.name);
  const signals = task.steps.filter((s) => s.state === 'waiting_for_signal').map((s) => s.name);
  const children = task.steps.filter((s) => s.state === 'waiting_for_child').map((s) => s.name);
  const parts = [];
  if (running.length > 0) parts.push(`running: ${running.join(', ')}`);
  if (retrying.length > 0) parts.push(`waiting to retry: ${retrying.join(', ')}`);
  if (signals.length > 0) parts.push(`waiting for a signal: ${signals.join(', ')}`);
  if (children.length > 0) parts.push(`waiting for a child task: ${children.join(', ')}`);
  return { done, total: task.steps.length, running: parts.join('; ') };
}

/** Polls the task every `intervalMs` until it ends, showing its progress; returns it. */
export async function watchTask(
  client: TaskerClient,
  out: Output,
  uuid: string,
  intervalMs: number,
): Promise<Task> {
  const c = out.colors;
  let task = await getTaskOrFail(client, uuid);
  const started = Date.now();
  out.out(taskTitle(c, task));
  let bar: SingleBar | undefined;
  let last = '';
  const show = (t: Task) => {
    const p = progress(t);
    if (bar !== undefined) {
      bar.setTotal(Math.max(1, p.total));
      bar.update(p.done, { running: p.running ? ` · ${p.running}` : '' });
      return;
    }
    const line = `${p.done}/${p.total} steps done${p.running ? ` · ${p.running}` : ''}`;
    if (line !== last) out.out(line);
    last = line;
  };
  if (out.isTTY) {
    bar = new SingleBar({
      format: `{bar} {value}/{total} steps done{running}`,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      stream: out.stdout,
      // Redrawn in place by cli-progress; the names of running steps can change length.
      linewrap: false,
    });
    const p = progress(task);
    bar.start(Math.max(1, p.total), p.done, { running: p.running ? ` · ${p.running}` : '' });
  }
  // Ctrl-C: leave the terminal as it was (cli-progress hid the cursor), then stop as usual.
  const interrupted = () => {
    bar?.stop();
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    show(task);
    while (!isTaskFinished(task.state)) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      task = await getTaskOrFail(client, uuid);
      show(task);
    }
  } finally {
    process.removeListener('SIGINT', interrupted);
    bar?.stop();
  }
  const p = progress(task);
  const took =
    task.completedAt !== null
      ? Date.parse(task.completedAt) - Date.parse(task.createdAt)
      : Date.now() - started;
  out.out(
    `Task ${uuid} ${colorState(c, task.state)}: ${p.done}/${p.total} steps done, ` +
      `${formatDuration(Math.max(0, took))} after it was created.`,
  );
  const failed = task.steps.filter((s) => s.state === 'error' && s.error !== null);
  for (const step of failed) {
    out.out(`  ${c.red('✖')} ${step.name}: ${step.error!.message} (${step.error!.errorType})`);
  }
  // No step of its own failed (a lifecycle limit, a child task, a cancel): say why it ended.
  const why = endReason(task);
  if (failed.length === 0 && why !== null) out.out(`  ${why}`);
  return task;
}
