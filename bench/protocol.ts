/**
 * What the benchmark's parent process (bench.ts) and its children (child.ts) exchange: the
 * systems and scenarios, one job per child, the resources a job runs on, and what each
 * scenario measures. Everything here crosses the IPC channel as JSON.
 */

/** The columns of the table. `graphile` and `graphile-batched` are two configurations of one peer. */
export const SYSTEMS = ['sqlite', 'postgres', 'graphile', 'graphile-batched', 'bullmq'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export const LABELS: Record<SystemName, string> = {
  sqlite: 'tasker SQLite',
  postgres: 'tasker PostgreSQL',
  graphile: 'graphile-worker',
  'graphile-batched': 'graphile batched',
  bullmq: 'BullMQ',
};

/** The two tasker-node backends; the other systems are the peers it is compared with. */
export const TASKER_SYSTEMS: readonly SystemName[] = ['sqlite', 'postgres'];
export const PEER_SYSTEMS: readonly SystemName[] = ['graphile', 'graphile-batched', 'bullmq'];
/** Systems whose store is the PostgreSQL server (commits per step apply to them). */
export const POSTGRES_SYSTEMS: readonly SystemName[] = ['postgres', 'graphile', 'graphile-batched'];

/**
 * `commits` is not a job of its own: commits and statements per step are measured during the
 * PostgreSQL systems' throughput runs (`--scenario commits` runs only those).
 */
export const SCENARIOS = [
  'throughput',
  'limited',
  'chain',
  'fanout',
  'signal',
  'create',
  'rss',
  'commits',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Where a job runs. The parent creates it before the child starts and removes it afterwards. */
export type Resource =
  | { kind: 'sqlite'; file: string }
  /** `url` points at a throwaway database `database` on the server `server`. */
  | { kind: 'postgres'; url: string; server: string; database: string }
  /** A BullMQ queue `queue` under the run's key prefix `prefix`. */
  | { kind: 'redis'; url: string; prefix: string; queue: string };

export interface ThroughputParams {
  tasks: number;
  concurrency: number;
  /** How often the store is asked whether every task is complete. */
  probeMs: number;
}

/**
 * The `limited` scenario: the throughput run on `limited_step`, whose one step's template has
 * `concurrency: limit` (a per-handler limit, docs/limits.md) below the worker's `concurrency`.
 */
export interface LimitedParams extends ThroughputParams {
  limit: number;
}

/** The per-handler limit of a `limited` run at worker concurrency `concurrency`: half of it. */
export function limitAt(concurrency: number): number {
  return Math.max(1, Math.floor(concurrency / 2));
}

export interface LatencyParams {
  runs: number;
  warmup: number;
  concurrency: number;
  /** BullMQ's chain: each job adds the next (`adds`), or one FlowProducer flow (`flow`). */
  variant?: ChainVariant;
}

export type ChainVariant = 'adds' | 'flow';

export interface CreateParams {
  /** Tasks created one at a time, each awaited before the next. */
  oneAtATime: number;
  /** Tasks created with the bulk call, `batch` per call. */
  bulk: number;
  batch: number;
}

export interface RssParams {
  concurrency: number;
  /** Steps after which RSS is read, ascending; the last one ends the job. */
  checkpoints: number[];
  /** How often the child reports its progress to the parent's feeder. */
  progressMs: number;
}

export type Job =
  | { scenario: 'throughput'; system: SystemName; resource: Resource; params: ThroughputParams }
  /** tasker-node only: the throughput run with a per-handler limit in force. */
  | { scenario: 'limited'; system: SystemName; resource: Resource; params: LimitedParams }
  | { scenario: 'chain'; system: SystemName; resource: Resource; params: LatencyParams }
  | { scenario: 'fanout'; system: SystemName; resource: Resource; params: LatencyParams }
  /** tasker-node only (the peers have no signals): `sendSignal` → the dependent step ran. */
  | { scenario: 'signal'; system: SystemName; resource: Resource; params: LatencyParams }
  | { scenario: 'create'; system: SystemName; resource: Resource; params: CreateParams }
  | { scenario: 'rss'; system: SystemName; resource: Resource; params: RssParams };

export type JobScenario = Job['scenario'];

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

export interface DispatchFigures {
  p50Us: number;
  p95Us: number;
  samples: number;
}

export interface ThroughputRun {
  tasks: number;
  concurrency: number;
  /** Pre-creating the tasks (not timed as part of the run). */
  setupSeconds: number;
  /** From the worker's start until the store showed every task complete. */
  seconds: number;
  stepsPerSecond: number;
  probeMs: number;
  /** Queries the completion probe sent (subtracted from the commit and statement counts). */
  probeQueries: number;
  /** Tasks/jobs found complete afterwards; equals `tasks` or the job fails. */
  completed: number;
  /** PostgreSQL: transactions committed in the benchmark's database per step. */
  commitsPerStep: number | null;
  /** SQL statements per step, and where that count came from; null when unknown. */
  statementsPerStep: number | null;
  statementsSource: 'engine' | 'pg_stat_statements' | null;
  /** tasker-node: `worker.stats()` dispatch overhead under this load. */
  dispatch?: DispatchFigures;
  /**
   * tasker-node: time the JavaScript thread was busy during the run (event-loop utilization's
   * `active`), per step: everything JS does per no-op step (poll, context, handler, result).
   */
  jsUsPerStep?: number;
  /**
   * tasker-node: the most steps the worker had in flight (`worker.stats().inFlight`) at the
   * probe's ticks, a sample; a `limited` run fails if it exceeds `limit`.
   */
  maxInFlight?: number;
  /** The `limited` scenario: the per-handler limit (`concurrency:` of the template's step). */
  limit?: number;
}

export interface ChainRun {
  /**
   * Create → the last step's handler ran (timestamp taken inside that handler); in the signal
   * scenario, `sendSignal` → the dependent step's handler ran.
   */
  lastHandler: LatencySummary;
  /** tasker-node: create → `waitForTask` resolved, in the same runs. */
  waitForTask?: LatencySummary;
  variant?: ChainVariant;
  /** tasker-node: `worker.stats()` dispatch overhead, one chain at a time. */
  dispatch?: DispatchFigures;
}

export interface CreateRun {
  oneAtATime: { count: number; seconds: number; perSecond: number };
  bulk:
    { count: number; batch: number; seconds: number; perSecond: number } | { unavailable: string };
}

export interface RssRun {
  /** RSS after the worker started, before any step, in bytes. */
  atZero: number;
  checkpoints: { steps: number; rss: number }[];
  /** Whether a GC ran before each reading (children run with --expose-gc). */
  gcBeforeReading: boolean;
}

export type JobResult = ThroughputRun | ChainRun | CreateRun | RssRun;

/** Child → parent. */
export type ChildMessage =
  | { type: 'result'; result: JobResult }
  | { type: 'error'; message: string }
  /** rss jobs: the worker is up and idle; the parent may start feeding. */
  | { type: 'ready' }
  /** rss jobs: steps completed so far. */
  | { type: 'progress'; done: number };

/** Parent → child. */
export type ParentMessage = { type: 'job'; job: Job };

/** The one text the table shows where tasker-node has no bulk call yet. */
export const BULK_UNAVAILABLE = 'not available in this build';
