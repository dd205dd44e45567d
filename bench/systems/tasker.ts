/**
 * tasker-node's side of each scenario, on SQLite (a temp file) or PostgreSQL (a throwaway
 * database). Runs inside a child process (bench/child.ts); the parent owns the database.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import {
  createClient,
  createConsoleLogger,
  createWorker,
  type CreateTaskOptions,
  type TaskerClient,
  type TaskState,
  type Worker,
} from '../../src';
import { benchHandlers } from '../handlers';
import { marks } from '../marks';
import { TEMPLATES } from '../paths';
import { PgCounters } from '../postgres';
import {
  BULK_UNAVAILABLE,
  type ChainRun,
  type CreateParams,
  type CreateRun,
  type DispatchFigures,
  type LatencyParams,
  type LimitedParams,
  type Resource,
  type RssParams,
  type RssRun,
  type ThroughputParams,
  type ThroughputRun,
} from '../protocol';
import { sleep, summarize } from '../stats';
import { readRss, type RssReporter } from './rss';

const logger = createConsoleLogger('warn');

function database(resource: Resource): string {
  if (resource.kind === 'sqlite') return resource.file;
  if (resource.kind === 'postgres') return resource.url;
  throw new Error(`tasker-node cannot run on a ${resource.kind} resource`);
}

type BulkCreate = (requests: CreateTaskOptions[]) => Promise<unknown[]>;

/** `client.createTasks(requests)`, the bulk call. */
export function bulkCreate(client: TaskerClient): BulkCreate {
  return (requests) => client.createTasks(requests);
}

/** Statements the worker's store has executed (its engine's counter). */
export function engineStatementCount(worker: Worker): number {
  return worker.stats().storeStatements;
}

function dispatch(worker: Worker): DispatchFigures {
  const s = worker.stats();
  return { p50Us: s.dispatchP50Us, p95Us: s.dispatchP95Us, samples: s.dispatchSamples };
}

const benchTask = (name: string, i: number): CreateTaskOptions => ({
  namespace: 'bench',
  name,
  context: { i },
});

const singleStep = (i: number): CreateTaskOptions => benchTask('single_step', i);

/**
 * Create `count` single-step tasks numbered from `offset`, with the bulk call in batches of
 * `batch`; `name` is the template (`single_step`, or the limited scenario's `limited_step`).
 */
export async function createSingleSteps(
  client: TaskerClient,
  count: number,
  offset = 0,
  batch = 1000,
  name = 'single_step',
): Promise<void> {
  const bulk = bulkCreate(client);
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    await bulk(Array.from({ length: n }, (_, k) => benchTask(name, offset + done + k)));
  }
}

/** `createSingleSteps` one `createTask` at a time, `parallel` in flight. */
export async function createSingleStepsOneByOne(
  client: TaskerClient,
  count: number,
  offset = 0,
  parallel = 32,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await client.createTask(singleStep(offset + i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
}

// A task is `steps_in_process` from its creation until it finishes; `pending` rarely occurs.
const UNFINISHED: TaskState[] = ['steps_in_process', 'pending', 'waiting_for_retry'];

/**
 * Whether any task of template `name` is unfinished: at most three `listTasks` calls of one row
 * (an index lookup by state each). The throughput loop asks only once the worker's counters say
 * every result is recorded, so the probe does not perturb the run.
 */
async function anyUnfinished(
  probe: TaskerClient,
  name: string,
): Promise<{ any: boolean; queries: number }> {
  let queries = 0;
  for (const state of UNFINISHED) {
    queries++;
    const page = await probe.listTasks({
      namespace: 'bench',
      name,
      state,
      limit: 1,
    });
    if (page.length > 0) return { any: true, queries };
  }
  return { any: false, queries };
}

async function countComplete(client: TaskerClient, name: string): Promise<number> {
  let count = 0;
  for (let offset = 0; ; offset += 1000) {
    const page = await client.listTasks({
      namespace: 'bench',
      name,
      state: 'complete',
      limit: 1000,
      offset,
    });
    count += page.length;
    if (page.length < 1000) return count;
  }
}

async function openWorker(
  resource: Resource,
  concurrency: number,
  templates: string | string[] = TEMPLATES,
): Promise<Worker> {
  return createWorker({
    templates,
    handlers: benchHandlers,
    database: database(resource),
    concurrency,
    logger,
  });
}

/** Throughput: `single_step` tasks, no limit. */
export function throughput(resource: Resource, p: ThroughputParams): Promise<ThroughputRun> {
  return measureThroughput(resource, p, 'single_step', TEMPLATES);
}

/**
 * `limited_step`: `single_step` (the same no-op handler, `Bench.Noop`) with `concurrency:
 * limit` on its step. The limit varies with the worker's concurrency, so the template is
 * written for the job; the worker loads it beside bench/templates.
 */
function limitedTemplate(limit: number): string {
  return [
    '# Written by the benchmark (bench/systems/tasker.ts) for one limited-scenario job.',
    'name: limited_step',
    'namespace_name: bench',
    'version: 1.0.0',
    'steps:',
    '  - name: noop',
    '    handler: { callable: Bench.Noop }',
    `    concurrency: ${limit}`,
    '',
  ].join('\n');
}

/**
 * Throughput with a per-handler limit in force: `limited_step` tasks, measured exactly like
 * `throughput`. Fails if the worker was seen holding more steps than the limit.
 */
export async function limited(resource: Resource, p: LimitedParams): Promise<ThroughputRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-bench-limited-'));
  try {
    const file = path.join(dir, 'limited_step.yaml');
    fs.writeFileSync(file, limitedTemplate(p.limit));
    const run = await measureThroughput(resource, p, 'limited_step', [TEMPLATES, file]);
    if (run.maxInFlight !== undefined && run.maxInFlight > p.limit) {
      throw new Error(
        `the worker had ${run.maxInFlight} steps in flight with a per-handler limit of ${p.limit}`,
      );
    }
    return { ...run, limit: p.limit };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `p.tasks` pre-created tasks of the one-step template `name`, run by one worker. */
async function measureThroughput(
  resource: Resource,
  p: ThroughputParams,
  name: string,
  templates: string | string[],
): Promise<ThroughputRun> {
  const db = database(resource);
  // Created (templates registered) but not started.
  const worker = await openWorker(resource, p.concurrency, templates);
  let pg: PgCounters | undefined;
  let probe: TaskerClient | undefined;
  let stopped = false;
  try {
    const setupStarted = performance.now();
    const creator = await createClient({ database: db });
    try {
      await createSingleSteps(creator, p.tasks, 0, 1000, name);
    } finally {
      await creator.close();
    }
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    probe = await createClient({ database: db });
    if (resource.kind === 'postgres') {
      pg = await PgCounters.open(resource.server, resource.database);
      await pg.before();
    }
    const statementsBefore = engineStatementCount(worker);

    const deadline = Date.now() + 30 * 60_000;
    let probeQueries = 0;
    let maxInFlight = 0;
    const started = performance.now();
    const loopBefore = performance.eventLoopUtilization();
    await worker.start();
    for (;;) {
      await sleep(p.probeMs);
      if (Date.now() > deadline) throw new Error(`${p.tasks} tasks not finished in 30 minutes`);
      // An O(1) read of the worker's counters; the store has the final word.
      const stats = worker.stats();
      maxInFlight = Math.max(maxInFlight, stats.inFlight);
      if (stats.recorded < p.tasks) continue;
      const { any, queries } = await anyUnfinished(probe, name);
      probeQueries += queries;
      if (!any) break;
    }
    const seconds = (performance.now() - started) / 1000;
    const loop = performance.eventLoopUtilization(loopBefore);
    const statementsAfter = engineStatementCount(worker);
    const underLoad = dispatch(worker);

    await worker.shutdown();
    stopped = true;
    await probe.close();
    probe = undefined;
    let commitsPerStep: number | null = null;
    let statementsPerStep: number | null = null;
    let statementsSource: ThroughputRun['statementsSource'] = null;
    {
      statementsPerStep = (statementsAfter - statementsBefore) / p.tasks;
      statementsSource = 'engine';
    }
    if (pg !== undefined) {
      const { commits, statements } = await pg.after();
      // Each probe query is one autocommitted statement.
      commitsPerStep = (commits - probeQueries) / p.tasks;
      if (statementsSource === null && statements !== null) {
        statementsPerStep = (statements - probeQueries) / p.tasks;
        statementsSource = 'pg_stat_statements';
      }
    }

    const verifier = await createClient({ database: db });
    let completed: number;
    try {
      completed = await countComplete(verifier, name);
    } finally {
      await verifier.close();
    }
    if (completed !== p.tasks) throw new Error(`${completed} of ${p.tasks} tasks completed`);
    return {
      tasks: p.tasks,
      concurrency: p.concurrency,
      setupSeconds,
      seconds,
      stepsPerSecond: p.tasks / seconds,
      probeMs: p.probeMs,
      probeQueries,
      completed,
      commitsPerStep,
      statementsPerStep,
      statementsSource,
      dispatch: underLoad,
      jsUsPerStep: (loop.active * 1000) / p.tasks,
      maxInFlight,
    };
  } finally {
    if (!stopped) await worker.shutdown().catch(() => undefined);
    await probe?.close().catch(() => undefined);
    await pg?.close();
  }
}

/** Sequential runs of `template`; `check` validates each finished task. */
async function latency(
  resource: Resource,
  p: LatencyParams,
  template: string,
  check: (task: Awaited<ReturnType<TaskerClient['waitForTask']>>, i: number) => void,
): Promise<ChainRun> {
  const worker = await openWorker(resource, p.concurrency);
  try {
    await worker.start();
    const last: number[] = [];
    const waited: number[] = [];
    for (let i = 0; i < p.warmup + p.runs; i++) {
      const started = performance.now();
      const task = await worker.client.createTask({
        namespace: 'bench',
        name: template,
        context: { start: i },
      });
      const marked = marks.wait(task.taskUuid);
      const done = await worker.client.waitForTask(task.taskUuid, { timeoutMs: 30_000 });
      const resolved = performance.now();
      const lastRan = await marked;
      if (done.state !== 'complete') {
        throw new Error(`${template} run ${i} ended '${done.state}'`);
      }
      check(done, i);
      if (i >= p.warmup) {
        last.push(lastRan - started);
        waited.push(resolved - started);
      }
    }
    return {
      lastHandler: summarize(last),
      waitForTask: summarize(waited),
      dispatch: dispatch(worker),
    };
  } finally {
    await worker.shutdown();
  }
}

export function chain(resource: Resource, p: LatencyParams): Promise<ChainRun> {
  return latency(resource, p, 'linear4', (done, i) => {
    const value = (done.steps.find((s) => s.name === 'step_4')?.result as { value?: number })
      ?.value;
    if (value !== i + 4) throw new Error(`linear4 run ${i}: step_4 = ${String(value)}`);
  });
}

export function fanout(resource: Resource, p: LatencyParams): Promise<ChainRun> {
  return latency(resource, p, 'fanout', (done, i) => {
    const complete = done.steps.filter((s) => s.state === 'complete').length;
    if (complete !== 7) throw new Error(`fanout run ${i}: ${complete} of 7 steps complete`);
  });
}

/**
 * Sequential runs of `signal_wait`: the signal step waits from the task's creation; timed from
 * `sendSignal` to the dependent step's handler running (and to `waitForTask` resolving).
 */
export async function signal(resource: Resource, p: LatencyParams): Promise<ChainRun> {
  const worker = await openWorker(resource, p.concurrency);
  try {
    await worker.start();
    const last: number[] = [];
    const waited: number[] = [];
    for (let i = 0; i < p.warmup + p.runs; i++) {
      const task = await worker.client.createTask({
        namespace: 'bench',
        name: 'signal_wait',
        context: { i },
      });
      const marked = marks.wait(task.taskUuid);
      const started = performance.now();
      const sent = await worker.client.sendSignal(task.taskUuid, 'approve', { i });
      if (!sent.applied) throw new Error(`signal_wait run ${i}: the signal step was not waiting`);
      const done = await worker.client.waitForTask(task.taskUuid, { timeoutMs: 30_000 });
      const resolved = performance.now();
      const lastRan = await marked;
      if (done.state !== 'complete') throw new Error(`signal_wait run ${i} ended '${done.state}'`);
      if (i >= p.warmup) {
        last.push(lastRan - started);
        waited.push(resolved - started);
      }
    }
    return {
      lastHandler: summarize(last),
      waitForTask: summarize(waited),
      dispatch: dispatch(worker),
    };
  } finally {
    await worker.shutdown();
  }
}

export async function create(resource: Resource, p: CreateParams): Promise<CreateRun> {
  // The worker registers the template; creation goes through a client, as users do.
  const worker = await openWorker(resource, 1);
  await worker.shutdown();
  const client = await createClient({ database: database(resource) });
  try {
    let started = performance.now();
    for (let i = 0; i < p.oneAtATime; i++) await client.createTask(singleStep(i));
    let seconds = (performance.now() - started) / 1000;
    const oneAtATime = { count: p.oneAtATime, seconds, perSecond: p.oneAtATime / seconds };

    const bulk = bulkCreate(client);
    started = performance.now();
    for (let done = 0; done < p.bulk; done += p.batch) {
      const n = Math.min(p.batch, p.bulk - done);
      const offset = p.oneAtATime + done;
      await bulk(Array.from({ length: n }, (_, k) => singleStep(offset + k)));
    }
    seconds = (performance.now() - started) / 1000;
    return {
      oneAtATime,
      bulk: { count: p.bulk, batch: p.batch, seconds, perSecond: p.bulk / seconds },
    };
  } finally {
    await client.close();
  }
}

/** The worker side of the RSS scenario; the parent feeds tasks (see `feeder`). */
export async function rss(resource: Resource, p: RssParams, report: RssReporter): Promise<RssRun> {
  const worker = await openWorker(resource, p.concurrency);
  let feeding: Promise<void> | undefined;
  let stop = false;
  try {
    await worker.start();
    const selfFeeding: RssReporter = {
      ready: () => {
        report.ready();
        // SQLite: a second process creating tasks in the same file fails with "database is
        // locked" (SQLITE_BUSY_SNAPSHOT), so the worker's own engine creates them here, at most
        // 5,000 ahead of the worker, like the parent's feeder does for the other systems.
        if (resource.kind !== 'sqlite') return;
        const total = p.checkpoints[p.checkpoints.length - 1];
        feeding = (async () => {
          for (let created = 0; created < total && !stop;) {
            if (created - worker.stats().recorded < 5_000) {
              const n = Math.min(1000, total - created);
              await createSingleSteps(worker.client, n, created);
              created += n;
            } else {
              await sleep(20);
            }
          }
        })();
      },
      progress: (done) => report.progress(done),
    };
    const run = await readRss(p, selfFeeding, () => worker.stats().recorded);
    stop = true;
    await feeding;
    return run;
  } finally {
    stop = true;
    await feeding?.catch(() => undefined);
    await worker.shutdown();
  }
}

/** Parent side of the RSS scenario on PostgreSQL: creates tasks for the child's worker. */
export async function feeder(resource: Resource) {
  const client = await createClient({ database: database(resource) });
  return {
    add: (count: number, offset: number) => createSingleSteps(client, count, offset),
    close: () => client.close(),
  };
}
