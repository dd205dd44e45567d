/**
 * `client.health()`: one round trip to the database, through the engine. It answers `ok: true`
 * with the backend and the latency, and, for a database that does not answer (PostgreSQL behind
 * a TCP proxy that was cut), `ok: false` with the cause, without rejecting; it answers `ok`
 * again once the database is back. A closed client rejects.
 */
import { ClosedError, createClient } from '../../src/index';
import { defineHandler, describeEachBackend, openClient, startWorker, track } from '../helpers/e2e';
import { proxied } from '../helpers/tcp-proxy';

describeEachBackend('client.health()', (backend) => {
  it('answers ok with the backend and the round trip’s latency', async () => {
    const client = await openClient(await backend.database());
    const health = await client.health();
    expect(health).toEqual({ ok: true, backend: backend.name, latencyMs: expect.any(Number) });
    expect(health.latencyMs).toBeGreaterThanOrEqual(0);
    expect(health.latencyMs).toBeLessThan(5000);
  });

  it('is there on a worker’s client too, and rejects once the client is closed', async () => {
    const worker = await startWorker({
      database: await backend.database(),
      templates: 'linear',
      handlers: [defineHandler('Linear.Add', () => ({}))],
      start: false,
    });
    expect(await worker.client.health()).toMatchObject({ ok: true, backend: backend.name });
    const client = await createClient({ database: await backend.database() });
    await client.close();
    await expect(client.health()).rejects.toThrow(ClosedError);
    await expect(client.health()).rejects.toThrow('the TaskerClient is closed');
  });
});

describeEachBackend(
  'client.health() of an unreachable database',
  (backend) => {
    it('answers ok: false with the cause, without rejecting, and ok again once it is back', async () => {
      const { proxy, url } = await proxied(await backend.database());
      const client = await createClient({ database: url, connectTimeoutMs: 1000 });
      track(() => client.close());
      expect((await client.health()).ok).toBe(true);

      await proxy.cut();
      const down = await client.health();
      expect(down).toEqual({
        ok: false,
        backend: 'postgres',
        latencyMs: expect.any(Number),
        error: expect.stringContaining(`127.0.0.1:${proxy.port}`),
      });
      if (!down.ok) {
        expect(down.error).toMatch(
          /^cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ \(database "tasker_e2e_\w+", user "[^"]+"\): connection refused/,
        );
      }
      // Bounded by the connect timeout (1 s here), not hanging.
      expect(down.latencyMs).toBeLessThan(5000);

      await proxy.open();
      expect(await client.health()).toMatchObject({ ok: true, backend: 'postgres' });
    });
  },
  { only: ['postgres'] },
);
