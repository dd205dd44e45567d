import type { EngineHandle } from '../bridge/engine-handle';
import type { WorkerHandle } from '../bridge/worker-handle';
import { TaskerClient } from '../client/client';
import { ClosedError } from '../errors/closed-error';
import type { NativeStepEvent, NativeWorkerStats } from '../native';
import { CompletionBatcher } from './completion-batcher';
import { describeValue } from '../describe-value';
import type { WorkerSettings } from './options';
import { runStep } from './run-step';

interface RunningStep {
  stepUuid: string;
  controller: AbortController;
  /** Settles (never rejects) once the step's result has been queued for reporting. */
  done: Promise<void>;
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
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.settings.logger.info(`worker ${this.workerId}: received ${signal}, shutting down`);
    this.shutdown().catch((error: unknown) =>
      this.settings.logger.error(`worker ${this.workerId}: shutdown failed`, { error }),
    );
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
   * signals and releases them), wait for every handler to settle and its result to be reported,
   * then close the engine. Idempotent: every call returns the same promise.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    const { logger, shutdownGraceMs } = this.settings;
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

    const unsettled = [...this.running.values()];
    if (unsettled.length > 0) {
      logger.warn(
        `worker ${this.workerId}: waiting for ${unsettled.length} aborted step(s) to settle ` +
          `(${unsettled.map((s) => s.stepUuid).join(', ')}); handlers should honour ctx.signal`,
      );
      await Promise.all(unsettled.map((s) => s.done));
    }
    this.batcher.flush();
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

  /** poll → dispatch, until the core ends the poll with `null`. Never rejects. */
  private async runPollLoop(): Promise<void> {
    for (;;) {
      let events: NativeStepEvent[] | null;
      try {
        events = await this.handle.poll();
      } catch (error) {
        if (!(error instanceof ClosedError && this.state !== 'running')) {
          this.settings.logger.error(
            `worker ${this.workerId}: poll failed; the worker takes no more work until restarted`,
            { error },
          );
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
      else {
        this.settings.logger.warn(
          `worker ${this.workerId}: ignoring an event of unknown kind ${describeValue(event.kind)}`,
        );
      }
    } catch (error) {
      this.settings.logger.error(`worker ${this.workerId}: could not dispatch an event`, { error });
    }
  }

  private startStep(event: NativeStepEvent): void {
    const controller = new AbortController();
    const entry: RunningStep = { stepUuid: event.stepUuid, controller, done: Promise.resolve() };
    // Registered before the handler starts, so an abort in the same batch finds it.
    this.running.set(event.claimId, entry);
    const deps = {
      registry: this.settings.registry,
      logger: this.settings.logger,
      checkpoint: (stepUuid: string, claimId: string, checkpoint: string) =>
        this.handle.checkpoint(stepUuid, claimId, checkpoint),
    };
    entry.done = runStep(event, controller.signal, deps)
      .then((result) => this.batcher.add(result))
      .catch((error: unknown) =>
        this.settings.logger.error(`worker ${this.workerId}: step runner failed`, { error }),
      )
      .finally(() => {
        if (this.running.get(event.claimId) === entry) this.running.delete(event.claimId);
      });
  }

  private abortStep(event: NativeStepEvent): void {
    const entry = this.running.get(event.claimId);
    if (entry === undefined) {
      this.settings.logger.debug(
        `worker ${this.workerId}: abort for step ${event.stepUuid} (claim ${event.claimId}), which is not running`,
      );
      return;
    }
    entry.controller.abort(abortReason(event.reason));
  }
}

/** What `ctx.signal.reason` holds: an Error whose message is the core's reason. */
function abortReason(reason: string | undefined): Error {
  const error = new Error(reason ?? 'step aborted');
  error.name = 'AbortError';
  return error;
}
