/**
 * Exit codes of the `tasker` command (documented in its `--help` and in docs/operating.md).
 *
 * - 0: done (for `watch` and `create --wait`: the task completed)
 * - 1: failed: templates with errors, no such task, an operation the engine refused, a database
 *   error; for `watch` and `create --wait`, the task ended in `error`
 * - 2: bad usage: an unknown command or option, a bad argument value, no database given
 * - 3: `watch` / `create --wait`: the task was cancelled
 * - 4: `create --wait`: the task had not finished when `--timeout` ran out
 */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  CANCELLED: 3,
  TIMEOUT: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A bad command line: printed as one sentence, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure already explained to the user: printed as is, with the given exit code. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.FAILED,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  done (watch, create --wait: the task completed)
  1  failed: template errors, no such task, a refused operation, a database error
     (watch, create --wait: the task ended in error)
  2  bad usage: unknown command or option, bad argument value, no database given
  3  watch, create --wait: the task was cancelled
  4  create --wait: the task had not finished within --timeout`;
