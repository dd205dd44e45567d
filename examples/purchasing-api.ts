/**
 * The purchasing API `npm run demo` calls: a small HTTP server on 127.0.0.1 (a random free port)
 * serving `GET /purchase-requests/:id` from memory. To show the ApiHandler's retries, it can
 * answer the first `outages` requests with a 503.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { PurchaseRequest } from './handlers/restock';

export interface PurchasingApiOptions {
  requests: PurchaseRequest[];
  /** Answer this many requests with 503 Service Unavailable first. Default 0. */
  outages?: number;
  /** Called once per request served, e.g. to log it. */
  onRequest?: (method: string, url: string, status: number) => void;
}

export interface PurchasingApi {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** Stops listening and closes open (keep-alive) connections. */
  close(): Promise<void>;
}

export async function startPurchasingApi(options: PurchasingApiOptions): Promise<PurchasingApi> {
  const byId = new Map(options.requests.map((r) => [r.id, r]));
  let outages = options.outages ?? 0;

  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
      options.onRequest?.(req.method ?? '?', req.url ?? '?', status);
    };
    const match = /^\/purchase-requests\/([^/?]+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || match === null) {
      send(404, { error: 'not found' });
    } else if (outages > 0) {
      outages -= 1;
      send(503, { error: 'purchasing database is restarting' });
    } else {
      const request = byId.get(decodeURIComponent(match[1]));
      if (request === undefined) send(404, { error: `no purchase request ${match[1]}` });
      else send(200, request);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
