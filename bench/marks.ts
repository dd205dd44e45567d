/**
 * Timestamps taken inside the last handler of a latency run (`performance.now()`), keyed by
 * run. The runner waits for the mark of the run it started; a mark may arrive before the
 * runner asks for it.
 */
import { performance } from 'perf_hooks';

export class Marks {
  private readonly taken = new Map<string, number>();
  private readonly waiting = new Map<string, (at: number) => void>();

  /** Called by the handler. */
  record(key: string): void {
    const at = performance.now();
    const resolve = this.waiting.get(key);
    if (resolve !== undefined) {
      this.waiting.delete(key);
      resolve(at);
    } else {
      this.taken.set(key, at);
    }
  }

  /** Resolves with the mark's time; rejects after `timeoutMs`. */
  wait(key: string, timeoutMs = 30_000): Promise<number> {
    const at = this.taken.get(key);
    if (at !== undefined) {
      this.taken.delete(key);
      return Promise.resolve(at);
    }
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`run ${key}: its last handler did not run within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }
}

/** The marks of this process (one job per child process). */
export const marks = new Marks();
