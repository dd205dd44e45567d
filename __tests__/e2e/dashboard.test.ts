/**
 * The web dashboard over real HTTP on both backends: its JSON API (lists, counts, a task,
 * refusals), its actions and their protection (read-only, token, cross-site requests), and the
 * page itself in a real browser (playwright-core driving Debian's chromium): states, the DAG's
 * nodes, colours and edges, hostile data rendered as text, retry through the page.
 *
 * A worker in this process runs three tasks of `dashboard_flow` (fetch → left, right → join): one
 * that finishes, one whose `left` fails, and one whose `left` hangs until the test ends.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { DecisionHandler, PermanentError, type Task, type TaskerClient } from '../../src/index';
import { createDashboard, startDashboard } from '../../src/dashboard';
import {
  REPO_ROOT,
  aborted,
  cleanUp,
  deferred,
  defineHandler,
  describeEachBackend,
  eventually,
  runTask,
  startWorker,
  stepOf,
  track,
  type Backend,
} from '../helpers/e2e';

const XSS_SCRIPT = '<script>window.__xss=1</script>';
const XSS_IMG = '"><img src=x onerror="window.__xss=2">';
const SECRET = 'hunter2dashboard';

interface Setup {
  client: TaskerClient;
  database: string;
  finished: Task;
  failed: Task;
  running: Task;
  /** Make the failing step succeed on its next run. */
  heal(): void;
}

async function setUp(backend: Backend): Promise<Setup> {
  const release = deferred<void>();
  const state = { leftFails: true };
  const clientRef: { current?: TaskerClient } = {};
  class Route extends DecisionHandler {
    static override handlerName = 'Dash.Route';
    async call() {
      return this.decisionSuccess(['approve']);
    }
  }
  const handlers = [
    Route,
    defineHandler('Dash.Work', (ctx) => ({ ok: true, step: ctx.stepName })),
    defineHandler('Dash.Left', async (ctx) => {
      const mode = ctx.inputData.mode;
      if (mode === 'fail' && state.leftFails) {
        // Fail only once `right` is recorded complete, so that every run sees the same order
        // (a sibling finishing after the failure left `join` pending on retry before 79cbf8b).
        await eventually('right to complete', async () => {
          const t = await clientRef.current?.getTask(ctx.taskUuid);
          return t != null && stepOf(t, 'right').state === 'complete';
        });
        throw new PermanentError(`left failed: ${XSS_IMG}`);
      }
      if (mode === 'hang') {
        await ctx.saveCheckpoint({ cursor: 'row-3', itemsProcessed: 3 });
        await Promise.race([release.promise, aborted(ctx.signal)]);
      }
      return { left: 'done', note: XSS_SCRIPT };
    }),
  ];
  const database = await backend.database();
  const worker = await startWorker({ database, templates: 'dashboard', handlers });
  track(() => release.resolve());
  const client = worker.client;
  clientRef.current = client;
  const finished = await runTask(client, {
    name: 'dashboard_flow',
    context: { mode: 'ok', probe: XSS_SCRIPT, attr: XSS_IMG, big: 'x'.repeat(5000) },
  });
  const failed = await runTask(client, { name: 'dashboard_flow', context: { mode: 'fail' } });
  const created = await client.createTask({
    namespace: 'e2e',
    name: 'dashboard_flow',
    context: { mode: 'hang' },
  });
  const running = await eventually('the hanging step to run', async () => {
    const t = await client.getTask(created.taskUuid);
    return t !== null && stepOf(t, 'left').state === 'in_progress' ? t : undefined;
  });
  expect(finished.state).toBe('complete');
  expect(failed.state).toBe('error');
  return {
    client,
    database,
    finished,
    failed,
    running,
    heal: () => {
      state.leftFails = false;
    },
  };
}

/**
 * A dashboard over the setup's database, on a free port: on SQLite (an in-memory database only
 * the worker's engine sees) through the worker's client, on PostgreSQL through a URL of its own
 * that carries a password (trust authentication ignores it) which must never be shown.
 */
async function serve(
  backend: Backend,
  s: Setup,
  options: { allowActions?: boolean; token?: string } = {},
): Promise<string> {
  const source =
    backend.name === 'postgres'
      ? { database: withPassword(s.database, SECRET) }
      : { client: s.client };
  const handler = createDashboard({ ...source, ...options });
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  track(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await handler.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

function withPassword(database: string, password: string): string {
  const url = new URL(database);
  url.password = password;
  return url.toString();
}

async function getJson(base: string, p: string): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL(p, base));
  return { status: res.status, body: await res.json() };
}

async function post(
  base: string,
  p: string,
  headers: Record<string, string> = {},
  body: unknown = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL(p, base), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describeEachBackend('dashboard API', (backend) => {
  it('lists tasks with counts by state, filters and pages, and shows one task whole', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);

    const all = await getJson(base, 'api/tasks');
    expect(all.status).toBe(200);
    expect(all.body.counts).toEqual({
      pending: 0,
      steps_in_process: 1,
      waiting_for_retry: 0,
      complete: 1,
      error: 1,
      cancelled: 0,
    });
    const states = Object.fromEntries(all.body.tasks.map((t: Task) => [t.taskUuid, t.state]));
    expect(states).toEqual({
      [s.finished.taskUuid]: 'complete',
      [s.failed.taskUuid]: 'error',
      [s.running.taskUuid]: 'steps_in_process',
    });
    // The list leaves contexts out.
    expect(all.body.tasks[0].context).toBeUndefined();

    const errors = await getJson(base, 'api/tasks?state=error');
    expect(errors.body.tasks.map((t: Task) => t.taskUuid)).toEqual([s.failed.taskUuid]);
    const page = await getJson(base, 'api/tasks?limit=2&offset=2');
    expect(page.body).toMatchObject({ limit: 2, offset: 2 });
    expect(page.body.tasks).toHaveLength(1);
    const none = await getJson(base, 'api/tasks?namespace=elsewhere');
    expect(none.body.tasks).toEqual([]);
    expect(none.body.counts.complete).toBe(0);

    const one = await getJson(base, `api/tasks/${s.failed.taskUuid}`);
    expect(one.status).toBe(200);
    expect(one.body.task.steps.map((st: { name: string }) => st.name).sort()).toEqual([
      'fetch',
      'join',
      'left',
      'right',
    ]);
    expect(stepOf(one.body.task, 'left').error).toMatchObject({
      message: `left failed: ${XSS_IMG}`,
      errorType: 'permanent_error',
    });
    expect(stepOf(one.body.task, 'left').error?.stack).toContain('left failed');
    expect(one.body.task.transitions.length).toBeGreaterThan(0);
  });

  it('filters by creation time, counting the same tasks, and says what is wrong with a time', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const from = encodeURIComponent(s.failed.createdAt);
    const later = await getJson(base, `api/tasks?createdAfter=${from}`);
    expect(later.body.tasks.map((t: Task) => t.taskUuid).sort()).toEqual(
      [s.failed.taskUuid, s.running.taskUuid].sort(),
    );
    expect(later.body.counts).toMatchObject({ complete: 0, error: 1, steps_in_process: 1 });
    const earlier = await getJson(base, `api/tasks?createdBefore=${from}`);
    expect(earlier.body.tasks.map((t: Task) => t.taskUuid)).toEqual([s.finished.taskUuid]);
    expect(earlier.body.counts).toMatchObject({ complete: 1, error: 0, steps_in_process: 0 });
    const between = await getJson(
      base,
      `api/tasks?createdAfter=${from}&createdBefore=${encodeURIComponent(s.running.createdAt)}`,
    );
    expect(between.body.tasks.map((t: Task) => t.taskUuid)).toEqual([s.failed.taskUuid]);

    expect(await getJson(base, 'api/tasks?createdAfter=yesterday')).toEqual({
      status: 400,
      body: {
        error:
          'listTasks: createdAfter must be a Date or an ISO 8601 time such as \'2026-12-03T09:00:00Z\', got "yesterday"',
      },
    });
    const reversed = await getJson(
      base,
      `api/tasks?createdAfter=${encodeURIComponent(s.running.createdAt)}&createdBefore=${from}`,
    );
    expect(reversed.status).toBe(400);
    expect(reversed.body.error).toContain('is later than createdBefore');
  });

  it('reports the step executions that ended in each of the last minutes', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const { status, body } = await getJson(base, 'api/activity');
    expect(status).toBe(200);
    expect(body.minutes).toBe(60);
    expect(body.activity).toHaveLength(60);
    const sum = (key: 'completed' | 'failed' | 'retried') =>
      body.activity.reduce((n: number, m: Record<string, number>) => n + m[key], 0);
    // finished: 4 steps complete; failed: fetch and right complete, left failed (join was
    // cancelled, which ends no execution); running: fetch and right complete, left still runs.
    expect({ completed: sum('completed'), failed: sum('failed'), retried: sum('retried') }).toEqual(
      { completed: 8, failed: 1, retried: 0 },
    );
    expect((await getJson(base, 'api/activity?minutes=5')).body.activity).toHaveLength(5);
    expect(await getJson(base, 'api/activity?minutes=0')).toEqual({
      status: 400,
      body: { error: "minutes must be an integer from 1 to 1440, got '0'" },
    });
  });

  it('says what is wrong with a request', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    expect(await getJson(base, 'api/tasks?state=broken')).toEqual({
      status: 400,
      body: {
        error:
          "state must be one of pending, steps_in_process, waiting_for_retry, complete, error, cancelled, got 'broken'",
      },
    });
    expect(await getJson(base, 'api/tasks?limit=0')).toEqual({
      status: 400,
      body: { error: "limit must be an integer from 1 to 200, got '0'" },
    });
    expect(await getJson(base, 'api/tasks?offset=-1')).toMatchObject({ status: 400 });
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(await getJson(base, `api/tasks/${missing}`)).toEqual({
      status: 404,
      body: { error: `no task ${missing}` },
    });
    expect(await getJson(base, 'api/nothing')).toEqual({
      status: 404,
      body: { error: 'no API GET /api/nothing' },
    });
    const page = await fetch(new URL('nowhere', base));
    expect(page.status).toBe(404);
  });

  it('is read-only without allowActions: actions are refused with 403 and the config says so', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const config = await getJson(base, 'api/config');
    expect(config.body.allowActions).toBe(false);
    const refused = await post(base, `api/tasks/${s.failed.taskUuid}/retry`, {
      'X-Tasker-Token': 'anything',
    });
    expect(refused).toEqual({
      status: 403,
      body: {
        error:
          'the dashboard is read-only: actions need it started with allowActions (--allow-actions)',
      },
    });
    const task = await s.client.getTask(s.failed.taskUuid);
    expect(task?.state).toBe('error');
  });

  it('never shows the credentials of its database URL', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s, { allowActions: true, token: 't' });
    const config = await getJson(base, 'api/config');
    if (backend.name === 'postgres') {
      expect(config.body.database).toContain('***');
    } else {
      expect(config.body.database).toBeNull();
    }
    for (const p of ['', 'api/config', 'api/tasks', `api/tasks/${s.failed.taskUuid}`]) {
      const text = await (await fetch(new URL(p, base))).text();
      expect(text).not.toContain(SECRET);
    }
  });

  it('refuses actions without the right token or from another site, and retries with it', async () => {
    const s = await setUp(backend);
    const token = 'dashboard-test-token';
    const base = await serve(backend, s, { allowActions: true, token });
    const retry = `api/tasks/${s.failed.taskUuid}/retry`;

    expect(await post(base, retry)).toEqual({
      status: 403,
      body: { error: 'actions need the dashboard token in an X-Tasker-Token header' },
    });
    expect(await post(base, retry, { 'X-Tasker-Token': 'wrong' })).toEqual({
      status: 403,
      body: { error: 'wrong dashboard token (X-Tasker-Token)' },
    });
    expect(
      await post(base, retry, { 'X-Tasker-Token': token, Origin: 'http://evil.example' }),
    ).toEqual({
      status: 403,
      body: { error: 'cross-origin request refused (Origin does not match Host)' },
    });
    expect(
      await post(base, retry, { 'X-Tasker-Token': token, 'Sec-Fetch-Site': 'cross-site' }),
    ).toEqual({
      status: 403,
      body: { error: 'cross-site request refused (Sec-Fetch-Site: cross-site)' },
    });
    expect((await s.client.getTask(s.failed.taskUuid))?.state).toBe('error');

    // A finished task cannot be retried: the core's refusal is passed on as 409.
    const notFailed = await post(base, `api/tasks/${s.finished.taskUuid}/retry`, {
      'X-Tasker-Token': token,
    });
    expect(notFailed.status).toBe(409);
    expect(notFailed.body.error).toMatch(/complete/);

    s.heal();
    const ok = await post(base, retry, { 'X-Tasker-Token': token, Origin: base.slice(0, -1) });
    expect(ok.status).toBe(200);
    // The answer is the task as read after the retry committed: the worker may have finished
    // it by then (it did once on PostgreSQL).
    expect(['steps_in_process', 'complete']).toContain(ok.body.task.state);
    const done = await s.client.waitForTask(s.failed.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'left').result).toEqual({ left: 'done', note: XSS_SCRIPT });
  });

  it('sends the signal a step waits for, with the token', async () => {
    const s = await setUp(backend);
    const token = 'dashboard-test-token';
    const base = await serve(backend, s, { allowActions: true, token });
    const task = await s.client.createTask({ namespace: 'e2e', name: 'dashboard_signal' });
    await eventually('the signal step to wait', async () => {
      const t = await s.client.getTask(task.taskUuid);
      return t !== null && stepOf(t, 'approve').state === 'waiting_for_signal';
    });
    const path = `api/tasks/${task.taskUuid}/steps/approve/signal`;
    expect((await post(base, path, {}, { payload: { ok: true } })).status).toBe(403);
    expect(await post(base, path, { 'X-Tasker-Token': token }, { payload: [1] })).toEqual({
      status: 400,
      body: { error: 'payload must be a JSON object' },
    });
    const notSignal = await post(
      base,
      `api/tasks/${task.taskUuid}/steps/start/signal`,
      { 'X-Tasker-Token': token },
      { payload: {} },
    );
    expect(notSignal.status).toBe(400);
    expect(notSignal.body.error).toContain('not a signal step');
    const sent = await post(base, path, { 'X-Tasker-Token': token }, { payload: { ok: true } });
    expect(sent.status).toBe(200);
    expect(sent.body.signal).toMatchObject({ applied: true, stepState: 'complete' });
    const done = await s.client.waitForTask(task.taskUuid, { timeoutMs: 20000 });
    expect(stepOf(done, 'approve').result).toEqual({ ok: true });
    const again = await post(base, path, { 'X-Tasker-Token': token }, { payload: {} });
    expect(again.status).toBe(409);
  });

  it('resolves a stuck step and cancels a task with the token', async () => {
    const s = await setUp(backend);
    const token = 'dashboard-test-token';
    const base = await serve(backend, s, { allowActions: true, token });
    const headers = { 'X-Tasker-Token': token };

    const bad = await post(base, `api/tasks/${s.running.taskUuid}/steps/left/resolve`, headers, {
      result: [1],
    });
    expect(bad).toEqual({ status: 400, body: { error: 'result must be a JSON object' } });
    const resolved = await post(
      base,
      `api/tasks/${s.running.taskUuid}/steps/left/resolve`,
      headers,
      { result: { by: 'hand' }, reason: 'unstuck from the dashboard' },
    );
    expect(resolved.status).toBe(200);
    const done = await s.client.waitForTask(s.running.taskUuid, { timeoutMs: 20000 });
    expect(done.state).toBe('complete');
    expect(stepOf(done, 'left')).toMatchObject({
      state: 'resolved_manually',
      result: { by: 'hand' },
    });

    const again = await s.client.createTask({
      namespace: 'e2e',
      name: 'dashboard_flow',
      context: { mode: 'hang' },
    });
    const cancelled = await post(base, `api/tasks/${again.taskUuid}/cancel`, headers, {
      reason: 'not needed',
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.task.state).toBe('cancelled');

    const notJson = await fetch(new URL(`api/tasks/${again.taskUuid}/cancel`, base), {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'text/plain' },
      body: 'reason',
    });
    expect(notJson.status).toBe(415);
  });
});

// ---------------------------------------------------------------------------------------------
// In a real browser

const CHROMIUM = process.env.TASKER_CHROMIUM ?? '/usr/bin/chromium';
const BROWSER_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** What the page's globals look like from here (the tests compile without the DOM's types). */
interface PageGlobals {
  document: { querySelectorAll(selector: string): { length: number } };
}
const haveBrowser = fs.existsSync(CHROMIUM);
const requireBrowser =
  process.env.TASKER_REQUIRE_BROWSER === '1' || process.env.TASKER_REQUIRE_POSTGRES === '1';

/** The colours the page gives each step state (src/dashboard/assets/app.js). */
const STATE_COLOURS: Record<string, string> = {
  complete: '#15803d',
  error: '#b91c1c',
  cancelled: '#52525b',
  in_progress: '#2563eb',
  pending: '#8a94a0',
  steps_in_process: '#2563eb',
  waiting_for_signal: '#9333ea',
};

if (!haveBrowser && !requireBrowser) {
  const notice =
    `tasker e2e: no browser at ${CHROMIUM} (apt-get install chromium); SKIPPING the dashboard's ` +
    `browser tests. Set TASKER_REQUIRE_BROWSER=1 to make this a failure.`;
  console.warn(notice);
  process.stderr.write(`\n⚠ ${notice}\n`);
}

describeEachBackend('dashboard in a browser', (backend) => {
  if (!haveBrowser) {
    if (requireBrowser) {
      it('needs chromium', () => {
        throw new Error(
          `the dashboard's browser tests need chromium at ${CHROMIUM} (apt-get install chromium)`,
        );
      });
    } else {
      it.skip('needs chromium', () => undefined);
    }
    return;
  }

  async function openPage(base: string) {
    // Loaded lazily so that the API suites run where the package is missing.
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
    track(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(msg.text());
    });
    await page.goto(base);
    return { page, problems };
  }

  it('lists the tasks with their states and says it is read-only', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const { page, problems } = await openPage(base);
    await page.waitForSelector(`tr[data-task="${s.running.taskUuid}"]`);
    const rows = await page.$$eval('#task-rows tr[data-task]', (trs) =>
      trs.map((tr) => [tr.getAttribute('data-task'), tr.querySelector('.badge')?.textContent]),
    );
    expect(Object.fromEntries(rows)).toEqual({
      [s.finished.taskUuid]: 'complete',
      [s.failed.taskUuid]: 'error',
      [s.running.taskUuid]: 'steps_in_process',
    });
    expect(await page.textContent('[data-count="error"] .n')).toBe('1');
    expect(await page.textContent('#read-only')).toContain('read-only');

    // A new task shows up, and filtering by state changes the list, without loading the page
    // again (the marker would be gone).
    await page.evaluate(() => ((globalThis as unknown as { __marker: number }).__marker = 1));
    const extra = await s.client.createTask({
      namespace: 'e2e',
      name: 'dashboard_flow',
      context: { mode: 'ok' },
    });
    await page.waitForSelector(`tr[data-task="${extra.taskUuid}"]`);
    await page.click('[data-count="error"]');
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobals).document.querySelectorAll('#task-rows tr[data-task]')
          .length === 1,
    );
    expect(await page.getAttribute('#task-rows tr[data-task]', 'data-task')).toBe(
      s.failed.taskUuid,
    );
    expect(
      await page.evaluate(() => (globalThis as unknown as { __marker: number }).__marker),
    ).toBe(1);
    expect(problems).toEqual([]);
  });

  it('shows a task as a DAG of its steps with their colours and edges; hostile data stays text', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const { page, problems } = await openPage(`${base}#/task/${s.finished.taskUuid}`);
    await page.waitForSelector('#dag g.node');
    const nodes = await page.$$eval('#dag g.node', (gs) =>
      gs.map((g) => ({
        step: g.getAttribute('data-step'),
        state: g.getAttribute('data-state'),
        fill: g.querySelector('rect')?.getAttribute('fill'),
      })),
    );
    expect(nodes.sort((a, b) => String(a.step).localeCompare(String(b.step)))).toEqual(
      ['fetch', 'join', 'left', 'right'].map((step) => ({
        step,
        state: 'complete',
        fill: STATE_COLOURS.complete,
      })),
    );
    const edges = await page.$$eval('#dag path.edge', (ps) =>
      ps.map((p) => `${p.getAttribute('data-from')}->${p.getAttribute('data-to')}`).sort(),
    );
    expect(edges).toEqual(['fetch->left', 'fetch->right', 'left->join', 'right->join']);
    // All four came with the task: none is drawn as created by a decision or batch.
    expect(await page.$$('#dag g.node.dynamic')).toEqual([]);

    // The context's probes are text on the page and did nothing.
    const context = await page.textContent('#context');
    expect(context).toContain(JSON.stringify(XSS_SCRIPT));
    expect(context).toContain(JSON.stringify(XSS_IMG));
    expect(
      await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss),
    ).toBeUndefined();
    expect(await page.$$('#main img')).toEqual([]);
    // A large value is cut, and shown whole on request.
    expect(context).not.toContain('x'.repeat(5000));
    await page.click('#context button.show-all');
    expect(await page.textContent('#context')).toContain('x'.repeat(5000));
    expect(await page.$$eval('#timeline rect', (rs) => rs.length)).toBeGreaterThanOrEqual(4);

    expect(problems).toEqual([]);
  });

  it('marks the steps a decision created and draws who created them', async () => {
    const s = await setUp(backend);
    const decided = await runTask(s.client, { name: 'dashboard_decision', context: {} });
    expect(decided.state).toBe('complete');
    const base = await serve(backend, s);
    const { page, problems } = await openPage(`${base}#/task/${decided.taskUuid}`);
    await page.waitForSelector('#dag g.node[data-step="approve_notice"]');
    const nodes = await page.$$eval('#dag g.node', (gs) =>
      gs.map((g) => [g.getAttribute('data-step'), g.classList.contains('dynamic')]),
    );
    expect(Object.fromEntries(nodes)).toEqual({
      start: false,
      route: false,
      approve: true,
      approve_notice: true,
    });
    const edges = await page.$$eval('#dag path.edge', (ps) =>
      ps
        .map(
          (p) =>
            `${p.getAttribute('data-from')}->${p.getAttribute('data-to')}` +
            (p.classList.contains('created') ? ' (created)' : ''),
        )
        .sort(),
    );
    // approve_notice came with approve, made by route: a dashed edge says so.
    expect(edges).toEqual([
      'approve->approve_notice',
      'route->approve',
      'route->approve_notice (created)',
      'start->route',
    ]);
    expect(await page.textContent('#dag g.node[data-step="approve_notice"] title')).toContain(
      'created by route',
    );
    expect(problems).toEqual([]);
  });

  it("shows a running step's checkpoint", async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const { page, problems } = await openPage(`${base}#/task/${s.running.taskUuid}`);
    await page.waitForSelector('.step[data-step="left"] .step-checkpoint');
    expect(await page.textContent('.step[data-step="left"] .step-checkpoint')).toContain(
      '"cursor": "row-3"',
    );
    expect(await page.getAttribute('#dag g.node[data-step="left"]', 'data-state')).toBe(
      'in_progress',
    );
    // Steps with no inputs of their own show none.
    expect(await page.$$('.step-inputs')).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('colours a step waiting for a signal, and sends it from the page', async () => {
    const s = await setUp(backend);
    const token = 'browser-token';
    const base = await serve(backend, s, { allowActions: true, token });
    const task = await s.client.createTask({ namespace: 'e2e', name: 'dashboard_signal' });
    const { page, problems } = await openPage(`${base}#/task/${task.taskUuid}`);
    await page.waitForSelector(
      '#dag g.node[data-step="approve"][data-state="waiting_for_signal"]',
      {
        timeout: 20000,
      },
    );
    expect(await page.getAttribute('#dag g.node[data-step="approve"] rect', 'fill')).toBe(
      STATE_COLOURS.waiting_for_signal,
    );
    await page.fill('#token', token);
    await page.click('#save-token');
    page.once('dialog', (dialog) => void dialog.accept('{"approved": true}'));
    await page.click('.send-signal[data-step="approve"]');
    await page.waitForSelector('#task-state [data-state="complete"]', { timeout: 20000 });
    expect(stepOf((await s.client.getTask(task.taskUuid))!, 'approve').result).toEqual({
      approved: true,
    });
    expect(problems).toEqual([]);
  });

  it('filters the list by creation time from the form', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const { page, problems } = await openPage(base);
    await page.waitForSelector(`tr[data-task="${s.running.taskUuid}"]`);
    // The inputs take local time; an hour from now leaves nothing.
    const local = (d: Date) =>
      new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    const inAnHour = new Date(Date.now() + 3600_000);
    await page.fill('#filter-created-after', local(inAnHour));
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('#task-rows td.muted');
    expect(await page.textContent('#task-rows')).toContain('No tasks.');
    expect(await page.textContent('[data-count="complete"] .n')).toBe('0');
    expect(
      await page.evaluate(
        () => (globalThis as unknown as { location: { hash: string } }).location.hash,
      ),
    ).toContain('createdAfter=');
    // Up to an hour from now, from a day ago: all three.
    await page.fill('#filter-created-after', local(new Date(Date.now() - 86400_000)));
    await page.fill('#filter-created-before', local(inAnHour));
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobals).document.querySelectorAll('#task-rows tr[data-task]')
          .length === 3,
    );
    expect(await page.textContent('[data-count="complete"] .n')).toBe('1');
    expect(problems).toEqual([]);
  });

  it('charts the step executions per minute on the overview', async () => {
    const s = await setUp(backend);
    const base = await serve(backend, s);
    const { page, problems } = await openPage(`${base}#/overview`);
    await page.waitForSelector('#activity-chart canvas');
    expect(await page.textContent('[data-series="completed"] .n')).toBe('8');
    expect(await page.textContent('[data-series="failed"] .n')).toBe('1');
    expect(await page.textContent('[data-series="retried"] .n')).toBe('0');
    // The chart's legend names the series (uPlot draws it).
    const legend = await page.textContent('#activity-chart');
    expect(legend).toContain('completed');
    expect(legend).toContain('failed');
    // A step that completes now shows up in the totals without reloading the page.
    await runTask(s.client, { name: 'dashboard_flow', context: { mode: 'ok' } });
    await page.waitForFunction(
      () =>
        (
          globalThis as unknown as {
            document: { querySelector(s: string): { textContent: string } | null };
          }
        ).document.querySelector('[data-series="completed"] .n')?.textContent === '12',
    );
    if (backend.name === 'sqlite' && process.env.TASKER_DASHBOARD_SCREENSHOT === '1') {
      await page.screenshot({ path: path.join(REPO_ROOT, 'docs', 'dashboard-overview.png') });
    }
    // Back to the tasks through the navigation.
    await page.click('#nav-tasks');
    await page.waitForSelector(`tr[data-task="${s.running.taskUuid}"]`);
    expect(problems).toEqual([]);
  });

  it('colours a failed step, and retries the task through the page with the token', async () => {
    const s = await setUp(backend);
    const token = 'browser-token';
    const base = await serve(backend, s, { allowActions: true, token });
    const { page } = await openPage(`${base}#/task/${s.failed.taskUuid}`);
    await page.waitForSelector('#dag g.node[data-step="left"]');
    expect(await page.getAttribute('#dag g.node[data-step="left"] rect', 'fill')).toBe(
      STATE_COLOURS.error,
    );
    expect(await page.getAttribute('#dag g.node[data-step="join"]', 'data-state')).toBe(
      'cancelled',
    );
    expect(await page.textContent('[data-step="left"] .step-error')).toContain(XSS_IMG);
    expect(
      await page.evaluate(() => (globalThis as unknown as { __xss?: number }).__xss),
    ).toBeUndefined();

    if (backend.name === 'sqlite') {
      const shot =
        process.env.TASKER_DASHBOARD_SCREENSHOT === '1'
          ? path.join(REPO_ROOT, 'docs', 'dashboard-task.png')
          : path.join(os.tmpdir(), `tasker-dashboard-${process.pid}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      expect(fs.statSync(shot).size).toBeGreaterThan(1000);
      if (process.env.TASKER_DASHBOARD_SCREENSHOT !== '1') fs.rmSync(shot, { force: true });
    }
    // Without the token the retry is refused and the page says why.
    await page.click('#retry-task');
    await page.waitForSelector('#flash .notice.err');
    expect(await page.textContent('#flash')).toContain('X-Tasker-Token');
    expect((await s.client.getTask(s.failed.taskUuid))?.state).toBe('error');

    s.heal();
    await page.fill('#token', token);
    await page.click('#save-token');
    await page.click('#retry-task');
    await page.waitForSelector('#task-state [data-state="complete"]', { timeout: 20000 });
    expect(await page.getAttribute('#dag g.node[data-step="left"] rect', 'fill')).toBe(
      STATE_COLOURS.complete,
    );
  });
});

describe('startDashboard', () => {
  it('binds 127.0.0.1 by default, generates a token with allowActions, and serves the page', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-dash-'));
    const running = await startDashboard({
      database: path.join(dir, 'd.db'),
      port: 0,
      allowActions: true,
    });
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(running.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const html = await (await fetch(running.url)).text();
      expect(html).toContain('assets/app.js');
      const res = await fetch(new URL('assets/vendor/dagre.js', running.url));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('javascript');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect((await getJson(running.url, 'api/tasks')).body.tasks).toEqual([]);
    } finally {
      await running.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers only to its own host names when bound to loopback (DNS rebinding)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-dash-'));
    const running = await startDashboard({ database: path.join(dir, 'd.db'), port: 0 });
    const { port } = running.server.address() as AddressInfo;
    const get = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.get(
          { host: '127.0.0.1', port, path: '/api/tasks', headers: { Host: host } },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
      });
    try {
      expect((await get(`localhost:${port}`)).status).toBe(200);
      expect((await get(`127.0.0.1:${port}`)).status).toBe(200);
      expect((await get(`[::1]:${port}`)).status).toBe(200);
      const evil = await get(`rebind.evil.example:${port}`);
      expect(evil.status).toBe(403);
      expect(JSON.parse(evil.body)).toEqual({
        error:
          'refused: this dashboard answers to localhost, 127.0.0.1, ::1, not to Host ' +
          `'rebind.evil.example:${port}' (another site's name pointing here: DNS rebinding)`,
      });
    } finally {
      await running.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Mounted in a server of one's own, the names are given.
    const handler = createDashboard({
      client: {} as TaskerClient,
      allowedHosts: ['tasks.internal'],
    });
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      expect(res.status).toBe(403);
    } finally {
      server.close();
    }
    expect(() => createDashboard({ allowedHosts: [] })).toThrow(
      'createDashboard: allowedHosts must be a non-empty array of host names',
    );
  });

  it('refuses a bad port and conflicting options', async () => {
    await expect(startDashboard({ port: 70000 })).rejects.toThrow(
      'startDashboard: port must be an integer from 0 to 65535, got 70000',
    );
    expect(() => createDashboard({ database: 'x', client: {} as TaskerClient })).toThrow(
      'createDashboard: give database or client, not both',
    );
    expect(() => createDashboard({ token: '' })).toThrow(
      'createDashboard: token must be a non-empty string',
    );
  });
});

describe('tasker dashboard', () => {
  afterEach(cleanUp);
  const BIN = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

  function spawnTasker(args: string[]) {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    delete env.TASKER_DATABASE_URL;
    const child = spawn(process.execPath, [BIN, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output.stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output.stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    track(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return { child, output, exited };
  }

  it('serves on 127.0.0.1, prints a generated token with --allow-actions, and stops on SIGINT', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tasker-dash-cli-'));
    track(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { child, output, exited } = spawnTasker([
      'dashboard',
      '--database',
      path.join(dir, 'cli.db'),
      '--port',
      '0',
      '--allow-actions',
    ]);
    await eventually('the dashboard to start', () => output.stdout.includes('Ctrl-C'), {
      timeoutMs: 20000,
    });
    const url = /on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output.stdout)?.[1];
    const token = /Token: (\S+)/.exec(output.stdout)?.[1];
    expect(url).toBeDefined();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const config = await getJson(url!, 'api/config');
    expect(config.body).toMatchObject({ allowActions: true });
    const refused = await post(url!, 'api/tasks/x/retry', { 'X-Tasker-Token': 'wrong' });
    expect(refused.status).toBe(403);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output.stderr).toBe('');
  });

  it('refuses --token without --allow-actions and a bad port', async () => {
    const a = spawnTasker(['dashboard', '--database', 'x.db', '--token', 't']);
    expect(await a.exited).toBe(2);
    expect(a.output.stderr).toContain('--token is only used with --allow-actions');
    const b = spawnTasker(['dashboard', '--database', 'x.db', '--port', 'http']);
    expect(await b.exited).toBe(2);
    expect(b.output.stderr).toContain("--port must be a whole number from 0 to 65535, got 'http'");
  });
});
