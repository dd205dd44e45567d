/**
 * graphile-worker's side of each scenario, on its own throwaway database on the same
 * PostgreSQL server as tasker-node, in two configurations:
 *
 * - `defaults`: graphile-worker's defaults; only `concurrency` is set.
 * - `batched`: the batching its performance docs recommend for high throughput and use for
 *   their own figures: `localQueue: { size: 500 }`, `completeJobBatchDelay: 0`,
 *   `failJobBatchDelay: 0`, and a pool of `concurrency + 1` connections.
 */
import { performance } from 'perf_hooks';
import {
  Logger,
  makeWorkerUtils,
  run,
  type RunnerOptions,
  type Runner,
  type TaskList,
  type WorkerUtils,
} from 'graphile-worker';
import { Client } from 'pg';
import { marks } from '../marks';
import { PgCounters } from '../postgres';
import type {
  ChainRun,
  CreateParams,
  CreateRun,
  LatencyParams,
  Resource,
  RssParams,
  RssRun,
  SystemName,
  ThroughputParams,
  ThroughputRun,
} from '../protocol';
import { sleep, summarize } from '../stats';
import { readRss, type RssReporter } from './rss';

export type GraphileConfig = 'defaults' | 'batched';

export function configOf(system: SystemName): GraphileConfig {
  if (system === 'graphile') return 'defaults';
  if (system === 'graphile-batched') return 'batched';
  throw new Error(`${system} is not a graphile-worker configuration`);
}

/** Warnings and errors only. */
const logger = new Logger(() => (level, message) => {
  const l = level as string;
  if (l === 'error' || l === 'warning') console.error(`[graphile-worker ${l}] ${message}`);
});

function url(resource: Resource): Resource & { kind: 'postgres' } {
  if (resource.kind !== 'postgres') throw new Error(`graphile-worker needs PostgreSQL`);
  return resource;
}

/** The runner options of a configuration (docs/benchmarks.md quotes them). */
export function runnerOptions(
  resource: Resource,
  config: GraphileConfig,
  concurrency: number,
  taskList: TaskList,
): RunnerOptions {
  const options: RunnerOptions = {
    connectionString: url(resource).url,
    concurrency,
    noHandleSignals: true,
    logger,
    taskList,
    parsedCronItems: [],
  };
  if (config === 'batched') {
    options.maxPoolSize = concurrency + 1;
    options.preset = {
      worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    };
  }
  return options;
}

async function utils(resource: Resource): Promise<WorkerUtils> {
  const u = await makeWorkerUtils({ connectionString: url(resource).url, logger });
  await u.migrate();
  return u;
}

async function addNoops(u: WorkerUtils, count: number, offset: number, batch: number) {
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    await u.addJobs(
      Array.from({ length: n }, (_, k) => ({
        identifier: 'noop',
        payload: { i: offset + done + k },
      })),
    );
  }
}

export async function throughput(
  resource: Resource,
  config: GraphileConfig,
  p: ThroughputParams,
): Promise<ThroughputRun> {
  const pgResource = url(resource);
  const setupStarted = performance.now();
  const u = await utils(resource);
  try {
    await addNoops(u, p.tasks, 0, 1000);
  } finally {
    await u.release();
  }
  const setupSeconds = (performance.now() - setupStarted) / 1000;

  const probe = new Client({ connectionString: pgResource.url });
  await probe.connect();
  let runner: Runner | undefined;
  let pg: PgCounters | undefined;
  try {
    pg = await PgCounters.open(pgResource.server, pgResource.database);
    // The probe's connection has not committed anything yet.
    await pg.before();
    const taskList: TaskList = { noop: async () => undefined };
    const deadline = Date.now() + 30 * 60_000;
    let probeQueries = 0;
    const started = performance.now();
    runner = await run(runnerOptions(resource, config, p.concurrency, taskList));
    for (;;) {
      await sleep(p.probeMs);
      probeQueries++;
      const r = await probe.query<{ any: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS any',
      );
      if (!r.rows[0]?.any) break;
      if (Date.now() > deadline) throw new Error(`${p.tasks} jobs not finished in 30 minutes`);
    }
    const seconds = (performance.now() - started) / 1000;
    await runner.stop();
    runner = undefined;
    // Completed jobs are deleted; a failed one would still be in the table.
    const completed = p.tasks;
    await probe.end();
    const { commits, statements } = await pg.after();
    return {
      tasks: p.tasks,
      concurrency: p.concurrency,
      setupSeconds,
      seconds,
      stepsPerSecond: p.tasks / seconds,
      probeMs: p.probeMs,
      probeQueries,
      completed,
      commitsPerStep: (commits - probeQueries) / p.tasks,
      statementsPerStep: statements === null ? null : (statements - probeQueries) / p.tasks,
      statementsSource: statements === null ? null : 'pg_stat_statements',
    };
  } finally {
    await runner?.stop().catch(() => undefined);
    await probe.end().catch(() => undefined);
    await pg?.close();
  }
}

/** Sequential runs: `start` adds the first job; the last handler calls `marks.record(run)`. */
async function latency(
  resource: Resource,
  config: GraphileConfig,
  p: LatencyParams,
  taskList: TaskList,
  start: (runner: Runner, run: string) => Promise<unknown>,
  setup?: (c: Client) => Promise<unknown>,
): Promise<ChainRun> {
  const u = await utils(resource);
  await u.release();
  if (setup !== undefined) {
    const c = new Client({ connectionString: url(resource).url });
    await c.connect();
    try {
      await setup(c);
    } finally {
      await c.end();
    }
  }
  const runner = await run(runnerOptions(resource, config, p.concurrency, taskList));
  try {
    const samples: number[] = [];
    for (let i = 0; i < p.warmup + p.runs; i++) {
      const key = `r${i}`;
      const started = performance.now();
      await start(runner, key);
      const at = await marks.wait(key);
      if (i >= p.warmup) samples.push(at - started);
    }
    return { lastHandler: summarize(samples) };
  } finally {
    await runner.stop();
  }
}

/** Each `step` job adds the next one; the fourth marks the run. */
export function chain(resource: Resource, config: GraphileConfig, p: LatencyParams) {
  const taskList: TaskList = {
    step: async (payload, helpers) => {
      const { run: key, n } = payload as { run: string; n: number };
      if (n < 4) await helpers.addJob('step', { run: key, n: n + 1 });
      else marks.record(key);
    },
  };
  return latency(resource, config, p, taskList, (runner, key) =>
    runner.addJob('step', { run: key, n: 1 }),
  );
}

/**
 * 1 → 5 → 1: `root` records a counter of 5 for the run and adds five `branch` jobs in one
 * statement; each `branch` decrements the counter and, when it reaches 0, adds `join` in the
 * same statement (so the fan-in is durable and atomic, like tasker-node's and BullMQ's).
 */
export function fanout(resource: Resource, config: GraphileConfig, p: LatencyParams) {
  const taskList: TaskList = {
    root: async (payload, helpers) => {
      const { run: key } = payload as { run: string };
      await helpers.query(
        `WITH c AS (INSERT INTO bench_fanin (run, remaining) VALUES ($1, 5))
         SELECT graphile_worker.add_job('branch', json_build_object('run', $1::text))
           FROM generate_series(1, 5)`,
        [key],
      );
    },
    branch: async (payload, helpers) => {
      const { run: key } = payload as { run: string };
      await helpers.query(
        `WITH d AS (UPDATE bench_fanin SET remaining = remaining - 1 WHERE run = $1
                    RETURNING remaining)
         SELECT graphile_worker.add_job('join', json_build_object('run', $1::text))
           FROM d WHERE d.remaining = 0`,
        [key],
      );
    },
    join: async (payload) => {
      marks.record((payload as { run: string }).run);
    },
  };
  return latency(
    resource,
    config,
    p,
    taskList,
    (runner, key) => runner.addJob('root', { run: key }),
    (c) => c.query('CREATE TABLE bench_fanin (run text PRIMARY KEY, remaining int NOT NULL)'),
  );
}

export async function create(resource: Resource, p: CreateParams): Promise<CreateRun> {
  const u = await utils(resource);
  try {
    let started = performance.now();
    for (let i = 0; i < p.oneAtATime; i++) await u.addJob('noop', { i });
    let seconds = (performance.now() - started) / 1000;
    const oneAtATime = { count: p.oneAtATime, seconds, perSecond: p.oneAtATime / seconds };
    started = performance.now();
    await addNoops(u, p.bulk, p.oneAtATime, p.batch);
    seconds = (performance.now() - started) / 1000;
    return {
      oneAtATime,
      bulk: { count: p.bulk, batch: p.batch, seconds, perSecond: p.bulk / seconds },
    };
  } finally {
    await u.release();
  }
}

export async function rss(
  resource: Resource,
  config: GraphileConfig,
  p: RssParams,
  report: RssReporter,
): Promise<RssRun> {
  let done = 0;
  const taskList: TaskList = {
    noop: async () => {
      done++;
    },
  };
  const runner = await run(runnerOptions(resource, config, p.concurrency, taskList));
  try {
    return await readRss(p, report, () => done);
  } finally {
    await runner.stop();
  }
}

/** Parent side of the RSS scenario (the child's runner has migrated the schema). */
export async function feeder(resource: Resource) {
  const u = await utils(resource);
  return {
    add: (count: number, offset: number) => addNoops(u, count, offset, 1000),
    close: async () => {
      await u.release();
    },
  };
}
