/**
 * A TCP proxy in front of a server (PostgreSQL in the e2e suites) that can be cut: every
 * connection dropped and new ones refused, as a server that went down; `open()` again to let
 * connections through once more (on the same port).
 */
import * as net from 'net';
import { track } from './e2e';

export class Proxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Drop every connection and refuse new ones (as a server that went down). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) =>
      server ? server.close(() => resolve()) : resolve(),
    );
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    await this.cut();
  }
}

/**
 * A proxy in front of the server of `databaseUrl`, closed after the test, and the URL that
 * reaches the same database through it.
 */
export async function proxied(databaseUrl: string): Promise<{ proxy: Proxy; url: string }> {
  const direct = new URL(databaseUrl);
  const proxy = new Proxy(direct.hostname, Number(direct.port || 5432));
  await proxy.open();
  track(() => proxy.close());
  const viaProxy = new URL(databaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  return { proxy, url: viaProxy.toString() };
}
