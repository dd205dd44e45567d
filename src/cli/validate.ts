/** `tasker validate <templates...>`: every problem in the templates, without a database. */
import type { Command } from 'commander';
import { validateTemplates } from '../validate-templates';
import { EXIT, type ExitCode } from './exit-codes';
import type { Output } from './output';

export function registerValidateCommand(
  program: Command,
  out: Output,
  setExit: (code: ExitCode) => void,
): void {
  program
    .command('validate')
    .description('check task templates (files or directories) without handlers or a database')
    .argument('<templates...>', 'template files, or directories of *.yaml / *.yml files')
    .option('--json', 'print the result ({ files, templates, errors, notices }) as JSON')
    .addHelpText(
      'after',
      '\nLists every problem found, and notices (lines starting with !) about tasker-core keys that\n' +
        'are ignored or read under their names here. Exit codes: 0 all valid (notices or not),\n' +
        '1 any problem, 2 bad usage.',
    )
    .action((paths: string[], opts: { json?: boolean }) => {
      const result = validateTemplates(paths);
      setExit(result.errors.length === 0 ? EXIT.OK : EXIT.FAILED);
      if (opts.json) {
        out.out(JSON.stringify(result, null, 2));
        return;
      }
      const c = out.colors;
      for (const t of result.templates) {
        const steps = `${t.steps.length} step${t.steps.length === 1 ? '' : 's'}`;
        out.out(
          `${c.green('✔')} ${t.namespace}/${t.name}@${t.version} ${c.dim(`(${t.file}, ${steps})`)}`,
        );
      }
      for (const n of result.notices) out.out(`${c.yellow('!')} ${n.message}`);
      for (const e of result.errors) out.out(`${c.red('✖')} ${e.message}`);
      const files = `${result.files.length} file${result.files.length === 1 ? '' : 's'}`;
      const valid = `${result.templates.length} valid template${result.templates.length === 1 ? '' : 's'}`;
      if (result.errors.length === 0) {
        out.out(c.green(`All templates are valid: ${valid} in ${files}.`));
      } else {
        const bad = new Set(result.errors.map((e) => e.file ?? '')).size;
        const problems = `${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}`;
        out.out(
          c.red(`${problems} in ${bad} file${bad === 1 ? '' : 's'}`) + ` (${valid} in ${files}).`,
        );
      }
    });
}
