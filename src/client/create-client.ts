import { EngineHandle } from '../bridge/engine-handle';
import { resolveDatabaseUrl } from '../database';
import { resolveJsonLimits, type JsonLimitOptions } from '../json-limits';
import { native, type NativeEngineOptions, type NativeModule } from '../native';
import { resolvePostgresOptions, type PostgresOptions } from '../postgres-options';
import { TaskerClient } from './client';

export interface ClientOptions extends JsonLimitOptions, PostgresOptions {
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
  const { maxJsonDepth, maxContextBytes } = options;
  const engineOptions: NativeEngineOptions = {
    databaseUrl: resolveDatabaseUrl(options.database),
    ...resolveJsonLimits({ maxJsonDepth, maxContextBytes }),
  };
  Object.assign(engineOptions, resolvePostgresOptions(options));
  const engine = await EngineHandle.open(nativeModule, engineOptions);
  return new TaskerClient(engine, true);
}
