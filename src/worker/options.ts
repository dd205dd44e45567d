import { randomBytes } from 'crypto';
import * as os from 'os';
import * as path from 'path';
import { resolveDatabaseUrl } from '../database';
import { InvalidArgumentError } from '../errors/invalid-argument-error';
import { integerOption } from '../validation/integer-option';
import { resolvePostgresOptions, type PostgresOptions } from '../postgres-options';
import { HandlerRegistry } from '../handler/registry';
import { resolveJsonLimits, type JsonLimitOptions, type ResultLimitOptions } from '../json-limits';
import type { NativeEngineOptions } from '../native';
import type { StepHandlerClass } from '../handler/step-handler';
import { createConsoleLogger, isLogger, safeLogger, type Logger } from '../logger';
import { otelApi, sdkRegistered } from '../telemetry/otel';
import { resolveSchedules, type ScheduleDefinition } from './schedules';
import { resolveLimits, type HandlerLimits } from './limits';

export interface WorkerOptions extends PostgresOptions, JsonLimitOptions, ResultLimitOptions {
  /** YAML template files and/or directories of them. */
  templates: string | string[];
  handlers: HandlerRegistry | StepHandlerClass[];
  /** See `resolveDatabaseUrl`. */
  database?: string;
  /** At most this many steps run at once. Default 10. */
  concurrency?: number;
  /** Default `<hostname>-<pid>-<random>`. */
  workerId?: string;
  /** How long `shutdown()` lets in-flight steps finish before they are aborted. Default 10000. */
  shutdownGraceMs?: number;
  /**
   * How long `shutdown()` then waits for aborted handlers to settle (to return or throw after
   * their `ctx.signal` aborted). A handler still running after that is abandoned: `shutdown()`
   * resolves, logs a warning naming it, and ignores whatever it returns later. Default 5000.
   */
  shutdownSettleMs?: number;
  /** Claim lease, renewed while a handler runs (core default 30000). */
  leaseMs?: number;
  /** Fallback poll interval when no wake-up arrives (core default 1000). */
  pollIntervalMs?: number;
  /**
   * Where the worker, its handlers (`ctx.logger`) and the core log, called as pino is:
   * `(fields, message)`; a pino logger can be passed as it is. Default: console, `warn` and above
   * unless `TASKER_LOG_LEVEL` says otherwise. See docs/logging.md.
   */
  logger?: Logger;
  /**
   * Spans and metrics through OpenTelemetry, when `@opentelemetry/api` is installed and an SDK
   * (a tracer or meter provider) is registered before the worker is created (default true;
   * without them there are none, at no cost). See docs/operating.md.
   */
  telemetry?: boolean;
  /** Shut down on SIGINT/SIGTERM (a second signal gets Node's default behaviour). Default false. */
  handleSignals?: boolean;
  /**
   * Most steps one decision outcome may name (core default 100); a decision naming more fails
   * permanently.
   */
  maxStepsPerDecision?: number;
  /**
   * Most batch workers one batch outcome may create (core default 1000); an outcome with more is
   * rejected with an error naming the limit.
   */
  maxBatchWorkers?: number;
  /**
   * Schedules this worker registers and fires: each fire time of each schedule creates one task,
   * across every worker that defines it. See docs/schedules.md.
   */
  schedules?: ScheduleDefinition[];
  /** YAML files of schedules (a `schedules:` list each), read like `schedules`. */
  schedulesPath?: string | string[];
  /**
   * Per-handler limits, by callable (`{ 'Billing.Charge': { concurrency: 2 } }`), for the steps
   * whose templates set none; they hold across every worker on the database. See docs/limits.md.
   */
  limits?: HandlerLimits;
}

/** Options with defaults applied and everything checked. */
export interface WorkerSettings {
  templatePaths: string[];
  registry: HandlerRegistry;
  databaseUrl: string;
  postgres: ReturnType<typeof resolvePostgresOptions>;
  concurrency: number;
  workerId: string;
  shutdownGraceMs: number;
  shutdownSettleMs: number;
  leaseMs: number | undefined;
  pollIntervalMs: number | undefined;
  /** Never throws. */
  logger: Logger;
  /** Spans and metrics are on (asked for, `@opentelemetry/api` installed, an SDK registered). */
  telemetry: boolean;
  handleSignals: boolean;
  maxStepsPerDecision: number | undefined;
  maxBatchWorkers: number | undefined;
  /** The JSON limits that are set (`maxJsonDepth`, `maxResultBytes`, `maxContextBytes`). */
  jsonLimits: Pick<NativeEngineOptions, 'maxJsonDepth' | 'maxResultBytes' | 'maxContextBytes'>;
  /** JSON of the `schedules` option (checked by the core). */
  schedulesJson: string | undefined;
  /** Absolute paths of the schedules files. */
  schedulePaths: string[];
  /** JSON of the `limits` option (checked by the core). */
  limitsJson: string | undefined;
}

export function resolveWorkerOptions(options: WorkerOptions): WorkerSettings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('createWorker: expected an options object');
  }
  return {
    templatePaths: templatePaths(options.templates),
    registry: HandlerRegistry.from(options.handlers),
    databaseUrl: resolveDatabaseUrl(options.database),
    postgres: resolvePostgresOptions(options),
    concurrency: integerOption('concurrency', options.concurrency, 1) ?? 10,
    workerId: workerId(options.workerId),
    shutdownGraceMs: integerOption('shutdownGraceMs', options.shutdownGraceMs, 0) ?? 10000,
    shutdownSettleMs: integerOption('shutdownSettleMs', options.shutdownSettleMs, 0) ?? 5000,
    leaseMs: integerOption('leaseMs', options.leaseMs, 1),
    pollIntervalMs: integerOption('pollIntervalMs', options.pollIntervalMs, 1),
    logger: safeLogger(logger(options.logger)),
    telemetry: telemetry(options.telemetry),
    handleSignals: options.handleSignals ?? false,
    maxStepsPerDecision: integerOption('maxStepsPerDecision', options.maxStepsPerDecision, 1),
    maxBatchWorkers: integerOption('maxBatchWorkers', options.maxBatchWorkers, 1),
    jsonLimits: resolveJsonLimits(options),
    ...schedules(options),
    limitsJson: resolveLimits(options.limits),
  };
}

function schedules(
  options: WorkerOptions,
): Pick<WorkerSettings, 'schedulesJson' | 'schedulePaths'> {
  const { json, paths } = resolveSchedules(options.schedules, options.schedulesPath);
  return { schedulesJson: json, schedulePaths: paths };
}

function logger(value: unknown): Logger {
  if (value === undefined) return createConsoleLogger();
  if (!isLogger(value)) {
    throw new InvalidArgumentError(
      'logger must be an object with debug, info, warn and error methods (a pino logger, or ' +
        'see docs/logging.md to adapt another)',
    );
  }
  return value;
}

function telemetry(value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new InvalidArgumentError('telemetry must be true or false');
  }
  if (value === false) return false;
  const api = otelApi();
  return api !== undefined && sdkRegistered(api);
}

function templatePaths(templates: unknown): string[] {
  const list = typeof templates === 'string' ? [templates] : templates;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((p): p is string => typeof p === 'string' && p !== '')
  ) {
    throw new InvalidArgumentError(
      'templates: expected a template file or directory path, or a non-empty array of them',
    );
  }
  return list.map((p) => path.resolve(p));
}

function workerId(value: unknown): string {
  if (value === undefined) {
    return `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidArgumentError('workerId must be a non-empty string');
  }
  return value;
}
