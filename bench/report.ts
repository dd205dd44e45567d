/** Figures of a benchmark run: the shapes written to bench-results/latest.json, and the table. */

export type BackendName = 'sqlite' | 'postgres';

export interface LatencyFigures {
  runs: number;
  warmup: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

export interface ThroughputFigures {
  tasks: number;
  concurrency: number;
  /** Creating the tasks (before the worker starts), for reference. */
  createSeconds: number;
  createdPerSecond: number;
  /** From `worker.start()` until `worker.stats().recorded` reached `tasks`. */
  runSeconds: number;
  stepsPerSecond: number;
  /** Tasks found `complete` afterwards (should equal `tasks`). */
  completedTasks: number;
  staleResults: number;
}

export interface DispatchFigures {
  p50Us: number;
  p95Us: number;
  samples: number;
}

export interface BackendFigures {
  backend: BackendName;
  /** Where it ran (file path or redacted URL). */
  database: string;
  latency: LatencyFigures;
  throughput: ThroughputFigures;
  /** `worker.stats()` of the latency worker (one step at a time) and of the throughput worker. */
  dispatch: { idle: DispatchFigures; underLoad: DispatchFigures };
}

export type BackendOutcome =
  | BackendFigures
  | { backend: BackendName; skipped: string }
  | { backend: BackendName; failed: string };

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
  };
  targets: typeof TARGETS;
  results: BackendOutcome[];
}

/** What we aim for (docs/benchmarks.md). */
export const TARGETS = {
  linear4P50Ms: { sqlite: 1.5, postgres: 5 },
  stepsPerSecond: { sqlite: 50_000, postgres: 20_000 },
} as const;

export const LABELS: Record<BackendName, string> = {
  sqlite: 'embedded SQLite',
  postgres: 'PostgreSQL',
};

/** Nearest-rank percentile of ascending `sorted` (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function isFigures(o: BackendOutcome): o is BackendFigures {
  return 'latency' in o;
}

const round = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

const thousands = (n: number): string =>
  Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';

/** The table printed at the end of a run. */
export function formatTable(report: Report): string {
  const figures = report.results.filter(isFigures);
  const cols = figures.map((f) => f.backend);
  const rows: [string, (f: BackendFigures) => string, (b: BackendName) => string][] = [
    [
      '4-step workflow p50 (ms)',
      (f) => round(f.latency.p50Ms, 2),
      (b) => `< ${TARGETS.linear4P50Ms[b]}`,
    ],
    ['4-step workflow p95 (ms)', (f) => round(f.latency.p95Ms, 2), () => ''],
    ['4-step workflow p99 (ms)', (f) => round(f.latency.p99Ms, 2), () => ''],
    [
      'steps/s (single-step tasks)',
      (f) => thousands(f.throughput.stepsPerSecond),
      (b) => `>= ${thousands(TARGETS.stepsPerSecond[b])}`,
    ],
    ['  tasks created/s (setup)', (f) => thousands(f.throughput.createdPerSecond), () => ''],
    ['dispatch p50 (µs), idle', (f) => round(f.dispatch.idle.p50Us, 0), () => ''],
    ['dispatch p95 (µs), idle', (f) => round(f.dispatch.idle.p95Us, 0), () => ''],
    ['dispatch p50 (µs), under load', (f) => round(f.dispatch.underLoad.p50Us, 0), () => ''],
    ['dispatch p95 (µs), under load', (f) => round(f.dispatch.underLoad.p95Us, 0), () => ''],
  ];
  const out: string[] = [];
  if (figures.length > 0) {
    const header = ['', ...cols.map((b) => LABELS[b]), ...cols.map((b) => `target ${LABELS[b]}`)];
    const body = rows.map(([label, value, target]) => [
      label,
      ...figures.map(value),
      ...cols.map(target),
    ]);
    const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i].length)));
    const line = (row: string[]): string =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join('  ');
    out.push(line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line));
  }
  for (const r of report.results) {
    if ('skipped' in r) out.push(`${LABELS[r.backend]} skipped: ${r.skipped}`);
    if ('failed' in r) out.push(`${LABELS[r.backend]} FAILED: ${r.failed}`);
  }
  if (figures.length > 0) {
    const f = figures[0];
    out.push(
      `latency: ${f.latency.runs} sequential createTask → waitForTask runs after ${f.latency.warmup} ` +
        `warm-up runs; throughput: ${thousands(f.throughput.tasks)} tasks, concurrency ` +
        `${f.throughput.concurrency}`,
    );
  }
  return out.join('\n');
}
