/** Where the command writes, and whether in colour. */
import pc from 'picocolors';
import type { Colors } from 'picocolors/types';
import type { StepState, TaskState } from '../client/task';

export interface Output {
  /** Colours for stdout (all no-ops when colour is off). */
  readonly colors: Colors;
  /** Whether stdout is a terminal (live progress bars only then). */
  readonly isTTY: boolean;
  readonly stdout: NodeJS.WriteStream;
  /** A line on stdout. */
  out(line?: string): void;
  /** A line on stderr. */
  err(line: string): void;
}

/**
 * Colour is on when stdout is a terminal (and `TERM` is not `dumb`), off when `NO_COLOR` is set
 * to anything but the empty string (https://no-color.org) or `--no-color` is given;
 * `FORCE_COLOR` (other than `0` or `false`) turns it on anywhere, `FORCE_COLOR=0` off.
 */
export function colorEnabled(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv,
): boolean {
  if (argv.includes('--no-color')) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function processOutput(): Output {
  const stdout = process.stdout;
  // `tasker tasks list | head -1`: once the reader has gone, the rest of the output is dropped
  // and the command ends as it would have, with its own exit code.
  let readerGone = false;
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && !readerGone) throw err;
    readerGone = true;
  });
  return {
    colors: pc.createColors(colorEnabled(stdout)),
    isTTY: stdout.isTTY === true,
    stdout,
    out: (line = '') => {
      if (!readerGone) stdout.write(`${line}\n`);
    },
    err: (line) => void process.stderr.write(`${line}\n`),
  };
}

type AnyState = TaskState | StepState | string;

/** A state name in its colour. */
export function colorState(c: Colors, state: AnyState, text: string = state): string {
  switch (state) {
    case 'complete':
      return c.green(text);
    case 'resolved_manually':
      return c.magenta(text);
    case 'error':
      return c.red(text);
    case 'cancelled':
      return c.gray(text);
    case 'in_progress':
    case 'steps_in_process':
      return c.cyan(text);
    case 'waiting_for_retry':
    case 'waiting_for_signal':
    case 'waiting_for_child':
      return c.yellow(text);
    default:
      return c.dim(text);
  }
}

/** A symbol for a step state (plain text; coloured by the caller). */
export function stateSymbol(state: AnyState): string {
  switch (state) {
    case 'complete':
      return '✔';
    case 'resolved_manually':
      return '✚';
    case 'error':
      return '✖';
    case 'cancelled':
      return '⊘';
    case 'in_progress':
      return '▶';
    case 'waiting_for_retry':
      return '↻';
    case 'waiting_for_signal':
      return '⏸';
    case 'waiting_for_child':
      return '⤵';
    case 'enqueued':
      return '•';
    default:
      return '○';
  }
}

/** `1.2 s`, `350 ms`, `2 min 5 s`, `3 h 20 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const min = Math.round(s / 60);
  if (min < 1440) return `${Math.floor(min / 60)} h ${min % 60} min`;
  return `${Math.floor(min / 1440)} d ${Math.floor((min % 1440) / 60)} h`;
}

/** An ISO timestamp as `2026-05-01 10:00:00` (UTC, to the second). */
export function formatTime(iso: string | null): string {
  if (iso === null) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** `text` padded with spaces to `width` columns (before colouring). */
export function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

export function padStart(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - [...text].length)) + text;
}

/** A value as indented JSON on stdout (`--json`). */
export function printJson(out: Output, value: unknown): void {
  out.out(JSON.stringify(value, null, 2));
}
