/** The `tasker` command line: commands, options, and how each failure becomes an exit code. */
import * as fs from 'fs';
import * as path from 'path';
import { Command, CommanderError } from 'commander';
import { InvalidArgumentError } from '../errors/invalid-argument-error';
import { CliFailure, EXIT, EXIT_CODES_HELP, UsageError, type ExitCode } from './exit-codes';
import type { Output } from './output';
import { registerDashboardCommand } from './dashboard';
import { registerPruneCommand } from './prune';
import { registerScheduleCommands } from './schedules';
import { registerStepCommands } from './steps';
import { registerTaskCommands } from './tasks';
import { registerValidateCommand } from './validate';

function packageVersion(): string {
  try {
    const file = path.join(__dirname, '..', '..', '..', 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The commands, writing to `out`; `setExit` records the exit code a command decided on. */
export function buildProgram(out: Output, setExit: (code: ExitCode) => void): Command {
  const program = new Command('tasker');
  program
    .description(
      'Inspect and steer tasker workflows: validate templates, list, show, watch, create, cancel and retry tasks.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--no-color', 'no colours (also when NO_COLOR is set or stdout is not a terminal)')
    .helpOption('-h, --help', 'show help for a command')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void out.stdout.write(s),
      writeErr: (s) => void process.stderr.write(s),
      // Printed by `run` instead, with a pointer to the right --help.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .addHelpText('after', EXIT_CODES_HELP);
  registerValidateCommand(program, out, setExit);
  registerTaskCommands(program, out, setExit);
  registerStepCommands(program, out);
  registerScheduleCommands(program, out);
  registerPruneCommand(program, out);
  registerDashboardCommand(program, out);
  return program;
}

/** `tasker tasks list`: the deepest command that `args` names. */
function commandPath(program: Command, args: readonly string[]): string {
  const names = ['tasker'];
  let current = program;
  for (const arg of args) {
    if (arg.startsWith('-')) continue;
    const next = current.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (next === undefined) break;
    names.push(next.name());
    current = next;
  }
  return names.join(' ');
}

/** Run the command line `args` (without `node` and the script); resolves to the exit code. */
export async function run(args: readonly string[], out: Output): Promise<ExitCode> {
  let exitCode: ExitCode = EXIT.OK;
  const program = buildProgram(out, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...args], { from: 'user' });
    return exitCode;
  } catch (err) {
    const usage = `(see '${commandPath(program, args)} --help')`;
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')
        return EXIT.OK;
      if (err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync') {
        // Help was shown because a command was missing (`tasker`, `tasker tasks`).
        return EXIT.USAGE;
      }
      // One line: commander puts its "(Did you mean …?)" on a line of its own.
      const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      out.err(`tasker: ${message} ${usage}`);
      return EXIT.USAGE;
    }
    if (err instanceof UsageError || err instanceof InvalidArgumentError) {
      out.err(`tasker: ${err.message} ${usage}`);
      return EXIT.USAGE;
    }
    if (err instanceof CliFailure) {
      out.err(`tasker: ${err.message}`);
      return err.exitCode;
    }
    out.err(`tasker: ${err instanceof Error ? err.message : String(err)}`);
    return EXIT.FAILED;
  }
}
