/**
 * The figures of a benchmark run: what bench-results/latest.json holds, how the children's
 * results become one figure per system (medians of repetitions), the table with each
 * tasker-node figure's ratio to the best peer, and the targets of issue 7.
 */
import {
  BULK_UNAVAILABLE,
  LABELS,
  PEER_SYSTEMS,
  POSTGRES_SYSTEMS,
  SYSTEMS,
  TASKER_SYSTEMS,
  type ChainRun,
  type ChainVariant,
  type CreateRun,
  type DispatchFigures,
  type Job,
  type JobResult,
  type LatencySummary,
  type RssRun,
  type SystemName,
  type ThroughputRun,
} from './protocol';
import { median } from './stats';

/** One child's job and what came of it. */
export interface JobRecord {
  system: SystemName;
  scenario: Job['scenario'];
  params: Job['params'];
  /** Wall-clock time of the child, setup included. */
  seconds: number;
  result?: JobResult;
  error?: string;
}

export interface ThroughputFigures {
  concurrency: number;
  /** Median of `runs`. */
  stepsPerSecond: number;
  runs: number[];
  commitsPerStep: number | null;
  statementsPerStep: number | null;
  statementsSource: ThroughputRun['statementsSource'];
  dispatch?: DispatchFigures;
  jsUsPerStep?: number;
  /** tasker-node: the most steps in flight seen at the probe's ticks, over the runs. */
  maxInFlight?: number;
  /** The `limited` scenario: the per-handler limit in force. */
  limit?: number;
}

export interface LatencyFigures {
  lastHandler: LatencySummary;
  waitForTask?: LatencySummary;
  /** BullMQ's chain: the variant reported (the faster p50), and both. */
  variant?: ChainVariant;
  variants?: Partial<Record<ChainVariant, LatencySummary>>;
  dispatch?: DispatchFigures;
}

export interface CreateFigures {
  oneAtATimePerSecond: number;
  /** Tasks per second, or why there is no figure. */
  bulkPerSecond: number | string;
  batch: number;
}

export interface RssFigures {
  atZeroMb: number;
  checkpoints: { steps: number; rssMb: number }[];
  /** From the first checkpoint to the last (with --soak: 100,000 → 1,000,000 steps). */
  growthPct: number | null;
  gcBeforeReading: boolean;
}

export interface SystemFigures {
  throughput?: ThroughputFigures[];
  /** Throughput with a per-handler limit in force (tasker-node only). */
  limited?: ThroughputFigures[];
  chain?: LatencyFigures;
  fanout?: LatencyFigures;
  /** sendSignal → the dependent step ran (tasker-node only). */
  signal?: LatencyFigures;
  create?: CreateFigures;
  rss?: RssFigures;
}

export interface TargetCheck {
  system: SystemName;
  target: string;
  /** true met, false missed, null not measured. */
  met: boolean | null;
  detail: string;
}

export interface Report {
  date: string;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    cpuModel: string;
    /** `git rev-parse --short HEAD`, with `-dirty` when tracked files have uncommitted changes. */
    commit: string | null;
    /** Modification time of the native addon file. */
    addonBuiltAt: string | null;
    postgres: { server: string; version: string; pgStatStatements: boolean } | { error: string };
    redis: { url: string; version: string } | { error: string };
    /** Installed versions of the peers. */
    peers: Record<string, string>;
  };
  options: Record<string, unknown>;
  systems: Partial<Record<SystemName, SystemFigures>>;
  /** Systems not run, and why (e.g. their server is unreachable). */
  skipped: Partial<Record<SystemName, string>>;
  failures: { system: SystemName; scenario: string; error: string }[];
  targets: TargetCheck[];
  jobs: JobRecord[];
}

const MB = 1024 * 1024;

function closestToMedian(runs: ThroughputRun[]): ThroughputRun {
  const m = median(runs.map((r) => r.stepsPerSecond));
  return runs.reduce((a, b) =>
    Math.abs(b.stepsPerSecond - m) < Math.abs(a.stepsPerSecond - m) ? b : a,
  );
}

const medianOrNull = (values: (number | null)[]): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
};

/** One figure per worker concurrency (ascending): medians of the repetitions. */
function throughputFigures(all: readonly ThroughputRun[]): ThroughputFigures[] {
  const concurrencies = [...new Set(all.map((r) => r.concurrency))].sort((a, b) => a - b);
  return concurrencies.map((concurrency) => {
    const runs = all.filter((r) => r.concurrency === concurrency);
    const mid = closestToMedian(runs);
    const inFlight = runs.flatMap((r) => (r.maxInFlight === undefined ? [] : [r.maxInFlight]));
    return {
      concurrency,
      stepsPerSecond: median(runs.map((r) => r.stepsPerSecond)),
      runs: runs.map((r) => r.stepsPerSecond),
      commitsPerStep: medianOrNull(runs.map((r) => r.commitsPerStep)),
      statementsPerStep: medianOrNull(runs.map((r) => r.statementsPerStep)),
      statementsSource: mid.statementsSource,
      ...(mid.dispatch ? { dispatch: mid.dispatch } : {}),
      ...(mid.jsUsPerStep !== undefined ? { jsUsPerStep: mid.jsUsPerStep } : {}),
      ...(inFlight.length > 0 ? { maxInFlight: Math.max(...inFlight) } : {}),
      ...(mid.limit !== undefined ? { limit: mid.limit } : {}),
    };
  });
}

/** One figure per system and scenario from the children's results. */
export function buildFigures(
  jobs: readonly JobRecord[],
): Partial<Record<SystemName, SystemFigures>> {
  const out: Partial<Record<SystemName, SystemFigures>> = {};
  for (const system of SYSTEMS) {
    const mine = jobs.filter((j) => j.system === system && j.result !== undefined);
    if (mine.length === 0) continue;
    const f: SystemFigures = {};
    for (const scenario of ['throughput', 'limited'] as const) {
      const runs = mine
        .filter((j) => j.scenario === scenario)
        .map((j) => j.result as ThroughputRun);
      if (runs.length > 0) f[scenario] = throughputFigures(runs);
    }
    for (const scenario of ['chain', 'fanout', 'signal'] as const) {
      const runs = mine.filter((j) => j.scenario === scenario).map((j) => j.result as ChainRun);
      if (runs.length === 0) continue;
      const best = runs.reduce((a, b) => (b.lastHandler.p50Ms < a.lastHandler.p50Ms ? b : a));
      const figures: LatencyFigures = { lastHandler: best.lastHandler };
      if (best.waitForTask) figures.waitForTask = best.waitForTask;
      if (best.dispatch) figures.dispatch = best.dispatch;
      if (best.variant) {
        figures.variant = best.variant;
        figures.variants = Object.fromEntries(
          runs.filter((r) => r.variant).map((r) => [r.variant, r.lastHandler]),
        );
      }
      f[scenario] = figures;
    }
    const create = mine.find((j) => j.scenario === 'create')?.result as CreateRun | undefined;
    if (create) {
      f.create = {
        oneAtATimePerSecond: create.oneAtATime.perSecond,
        bulkPerSecond:
          'unavailable' in create.bulk ? create.bulk.unavailable : create.bulk.perSecond,
        batch: 'batch' in create.bulk ? create.bulk.batch : 0,
      };
    }
    const rss = mine.find((j) => j.scenario === 'rss')?.result as RssRun | undefined;
    if (rss) {
      const cps = rss.checkpoints.map((c) => ({ steps: c.steps, rssMb: c.rss / MB }));
      const first = cps[0];
      const last = cps[cps.length - 1];
      f.rss = {
        atZeroMb: rss.atZero / MB,
        checkpoints: cps,
        growthPct:
          cps.length >= 2 && first && last
            ? ((last.rssMb - first.rssMb) / first.rssMb) * 100
            : null,
        gcBeforeReading: rss.gcBeforeReading,
      };
    }
    out[system] = f;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The table

type Cell = number | string | undefined;

interface Row {
  label: string;
  /** Which way is better; null: no ratio. */
  better: 'higher' | 'lower' | null;
  value: (f: SystemFigures, system: SystemName) => Cell;
  digits: number;
}

const thousands = (n: number): string => Math.round(n).toLocaleString('en-US');

function format(cell: Cell, digits: number): string {
  if (cell === undefined) return '–';
  if (typeof cell === 'string') return cell;
  if (!Number.isFinite(cell)) return '–';
  return digits === 0 ? thousands(cell) : cell.toFixed(digits);
}

function ratioText(r: number): string {
  if (r >= 10) return r.toFixed(0);
  if (r >= 1) return r.toFixed(1);
  return r.toPrecision(2);
}

const isTasker = (s: SystemName) => TASKER_SYSTEMS.includes(s);
const onPostgres = (s: SystemName) => POSTGRES_SYSTEMS.includes(s);

function rows(report: Report): Row[] {
  const concurrencies = [
    ...new Set(
      Object.values(report.systems).flatMap((f) => f?.throughput?.map((t) => t.concurrency) ?? []),
    ),
  ].sort((a, b) => a - b);
  const at = (f: SystemFigures, c: number) => f.throughput?.find((t) => t.concurrency === c);
  const out: Row[] = concurrencies.map((c) => ({
    label: `steps/s, concurrency ${c} (median)`,
    better: 'higher',
    value: (f) => at(f, c)?.stepsPerSecond,
    digits: 0,
  }));
  // With a per-handler limit (tasker-node only): the figure and its ratio to the unlimited one.
  const limitedRuns = [
    ...new Map(
      Object.values(report.systems)
        .flatMap((f) => f?.limited ?? [])
        .map((t) => [`${t.concurrency}/${t.limit}`, t] as const),
    ).values(),
  ].sort((a, b) => a.concurrency - b.concurrency);
  for (const { concurrency: c, limit } of limitedRuns) {
    const limitedAt = (f: SystemFigures) =>
      f.limited?.find((t) => t.concurrency === c && t.limit === limit);
    out.push(
      {
        label: `steps/s, concurrency ${c}, per-handler limit ${limit} (median)`,
        better: null,
        value: (f) => limitedAt(f)?.stepsPerSecond,
        digits: 0,
      },
      {
        label: `limited ÷ unlimited steps/s, concurrency ${c}`,
        better: null,
        value: (f) => {
          const limited = limitedAt(f)?.stepsPerSecond;
          const unlimited = at(f, c)?.stepsPerSecond;
          return limited === undefined || unlimited === undefined ? undefined : limited / unlimited;
        },
        digits: 2,
      },
    );
  }
  const latency = (scenario: 'chain' | 'fanout', name: string): Row[] => [
    {
      label: `${name} p50 (ms), create → last handler`,
      better: 'lower',
      value: (f) => f[scenario]?.lastHandler.p50Ms,
      digits: 2,
    },
    {
      label: `${name} p95 (ms), create → last handler`,
      better: 'lower',
      value: (f) => f[scenario]?.lastHandler.p95Ms,
      digits: 2,
    },
    {
      label: `${name} p50 (ms), create → waitForTask`,
      better: 'lower',
      value: (f, s) => (isTasker(s) ? f[scenario]?.waitForTask?.p50Ms : undefined),
      digits: 2,
    },
    {
      label: `${name} p95 (ms), create → waitForTask`,
      better: 'lower',
      value: (f, s) => (isTasker(s) ? f[scenario]?.waitForTask?.p95Ms : undefined),
      digits: 2,
    },
  ];
  out.push(...latency('chain', '4-step chain'), ...latency('fanout', 'fan-out 1→5→1'));
  if (Object.values(report.systems).some((f) => f?.signal !== undefined)) {
    out.push(
      {
        label: 'signal p50 (ms), sendSignal → dependent handler',
        better: null,
        value: (f) => f.signal?.lastHandler.p50Ms,
        digits: 2,
      },
      {
        label: 'signal p95 (ms), sendSignal → dependent handler',
        better: null,
        value: (f) => f.signal?.lastHandler.p95Ms,
        digits: 2,
      },
    );
  }
  out.push(
    {
      label: 'tasks created/s, one at a time',
      better: 'higher',
      value: (f) => f.create?.oneAtATimePerSecond,
      digits: 0,
    },
    {
      label: 'tasks created/s, bulk',
      better: 'higher',
      value: (f) => f.create?.bulkPerSecond,
      digits: 0,
    },
    {
      label: 'worker RSS at 0 steps (MB)',
      better: 'lower',
      value: (f) => f.rss?.atZeroMb,
      digits: 1,
    },
  );
  const checkpoints = [
    ...new Set(
      Object.values(report.systems).flatMap((f) => f?.rss?.checkpoints.map((c) => c.steps) ?? []),
    ),
  ].sort((a, b) => a - b);
  for (const steps of checkpoints) {
    out.push({
      label: `worker RSS after ${thousands(steps)} steps (MB)`,
      better: 'lower',
      value: (f) => f.rss?.checkpoints.find((c) => c.steps === steps)?.rssMb,
      digits: 1,
    });
  }
  if (checkpoints.length >= 2) {
    out.push({
      label: `RSS growth ${thousands(checkpoints[0])} → ${thousands(checkpoints[checkpoints.length - 1])} (%)`,
      better: null,
      value: (f) => f.rss?.growthPct ?? undefined,
      digits: 1,
    });
  }
  for (const c of concurrencies) {
    out.push({
      label: `commits per step, concurrency ${c}`,
      better: 'lower',
      value: (f, s) => {
        const t = at(f, c);
        if (t === undefined) return undefined;
        return onPostgres(s) ? (t.commitsPerStep ?? 'n/a') : 'n/a';
      },
      digits: 3,
    });
  }
  for (const c of concurrencies) {
    out.push({
      label: `statements per step, concurrency ${c}`,
      better: 'lower',
      value: (f) => {
        const t = at(f, c);
        return t === undefined ? undefined : (t.statementsPerStep ?? 'n/a');
      },
      digits: 2,
    });
  }
  for (const c of concurrencies) {
    out.push({
      label: `JS thread busy per step (µs), concurrency ${c}`,
      better: null,
      value: (f) => at(f, c)?.jsUsPerStep,
      digits: 1,
    });
  }
  const dispatch = (d: DispatchFigures | undefined): Cell =>
    d === undefined ? undefined : `${d.p50Us.toFixed(0)} / ${d.p95Us.toFixed(0)}`;
  out.push({
    label: 'dispatch p50 / p95 (µs), one chain at a time',
    better: null,
    value: (f) => dispatch(f.chain?.dispatch),
    digits: 0,
  });
  const top = concurrencies[concurrencies.length - 1];
  if (top !== undefined) {
    out.push({
      label: `dispatch p50 / p95 (µs), concurrency ${top}`,
      better: null,
      value: (f) => dispatch(f.throughput?.find((t) => t.concurrency === top)?.dispatch),
      digits: 0,
    });
  }
  return out;
}

/** The best peer's value for a row, or undefined. */
function bestPeer(report: Report, row: Row): { system: SystemName; value: number } | undefined {
  let best: { system: SystemName; value: number } | undefined;
  for (const system of PEER_SYSTEMS) {
    const f = report.systems[system];
    const v = f === undefined ? undefined : row.value(f, system);
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    if (best === undefined || (row.better === 'higher' ? v > best.value : v < best.value)) {
      best = { system, value: v };
    }
  }
  return best;
}

/** "0.07× BullMQ": a tasker-node figure divided by the best peer's. */
export function ratioCell(report: Report, row: Row, system: SystemName): string {
  const f = report.systems[system];
  const v = f === undefined ? undefined : row.value(f, system);
  if (row.better === null || typeof v !== 'number' || !Number.isFinite(v)) return '–';
  const best = bestPeer(report, row);
  if (best === undefined || best.value === 0) return '–';
  return `${ratioText(v / best.value)}× ${LABELS[best.system]}`;
}

export function formatTable(report: Report): string {
  const systems = SYSTEMS.filter((s) => report.systems[s] !== undefined);
  const taskers = systems.filter(isTasker);
  const header = [
    'figure',
    ...systems.map((s) => LABELS[s]),
    ...taskers.map((s) => `${LABELS[s]} vs best peer`),
  ];
  const body = rows(report)
    .map((row) => {
      const cells = systems.map((s) => format(row.value(report.systems[s] ?? {}, s), row.digits));
      return [row.label, ...cells, ...taskers.map((s) => ratioCell(report, row, s))];
    })
    .filter((cells) => cells.slice(1).some((c) => c !== '–'));
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  out.push('', ...notes(report));
  return out.join('\n');
}

function notes(report: Report): string[] {
  const o = report.options as {
    tasks?: number;
    repeat?: number;
    runs?: number;
    warmup?: number;
    probeMs?: number;
  };
  const out = [
    `steps/s: ${thousands(o.tasks ?? 0)} pre-created single-step tasks, median of ${o.repeat} ` +
      `run(s), clock from worker start until the store shows all complete (checked every ` +
      `${o.probeMs} ms); latency: ${o.runs} sequential runs after ${o.warmup} warm-up runs, ` +
      'worker concurrency 10.',
    "Ratios: the tasker-node figure divided by the best peer's (for ms, MB and per-step " +
      'counts lower is better; for rates higher is better).',
  ];
  if (Object.values(report.systems).some((f) => f?.limited !== undefined)) {
    out.push(
      'Per-handler limit (tasker-node only): the same runs on limited_step, the no-op step with ' +
        "`concurrency:` half the worker's in its template; its ratio is to the unlimited steps/s " +
        'of the same backend at the same worker concurrency.',
    );
  }
  const bull = report.systems.bullmq?.chain;
  if (bull?.variant) {
    const v = bull.variants ?? {};
    out.push(
      `BullMQ 4-step chain: ${bull.variant === 'flow' ? 'one FlowProducer flow' : 'each job adds the next'} ` +
        `was faster (p50 adds ${format(v.adds?.p50Ms, 2)} ms, flow ${format(v.flow?.p50Ms, 2)} ms).`,
    );
  }
  for (const [system, why] of Object.entries(report.skipped)) {
    out.push(`${LABELS[system as SystemName]} skipped: ${why}`);
  }
  for (const f of report.failures) {
    out.push(`${LABELS[f.system]} ${f.scenario} FAILED: ${f.error}`);
  }
  if (report.targets.length > 0) {
    out.push('', 'Targets (issue 7):');
    for (const t of report.targets) {
      const mark = t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED';
      out.push(`  ${LABELS[t.system]}: ${t.target}: ${mark} (${t.detail})`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Targets

function pct(value: number, goal: number): string {
  return `${Math.round((value / goal) * 100)} % of the goal`;
}

/** The targets of issue 7, checked against this run's figures. */
export function checkTargets(report: Pick<Report, 'systems'>): TargetCheck[] {
  const s = report.systems;
  const out: TargetCheck[] = [];
  const atLeast = (
    system: SystemName,
    target: string,
    value: number | undefined,
    goal: number,
    unit: string,
  ) => {
    if (value === undefined || !Number.isFinite(value)) {
      out.push({ system, target, met: null, detail: 'no figure' });
    } else {
      out.push({
        system,
        target,
        met: value >= goal,
        detail: `${thousands(value)} ${unit} vs ${thousands(goal)}, ${pct(value, goal)}`,
      });
    }
  };
  const atMostPeer = (
    system: SystemName,
    target: string,
    value: number | undefined,
    peer: number | undefined,
    peerName: string,
  ) => {
    if (value === undefined || peer === undefined) {
      out.push({ system, target, met: null, detail: `needs both figures (${peerName})` });
    } else {
      out.push({
        system,
        target,
        met: value <= peer,
        detail: `${value.toFixed(2)} ms vs ${peerName} ${peer.toFixed(2)} ms (${ratioText(value / peer)}×)`,
      });
    }
  };
  const graphileBest = (scenario: 'chain' | 'fanout') => {
    const values = (['graphile', 'graphile-batched'] as const)
      .map((g) => s[g]?.[scenario]?.lastHandler.p50Ms)
      .filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : Math.min(...values);
  };

  if (s.sqlite) {
    for (const t of s.sqlite.throughput ?? []) {
      atLeast(
        'sqlite',
        `≥ 50,000 steps/s at concurrency ${t.concurrency}`,
        t.stepsPerSecond,
        50_000,
        'steps/s',
      );
    }
    const bull = s.bullmq;
    atMostPeer(
      'sqlite',
      "4-step chain p50 ≤ BullMQ's",
      s.sqlite.chain?.lastHandler.p50Ms,
      bull?.chain?.lastHandler.p50Ms,
      'BullMQ',
    );
    atMostPeer(
      'sqlite',
      "fan-out p50 ≤ BullMQ's",
      s.sqlite.fanout?.lastHandler.p50Ms,
      bull?.fanout?.lastHandler.p50Ms,
      'BullMQ',
    );
  }
  if (s.postgres) {
    for (const t of s.postgres.throughput ?? []) {
      atLeast(
        'postgres',
        `≥ 20,000 steps/s at concurrency ${t.concurrency}`,
        t.stepsPerSecond,
        20_000,
        'steps/s',
      );
      const batched = s['graphile-batched']?.throughput?.find(
        (g) => g.concurrency === t.concurrency,
      );
      if (batched) {
        atLeast(
          'postgres',
          `≥ 0.6 × graphile batched steps/s at concurrency ${t.concurrency}`,
          t.stepsPerSecond,
          0.6 * batched.stepsPerSecond,
          'steps/s',
        );
      }
    }
    atMostPeer(
      'postgres',
      "4-step chain p50 ≤ graphile-worker's (better config)",
      s.postgres.chain?.lastHandler.p50Ms,
      graphileBest('chain'),
      'graphile-worker',
    );
    atMostPeer(
      'postgres',
      "fan-out p50 ≤ graphile-worker's (better config)",
      s.postgres.fanout?.lastHandler.p50Ms,
      graphileBest('fanout'),
      'graphile-worker',
    );
    const loaded = (s.postgres.throughput ?? []).slice(-1)[0];
    if (loaded) {
      const c = loaded.commitsPerStep;
      out.push({
        system: 'postgres',
        target: `≤ 1 commit per step under load (concurrency ${loaded.concurrency})`,
        met: c === null ? null : c <= 1,
        detail: c === null ? 'no figure' : `${c.toFixed(3)} commits per step`,
      });
    }
  }
  for (const system of TASKER_SYSTEMS) {
    const f = s[system];
    if (!f) continue;
    // A per-handler limit of half the worker's slots keeps at least half its unlimited rate.
    for (const t of f.limited ?? []) {
      const unlimited = f.throughput?.find((u) => u.concurrency === t.concurrency)?.stepsPerSecond;
      out.push({
        system,
        target: `with a per-handler limit of ${t.limit}: ≥ 50 % of the unlimited steps/s at concurrency ${t.concurrency}`,
        met: unlimited === undefined ? null : t.stepsPerSecond >= 0.5 * unlimited,
        detail:
          unlimited === undefined
            ? `needs the unlimited throughput at concurrency ${t.concurrency}`
            : `${thousands(t.stepsPerSecond)} vs ${thousands(unlimited)} steps/s unlimited ` +
              `(${ratioText(t.stepsPerSecond / unlimited)}×)`,
      });
    }
    // A signal reaches its dependent step within one hop of the 4-step chain (its p50 / 4).
    const signal = f.signal?.lastHandler.p50Ms;
    const chain = f.chain?.lastHandler.p50Ms;
    if (signal !== undefined || chain !== undefined) {
      const hop = chain === undefined ? undefined : chain / 4;
      out.push({
        system,
        target: 'sendSignal → dependent step p50 ≤ the 4-step chain’s per-hop p50',
        met: signal === undefined || hop === undefined ? null : signal <= hop,
        detail:
          signal === undefined || hop === undefined
            ? 'needs the signal and chain figures'
            : `${signal.toFixed(2)} ms vs ${hop.toFixed(2)} ms per hop (${ratioText(signal / hop)}×)`,
      });
    }
    const bulk = f.create?.bulkPerSecond;
    if (typeof bulk === 'string') {
      out.push({ system, target: '≥ 50,000 tasks/s bulk creation', met: null, detail: bulk });
    } else {
      atLeast(system, '≥ 50,000 tasks/s bulk creation', bulk, 50_000, 'tasks/s');
    }
    const rss = f.rss;
    out.push({
      system,
      target: 'worker RSS flat within 10 % from 100,000 to 1,000,000 steps',
      met: rss?.growthPct == null ? null : Math.abs(rss.growthPct) <= 10,
      detail:
        rss?.growthPct == null
          ? 'run with --soak'
          : `${rss.growthPct.toFixed(1)} % from ${thousands(rss.checkpoints[0].steps)} to ` +
            `${thousands(rss.checkpoints[rss.checkpoints.length - 1].steps)} steps`,
    });
  }
  return out;
}

export { BULK_UNAVAILABLE };
