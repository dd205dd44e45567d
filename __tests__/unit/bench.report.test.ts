/** The benchmark's figures (bench/report.ts): medians, the peer ratios in the table, the targets. */
import { BULK_UNAVAILABLE, type LatencySummary, type ThroughputRun } from '../../bench/protocol';
import {
  buildFigures,
  checkTargets,
  formatTable,
  type JobRecord,
  type Report,
} from '../../bench/report';

const latency = (p50Ms: number): LatencySummary => ({
  samples: 10,
  p50Ms,
  p95Ms: p50Ms * 2,
  p99Ms: p50Ms * 3,
  meanMs: p50Ms,
  minMs: p50Ms / 2,
  maxMs: p50Ms * 3,
});

const throughput = (
  stepsPerSecond: number,
  commitsPerStep: number | null = null,
  concurrency = 10,
): ThroughputRun => ({
  tasks: 1000,
  concurrency,
  setupSeconds: 1,
  seconds: 1000 / stepsPerSecond,
  stepsPerSecond,
  probeMs: 50,
  probeQueries: 3,
  completed: 1000,
  commitsPerStep,
  statementsPerStep: null,
  statementsSource: null,
});

/** A `limited` run: per-handler limit `limit`, `maxInFlight` seen by the probe. */
const limited = (
  stepsPerSecond: number,
  concurrency: number,
  limit: number,
  maxInFlight: number,
): ThroughputRun => ({
  ...throughput(stepsPerSecond, null, concurrency),
  limit,
  maxInFlight,
});

function job(
  system: JobRecord['system'],
  scenario: JobRecord['scenario'],
  result: JobRecord['result'],
): JobRecord {
  return { system, scenario, params: {} as JobRecord['params'], seconds: 1, result };
}

const jobs: JobRecord[] = [
  job('sqlite', 'throughput', throughput(900)),
  job('sqlite', 'throughput', throughput(1000)),
  job('sqlite', 'throughput', throughput(5000)),
  job('postgres', 'throughput', throughput(1200, 1.5)),
  job('graphile-batched', 'throughput', throughput(30_000, 0.02)),
  job('bullmq', 'throughput', throughput(14_000)),
  // SQLite: the median 600 against 1,000 unlimited; PostgreSQL: 500 against 1,200; SQLite at
  // concurrency 50 has no unlimited figure.
  job('sqlite', 'limited', limited(700, 10, 5, 4)),
  job('sqlite', 'limited', limited(550, 10, 5, 5)),
  job('sqlite', 'limited', limited(600, 10, 5, 3)),
  job('postgres', 'limited', limited(500, 10, 5, 5)),
  job('sqlite', 'limited', limited(2_000, 50, 25, 20)),
  job('sqlite', 'chain', { lastHandler: latency(6), waitForTask: latency(7) }),
  job('sqlite', 'signal', { lastHandler: latency(1.2), waitForTask: latency(2) }),
  job('postgres', 'signal', { lastHandler: latency(4), waitForTask: latency(5) }),
  job('bullmq', 'chain', { lastHandler: latency(2), variant: 'adds' }),
  job('bullmq', 'chain', { lastHandler: latency(3), variant: 'flow' }),
  job('sqlite', 'create', {
    oneAtATime: { count: 10, seconds: 1, perSecond: 1800 },
    bulk: { unavailable: BULK_UNAVAILABLE },
  }),
  job('bullmq', 'create', {
    oneAtATime: { count: 10, seconds: 1, perSecond: 4000 },
    bulk: { count: 10, batch: 1000, seconds: 1, perSecond: 24_000 },
  }),
  job('sqlite', 'rss', {
    atZero: 80 * 1024 * 1024,
    checkpoints: [
      { steps: 100_000, rss: 100 * 1024 * 1024 },
      { steps: 1_000_000, rss: 105 * 1024 * 1024 },
    ],
    gcBeforeReading: true,
  }),
  {
    system: 'graphile',
    scenario: 'chain',
    params: {} as JobRecord['params'],
    seconds: 1,
    error: 'boom',
  },
];

function report(): Report {
  const systems = buildFigures(jobs);
  return {
    date: '',
    environment: {} as Report['environment'],
    options: { tasks: 1000, repeat: 3, runs: 10, warmup: 2, probeMs: 50 },
    systems,
    skipped: { graphile: 'PostgreSQL not reachable' },
    failures: [{ system: 'graphile', scenario: 'chain', error: 'boom' }],
    targets: checkTargets({ systems }),
    jobs,
  };
}

describe('bench figures', () => {
  test('throughput is the median of the repetitions; failed jobs add nothing', () => {
    const s = buildFigures(jobs);
    expect(s.sqlite?.throughput).toEqual([
      expect.objectContaining({ concurrency: 10, stepsPerSecond: 1000, runs: [900, 1000, 5000] }),
    ]);
    expect(s.postgres?.throughput?.[0].commitsPerStep).toBe(1.5);
    expect(s.graphile).toBeUndefined();
  });

  test('limited throughput: medians per concurrency with the limit and the most in flight', () => {
    const s = buildFigures(jobs);
    expect(s.sqlite?.limited).toEqual([
      expect.objectContaining({
        concurrency: 10,
        limit: 5,
        stepsPerSecond: 600,
        runs: [700, 550, 600],
        maxInFlight: 5,
      }),
      expect.objectContaining({ concurrency: 50, limit: 25, stepsPerSecond: 2_000 }),
    ]);
    // The unlimited figures are apart from them.
    expect(s.sqlite?.throughput?.map((t) => t.stepsPerSecond)).toEqual([1000]);
    expect(s.sqlite?.throughput?.[0].limit).toBeUndefined();
    expect(s.bullmq?.limited).toBeUndefined();
  });

  test("BullMQ's chain reports the faster variant and keeps both", () => {
    const chain = buildFigures(jobs).bullmq?.chain;
    expect(chain?.variant).toBe('adds');
    expect(chain?.lastHandler.p50Ms).toBe(2);
    expect(chain?.variants?.flow?.p50Ms).toBe(3);
  });

  test('RSS growth is from the first checkpoint to the last', () => {
    const rss = buildFigures(jobs).sqlite?.rss;
    expect(rss?.atZeroMb).toBe(80);
    expect(rss?.growthPct).toBeCloseTo(5, 6);
  });
});

describe('bench table', () => {
  const table = formatTable(report());
  const row = (label: string) => table.split('\n').find((l) => l.startsWith(label)) ?? '';

  test('each tasker-node figure has its ratio to the best peer for that figure', () => {
    // steps/s: higher is better, the best peer is graphile batched (30,000).
    expect(row('steps/s, concurrency 10')).toMatch(
      /1,000\s+1,200\s+30,000\s+14,000\s+0\.033× graphile batched\s+0\.040× graphile batched$/,
    );
    // ms: lower is better, the best peer is BullMQ (2 ms).
    expect(row('4-step chain p50 (ms), create → last handler')).toMatch(
      /6\.00\s+–\s+–\s+2\.00\s+3\.0× BullMQ\s+–$/,
    );
    expect(row('commits per step, concurrency 10')).toMatch(
      /n\/a\s+1\.500\s+0\.020\s+n\/a\s+–\s+75× graphile batched$/,
    );
  });

  test('limited steps/s sit beside the unlimited ones, with their ratio and no peer ratio', () => {
    expect(row('steps/s, concurrency 10, per-handler limit 5 (median)')).toMatch(
      /600\s+500\s+–\s+–\s+–\s+–$/,
    );
    expect(row('limited ÷ unlimited steps/s, concurrency 10')).toMatch(
      /0\.60\s+0\.42\s+–\s+–\s+–\s+–$/,
    );
    expect(row('steps/s, concurrency 50, per-handler limit 25 (median)')).toMatch(
      /2,000\s+–\s+–\s+–\s+–\s+–$/,
    );
    expect(table).not.toContain('limited ÷ unlimited steps/s, concurrency 50');
    expect(table).toContain('Per-handler limit (tasker-node only):');
  });

  test('a missing bulk call reads "not available in this build"', () => {
    expect(row('tasks created/s, bulk')).toContain(BULK_UNAVAILABLE);
    expect(row('tasks created/s, bulk')).toMatch(/24,000\s+–\s+–$/);
  });

  test('notes name the BullMQ chain variant, skipped systems, failures and the targets', () => {
    expect(table).toContain(
      'BullMQ 4-step chain: each job adds the next was faster (p50 adds 2.00 ms, flow 3.00 ms).',
    );
    expect(table).toContain('graphile-worker skipped: PostgreSQL not reachable');
    expect(table).toContain('graphile-worker chain FAILED: boom');
    expect(table).toContain(
      'tasker SQLite: ≥ 50,000 steps/s at concurrency 10: MISSED (1,000 steps/s vs 50,000, 2 % of the goal)',
    );
  });
});

describe('bench targets', () => {
  const targets = checkTargets(report());
  const find = (system: string, target: string) =>
    targets.find((t) => t.system === system && t.target === target);

  test('chain p50 against BullMQ, commits per step, bulk and RSS', () => {
    expect(find('sqlite', "4-step chain p50 ≤ BullMQ's")).toMatchObject({ met: false });
    expect(find('postgres', '≥ 0.6 × graphile batched steps/s at concurrency 10')).toMatchObject({
      met: false,
      detail: '1,200 steps/s vs 18,000, 7 % of the goal',
    });
    expect(find('postgres', '≤ 1 commit per step under load (concurrency 10)')).toMatchObject({
      met: false,
      detail: '1.500 commits per step',
    });
    expect(
      find(
        'sqlite',
        'with a per-handler limit of 5: ≥ 50 % of the unlimited steps/s at concurrency 10',
      ),
    ).toMatchObject({ met: true, detail: '600 vs 1,000 steps/s unlimited (0.60×)' });
    expect(
      find(
        'postgres',
        'with a per-handler limit of 5: ≥ 50 % of the unlimited steps/s at concurrency 10',
      ),
    ).toMatchObject({ met: false, detail: '500 vs 1,200 steps/s unlimited (0.42×)' });
    expect(
      find(
        'sqlite',
        'with a per-handler limit of 25: ≥ 50 % of the unlimited steps/s at concurrency 50',
      ),
    ).toMatchObject({ met: null, detail: 'needs the unlimited throughput at concurrency 50' });
    // 1.2 ms against 6 / 4 = 1.5 ms per hop; PostgreSQL has no chain figure here.
    expect(
      find('sqlite', 'sendSignal → dependent step p50 ≤ the 4-step chain’s per-hop p50'),
    ).toMatchObject({ met: true, detail: '1.20 ms vs 1.50 ms per hop (0.80×)' });
    expect(
      find('postgres', 'sendSignal → dependent step p50 ≤ the 4-step chain’s per-hop p50'),
    ).toMatchObject({ met: null, detail: 'needs the signal and chain figures' });
    expect(find('sqlite', '≥ 50,000 tasks/s bulk creation')).toMatchObject({
      met: null,
      detail: BULK_UNAVAILABLE,
    });
    expect(
      find('sqlite', 'worker RSS flat within 10 % from 100,000 to 1,000,000 steps'),
    ).toMatchObject({
      met: true,
      detail: '5.0 % from 100,000 to 1,000,000 steps',
    });
    expect(
      find('postgres', 'worker RSS flat within 10 % from 100,000 to 1,000,000 steps'),
    ).toMatchObject({
      met: null,
      detail: 'run with --soak',
    });
  });
});
