/** `tasker dashboard`: serve the web dashboard until interrupted. */
import type { Command } from 'commander';
import { startDashboard } from '../dashboard/start';
import { redactDatabaseUrl } from '../redact-url';
import { parseInteger } from './args';
import { databaseUrl, withDatabaseOption, type DatabaseOption } from './database';
import { UsageError } from './exit-codes';
import type { Output } from './output';

interface DashboardCliOptions extends DatabaseOption {
  port: string;
  host: string;
  allowActions?: boolean;
  token?: string;
}

export function registerDashboardCommand(program: Command, out: Output): void {
  withDatabaseOption(
    program
      .command('dashboard')
      .description(
        'serve a web dashboard of the tasks, their DAGs and timelines (read-only unless --allow-actions)',
      )
      .option('--port <port>', 'the port to listen on (0: any free port)', '4400')
      .option(
        '--host <host>',
        'the address to bind (another than 127.0.0.1 exposes it)',
        '127.0.0.1',
      )
      .option('--allow-actions', 'serve retry, resolve and cancel, protected by a token')
      .option('--token <token>', 'the actions token (default: a random one, printed at start)'),
  ).action(async (opts: DashboardCliOptions) => {
    const port = parseInteger(opts.port, '--port', 0, 65535);
    if (opts.token !== undefined && !opts.allowActions) {
      throw new UsageError('--token is only used with --allow-actions');
    }
    if (opts.token !== undefined && opts.token.trim() === '') {
      throw new UsageError('--token must not be empty');
    }
    const database = databaseUrl(opts);
    const running = await startDashboard({
      database,
      port,
      host: opts.host,
      allowActions: opts.allowActions === true,
      ...(opts.token !== undefined && { token: opts.token }),
    });
    out.out(`tasker dashboard on ${running.url} (database ${redactDatabaseUrl(database)})`);
    if (running.token === undefined) {
      out.out('Read-only: start with --allow-actions to retry, resolve and cancel from the page.');
    } else {
      out.out(`Actions are on. Token: ${running.token}`);
      out.out('Paste it into the page (it is sent in the X-Tasker-Token header).');
    }
    out.out('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await running.close();
  });
}
