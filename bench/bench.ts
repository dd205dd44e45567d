/**
 * `npm run bench`: latency of a 4-step workflow, throughput of single-step tasks and the
 * Rust → JS → Rust dispatch overhead, on embedded SQLite (a file in a temp dir) and on
 * PostgreSQL (a throwaway `tasker_bench_<random>` database; skipped with a notice when the
 * server is unreachable). Prints a table and writes bench-results/latest.json.
 * What is measured, and the targets: docs/benchmarks.md.
 *
 *   node dist/bench/bench.js [--runs 300] [--warmup 30] [--tasks 10000] [--concurrency 64]
 *                            [--only sqlite|postgres]
 *
 * PostgreSQL server: TASKER_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { createConsoleLogger, createWorker, redactDatabaseUrl, type Worker } from '../src';
import { benchHandlers } from './handlers';
import { createTempDatabase, serverUrl } from './postgres';
import {
  formatTable,
  LABELS,
  percentile,
  TARGETS,
  type BackendFigures,
  type BackendName,
  type BackendOutcome,
  type DispatchFigures,
  type LatencyFigures,
  type Report,
  type ThroughputFigures,
} from './report';

const ROOT = path.join(__dirname, '..', '..');
const TEMPLATES = path.join(ROOT, 'bench', 'templates');
const RESULTS = path.join(ROOT, 'bench-results', 'latest.json');
const logger = createConsoleLogger('warn');

interface Options {
  runs: number;
  warmup: number;
  tasks: number;
  concurrency: number;
  only: BackendName | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    runs: 300,
    warmup: 30,
    tasks: 10_000,
    concurrency: 64,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--only' && (value === 'sqlite' || value === 'postgres')) {
      options.only = value;
      continue;
    }
    const key = flag?.replace(/^--/, '');
    const n = Number(value);
    if (
      (key === 'runs' || key === 'warmup' || key === 'tasks' || key === 'concurrency') &&
      Number.isInteger(n) &&
      n >= (key === 'warmup' ? 0 : 1)
    ) {
      options[key] = n;
      continue;
    }
    throw new Error(
      `unknown or invalid argument '${flag} ${value ?? ''}'; usage: bench.js [--runs N] ` +
        '[--warmup N] [--tasks N] [--concurrency N] [--only sqlite|postgres]',
    );
  }
  return options;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function dispatchFigures(worker: Worker): DispatchFigures {
  const s = worker.stats();
  return { p50Us: s.dispatchP50Us, p95Us: s.dispatchP95Us, samples: s.dispatchSamples };
}

/** (a) + idle dispatch: sequential createTask → waitForTask of `bench/linear4`. */
async function measureLatency(
  database: string,
  options: Options,
): Promise<{ latency: LatencyFigures; idle: DispatchFigures }> {
  const worker = await createWorker({
    templates: TEMPLATES,
    handlers: benchHandlers,
    database,
    logger,
  });
  try {
    await worker.start();
    const samples: number[] = [];
    for (let i = 0; i < options.warmup + options.runs; i++) {
      const started = performance.now();
      const created = await worker.client.createTask({
        namespace: 'bench',
        name: 'linear4',
        context: { start: i },
      });
      const done = await worker.client.waitForTask(created.taskUuid, { timeoutMs: 30_000 });
      const elapsed = performance.now() - started;
      const last = done.steps.find((s) => s.name === 'step_4')?.result as { value?: number };
      if (done.state !== 'complete' || last?.value !== i + 4) {
        throw new Error(
          `linear4 run ${i} ended '${done.state}' with step_4 = ${JSON.stringify(last)}`,
        );
      }
      if (i >= options.warmup) samples.push(elapsed);
    }
    samples.sort((a, b) => a - b);
    return {
      latency: {
        runs: options.runs,
        warmup: options.warmup,
        p50Ms: percentile(samples, 50),
        p95Ms: percentile(samples, 95),
        p99Ms: percentile(samples, 99),
        meanMs: samples.reduce((a, b) => a + b, 0) / samples.length,
        minMs: samples[0],
        maxMs: samples[samples.length - 1],
      },
      idle: dispatchFigures(worker),
    };
  } finally {
    await worker.shutdown();
  }
}

/** Create `n` tasks, at most `parallel` requests in flight. */
async function createTasks(worker: Worker, n: number, parallel: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await worker.client.createTask({ namespace: 'bench', name: 'single_step', context: { i } });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, lane));
}

/** How many `bench/single_step` tasks are complete (listTasks pages hold at most 1000). */
async function countComplete(worker: Worker): Promise<number> {
  let count = 0;
  for (let offset = 0; ; offset += 1000) {
    const page = await worker.client.listTasks({
      namespace: 'bench',
      name: 'single_step',
      state: 'complete',
      limit: 1000,
      offset,
    });
    count += page.length;
    if (page.length < 1000) return count;
  }
}

/**
 * (b) + dispatch under load: create every task first (the worker registers the templates but
 * is not started), then time from `start()` until the core has recorded every result.
 */
async function measureThroughput(
  database: string,
  options: Options,
): Promise<{ throughput: ThroughputFigures; underLoad: DispatchFigures }> {
  const worker = await createWorker({
    templates: TEMPLATES,
    handlers: benchHandlers,
    database,
    concurrency: options.concurrency,
    logger,
  });
  try {
    const createStarted = performance.now();
    await createTasks(worker, options.tasks, 32);
    const createSeconds = (performance.now() - createStarted) / 1000;

    const deadline = Date.now() + 600_000;
    const started = performance.now();
    await worker.start();
    while (worker.stats().recorded < options.tasks) {
      if (Date.now() > deadline) {
        throw new Error(`only ${worker.stats().recorded} of ${options.tasks} steps in 600 s`);
      }
      await sleep(2);
    }
    const runSeconds = (performance.now() - started) / 1000;
    const underLoad = dispatchFigures(worker);
    const stats = worker.stats();
    return {
      throughput: {
        tasks: options.tasks,
        concurrency: options.concurrency,
        createSeconds,
        createdPerSecond: options.tasks / createSeconds,
        runSeconds,
        stepsPerSecond: options.tasks / runSeconds,
        completedTasks: await countComplete(worker),
        staleResults: stats.stale,
      },
      underLoad,
    };
  } finally {
    await worker.shutdown();
  }
}

async function runBackend(
  backend: BackendName,
  database: string,
  shown: string,
  options: Options,
): Promise<BackendFigures> {
  console.log(`${LABELS[backend]} (${shown})`);
  console.log(`  4-step workflow: ${options.warmup} warm-up + ${options.runs} runs…`);
  const { latency, idle } = await measureLatency(database, options);
  console.log(`  ${options.tasks} single-step tasks, concurrency ${options.concurrency}…`);
  const { throughput, underLoad } = await measureThroughput(database, options);
  if (throughput.completedTasks !== options.tasks) {
    throw new Error(`${throughput.completedTasks} of ${options.tasks} tasks completed`);
  }
  return { backend, database: shown, latency, throughput, dispatch: { idle, underLoad } };
}

async function sqlite(options: Options): Promise<BackendOutcome> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-bench-'));
  try {
    const file = path.join(dir, 'bench.db');
    return await runBackend('sqlite', file, file, options);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function postgres(options: Options): Promise<BackendOutcome> {
  const server = serverUrl();
  let db;
  try {
    db = await createTempDatabase(server);
  } catch (err) {
    const reason = `PostgreSQL not reachable at ${redactDatabaseUrl(server)} (${(err as Error).message})`;
    console.log(`SKIPPED: ${reason}; set TASKER_BENCH_DATABASE_URL to benchmark PostgreSQL`);
    return { backend: 'postgres', skipped: reason };
  }
  try {
    return await runBackend('postgres', db.url, redactDatabaseUrl(db.url), options);
  } finally {
    await db.drop().catch((err: unknown) => console.error(`could not drop ${db.name}:`, err));
  }
}

function environment(): Report['environment'] {
  let commit: string | null = null;
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, stdio: 'pipe' }).toString().trim();
    commit = git('rev-parse', '--short', 'HEAD');
    // Uncommitted changes (the addon may have been built from them): say so.
    if (git('status', '--porcelain', '--untracked-files=no') !== '') commit += '-dirty';
  } catch {
    // Not a git checkout.
  }
  // The commit does not say when the addon was built; its file time does.
  const addon = fs.readdirSync(ROOT).find((f) => /^tasker-node\..+\.node$/.test(f));
  const addonBuiltAt = addon ? fs.statSync(path.join(ROOT, addon)).mtime.toISOString() : null;
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    commit,
    addonBuiltAt,
  };
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const report: Report = {
    date: new Date().toISOString(),
    environment: environment(),
    targets: TARGETS,
    results: [],
  };
  const env = report.environment;
  console.log(
    `tasker-node benchmark: node ${env.node}, ${env.platform}, ${env.cpus} × ${env.cpuModel}` +
      (env.commit ? `, commit ${env.commit}` : ''),
  );
  const backends: [BackendName, (o: Options) => Promise<BackendOutcome>][] = [
    ['sqlite', sqlite],
    ['postgres', postgres],
  ];
  for (const [name, run] of backends) {
    if (options.only !== undefined && options.only !== name) continue;
    try {
      report.results.push(await run(options));
    } catch (err) {
      console.error(`${LABELS[name]} failed:`, err);
      report.results.push({ backend: name, failed: (err as Error).message ?? String(err) });
      process.exitCode = 1;
    }
  }
  console.log(`\n${formatTable(report)}`);
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nfigures written to ${path.relative(process.cwd(), RESULTS) || RESULTS}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
