/**
 * `npm run bench`: tasker-node on SQLite and PostgreSQL side by side with graphile-worker (two
 * configurations) on the same PostgreSQL server and BullMQ on the local Redis, in the same run
 * and with the same definitions. Scenarios: throughput (also with a per-handler limit, tasker-node
 * only), 4-step chain latency, 1→5→1 fan-out latency, signal latency (tasker-node only), creation
 * rate, worker RSS, and commits/statements per step on PostgreSQL.
 *
 * Each job (one scenario, one system, one repetition) runs in its own child process
 * (bench/child.ts) on a database, file or Redis queue this process creates for it and removes
 * afterwards. Prints a table with each tasker-node figure's ratio to the best peer, and writes
 * everything to bench-results/latest.json. What is measured, how each peer is configured and
 * the targets: docs/benchmarks.md.
 *
 *   node dist/bench/bench.js [--only sqlite|postgres|graphile|bullmq]… [--scenario …]…
 *                            [--quick] [--soak] [--repeat N] …   (bench.js --help)
 *
 * PostgreSQL: TASKER_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432).
 * Redis: TASKER_BENCH_REDIS_URL (default redis://127.0.0.1:6379).
 */
import { execFileSync, fork, type ChildProcess } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs, rssCheckpoints, UsageError, USAGE, type Options } from './options';
import { CHILD, DEFAULT_RESULTS, ROOT } from './paths';
import { createTempDatabase, serverInfo, serverUrl } from './postgres';
import { redactDatabaseUrl as redact } from '../src';
import {
  LABELS,
  POSTGRES_SYSTEMS,
  TASKER_SYSTEMS,
  limitAt,
  type ChildMessage,
  type Job,
  type JobResult,
  type Resource,
  type SystemName,
} from './protocol';
import { deleteKeys, redisUrl, redisVersion } from './redis';
import { buildFigures, checkTargets, formatTable, type JobRecord, type Report } from './report';

type PlannedJob = Omit<Job, 'resource'>;

/** The jobs of a run, in order. Throughput repetitions interleave the systems. */
export function planJobs(options: Options, systems: readonly SystemName[]): PlannedJob[] {
  const jobs: PlannedJob[] = [];
  const wants = (s: Options['scenarios'][number]) => options.scenarios.includes(s);
  const throughputSystems = wants('throughput')
    ? systems
    : wants('commits')
      ? systems.filter((s) => POSTGRES_SYSTEMS.includes(s))
      : [];
  // The limited runs (tasker-node only) interleave with the throughput runs they are compared with.
  const limitedSystems = wants('limited') ? systems.filter((s) => TASKER_SYSTEMS.includes(s)) : [];
  for (let rep = 0; rep < options.repeat; rep++) {
    for (const concurrency of options.concurrency) {
      const params = { tasks: options.tasks, concurrency, probeMs: options.probeMs };
      for (const system of throughputSystems) {
        jobs.push({ scenario: 'throughput', system, params });
      }
      for (const system of limitedSystems) {
        jobs.push({
          scenario: 'limited',
          system,
          params: { ...params, limit: limitAt(concurrency) },
        });
      }
    }
  }
  const latency = {
    runs: options.runs,
    warmup: options.warmup,
    concurrency: options.latencyConcurrency,
  };
  for (const scenario of ['chain', 'fanout'] as const) {
    if (!wants(scenario)) continue;
    for (const system of systems) {
      if (scenario === 'chain' && system === 'bullmq') {
        jobs.push({ scenario, system, params: { ...latency, variant: 'adds' } });
        jobs.push({ scenario, system, params: { ...latency, variant: 'flow' } });
      } else {
        jobs.push({ scenario, system, params: latency });
      }
    }
  }
  if (wants('signal')) {
    for (const system of systems.filter((s) => TASKER_SYSTEMS.includes(s))) {
      jobs.push({ scenario: 'signal', system, params: latency });
    }
  }
  if (wants('create')) {
    for (const system of systems) {
      // graphile-worker's two configurations differ only in the worker; create once.
      if (system === 'graphile-batched' && systems.includes('graphile')) continue;
      jobs.push({
        scenario: 'create',
        system,
        params: { oneAtATime: options.createOne, bulk: options.createBulk, batch: options.batch },
      });
    }
  }
  if (wants('rss')) {
    for (const system of systems) {
      jobs.push({
        scenario: 'rss',
        system,
        params: {
          concurrency: options.latencyConcurrency,
          checkpoints: rssCheckpoints(options),
          progressMs: 200,
        },
      });
    }
  }
  return jobs as PlannedJob[];
}

interface Provisioned {
  resource: Resource;
  release(): Promise<void>;
}

class Provisioner {
  constructor(
    private readonly pgServer: string,
    private readonly redis: string,
    readonly prefix: string,
  ) {}

  async provision(system: SystemName, index: number): Promise<Provisioned> {
    if (system === 'sqlite') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-bench-'));
      return {
        resource: { kind: 'sqlite', file: path.join(dir, 'bench.db') },
        release: async () => fs.rmSync(dir, { recursive: true, force: true }),
      };
    }
    if (system === 'bullmq') {
      const queue = `j${index}`;
      return {
        resource: { kind: 'redis', url: this.redis, prefix: this.prefix, queue },
        release: async () => {
          await deleteKeys(this.redis, `${this.prefix}:${queue}:*`);
        },
      };
    }
    const db = await createTempDatabase(
      this.pgServer,
      system === 'postgres' ? 'tasker_bench_' : 'graphile_bench_',
    );
    return {
      resource: { kind: 'postgres', url: db.url, server: this.pgServer, database: db.name },
      release: () => db.drop(),
    };
  }
}

interface Feeder {
  add(count: number, offset: number): Promise<void>;
  close(): Promise<unknown>;
}

/** The parent side of the RSS scenario: tasks for the child's worker, at most 5,000 ahead. */
async function openFeeder(system: SystemName, resource: Resource): Promise<Feeder> {
  if (system === 'sqlite' || system === 'postgres') {
    return (await import('./systems/tasker')).feeder(resource);
  }
  if (system === 'bullmq') return (await import('./systems/bullmq')).feeder(resource);
  return (await import('./systems/graphile')).feeder(resource);
}

const BACKLOG = 5_000;

let current: ChildProcess | undefined;
let interrupted = false;

/** Fork a child for `job`, feed it when it is an RSS job, and return its result. */
function runChild(job: Job, timeoutMs: number): Promise<JobResult> {
  const child = fork(CHILD, [], {
    cwd: ROOT,
    execArgv: job.scenario === 'rss' ? ['--expose-gc'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  current = child;
  let result: JobResult | undefined;
  let error: string | undefined;
  let done = 0;
  let exited = false;
  let wake: (() => void) | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };
  let onReady: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));

  const finished = new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      error = `no result after ${Math.round(timeoutMs / 1000)} s; stopped`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'result') result = m.result;
      else if (m.type === 'error') error = m.message;
      else if (m.type === 'ready') onReady?.();
      else if (m.type === 'progress') done = m.done;
      nudge();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      if (result === undefined && error === undefined) {
        error = `the child process exited (${signal ?? `code ${code}`}) without a result`;
      }
      onReady?.();
      nudge();
      current = undefined;
      resolve();
    });
  });
  child.send({ type: 'job', job });

  // tasker SQLite's RSS child feeds itself (bench/systems/tasker.ts says why).
  const feeding =
    job.scenario !== 'rss' || job.system === 'sqlite'
      ? Promise.resolve()
      : (async () => {
          await ready;
          if (exited) return;
          const total = job.params.checkpoints[job.params.checkpoints.length - 1];
          const feeder = await openFeeder(job.system, job.resource);
          try {
            let created = 0;
            while (created < total && !exited) {
              if (created - done < BACKLOG) {
                const n = Math.min(1000, total - created);
                await feeder.add(n, created);
                created += n;
              } else {
                await new Promise<void>((resolve) => (wake = resolve));
              }
            }
          } finally {
            await feeder.close();
          }
        })();

  return feeding
    .catch(async (err: unknown) => {
      // The child cannot finish without its feeder: stop it, and report the feeder's error.
      error = `feeding the worker failed: ${(err as Error).message ?? String(err)}`;
      result = undefined;
      if (!exited) child.kill('SIGKILL');
    })
    .then(() => finished)
    .then(() => {
      if (result !== undefined) return result;
      throw new Error(error ?? 'no result');
    });
}

function describe(job: PlannedJob): string {
  const p = job.params as unknown as Record<string, unknown>;
  switch (job.scenario) {
    case 'throughput':
      return `throughput, ${p.tasks} tasks, concurrency ${p.concurrency}`;
    case 'limited':
      return `throughput, ${p.tasks} tasks, concurrency ${p.concurrency}, per-handler limit ${p.limit}`;
    case 'chain':
      return `4-step chain, ${p.runs} runs${p.variant ? ` (${p.variant})` : ''}`;
    case 'fanout':
      return `fan-out 1→5→1, ${p.runs} runs`;
    case 'signal':
      return `sendSignal → dependent step, ${p.runs} runs`;
    case 'create':
      return `creation, ${p.oneAtATime} one at a time + ${p.bulk} in bulk`;
    case 'rss':
      return `RSS up to ${(p.checkpoints as number[]).join(' / ')} steps`;
  }
}

function summary(result: JobResult): string {
  if ('stepsPerSecond' in result) {
    const c =
      result.commitsPerStep === null ? '' : `, ${result.commitsPerStep.toFixed(3)} commits/step`;
    return `${Math.round(result.stepsPerSecond).toLocaleString('en-US')} steps/s${c}`;
  }
  if ('lastHandler' in result) {
    return `p50 ${result.lastHandler.p50Ms.toFixed(2)} ms, p95 ${result.lastHandler.p95Ms.toFixed(2)} ms`;
  }
  if ('oneAtATime' in result) {
    const bulk =
      'unavailable' in result.bulk
        ? result.bulk.unavailable
        : `${Math.round(result.bulk.perSecond)}/s`;
    return `${Math.round(result.oneAtATime.perSecond)}/s one at a time, bulk ${bulk}`;
  }
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  return `RSS ${mb(result.atZero)} → ${result.checkpoints.map((c) => mb(c.rss)).join(' → ')}`;
}

function peerVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['graphile-worker', 'bullmq', 'ioredis', 'pg']) {
    try {
      const pkg = path.join(ROOT, 'node_modules', name, 'package.json');
      out[name] = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
    } catch {
      out[name] = 'not installed';
    }
  }
  return out;
}

function gitCommit(): string | null {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, { cwd: ROOT, stdio: 'pipe' }).toString().trim();
    let commit = git('rev-parse', '--short', 'HEAD');
    // Uncommitted changes (the addon may have been built from them): say so.
    if (git('status', '--porcelain', '--untracked-files=no') !== '') commit += '-dirty';
    return commit;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  let options: Options;
  try {
    const argv = process.argv.slice(2);
    if (argv.includes('--help') || argv.includes('-h')) {
      console.log(USAGE);
      return;
    }
    options = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(err.message);
    process.exitCode = 2;
    return;
  }
  const out = options.out ? path.resolve(options.out) : DEFAULT_RESULTS;
  const pgServer = serverUrl();
  const redis = redisUrl();
  const prefix = `tasker-bench-${randomBytes(4).toString('hex')}`;
  const cpus = os.cpus();
  const addon = fs.readdirSync(ROOT).find((f) => /^tasker-node\..+\.node$/.test(f));
  const report: Report = {
    date: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      commit: gitCommit(),
      addonBuiltAt: addon ? fs.statSync(path.join(ROOT, addon)).mtime.toISOString() : null,
      postgres: { error: 'not used' },
      redis: { error: 'not used' },
      peers: peerVersions(),
    },
    options: { ...options, out: undefined },
    systems: {},
    skipped: {},
    failures: [],
    targets: [],
    jobs: [],
  };
  const env = report.environment;
  console.log(
    `tasker-node benchmark: node ${env.node}, ${env.platform}, ${env.cpus} × ${env.cpuModel}` +
      (env.commit ? `, commit ${env.commit}` : ''),
  );

  let systems = options.systems;
  if (systems.some((s) => POSTGRES_SYSTEMS.includes(s))) {
    try {
      const info = await serverInfo(pgServer);
      env.postgres = { server: redact(pgServer), ...info };
      console.log(
        `PostgreSQL ${redact(pgServer)}: ${info.version.split(' on ')[0]}; pg_stat_statements ` +
          (info.pgStatStatements ? 'loaded' : 'not loaded (commits from pg_stat_database)'),
      );
    } catch (err) {
      const reason = `PostgreSQL not reachable at ${redact(pgServer)} (${(err as Error).message}); set TASKER_BENCH_DATABASE_URL`;
      env.postgres = { error: reason };
      for (const s of systems.filter((x) => POSTGRES_SYSTEMS.includes(x)))
        report.skipped[s] = reason;
      systems = systems.filter((s) => !POSTGRES_SYSTEMS.includes(s));
      console.log(`SKIPPED: ${reason}`);
    }
  }
  if (systems.includes('bullmq')) {
    try {
      const version = await redisVersion(redis);
      env.redis = { url: redact(redis), version };
      console.log(`Redis ${redact(redis)}: ${version}; key prefix ${prefix}`);
    } catch (err) {
      const reason = `Redis not reachable at ${redact(redis)} (${(err as Error).message}); set TASKER_BENCH_REDIS_URL`;
      env.redis = { error: reason };
      report.skipped.bullmq = reason;
      systems = systems.filter((s) => s !== 'bullmq');
      console.log(`SKIPPED: ${reason}`);
    }
  }

  const onSigint = () => {
    interrupted = true;
    console.error('\ninterrupted: stopping the current job and cleaning up');
    current?.kill('SIGKILL');
  };
  process.on('SIGINT', onSigint);
  const provisioner = new Provisioner(pgServer, redis, prefix);
  const plan = planJobs(options, systems);
  try {
    for (const [i, planned] of plan.entries()) {
      if (interrupted) break;
      const label = `[${i + 1}/${plan.length}] ${LABELS[planned.system]}: ${describe(planned)}`;
      const started = Date.now();
      const record: JobRecord = {
        system: planned.system,
        scenario: planned.scenario,
        params: planned.params,
        seconds: 0,
      };
      let provisioned: Provisioned | undefined;
      try {
        provisioned = await provisioner.provision(planned.system, i);
        const job = { ...planned, resource: provisioned.resource } as Job;
        const timeout = planned.scenario === 'rss' ? 6 * 3600_000 : 45 * 60_000;
        record.result = await runChild(job, timeout);
        console.log(`${label}: ${summary(record.result)}`);
      } catch (err) {
        record.error = (err as Error).message ?? String(err);
        report.failures.push({
          system: planned.system,
          scenario: planned.scenario,
          error: record.error,
        });
        console.error(`${label}: FAILED: ${record.error}`);
        process.exitCode = 1;
      } finally {
        record.seconds = (Date.now() - started) / 1000;
        report.jobs.push(record);
        await provisioned
          ?.release()
          .catch((err: unknown) => console.error(`${label}: cleanup failed:`, err));
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (systems.includes('bullmq')) {
      await deleteKeys(redis, `${prefix}:*`).catch(() => undefined);
    }
  }

  report.systems = buildFigures(report.jobs);
  report.targets = checkTargets(report);
  console.log(`\n${formatTable(report)}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nfigures written to ${path.relative(process.cwd(), out) || out}`);
  if (interrupted) process.exitCode = 130;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
