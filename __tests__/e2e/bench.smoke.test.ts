/**
 * The benchmark must not rot silently: run the real `npm run bench` code (the compiled
 * dist/bench/bench.js, as `npm test` builds it first) with tiny counts on tasker-node SQLite
 * only, and check that every scenario produced a well-formed figure; and the throughput runs,
 * with and without a per-handler limit, on tasker-node PostgreSQL. Not a performance test: no
 * figure is compared with a threshold.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BULK_UNAVAILABLE } from '../../bench/protocol';
import type { Report, ThroughputFigures } from '../../bench/report';
import { describeEachBackend, pgServerUrl } from '../helpers/e2e';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

function run(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'dist', 'bench', 'bench.js'), ...args],
      { cwd: REPO_ROOT, timeout: 50_000, env },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A limited figure: the limit is half the slots and was never exceeded where the probe looked. */
function expectLimited(limited: ThroughputFigures | undefined, concurrency: number): void {
  expect(limited).toMatchObject({ concurrency, limit: concurrency / 2 });
  expect(limited!.runs).toHaveLength(1);
  expect(limited!.stepsPerSecond).toBeGreaterThan(0);
  expect(limited!.maxInFlight).toBeLessThanOrEqual(concurrency / 2);
  expect(limited!.dispatch?.samples).toBe(200);
}

const limitedTarget = (limit: number, concurrency: number) =>
  `with a per-handler limit of ${limit}: ≥ 50 % of the unlimited steps/s at concurrency ${concurrency}`;

describe('npm run bench', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-bench-smoke-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('--quick on tasker SQLite writes a well-formed report of every scenario', async () => {
    const out = path.join(dir, 'latest.json');
    const { code, stdout, stderr } = await run([
      '--quick',
      '--only',
      'sqlite',
      '--tasks',
      '200',
      '--runs',
      '8',
      '--warmup',
      '2',
      '--create-one',
      '30',
      '--create-bulk',
      '300',
      '--batch',
      '100',
      '--rss-steps',
      '300',
      '--out',
      out,
    ]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('tasker SQLite vs best peer');
    expect(stdout).toContain('Targets (issue 7):');

    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
    expect(report.failures).toEqual([]);
    expect(Object.keys(report.systems)).toEqual(['sqlite']);
    const f = report.systems.sqlite!;

    expect(f.throughput?.map((t) => t.concurrency)).toEqual([10, 50]);
    for (const t of f.throughput!) {
      expect(t.runs).toHaveLength(1);
      expect(t.stepsPerSecond).toBeGreaterThan(0);
      expect(t.commitsPerStep).toBeNull();
      expect(t.dispatch?.samples).toBe(200);
    }
    expect(f.limited?.map((t) => t.concurrency)).toEqual([10, 50]);
    expectLimited(f.limited?.[0], 10);
    expectLimited(f.limited?.[1], 50);
    expect(stdout).toContain('limited ÷ unlimited steps/s, concurrency 10');
    for (const latency of [f.chain!, f.fanout!, f.signal!]) {
      expect(latency.lastHandler.samples).toBe(8);
      expect(latency.lastHandler.p50Ms).toBeGreaterThan(0);
      expect(latency.lastHandler.p95Ms).toBeGreaterThanOrEqual(latency.lastHandler.p50Ms);
      // waitForTask resolves after the last handler ran, in every run.
      expect(latency.waitForTask!.minMs).toBeGreaterThanOrEqual(latency.lastHandler.minMs);
    }
    expect(f.create!.oneAtATimePerSecond).toBeGreaterThan(0);
    const bulk = f.create!.bulkPerSecond;
    if (typeof bulk === 'string') {
      expect(bulk).toBe(BULK_UNAVAILABLE);
      expect(stdout).toContain(BULK_UNAVAILABLE);
    } else {
      expect(bulk).toBeGreaterThan(0);
    }
    expect(f.rss!.atZeroMb).toBeGreaterThan(0);
    expect(f.rss!.checkpoints.map((c) => c.steps)).toEqual([300]);
    expect(f.rss!.gcBeforeReading).toBe(true);

    expect(report.jobs).toHaveLength(9);
    expect(report.targets.map((t) => t.target)).toContain('≥ 50,000 steps/s at concurrency 10');
    for (const [limit, concurrency] of [
      [5, 10],
      [25, 50],
    ]) {
      expect(report.targets.find((t) => t.target === limitedTarget(limit, concurrency))).toEqual(
        expect.objectContaining({ system: 'sqlite', met: expect.any(Boolean) }),
      );
    }
    expect(report.targets.map((t) => t.target)).toContain(
      'sendSignal → dependent step p50 ≤ the 4-step chain’s per-hop p50',
    );
  }, 60_000);

  test('a bad option prints the usage and exits with code 2', async () => {
    const { code, stdout, stderr } = await run(['--only', 'sqlite,redis']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(
      /^--only: unknown system 'redis' \(use sqlite, postgres, graphile or bullmq\); usage: bench\.js /,
    );
  });
});

describeEachBackend(
  'npm run bench --scenario throughput,limited',
  () => {
    test('--quick on tasker PostgreSQL: steps/s with and without a per-handler limit', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-bench-smoke-'));
      try {
        const out = path.join(dir, 'latest.json');
        const { code, stdout, stderr } = await run(
          [
            '--quick',
            '--only',
            'postgres',
            '--scenario',
            'throughput,limited',
            '--tasks',
            '200',
            '--concurrency',
            '10',
            '--out',
            out,
          ],
          { ...process.env, TASKER_BENCH_DATABASE_URL: pgServerUrl() },
        );
        expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
        expect(stdout).toContain('limited ÷ unlimited steps/s, concurrency 10');
        const report = JSON.parse(fs.readFileSync(out, 'utf8')) as Report;
        expect(report.failures).toEqual([]);
        expect(report.jobs.map((j) => j.scenario)).toEqual(['throughput', 'limited']);
        const f = report.systems.postgres!;
        expect(f.throughput?.[0].stepsPerSecond).toBeGreaterThan(0);
        expectLimited(f.limited?.[0], 10);
        // Measured like the throughput runs: commits per step too.
        expect(f.limited?.[0].commitsPerStep).toBeGreaterThan(0);
        expect(report.targets.find((t) => t.target === limitedTarget(5, 10))).toEqual(
          expect.objectContaining({ system: 'postgres', met: expect.any(Boolean) }),
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }, 60_000);
  },
  { only: ['postgres'] },
);
