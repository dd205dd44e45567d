/** Command-line options of `npm run bench` (docs/benchmarks.md lists them). */
import { SCENARIOS, SYSTEMS, type ScenarioName, type SystemName } from './protocol';

export interface Options {
  systems: SystemName[];
  scenarios: ScenarioName[];
  quick: boolean;
  soak: boolean;
  /** Repetitions of each throughput figure; the median is reported. */
  repeat: number;
  /** Pre-created single-step tasks per throughput run. */
  tasks: number;
  concurrency: number[];
  probeMs: number;
  /** Latency scenarios: timed runs after `warmup` untimed ones. */
  runs: number;
  warmup: number;
  /** Worker concurrency in the latency and RSS scenarios. */
  latencyConcurrency: number;
  createOne: number;
  createBulk: number;
  batch: number;
  /** RSS is read after this many steps (and after ten times as many with `--soak`). */
  rssSteps: number;
  /** Where the JSON report goes. */
  out: string | undefined;
}

export const USAGE =
  'usage: bench.js [--only sqlite|postgres|graphile|bullmq]… [--scenario ' +
  `${SCENARIOS.join('|')}]… [--quick] [--soak] [--repeat N] [--tasks N] ` +
  '[--concurrency N[,N…]] [--probe-ms N] [--runs N] [--warmup N] [--create-one N] ' +
  '[--create-bulk N] [--batch N] [--rss-steps N] [--out FILE]';

const FULL = {
  repeat: 3,
  tasks: 20_000,
  runs: 200,
  warmup: 20,
  createOne: 2_000,
  createBulk: 20_000,
  rssSteps: 100_000,
};

/** `--quick`: a smoke run, small enough to finish in about a minute. */
const QUICK: typeof FULL = {
  repeat: 1,
  tasks: 2_000,
  runs: 30,
  warmup: 5,
  createOne: 200,
  createBulk: 2_000,
  rssSteps: 5_000,
};

/** `--only` names: `graphile` means both of its configurations. */
const ONLY: Record<string, SystemName[]> = {
  sqlite: ['sqlite'],
  postgres: ['postgres'],
  graphile: ['graphile', 'graphile-batched'],
  'graphile-batched': ['graphile-batched'],
  bullmq: ['bullmq'],
};

const NUMERIC = {
  '--repeat': 'repeat',
  '--tasks': 'tasks',
  '--probe-ms': 'probeMs',
  '--runs': 'runs',
  '--warmup': 'warmup',
  '--create-one': 'createOne',
  '--create-bulk': 'createBulk',
  '--batch': 'batch',
  '--rss-steps': 'rssSteps',
} as const;

type NumericKey = (typeof NUMERIC)[keyof typeof NUMERIC];

export class UsageError extends Error {}

function list(flag: string, value: string | undefined): string[] {
  if (value === undefined || value.startsWith('--')) {
    throw new UsageError(`${flag} needs a value; ${USAGE}`);
  }
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function integer(flag: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}, got '${value ?? ''}'; ${USAGE}`);
  }
  return n;
}

/** Parse the arguments after `bench.js`; throws `UsageError` with the message to print. */
export function parseArgs(argv: readonly string[]): Options {
  const only = new Set<SystemName>();
  const scenarios = new Set<ScenarioName>();
  const numbers: Partial<Record<NumericKey, number>> = {};
  let concurrency: number[] | undefined;
  let quick = false;
  let soak = false;
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--quick') {
      quick = true;
    } else if (flag === '--soak') {
      soak = true;
    } else if (flag === '--only') {
      for (const name of list(flag, argv[++i])) {
        const systems = ONLY[name];
        if (systems === undefined) {
          throw new UsageError(
            `--only: unknown system '${name}' (use sqlite, postgres, graphile or bullmq); ${USAGE}`,
          );
        }
        systems.forEach((s) => only.add(s));
      }
    } else if (flag === '--scenario') {
      for (const name of list(flag, argv[++i])) {
        if (!(SCENARIOS as readonly string[]).includes(name)) {
          throw new UsageError(
            `--scenario: unknown scenario '${name}' (use ${SCENARIOS.join(', ')}); ${USAGE}`,
          );
        }
        scenarios.add(name as ScenarioName);
      }
    } else if (flag === '--concurrency') {
      concurrency = list(flag, argv[++i]).map((v) => integer(flag, v, 1));
    } else if (flag === '--out') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--') || value.trim() === '') {
        throw new UsageError(`--out needs a file name; ${USAGE}`);
      }
      out = value;
    } else if (flag in NUMERIC) {
      const key = NUMERIC[flag as keyof typeof NUMERIC];
      numbers[key] = integer(flag, argv[++i], key === 'warmup' ? 0 : 1);
    } else {
      throw new UsageError(`unknown argument '${flag}'; ${USAGE}`);
    }
  }
  const base = quick ? QUICK : FULL;
  return {
    systems: SYSTEMS.filter((s) => only.size === 0 || only.has(s)),
    scenarios: SCENARIOS.filter((s) => scenarios.size === 0 || scenarios.has(s)),
    quick,
    soak,
    repeat: numbers.repeat ?? base.repeat,
    tasks: numbers.tasks ?? base.tasks,
    concurrency: concurrency ?? [10, 50],
    probeMs: numbers.probeMs ?? 50,
    runs: numbers.runs ?? base.runs,
    warmup: numbers.warmup ?? base.warmup,
    latencyConcurrency: 10,
    createOne: numbers.createOne ?? base.createOne,
    createBulk: numbers.createBulk ?? base.createBulk,
    batch: numbers.batch ?? 1_000,
    rssSteps: numbers.rssSteps ?? base.rssSteps,
    out,
  };
}

/** Steps after which the RSS job reads RSS: N, and with `--soak` also 10 × N. */
export function rssCheckpoints(options: Pick<Options, 'rssSteps' | 'soak'>): number[] {
  return options.soak ? [options.rssSteps, options.rssSteps * 10] : [options.rssSteps];
}
