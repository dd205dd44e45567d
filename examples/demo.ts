/**
 * `npm run demo`: runs the example `restock/inventory_restock` workflow
 * (examples/templates/inventory_restock.yaml), which uses all three specialized handlers:
 *
 * 1. an ApiHandler fetches a purchase request from a local HTTP API that the demo starts itself
 *    (127.0.0.1, a random port; its first answer is a 503, so the step is retried);
 * 2. a decision routes the request (4,750 is over the auto-approval limit of 1,000, so a manager
 *    and finance review it in parallel): the manager's approval is a signal step, which waits
 *    until the demo, playing the manager, sends its signal (client.sendSignal, docs/signals.md);
 *    a deferred convergence step collects the approvals;
 * 3. the inventory CSV (examples/data/inventory.csv) is audited in parallel batches that save
 *    checkpoints (one worker is made to fail once, and resumes from its checkpoint), and an
 *    aggregator totals them.
 *
 * It uses the embedded SQLite default (./.tasker/tasker.db, or TASKER_DATABASE_URL) and no server
 * but its own HTTP API. While the task runs it prints each step as it is created, fails or
 * completes; then the result, the totals and per-step timings. The exit code is 1 unless the task
 * completes.
 */
import * as path from 'path';
import {
  createWorker,
  isTaskFinished,
  redactDatabaseUrl,
  resolveDatabaseUrl,
  stepByName,
  type BatchAggregateSummary,
  type DecisionPointOutcomeJson,
  type Task,
  type TaskerClient,
  type TaskStep,
  type Transition,
  type Worker,
} from '../src';
import type { Approval } from './handlers/approval';
import type { RowError } from './handlers/csv';
import { exampleHandlers } from './handlers/index';
import type { PurchaseRequest, ValidatedPurchaseRequest } from './handlers/restock';
import { startPurchasingApi } from './purchasing-api';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');
/** How often the task is read while it runs. */
const POLL_MS = 50;
/** Give up (and exit 1) if the task has not finished by then. */
const TIMEOUT_MS = 60_000;
const NAME_WIDTH = 28;

const REQUEST: PurchaseRequest = {
  id: 'PR-1001',
  requester: 'ada',
  amount: 4750,
  supplier: 'Northwind Supply',
};

/** What the manager sends to `manager_approval` (it becomes the step's result). */
const MANAGER_ANSWER: Approval = {
  approved: true,
  approver: 'grace (manager)',
  reason: 'within the manager limit of 25000',
};

/** One line of the progress log. */
interface ProgressLine {
  at: number;
  who: string;
  what: string;
}

async function main(): Promise<void> {
  const apiCalls: ProgressLine[] = [];
  const api = await startPurchasingApi({
    requests: [REQUEST],
    outages: 1,
    onRequest: (method, url, status) =>
      apiCalls.push({
        at: Date.now(),
        who: 'purchasing API',
        what: `${method} ${url} → ${status}`,
      }),
  });
  let worker: Worker | undefined;
  try {
    console.log(`purchasing API on ${api.baseUrl}, database ${describeDatabase()}`);
    // The worker loads every example template, so it registers every example's handlers.
    worker = await createWorker({
      templates: path.join(EXAMPLES, 'templates'),
      handlers: exampleHandlers,
      concurrency: 4,
    });
    await worker.start();

    const created = await worker.client.createTask({
      namespace: 'restock',
      name: 'inventory_restock',
      context: {
        api_base_url: api.baseUrl,
        request_id: REQUEST.id,
        budget_remaining: 20000,
        csv_path: path.join(EXAMPLES, 'data', 'inventory.csv'),
        fail_batch_once: '002',
      },
    });
    console.log(`task ${created.taskUuid} (restock/inventory_restock@1.0.0)\n`);

    const task = await watch(worker.client, created.taskUuid, apiCalls);
    console.log(`\ntask ${task.state} in ${elapsed(task, task.completedAt ?? task.updatedAt)} ms`);
    printResult(task);
    console.log('\nper step (start: ms after the task was created; ran: from first start to end)');
    for (const line of stepTimings(task)) console.log(line);
    if (task.state !== 'complete') process.exitCode = 1;
  } finally {
    await worker?.shutdown();
    await api.close();
  }
}

/**
 * Reads the task every POLL_MS until it finishes, printing what happened since the last read in
 * the order it happened (times from the task's transitions), together with the API's requests.
 */
async function watch(
  client: TaskerClient,
  taskUuid: string,
  apiCalls: ProgressLine[],
): Promise<Task> {
  const printed = new Set<string>();
  let apiPrinted = 0;
  let signalled = false;
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const apiSeen = apiCalls.length;
    const task = await client.getTask(taskUuid);
    if (task === null) throw new Error(`task ${taskUuid} not found`);
    const fresh = task.transitions.filter((t) => {
      const key = JSON.stringify(t);
      if (t.entity !== 'step' || printed.has(key)) return false;
      printed.add(key);
      return true;
    });
    const events = [...apiCalls.slice(apiPrinted, apiSeen), ...progressLines(task, fresh)];
    apiPrinted = apiSeen;
    events.sort((a, b) => a.at - b.at);
    const created = Date.parse(task.createdAt);
    for (const e of events) {
      const line = `${String(e.at - created).padStart(6)} ms  ${e.who.padEnd(NAME_WIDTH)}${e.what}`;
      console.log(line.trimEnd());
    }
    // The manager answers once the approval waits for them (a signal sent earlier would be kept
    // until then, too).
    if (!signalled && stepByName(task, 'manager_approval')?.state === 'waiting_for_signal') {
      signalled = true;
      const sent = await client.sendSignal(taskUuid, 'manager_approval', MANAGER_ANSWER);
      const at = Date.parse(sent.receivedAt) - Date.parse(task.createdAt);
      console.log(
        `${String(at).padStart(6)} ms  ${'manager (the demo)'.padEnd(NAME_WIDTH)}` +
          `sends the signal: approved by ${MANAGER_ANSWER.approver}`,
      );
    }
    if (isTaskFinished(task.state)) return task;
    if (Date.now() > deadline) {
      console.log(`gave up waiting after ${TIMEOUT_MS / 1000} s: the task is ${task.state}`);
      return task;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** The progress lines for new step transitions: creations, failures, completions. */
function progressLines(task: Task, transitions: Transition[]): ProgressLine[] {
  const lines: ProgressLine[] = [];
  const creations = new Map<string, string[]>();
  for (const t of transitions) {
    const step = stepByName(task, t.stepName ?? '');
    if (step === undefined) continue;
    const at = Date.parse(t.at);
    const creator = /^created by the outcome of step '(.+)'$/.exec(t.reason ?? '');
    if (t.fromState === null && creator !== null) {
      // The steps one outcome created go on one line, after the line of the step that created them.
      const key = JSON.stringify([creator[1], at]);
      creations.set(key, [...(creations.get(key) ?? []), step.name]);
    } else if (t.toState === 'in_progress') {
      // Only when it is still running: a step that ended since shows its end instead.
      const latest = task.transitions.filter((x) => x.stepName === step.name).at(-1);
      if (latest === t) lines.push({ at, who: step.name, what: `in_progress       ${t.reason}` });
    } else if (t.toState === 'waiting_for_signal') {
      lines.push({
        at,
        who: step.name,
        what: 'waiting_for_signal  (a signal step: the manager answers)',
      });
    } else if (['waiting_for_retry', 'complete', 'error', 'cancelled'].includes(t.toState)) {
      lines.push({ at, who: step.name, what: `${t.toState.padEnd(18)}${describe(step, t)}` });
    }
  }
  for (const [key, names] of creations) {
    const [creator, at] = JSON.parse(key) as [string, number];
    lines.push({ at, who: creator, what: `created ${stepList(names)}` });
  }
  return lines;
}

/** Step names; the batch workers one outcome created as a range: `process_batch_001…004`. */
function stepList(names: string[]): string {
  const workers = names.filter((name) => /_\d{3}$/.test(name));
  if (workers.length < 3) return names.join(', ');
  const others = names.filter((name) => !workers.includes(name));
  return [`${workers[0]}…${workers[workers.length - 1].slice(-3)}`, ...others].join(', ');
}

/** A few words on how a step ended: its failure, or what its result says. */
function describe(step: TaskStep, t: Transition): string {
  if (t.toState !== 'complete') {
    // A cancelled step has no error of its own; its reason names the step that failed the task.
    const { error } = step;
    let why = (t.reason ?? '').replace(/: .*/, '');
    if (error !== null) {
      why = error.statusCode
        ? `${error.errorType} (HTTP ${error.statusCode})`
        : `${error.errorType}: ${error.message}`;
    }
    const retry = /retrying in (\d+ ms)/.exec(t.reason ?? '');
    return retry ? `${why}; retry in ${retry[1]}` : why;
  }
  const r = (step.result ?? {}) as Record<string, unknown>;
  switch (step.name) {
    case 'fetch_request': {
      const request = r.request as PurchaseRequest;
      return `HTTP ${r.status}: ${request.id}, ${money(request.amount)}`;
    }
    case 'route': {
      const names = (r.decision_point_outcome as DecisionPointOutcomeJson).step_names;
      return names.length > 0 ? `chose ${names.join(' + ')}` : 'chose no branches';
    }
    case 'validate': {
      const request = r as ValidatedPurchaseRequest;
      return `${request.requester} asks ${money(request.amount)} for ${request.supplier}`;
    }
    case 'finalize':
      return String(r.status);
    case 'analyze_inventory':
      return r.worker_count === undefined
        ? `no batches (${r.reason})`
        : `${r.total_items} rows in ${r.worker_count} batches`;
    case 'aggregate_inventory':
      return `${r.total_processed} rows, ${r.total_failed} invalid`;
  }
  if (typeof r.approved === 'boolean') return r.approved ? 'approved' : 'rejected';
  if (r.no_op === true) return 'no-op placeholder';
  if (typeof r.start_cursor === 'number' && typeof r.end_cursor === 'number') {
    const resumed = typeof r.resumed_from === 'number' ? `, resumed at row ${r.resumed_from}` : '';
    return `rows ${r.start_cursor}-${r.end_cursor - 1}, ${r.items_failed} invalid${resumed}`;
  }
  return '';
}

type Decision = {
  status: string;
  route: string;
  approvals: (Approval & { step: string })[];
};

type InventoryTotals = BatchAggregateSummary & {
  total_quantity: number;
  inventory_value: number;
};

function printResult(task: Task): void {
  const request = stepByName(task, 'validate')?.result as ValidatedPurchaseRequest | null;
  const decision = stepByName(task, 'finalize')?.result as Decision | null;
  const totals = stepByName(task, 'aggregate_inventory')?.result as InventoryTotals | null;
  if (request) {
    console.log(
      `\npurchase request ${request.request_id} by ${request.requester}: ` +
        `${money(request.amount)} to ${request.supplier}`,
    );
  }
  if (decision) {
    console.log(`  ${decision.status} (route: ${decision.route})`);
    for (const a of decision.approvals) {
      console.log(`  ${a.step.padEnd(18)}${a.approver}: ${a.reason}`);
    }
  }
  if (totals) {
    console.log(
      `inventory audit: ${totals.total_processed} rows in ${totals.worker_count} batches, ` +
        `${totals.total_succeeded} valid, ${totals.total_failed} invalid`,
    );
    const units = totals.total_quantity.toLocaleString('en-US');
    console.log(`  ${units} units in stock, worth ${money(totals.inventory_value)}`);
    for (const e of totals.errors as RowError[]) {
      console.log(`  row ${e.row} (${e.sku}): ${e.reason}`);
    }
  }
  for (const step of task.steps.filter((s) => s.state === 'error')) {
    console.log(`failed: ${step.name}: ${step.error?.message ?? 'no error recorded'}`);
  }
}

/** Per step: attempts, when it first started, and how long from then until it ended. */
function stepTimings(task: Task): string[] {
  return task.steps.map((step) => {
    const mine = task.transitions.filter((t) => t.entity === 'step' && t.stepName === step.name);
    // A signal step never runs: it waits from `waiting_for_signal` until its signal arrives.
    const first = mine.find(
      (t) => t.toState === 'in_progress' || t.toState === 'waiting_for_signal',
    );
    const last = mine.filter((t) => ['complete', 'error'].includes(t.toState)).at(-1);
    const timing =
      first && last
        ? `start ${String(elapsed(task, first.at)).padStart(4)}  ` +
          `${first.toState === 'in_progress' ? 'ran' : 'waited'} ` +
          `${String(Date.parse(last.at) - Date.parse(first.at)).padStart(3)} ms`
        : 'did not run';
    const attempts = `attempts=${step.attempts}`;
    return `  ${step.name.padEnd(NAME_WIDTH)}${step.state.padEnd(10)}${attempts}  ${timing}`;
  });
}

/** Milliseconds from the task's creation to `at` (ISO-8601). */
function elapsed(task: Task, at: string): number {
  return Date.parse(at) - Date.parse(task.createdAt);
}

function money(value: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function describeDatabase(): string {
  const url = resolveDatabaseUrl();
  if (!url.startsWith('sqlite://')) return redactDatabaseUrl(url);
  const file = path.relative(process.cwd(), url.slice('sqlite://'.length));
  return file.startsWith('..') ? url.slice('sqlite://'.length) : `./${file}`;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
