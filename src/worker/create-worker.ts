import { EngineHandle } from '../bridge/engine-handle';
import {
  native,
  type NativeEngineOptions,
  type NativeModule,
  type NativeWorkerOptions,
} from '../native';
import { levelOf } from '../logger';
import { resolveWorkerOptions, type WorkerOptions } from './options';
import { Worker } from './worker';

/**
 * Open an engine on the database and a worker on it. The core validates the templates and
 * refuses to create the worker if a template names a handler that is not registered
 * (`TemplateError`, `HandlerNotRegisteredError`). Call `start()` to begin taking work.
 */
export async function createWorker(options: WorkerOptions): Promise<Worker> {
  return openWorker(native(), options);
}

/** @internal `createWorker` against a given native module (tests pass a mock). */
export async function openWorker(
  nativeModule: NativeModule,
  options: WorkerOptions,
): Promise<Worker> {
  const settings = resolveWorkerOptions(options);
  const engineOptions: NativeEngineOptions = {
    databaseUrl: settings.databaseUrl,
    ...settings.jsonLimits,
  };
  Object.assign(engineOptions, settings.postgres);
  if (settings.maxStepsPerDecision !== undefined) {
    engineOptions.maxStepsPerDecision = settings.maxStepsPerDecision;
  }
  if (settings.maxBatchWorkers !== undefined)
    engineOptions.maxBatchWorkers = settings.maxBatchWorkers;
  const engine = await EngineHandle.open(nativeModule, engineOptions);
  try {
    const nativeOptions: NativeWorkerOptions = {
      templatePaths: settings.templatePaths,
      handlerNames: settings.registry.names(),
      concurrency: settings.concurrency,
      workerId: settings.workerId,
      logLevel: levelOf(settings.logger),
      reportOutcomes: settings.telemetry,
    };
    if (settings.schedulesJson !== undefined) nativeOptions.schedules = settings.schedulesJson;
    if (settings.schedulePaths.length > 0) nativeOptions.schedulePaths = settings.schedulePaths;
    if (settings.limitsJson !== undefined) nativeOptions.limits = settings.limitsJson;
    if (settings.leaseMs !== undefined) nativeOptions.leaseMs = settings.leaseMs;
    if (settings.pollIntervalMs !== undefined)
      nativeOptions.pollIntervalMs = settings.pollIntervalMs;
    const handle = await engine.createWorker(nativeOptions);
    return new Worker(handle, engine, true, settings);
  } catch (err) {
    await engine.close().catch(() => undefined);
    throw err;
  }
}
