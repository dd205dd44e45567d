/**
 * ApiHandler against real sockets on 127.0.0.1 (no nock): refused connections, timeouts,
 * cancellation through ctx.signal, and TLS with a self-signed certificate made by `openssl`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import {
  ApiHandler,
  PermanentError,
  RetryableError,
  StepContext,
  ValidationError,
  type ApiResponse,
} from '../../src/index';
import {
  RecordingLogger,
  abortEvent,
  deferred,
  parsedOutcome,
  runHandler,
  startWorker,
  stepEvent,
  stepPayload,
  withoutStack,
} from '../helpers/mock-native';

class Get extends ApiHandler {
  static override handlerName = 'Api.Get';
  async call(ctx: StepContext): Promise<ApiResponse> {
    return this.get(ctx, ctx.getInputOr('path', '/'));
  }
}

function context(config: Record<string, unknown>, signal = new AbortController().signal) {
  return new StepContext(
    stepPayload({ handler: Get.handlerName, config }),
    signal,
    new RecordingLogger(),
  );
}

/** Listen on 127.0.0.1 and return the base URL and a closer that also drops open connections. */
async function listen(
  server: http.Server | https.Server,
  scheme: 'http' | 'https',
): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A server that accepts requests and never answers; `received` resolves on the first one. */
async function silentServer() {
  const received = deferred();
  let requests = 0;
  const server = http.createServer(() => {
    requests += 1;
    received.resolve();
  });
  return {
    ...(await listen(server, 'http')),
    received: received.promise,
    requests: () => requests,
  };
}

describe('ApiHandler over the network: failures without a response', () => {
  it('reports a refused connection as a retryable connection_error', async () => {
    const server = http.createServer();
    const { url, close } = await listen(server, 'http');
    await close();
    const { result } = await runHandler(Get, { config: { base_url: url } });
    expect(withoutStack(result.error)).toStrictEqual({
      message: expect.stringMatching(
        new RegExp(`^GET ${url}/ failed: ECONNREFUSED: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`),
      ),
      errorType: 'connection_error',
      retryable: true,
    });
  });

  it('reports a configured timeout_ms as a retryable timeout', async () => {
    const { url, close } = await silentServer();
    try {
      const { result } = await runHandler(Get, { config: { base_url: url, timeout_ms: 100 } });
      expect(withoutStack(result.error)).toStrictEqual({
        message: `GET ${url}/ failed: timed out (timeout of 100ms exceeded)`,
        errorType: 'timeout',
        retryable: true,
      });
    } finally {
      await close();
    }
  });

  it('lets a request override the timeout', async () => {
    const { url, close } = await silentServer();
    try {
      const err = await new Get()
        .get(context({ base_url: url, timeout_ms: 60_000 }), '/slow', { timeoutMs: 50 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as RetryableError).errorType).toBe('timeout');
    } finally {
      await close();
    }
  });

  it('cancels the request when the core aborts the step (ctx.signal)', async () => {
    const { url, close, received } = await silentServer();
    const { worker, nativeWorker } = await startWorker([Get]);
    try {
      const event = stepEvent({ handler: Get.handlerName, config: { base_url: url } });
      nativeWorker.push(event);
      await received;
      nativeWorker.push(abortEvent(event, 'task cancelled'));
      const [result] = await nativeWorker.waitForResults(1);
      expect(withoutStack(result.error)).toStrictEqual({
        message: `GET ${url}/ failed: aborted (task cancelled)`,
        errorType: 'aborted',
        retryable: true,
      });
    } finally {
      await worker.shutdown();
      await close();
    }
  });

  it('does not send a request when the signal is already aborted', async () => {
    const { url, close, requests } = await silentServer();
    const controller = new AbortController();
    controller.abort(new Error('worker shutting down'));
    try {
      const err = await new Get()
        .get(context({ base_url: url }, controller.signal), '/x')
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RetryableError);
      expect((err as Error).message).toBe(`GET ${url}/x failed: aborted (worker shutting down)`);
      expect(requests()).toBe(0);
    } finally {
      await close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// TLS

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
if (!hasOpenssl) console.warn('openssl is not available: skipping the TLS tests of ApiHandler');
const describeTls = hasOpenssl ? describe : describe.skip;

/** A self-signed certificate for 127.0.0.1 (it is its own CA), made in a temp directory. */
function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const run = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0) throw new Error(`openssl failed: ${run.stderr}`);
  return { cert, key };
}

describeTls('ApiHandler over TLS', () => {
  let dir: string;
  let server: { cert: string; key: string };
  let client: { cert: string; key: string };
  let base: string;
  let closeServer: () => Promise<void>;
  let mtlsBase: string;
  let closeMtls: () => Promise<void>;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-tls-'));
    server = makeCertificate(dir, 'server');
    client = makeCertificate(dir, 'client');
    const tlsOptions = { cert: fs.readFileSync(server.cert), key: fs.readFileSync(server.key) };
    const plain = https.createServer(tlsOptions, (_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"secure":true}');
    });
    ({ url: base, close: closeServer } = await listen(plain, 'https'));
    const mutual = https.createServer(
      {
        ...tlsOptions,
        requestCert: true,
        rejectUnauthorized: true,
        ca: fs.readFileSync(client.cert),
      },
      (req, res) => {
        const peer = (req.socket as import('tls').TLSSocket).getPeerCertificate();
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ client: peer.subject?.CN }));
      },
    );
    ({ url: mtlsBase, close: closeMtls } = await listen(mutual, 'https'));
  });

  afterAll(async () => {
    await closeServer?.();
    await closeMtls?.();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('verifies certificates by default: a self-signed one fails permanently (tls_error)', async () => {
    const { result } = await runHandler(Get, { config: { base_url: base } });
    expect(withoutStack(result.error)).toStrictEqual({
      message: `GET ${base}/ failed: DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate`,
      errorType: 'tls_error',
      retryable: false,
    });
  });

  it('also with a tls section that does not turn verification off', async () => {
    const err = await new Get()
      .get(context({ base_url: base, tls: { reject_unauthorized: true } }), '/')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).errorType).toBe('tls_error');
  });

  it('connects with reject_unauthorized: false', async () => {
    const { result } = await runHandler(Get, {
      config: { base_url: base, tls: { reject_unauthorized: false } },
    });
    expect(parsedOutcome(result)).toMatchObject({
      success: true,
      result: { body: { secure: true } },
    });
  });

  it.each<[string, () => unknown]>([
    ['a CA file path', () => server.cert],
    ['a CA PEM string', () => fs.readFileSync(server.cert, 'utf8')],
    ['a CA PEM from the environment', () => ({ env: 'TEST_TLS_CA' })],
  ])('trusts %s', async (_label, ca) => {
    process.env.TEST_TLS_CA = fs.readFileSync(server.cert, 'utf8');
    try {
      const res = await new Get().get(context({ base_url: base, tls: { ca: ca() } }), '/');
      expect(res.body).toEqual({ secure: true });
    } finally {
      delete process.env.TEST_TLS_CA;
    }
  });

  it('presents a client certificate (cert + key files) to a server that requires one', async () => {
    const res = await new Get().get(
      context({ base_url: mtlsBase, tls: { ca: server.cert, cert: client.cert, key: client.key } }),
      '/',
    );
    expect(res.body).toEqual({ client: 'client' });
  });

  it('fails without a client certificate when the server requires one', async () => {
    const err = await new Get()
      .get(context({ base_url: mtlsBase, tls: { ca: server.cert } }), '/')
      .catch((e: unknown) => e);
    // With TLS 1.3 the server's alert arrives while reading: ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED.
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as PermanentError).errorType).toBe('tls_error');
    expect((err as Error).message).toMatch(/certificate required/);
  });

  it('names an unreadable CA file', async () => {
    const missing = path.join(dir, 'missing.pem');
    await expect(
      new Get().get(context({ base_url: base, tls: { ca: missing } }), '/'),
    ).rejects.toThrow(
      new ValidationError(
        `ApiHandler 'Api.Get' configuration: tls.ca: cannot read the file ${missing} (ENOENT)`,
      ),
    );
  });
});
