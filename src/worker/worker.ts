import type { EngineHandle } from '../bridge/engine-handle';
import type { WorkerHandle } from '../bridge/worker-handle';
import { TaskerClient } from '../client/client';
import { ClosedError } from '../errors/closed-error';
import type { NativeStepEvent, NativeWorkerStats } from '../native';
import { CompletionBatcher } from './completion-batcher';
import { describeValue } from '../describe-value';
import type { LogFields } from '../logger';
import { WorkerTelemetry } from '../telemetry/worker-telemetry';
import type { WorkerSettings } from './options';
import { runStep, type StepRunnerDeps } from './run-step';

/** One handler execution: a step under one claim. */
interface RunningStep {
  event: NativeStepEvent;
  controller: AbortController;
  /** Settles (never rejects) once the step's result has been queued for reporting. */
  done: Promise<void>;
}

/**
 * The identity of one step execution: the step and the claim it runs under. A claim id alone is
 * not enough (every step claimed in one transaction shares it), nor is the step uuid (a step
 * can be claimed again while an aborted earlier attempt is still running).
 */
export function executionKey(stepUuid: string, claimId: string): string {
  return JSON.stringify([stepUuid, claimId]);
}

/** The core's counters for a worker; see `NativeWorkerStats`. */
export type WorkerStats = NativeWorkerStats;

type WorkerState = 'created' | 'running' | 'stopping' | 'stopped';

/**
 * Runs step handlers for the steps the core hands over. Get one from `createWorker()`.
 *
 * Work arrives through a long poll; the core never hands over more than `concurrency` steps,
 * so the worker runs everything it receives. Results go back in batches, one per event-loop turn.
 */
export class Worker {
  /** A client on the worker's own engine (the only way to reach an in-memory database). */
  readonly client: TaskerClient;

  private state: WorkerState = 'created';
  private starting: Promise<void> | undefined;
  private pollLoop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly running = new Map<string, RunningStep>();
  private readonly batcher: CompletionBatcher;
  /** Spans and metrics, when OpenTelemetry is installed and `telemetry` is not false. */
  private readonly telemetry: WorkerTelemetry | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.log('info', `received ${signal}, shutting down`, { signal });
    this.shutdown().catch((err: unknown) => this.log('error', 'shutdown failed', { err }));
  };

  /** @internal Use `createWorker()`. */
  constructor(
    private readonly handle: WorkerHandle,
    private readonly engine: EngineHandle,
    private readonly ownsEngine: boolean,
    private readonly settings: WorkerSettings,
  ) {
    this.client = new TaskerClient(engine, false);
    this.batcher = new CompletionBatcher(
      (results) => this.handle.complete(results),
      settings.logger,
    );
    this.telemetry = settings.telemetry
      ? WorkerTelemetry.create({
          workerId: handle.workerId,
          stats: () => handle.stats(),
          readyBacklog: () => handle.readyBacklog(),
        })
      : undefined;
  }

  /** A line of this worker's own: `worker <id>: <message>`, with `workerId` in its fields. */
  private log(
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields: LogFields = {},
  ): void {
    this.settings.logger[level](
      { workerId: this.workerId, ...fields },
      `worker ${this.workerId}: ${message}`,
    );
  }

  get workerId(): string {
    return this.handle.workerId;
  }

  /** The core's counters for this worker (claims, recorded/stale results, dispatch overhead). */
  stats(): WorkerStats {
    return this.handle.stats();
  }

  /** Start claiming steps. Idempotent; rejects with `ClosedError` after `shutdown()`. */
  async start(): Promise<void> {
    if (this.state === 'running') return;
    if (this.state !== 'created') {
      throw new ClosedError(`worker ${this.workerId} has been shut down and cannot start again`);
    }
    this.starting ??= this.handle.start();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
    // shutdown() may have been called while the native worker was starting.
    if (this.state !== 'created') return;
    this.state = 'running';
    this.pollLoop = this.runPollLoop();
    if (this.settings.handleSignals) {
      process.once('SIGINT', this.onSignal);
      process.once('SIGTERM', this.onSignal);
    }
  }

  /**
   * Stop claiming, give in-flight steps `shutdownGraceMs` to finish (the core then aborts their
   * signals and releases them), wait up to `shutdownSettleMs` for every handler to settle and its
   * result to be reported, then close the engine. A handler still running after that is
   * abandoned: logged as a warning by task and step, its late result ignored. Idempotent: every
   * call returns the same promise.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    const { shutdownGraceMs } = this.settings;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    this.state = 'stopping';
    const errors: unknown[] = [];

    try {
      await this.handle.shutdown(shutdownGraceMs);
    } catch (err) {
      if (!(err instanceof ClosedError)) errors.push(err);
    }
    if (this.pollLoop !== undefined) await this.pollLoop;

    // The core has aborted every step still in flight. Should its abort event not have arrived
    // (the poll loop failed), abort here: no result can be recorded any more.
    for (const entry of this.running.values()) {
      if (!entry.controller.signal.aborted) {
        entry.controller.abort(
          abortReason(
            `worker ${this.workerId} is shutting down; the step's result can no longer be recorded`,
          ),
        );
      }
    }
    await this.settle();
    this.batcher.flush();
    this.telemetry?.stop();
    this.state = 'stopped';

    await this.client.close();
    if (this.ownsEngine) {
      try {
        await this.engine.close();
      } catch (err) {
        if (!(err instanceof ClosedError)) errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Wait for the handlers still running (all aborted by now) to settle, for at most
   * `shutdownSettleMs`; then abandon the rest with a warning naming them.
   */
  private async settle(): Promise<void> {
    const { shutdownSettleMs } = this.settings;
    const unsettled = [...this.running.values()];
    if (unsettled.length === 0) return;
    this.log(
      'info',
      `waiting up to ${shutdownSettleMs} ms for ${unsettled.length} ` +
        `aborted step handler(s) to settle: ${unsettled.map((s) => describeStep(s.event)).join(', ')}`,
      { steps: unsettled.map((s) => stepFields(s.event)) },
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, shutdownSettleMs);
    });
    try {
      await Promise.race([Promise.all(unsettled.map((s) => s.done)), timedOut]);
    } finally {
      clearTimeout(timer);
    }
    const abandoned = unsettled.filter((s) => this.running.get(key(s.event)) === s);
    if (abandoned.length === 0) return;
    this.log(
      'warn',
      `shutdown abandoned ${abandoned.length} step handler(s) that did ` +
        `not settle within shutdownSettleMs (${shutdownSettleMs} ms) of being aborted: ` +
        `${abandoned.map((s) => describeStep(s.event)).join(', ')}. Their claims were released ` +
        '(or their attempts had already ended), so whatever they return is ignored; handlers ' +
        'should honour ctx.signal',
      { abandoned: abandoned.map((s) => stepFields(s.event)) },
    );
  }

  /** poll → dispatch, until the core ends the poll with `null`. Never rejects. */
  private async runPollLoop(): Promise<void> {
    for (;;) {
      let events: NativeStepEvent[] | null;
      try {
        events = await this.handle.poll();
      } catch (err) {
        if (!(err instanceof ClosedError && this.state !== 'running')) {
          this.log('error', 'poll failed; the worker takes no more work until restarted', { err });
        }
        return;
      }
      if (events === null) return;
      for (const event of events) this.dispatch(event);
    }
  }

  private dispatch(event: NativeStepEvent): void {
    try {
      if (event.kind === 'step') this.startStep(event);
      else if (event.kind === 'abort') this.abortStep(event);
      else if (event.kind === 'log') this.logFromCore(event);
      else if (event.kind === 'recorded') this.telemetry?.recorded(event);
      else {
        this.log('warn', `ignoring an event of unknown kind ${describeValue(event.kind)}`);
      }
    } catch (err) {
      this.log('error', 'could not dispatch an event', { err });
    }
  }

  private startStep(event: NativeStepEvent): void {
    const controller = new AbortController();
    const entry: RunningStep = { event, controller, done: Promise.resolve() };
    const id = key(event);
    // Registered before the handler starts, so an abort in the same batch finds it.
    this.running.set(id, entry);
    const telemetry = this.telemetry;
    const deps: StepRunnerDeps = {
      registry: this.settings.registry,
      logger: this.settings.logger,
      checkpoint: (stepUuid: string, claimId: string, checkpoint: string) =>
        this.handle.checkpoint(stepUuid, claimId, checkpoint),
      workerId: this.workerId,
    };
    if (telemetry !== undefined) {
      deps.around = (payload, handle) => telemetry.run(event, payload, handle);
    }
    entry.done = runStep(event, controller.signal, deps)
      .then((result) => {
        telemetry?.reported(event, result);
        this.batcher.add(result);
      })
      .catch((err: unknown) => this.log('error', 'step runner failed', { err }))
      .finally(() => {
        if (this.running.get(id) === entry) this.running.delete(id);
      });
  }

  /** A line from the core (it already names this worker), with its fields parsed. */
  private logFromCore(event: NativeStepEvent): void {
    const level = event.level ?? 'warn';
    const message = event.message ?? '';
    let fields: Record<string, unknown> | undefined;
    try {
      fields =
        event.fields === undefined
          ? undefined
          : (JSON.parse(event.fields) as Record<string, unknown>);
    } catch {
      fields = undefined;
    }
    this.settings.logger[level](fields ?? {}, message);
  }

  private abortStep(event: NativeStepEvent): void {
    const entry = this.running.get(key(event));
    if (entry === undefined) {
      this.log(
        'debug',
        `abort for step ${event.stepUuid} (claim ${event.claimId}), which is not running`,
        { taskUuid: event.taskUuid, stepUuid: event.stepUuid },
      );
      return;
    }
    this.telemetry?.aborted(event);
    entry.controller.abort(abortReason(event.reason));
  }
}

function key(event: NativeStepEvent): string {
  return executionKey(event.stepUuid, event.claimId);
}

/** The task and step names from a step event's payload, when it has them. */
function stepNames(event: NativeStepEvent): { taskName?: string; stepName?: string } {
  try {
    const payload = JSON.parse(event.payload ?? '') as {
      task?: { name?: unknown };
      step?: { name?: unknown };
    };
    const names: { taskName?: string; stepName?: string } = {};
    if (typeof payload.task?.name === 'string') names.taskName = payload.task.name;
    if (typeof payload.step?.name === 'string') names.stepName = payload.step.name;
    return names;
  } catch {
    return {};
  }
}

/** A step's fields in a log line. */
function stepFields(event: NativeStepEvent): LogFields {
  const { stepName, taskName } = stepNames(event);
  const fields: LogFields = { taskUuid: event.taskUuid, stepUuid: event.stepUuid };
  if (stepName !== undefined) fields.step = stepName;
  if (taskName !== undefined) fields.taskName = taskName;
  return fields;
}

/** `task <name> (<uuid>) step '<name>' (<uuid>)`, for log lines. */
function describeStep(event: NativeStepEvent): string {
  const { taskName, stepName } = stepNames(event);
  const task = taskName === undefined ? event.taskUuid : `${taskName} (${event.taskUuid})`;
  const step = stepName === undefined ? event.stepUuid : `'${stepName}' (${event.stepUuid})`;
  return `task ${task} step ${step}`;
}

/** What `ctx.signal.reason` holds: an Error whose message is the core's reason. */
function abortReason(reason: string | undefined): Error {
  const error = new Error(reason ?? 'step aborted');
  error.name = 'AbortError';
  return error;
}
