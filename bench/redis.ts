/** The Redis server BullMQ runs on, and removing a run's keys afterwards. */
import IORedis from 'ioredis';

/** `TASKER_BENCH_REDIS_URL`, else the local server. */
export function redisUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.TASKER_BENCH_REDIS_URL?.trim();
  return url ? url : 'redis://127.0.0.1:6379';
}

function client(url: string): IORedis {
  return new IORedis(url, {
    connectTimeout: 3000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
    lazyConnect: true,
  });
}

/** The server's version; rejects when it cannot be reached. */
export async function redisVersion(url: string): Promise<string> {
  const c = client(url);
  try {
    await c.connect();
    const info = await c.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  } finally {
    c.disconnect();
  }
}

/** Delete every key matching `pattern` (e.g. `bench-ab12:*`); returns how many. */
export async function deleteKeys(url: string, pattern: string): Promise<number> {
  const c = client(url);
  let deleted = 0;
  try {
    await c.connect();
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await c.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    c.disconnect();
  }
  return deleted;
}
