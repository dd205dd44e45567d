import type { NativeHealth } from '../native';

/** What `client.health()` answers: whether the database answered a round trip, and how fast. */
export type HealthReport =
  | {
      ok: true;
      backend: 'sqlite' | 'postgres';
      /** How long the round trip took. */
      latencyMs: number;
    }
  | {
      ok: false;
      backend: 'sqlite' | 'postgres';
      /** How long it took to fail (on PostgreSQL at most about `connectTimeoutMs`). */
      latencyMs: number;
      /** Why the database did not answer, e.g. `database unavailable: … connection refused`. */
      error: string;
    };

/** @internal The report of the core's answer. */
export function healthReport(answer: NativeHealth): HealthReport {
  const latencyMs = Math.round(answer.latencyMs * 1000) / 1000;
  return answer.error === undefined
    ? { ok: true, backend: answer.backend, latencyMs }
    : { ok: false, backend: answer.backend, latencyMs, error: answer.error };
}
