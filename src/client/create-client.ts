import { EngineHandle } from '../bridge/engine-handle';
import { resolveDatabaseUrl } from '../database';
import { resolveJsonLimits, type JsonLimitOptions } from '../json-limits';
import { native, type NativeModule } from '../native';
import { TaskerClient } from './client';

export interface ClientOptions extends JsonLimitOptions {
  /** See `resolveDatabaseUrl`. */
  database?: string;
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
  const databaseUrl = resolveDatabaseUrl(options.database);
  const { maxJsonDepth, maxContextBytes } = options;
  const limits = resolveJsonLimits({ maxJsonDepth, maxContextBytes });
  const engine = await EngineHandle.open(nativeModule, { databaseUrl, ...limits });
  return new TaskerClient(engine, true);
}
