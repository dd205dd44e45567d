/**
 * The benchmark must not rot silently: run the real `npm run bench` code (the compiled
 * dist/bench/bench.js, as `npm test` builds it first) with tiny counts on tasker-node SQLite
 * only, and check that every scenario produced a well-formed figure. Not a performance test:
 * no figure is compared with a threshold.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BULK_UNAVAILABLE } from '../../bench/protocol';
import type { Report } from '../../bench/report';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'dist', 'bench', 'bench.js'), ...args],
      { cwd: REPO_ROOT, timeout: 50_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

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

    expect(report.jobs).toHaveLength(7);
    expect(report.targets.map((t) => t.target)).toContain('≥ 50,000 steps/s at concurrency 10');
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
