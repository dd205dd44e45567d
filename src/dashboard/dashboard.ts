/**
 * The web dashboard's server side: a Node `http` request handler serving the page's static
 * assets (built into the package, no CDN) and a small JSON API over a `TaskerClient`.
 *
 * Reading is open to whoever can reach the handler (it binds to 127.0.0.1 by default when started
 * by `startDashboard`). Actions (retry, resolve, cancel, signal) exist only with `allowActions` and need
 * the token in an `X-Tasker-Token` header; a cross-site request is refused by its `Origin` /
 * `Sec-Fetch-Site` headers, and a form or plain link cannot set that header at all.
 */
import { createHash, randomBytes, timingSafeEqual } from 'crypto';
import * as fs from 'fs';
import type { IncomingMessage, ServerResponse } from 'http';
import * as path from 'path';
import { createClient } from '../client/create-client';
import type { TaskerClient } from '../client/client';
import { TASK_STATES, type Task, type TaskState } from '../client/task';
import { TaskerError } from '../errors/tasker-error';
import { redactDatabaseUrl } from '../redact-url';

export interface DashboardOptions {
  /** Open a client of its own on this database (see `resolveDatabaseUrl`); closed by `close()`. */
  database?: string;
  /** Or use this client (e.g. `worker.client`); `close()` leaves it open. */
  client?: TaskerClient;
  /** Serve the retry, resolve and cancel actions. Default false: the dashboard is read-only. */
  allowActions?: boolean;
  /**
   * The token actions need in their `X-Tasker-Token` header. With `allowActions` and no token,
   * one is generated (read it from the handler's `token`).
   */
  token?: string;
  /**
   * The host names (without port) the dashboard answers to; a request whose `Host` header names
   * another is refused with 403. This stops DNS rebinding: a page on another site whose name
   * now resolves to this machine cannot read the dashboard. Default: any host (when mounted in
   * your own server); `startDashboard` sets `localhost`, `127.0.0.1` and `::1` when it binds a
   * loopback address.
   */
  allowedHosts?: string[];
}

/** A Node `http` request handler; mount it in a server or pass it to `http.createServer`. */
export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Whether actions are served. */
  readonly allowActions: boolean;
  /** The actions' token (`undefined` when read-only). */
  readonly token: string | undefined;
  /** Open the dashboard's own client now (it is otherwise opened by the first request). */
  ready(): Promise<void>;
  /** Close the client the dashboard opened itself (not one it was given). */
  close(): Promise<void>;
}

/** Counting stops at this many tasks per state (the count then reads as "at least"). */
export const COUNT_LIMIT = 10000;
const PAGE_LIMIT_MAX = 200;
const BODY_LIMIT = 1024 * 1024;
const TOKEN_HEADER = 'x-tasker-token';

/** Where the page's files are: beside this module in src/ (tests) and in dist/ (copied by build). */
const ASSET_DIR = path.join(__dirname, 'assets');

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function createDashboard(options: DashboardOptions = {}): DashboardHandler {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createDashboard: expected an options object');
  }
  const { database, client: given, allowActions = false } = options;
  if (given !== undefined && database !== undefined) {
    throw new TypeError('createDashboard: give database or client, not both');
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token === '')) {
    throw new TypeError('createDashboard: token must be a non-empty string');
  }
  const allowedHosts = hostList(options.allowedHosts);
  const token = allowActions ? (options.token ?? generateToken()) : undefined;
  const tokenHash = token === undefined ? undefined : sha256(token);
  let opened: Promise<TaskerClient> | undefined;
  const getClient = (): Promise<TaskerClient> => {
    if (given !== undefined) return Promise.resolve(given);
    if (opened === undefined) {
      opened = createClient({ database });
      // A failed open is tried again by the next request.
      opened.catch(() => (opened = undefined));
    }
    return opened;
  };
  // The database as the page may show it: never with its credentials.
  const shownDatabase = database !== undefined ? redactDatabaseUrl(database) : null;
  const secrets = database !== undefined ? [database] : [];

  const api = new Api(getClient, allowActions, tokenHash);

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : statusOf(err);
      const message =
        err instanceof HttpError || err instanceof TaskerError
          ? hideSecrets(err.message, secrets)
          : 'internal error';
      if (!res.headersSent) sendJson(res, status, { error: message });
      else res.end();
    });
  }) as DashboardHandler;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setCommonHeaders(res);
    if (allowedHosts !== undefined) checkHost(req, allowedHosts);
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const route = url.pathname;
    if (route.startsWith('/api/')) {
      const body = await api.route(req, route, url.searchParams, shownDatabase);
      sendJson(res, 200, body);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new HttpError(405, `${req.method} is not allowed here`);
    }
    const asset = ASSETS[route];
    if (asset === undefined) throw new HttpError(404, `no page ${route}`);
    const content = await readAsset(asset.file());
    res.writeHead(200, { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : content);
  }

  Object.defineProperties(handler, {
    allowActions: { value: allowActions, enumerable: true },
    token: { value: token, enumerable: true },
    ready: {
      value: async () => {
        await getClient();
      },
    },
    close: {
      value: async () => {
        const pending = opened;
        opened = undefined;
        const client = await pending?.catch(() => undefined);
        if (client !== undefined) await client.close();
      },
    },
  });
  return handler;
}

class Api {
  constructor(
    private readonly getClient: () => Promise<TaskerClient>,
    private readonly allowActions: boolean,
    private readonly tokenHash: Buffer | undefined,
  ) {}

  async route(
    req: IncomingMessage,
    route: string,
    query: URLSearchParams,
    database: string | null,
  ): Promise<unknown> {
    const parts = route.split('/').slice(2).map(decodeSegment);
    const method = req.method ?? 'GET';
    if (method === 'GET' && parts.length === 1 && parts[0] === 'config') {
      return { allowActions: this.allowActions, database, countLimit: COUNT_LIMIT };
    }
    if (method === 'GET' && parts.length === 1 && parts[0] === 'tasks') {
      return this.listTasks(query);
    }
    if (method === 'GET' && parts.length === 1 && parts[0] === 'activity') {
      const minutes = intParam(query, 'minutes', 60, 1, 1440);
      return { minutes, activity: await (await this.getClient()).stepActivity({ minutes }) };
    }
    if (method === 'GET' && parts.length === 2 && parts[0] === 'tasks') {
      const task = await (await this.getClient()).getTask(parts[1]);
      if (task === null) throw new HttpError(404, `no task ${parts[1]}`);
      return { task };
    }
    if (method === 'POST' && parts[0] === 'tasks') {
      const action = parts.length === 3 ? parts[2] : parts.length === 5 ? parts[4] : undefined;
      if (
        (parts.length === 3 && (action === 'retry' || action === 'cancel')) ||
        (parts.length === 5 &&
          parts[2] === 'steps' &&
          (action === 'resolve' || action === 'signal'))
      ) {
        this.authorize(req);
        const body = await readJsonBody(req);
        const client = await this.getClient();
        if (action === 'retry') return { task: await client.retryTask(parts[1]) };
        if (action === 'cancel') {
          const reason = optionalString(body.reason, 'reason');
          return { task: await client.cancelTask(parts[1], reason) };
        }
        if (action === 'signal') {
          const payload = body.payload ?? {};
          if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
            throw new HttpError(400, 'payload must be a JSON object');
          }
          const signal = await client.sendSignal(
            parts[1],
            parts[3],
            payload as Record<string, unknown>,
          );
          return { signal, task: await client.getTask(parts[1]) };
        }
        const result = body.result ?? {};
        if (typeof result !== 'object' || result === null || Array.isArray(result)) {
          throw new HttpError(400, 'result must be a JSON object');
        }
        const reason = optionalString(body.reason, 'reason');
        return {
          task: await client.resolveStep(
            parts[1],
            parts[3],
            result as Record<string, unknown>,
            reason === undefined ? {} : { reason },
          ),
        };
      }
    }
    const known = ['config', 'tasks', 'activity'].includes(parts[0]);
    if (known && method !== 'GET' && method !== 'POST') {
      throw new HttpError(405, `${method} is not allowed on ${route}`);
    }
    throw new HttpError(404, `no API ${method} ${route}`);
  }

  private async listTasks(query: URLSearchParams): Promise<unknown> {
    const client = await this.getClient();
    const state = query.get('state') || undefined;
    if (state !== undefined && !TASK_STATES.includes(state as TaskState)) {
      throw new HttpError(400, `state must be one of ${TASK_STATES.join(', ')}, got '${state}'`);
    }
    const namespace = query.get('namespace') || undefined;
    const name = query.get('name') || undefined;
    // ISO 8601 times; the client says what is wrong with one (a 400).
    const createdAfter = query.get('createdAfter') || undefined;
    const createdBefore = query.get('createdBefore') || undefined;
    const limit = intParam(query, 'limit', 50, 1, PAGE_LIMIT_MAX);
    const offset = intParam(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const tasks = await client.listTasks({
      state: state as TaskState | undefined,
      namespace,
      name,
      createdAfter,
      createdBefore,
      limit,
      offset,
    });
    const counted = await client.countTasks(
      { namespace, name, createdAfter, createdBefore },
      { max: COUNT_LIMIT },
    );
    const counts: Record<string, number> = {};
    for (const s of TASK_STATES) counts[s] = counted[s] ?? 0;
    return { tasks: tasks.map(summary), counts, limit, offset };
  }

  private authorize(req: IncomingMessage): void {
    if (!this.allowActions || this.tokenHash === undefined) {
      throw new HttpError(
        403,
        'the dashboard is read-only: actions need it started with allowActions (--allow-actions)',
      );
    }
    const site = header(req, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site: ${site})`);
    }
    const origin = header(req, 'origin');
    if (origin !== undefined) {
      let originHost: string | undefined;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = undefined;
      }
      if (originHost === undefined || originHost !== header(req, 'host')) {
        throw new HttpError(403, 'cross-origin request refused (Origin does not match Host)');
      }
    }
    const given = header(req, TOKEN_HEADER);
    if (given === undefined) {
      throw new HttpError(403, 'actions need the dashboard token in an X-Tasker-Token header');
    }
    if (!timingSafeEqual(sha256(given), this.tokenHash)) {
      throw new HttpError(403, 'wrong dashboard token (X-Tasker-Token)');
    }
  }
}

/** A task as the list shows it: no steps or transitions, context left out (it can be large). */
function summary(task: Task): Record<string, unknown> {
  return {
    taskUuid: task.taskUuid,
    namespace: task.namespace,
    name: task.name,
    version: task.version,
    state: task.state,
    createdAt: task.createdAt,
    updatedAt: task.updatedAt,
    completedAt: task.completedAt,
  };
}

/** Host names as compared: lower case, IPv6 without brackets. */
function normalizeHost(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
}

function hostList(hosts: unknown): string[] | undefined {
  if (hosts === undefined) return undefined;
  if (
    !Array.isArray(hosts) ||
    hosts.length === 0 ||
    hosts.some((h) => typeof h !== 'string' || h.trim() === '')
  ) {
    throw new TypeError('createDashboard: allowedHosts must be a non-empty array of host names');
  }
  return [...new Set(hosts.map((h: string) => normalizeHost(h)))];
}

/** Refuse a request for another host name (DNS rebinding): see `allowedHosts`. */
function checkHost(req: IncomingMessage, allowed: string[]): void {
  const host = header(req, 'host');
  let name: string | undefined;
  try {
    name = host === undefined ? undefined : normalizeHost(new URL(`http://${host}`).hostname);
  } catch {
    name = undefined;
  }
  if (name === undefined || !allowed.includes(name)) {
    throw new HttpError(
      403,
      `refused: this dashboard answers to ${allowed.join(', ')}, not to Host ` +
        `'${host ?? ''}' (another site's name pointing here: DNS rebinding)`,
    );
  }
}

function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HttpError(400, `${name} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `${field} must be a string`);
  return value;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `bad URL segment '${s}'`);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) return value[0];
  return value === undefined || value === '' ? undefined : value;
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > BODY_LIMIT) throw new HttpError(413, `request body over ${BODY_LIMIT} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const type = header(req, 'content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/json')) {
    throw new HttpError(415, 'a request body must be JSON (Content-Type: application/json)');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'the request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function statusOf(err: unknown): number {
  if (!(err instanceof TaskerError)) return 500;
  switch (err.code) {
    case 'INVALID_ARGUMENT':
      return 400;
    case 'TASK_NOT_FOUND':
      return 404;
    case 'INVALID_STATE':
      return 409;
    default:
      return 500;
  }
}

function hideSecrets(message: string, secrets: string[]): string {
  let out = message;
  for (const secret of secrets) {
    if (secret !== '' && out.includes(secret))
      out = out.split(secret).join(redactDatabaseUrl(secret));
  }
  return out;
}

function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

interface Asset {
  file: () => string;
  type: string;
}

const ASSETS: Record<string, Asset> = {
  '/': { file: () => path.join(ASSET_DIR, 'index.html'), type: 'text/html; charset=utf-8' },
  '/index.html': {
    file: () => path.join(ASSET_DIR, 'index.html'),
    type: 'text/html; charset=utf-8',
  },
  '/assets/app.js': {
    file: () => path.join(ASSET_DIR, 'app.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/assets/app.css': {
    file: () => path.join(ASSET_DIR, 'app.css'),
    type: 'text/css; charset=utf-8',
  },
  // The chart library, served from the installed package like dagre.
  '/assets/vendor/uplot.js': {
    file: () => path.join(path.dirname(require.resolve('uplot')), 'uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/assets/vendor/uplot.css': {
    file: () => path.join(path.dirname(require.resolve('uplot')), 'uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
  // The graph layout library, served from the installed package (works offline).
  '/assets/vendor/dagre.js': {
    file: () =>
      path.join(
        path.dirname(require.resolve('@dagrejs/dagre/package.json')),
        'dist',
        'dagre.min.js',
      ),
    type: 'text/javascript; charset=utf-8',
  },
};

const cache = new Map<string, Buffer>();

async function readAsset(file: string): Promise<Buffer> {
  const hit = cache.get(file);
  if (hit !== undefined) return hit;
  const content = await fs.promises.readFile(file);
  cache.set(file, content);
  return content;
}
