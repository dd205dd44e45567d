/** The child side of the RSS scenario, the same for every system. */
import type { RssParams, RssRun } from '../protocol';
import { sleep } from '../stats';

export interface RssReporter {
  /** The worker is up and idle: the parent starts feeding. */
  ready(): void;
  progress(done: number): void;
}

/** RSS in bytes, after a full GC when the process runs with `--expose-gc`. */
export function rssNow(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
  return process.memoryUsage().rss;
}

/**
 * Read RSS with the worker idle, tell the parent to start feeding, then read RSS again each
 * time `done()` (steps completed) passes a checkpoint. Resolves after the last checkpoint.
 */
export async function readRss(
  p: RssParams,
  report: RssReporter,
  done: () => number,
): Promise<RssRun> {
  await sleep(500);
  const atZero = rssNow();
  report.ready();
  const checkpoints: RssRun['checkpoints'] = [];
  const deadline = Date.now() + 4 * 60 * 60_000;
  for (const steps of p.checkpoints) {
    for (;;) {
      const n = done();
      report.progress(n);
      if (n >= steps) break;
      if (Date.now() > deadline) throw new Error(`only ${n} of ${steps} steps in 4 hours`);
      await sleep(p.progressMs);
    }
    checkpoints.push({ steps, rss: rssNow() });
  }
  return {
    atZero,
    checkpoints,
    gcBeforeReading: typeof (globalThis as { gc?: unknown }).gc === 'function',
  };
}
