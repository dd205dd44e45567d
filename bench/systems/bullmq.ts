/**
 * BullMQ's side of each scenario, on the local Redis (TASKER_BENCH_REDIS_URL, default
 * redis://127.0.0.1:6379), one queue per job under the run's own key prefix (the parent deletes
 * the keys afterwards). Workers use BullMQ's defaults plus `concurrency`.
 */
import { performance } from 'perf_hooks';
import { FlowProducer, Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { marks } from '../marks';
import type {
  ChainRun,
  ChainVariant,
  CreateParams,
  CreateRun,
  LatencyParams,
  Resource,
  RssParams,
  RssRun,
  ThroughputParams,
  ThroughputRun,
} from '../protocol';
import { sleep, summarize } from '../stats';
import { readRss, type RssReporter } from './rss';

type RedisResource = Resource & { kind: 'redis' };

function redis(resource: Resource): RedisResource {
  if (resource.kind !== 'redis') throw new Error('BullMQ needs Redis');
  return resource;
}

export function connectionOf(url: string): ConnectionOptions {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) ? { db } : {}),
  };
}

function base(resource: Resource) {
  const r = redis(resource);
  return { connection: connectionOf(r.url), prefix: r.prefix };
}

function queueOf(resource: Resource, suffix = ''): Queue {
  return new Queue(redis(resource).queue + suffix, base(resource));
}

function workerOf(
  resource: Resource,
  concurrency: number,
  processor: (job: Job) => Promise<unknown>,
  suffix = '',
): Worker {
  return new Worker(redis(resource).queue + suffix, processor, {
    ...base(resource),
    concurrency,
    autorun: false,
  });
}

async function addNoops(queue: Queue, count: number, offset: number, batch: number, opts = {}) {
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    await queue.addBulk(
      Array.from({ length: n }, (_, k) => ({ name: 'noop', data: { i: offset + done + k }, opts })),
    );
  }
}

export async function throughput(resource: Resource, p: ThroughputParams): Promise<ThroughputRun> {
  const queue = queueOf(resource);
  let worker: Worker | undefined;
  try {
    const setupStarted = performance.now();
    await addNoops(queue, p.tasks, 0, 1000);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    worker = workerOf(resource, p.concurrency, async () => ({ ok: true }));
    await worker.waitUntilReady();
    const deadline = Date.now() + 30 * 60_000;
    let probeQueries = 0;
    const started = performance.now();
    void worker.run();
    let completed = 0;
    for (;;) {
      await sleep(p.probeMs);
      probeQueries++;
      completed = await queue.getCompletedCount();
      if (completed >= p.tasks) break;
      if (Date.now() > deadline) throw new Error(`${p.tasks} jobs not finished in 30 minutes`);
    }
    const seconds = (performance.now() - started) / 1000;
    const failed = await queue.getFailedCount();
    if (failed > 0) throw new Error(`${failed} of ${p.tasks} jobs failed`);
    return {
      tasks: p.tasks,
      concurrency: p.concurrency,
      setupSeconds,
      seconds,
      stepsPerSecond: p.tasks / seconds,
      probeMs: p.probeMs,
      probeQueries,
      completed,
      commitsPerStep: null,
      statementsPerStep: null,
      statementsSource: null,
    };
  } finally {
    await worker?.close();
    await queue.close();
  }
}

async function latency(
  p: LatencyParams,
  start: (run: string) => Promise<unknown>,
  workers: Worker[],
  closables: { close(): Promise<unknown> }[],
): Promise<ChainRun> {
  try {
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    workers.forEach((w) => void w.run());
    const samples: number[] = [];
    for (let i = 0; i < p.warmup + p.runs; i++) {
      const key = `r${i}`;
      const started = performance.now();
      await start(key);
      const at = await marks.wait(key);
      if (i >= p.warmup) samples.push(at - started);
    }
    return { lastHandler: summarize(samples), variant: p.variant };
  } finally {
    for (const w of workers) await w.close();
    for (const c of closables) await c.close();
  }
}

/**
 * A 4-job chain, either with each job's processor adding the next (`adds`) or as one
 * FlowProducer flow whose innermost child runs first (`flow`). The parent runs both variants
 * and reports the faster.
 */
export function chain(resource: Resource, p: LatencyParams): Promise<ChainRun> {
  const variant: ChainVariant = p.variant ?? 'adds';
  const queue = queueOf(resource);
  const queueName = redis(resource).queue;
  if (variant === 'adds') {
    const worker = workerOf(resource, p.concurrency, async (job) => {
      const { run: key, n } = job.data as { run: string; n: number };
      if (n < 4) await queue.add('step', { run: key, n: n + 1 });
      else marks.record(key);
      return { value: n };
    });
    return latency(p, (key) => queue.add('step', { run: key, n: 1 }), [worker], [queue]);
  }
  const flow = new FlowProducer(base(resource));
  const worker = workerOf(resource, p.concurrency, async (job) => {
    const { run: key, n } = job.data as { run: string; n: number };
    if (n === 4) marks.record(key);
    return { value: n };
  });
  const node = (key: string, n: number): Parameters<FlowProducer['add']>[0] =>
    n === 1
      ? { name: 'step', queueName, data: { run: key, n } }
      : { name: 'step', queueName, data: { run: key, n }, children: [node(key, n - 1)] };
  return latency(p, (key) => flow.add(node(key, 4)), [worker], [flow, queue]);
}

/**
 * 1 → 5 → 1: the `root` job's processor adds a FlowProducer flow, a `join` parent with five
 * `branch` children; BullMQ moves `join` to wait once all five complete.
 */
export function fanout(resource: Resource, p: LatencyParams): Promise<ChainRun> {
  const queue = queueOf(resource);
  const queueName = redis(resource).queue;
  const flow = new FlowProducer(base(resource));
  const worker = workerOf(resource, p.concurrency, async (job) => {
    const { run: key } = job.data as { run: string };
    if (job.name === 'root') {
      await flow.add({
        name: 'join',
        queueName,
        data: { run: key },
        children: Array.from({ length: 5 }, (_, i) => ({
          name: 'branch',
          queueName,
          data: { run: key, i },
        })),
      });
    } else if (job.name === 'join') {
      marks.record(key);
    }
    return { ok: true };
  });
  return latency(p, (key) => queue.add('root', { run: key }), [worker], [flow, queue]);
}

export async function create(resource: Resource, p: CreateParams): Promise<CreateRun> {
  const queue = queueOf(resource);
  try {
    await queue.waitUntilReady();
    let started = performance.now();
    for (let i = 0; i < p.oneAtATime; i++) await queue.add('noop', { i });
    let seconds = (performance.now() - started) / 1000;
    const oneAtATime = { count: p.oneAtATime, seconds, perSecond: p.oneAtATime / seconds };
    started = performance.now();
    await addNoops(queue, p.bulk, p.oneAtATime, p.batch);
    seconds = (performance.now() - started) / 1000;
    return {
      oneAtATime,
      bulk: { count: p.bulk, batch: p.batch, seconds, perSecond: p.bulk / seconds },
    };
  } finally {
    await queue.close();
  }
}

/** Jobs of the RSS scenario remove themselves on completion, so Redis does not fill up. */
const RSS_JOB_OPTIONS = { removeOnComplete: true, removeOnFail: 1000 };

export async function rss(resource: Resource, p: RssParams, report: RssReporter): Promise<RssRun> {
  let done = 0;
  const worker = workerOf(resource, p.concurrency, async () => {
    done++;
    return { ok: true };
  });
  try {
    await worker.waitUntilReady();
    void worker.run();
    return await readRss(p, report, () => done);
  } finally {
    await worker.close();
  }
}

/** Parent side of the RSS scenario. */
export async function feeder(resource: Resource) {
  const queue = queueOf(resource);
  return {
    add: (count: number, offset: number) => addNoops(queue, count, offset, 1000, RSS_JOB_OPTIONS),
    close: () => queue.close(),
  };
}
