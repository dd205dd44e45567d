import { EngineHandle } from '../bridge/engine-handle';
import { resolveDatabaseUrl } from '../database';
import { resolveJsonLimits, type JsonLimitOptions } from '../json-limits';
import { native, type NativeEngineOptions, type NativeModule } from '../native';
import { integerOption } from '../validation/integer-option';
import { TaskerClient } from './client';

export interface ClientOptions extends JsonLimitOptions {
  /** See `resolveDatabaseUrl`. */
  database?: string;
  /**
   * PostgreSQL: how long connecting may take before `createClient` fails with a `DatabaseError`
   * saying why; also the longest wait for a pooled connection later. Core default 5000.
   */
  connectTimeoutMs?: number;
}

/** A client with its own engine; `close()` closes it. */
export async function createClient(options: ClientOptions = {}): Promise<TaskerClient> {
  return openClient(native(), options);
}

/** @internal `createClient` against a given native module (tests pass a mock). */
export async function openClient(
  nativeModule: NativeModule,
  options: ClientOptions = {},
): Promise<TaskerClient> {
  const { maxJsonDepth, maxContextBytes } = options;
  const engineOptions: NativeEngineOptions = {
    databaseUrl: resolveDatabaseUrl(options.database),
    ...resolveJsonLimits({ maxJsonDepth, maxContextBytes }),
  };
  const connectTimeoutMs = integerOption('connectTimeoutMs', options.connectTimeoutMs, 1);
  if (connectTimeoutMs !== undefined) engineOptions.connectTimeoutMs = connectTimeoutMs;
  const engine = await EngineHandle.open(nativeModule, engineOptions);
  return new TaskerClient(engine, true);
}
