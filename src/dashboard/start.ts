import * as http from 'http';
import * as net from 'net';
import type { AddressInfo } from 'net';
import { createDashboard, type DashboardOptions } from './dashboard';

export interface StartDashboardOptions extends DashboardOptions {
  /** Default 4400; 0 picks a free port. */
  port?: number;
  /** Default `127.0.0.1`: only this machine can reach it. */
  host?: string;
}

export interface RunningDashboard {
  /** `http://host:port/`, without the token. */
  readonly url: string;
  /** The actions' token (generated when `allowActions` was given without one). */
  readonly token: string | undefined;
  readonly server: http.Server;
  /** Stop listening and close the dashboard's own client. */
  close(): Promise<void>;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (net.isIPv4(h) && h.startsWith('127.'));
}

/** Serve the dashboard on its own HTTP server. */
export async function startDashboard(
  options: StartDashboardOptions = {},
): Promise<RunningDashboard> {
  const { port = 4400, host = '127.0.0.1', ...rest } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`startDashboard: port must be an integer from 0 to 65535, got ${port}`);
  }
  // Bound to this machine only, it answers only to this machine's names (see allowedHosts).
  const allowedHosts =
    rest.allowedHosts ?? (isLoopback(host) ? [...LOOPBACK_NAMES, host] : undefined);
  const handler = createDashboard({ ...rest, allowedHosts });
  const server = http.createServer(handler);
  try {
    await handler.ready();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await handler.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    token: handler.token,
    server,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await handler.close();
    },
  };
}
