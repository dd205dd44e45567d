import type { StepContext } from '../context/step-context';
import type { StepHandlerResult } from './step-handler-result';

/** What `call()` may resolve to: an explicit result, or plain data that becomes the result. */
export type StepHandlerReturn =
  StepHandlerResult | Record<string, unknown> | unknown[] | string | number | boolean | null | void;

/**
 * Base class of step handlers. A subclass declares `static override handlerName` (the
 * `handler.callable` its templates name) and implements `call(ctx)`: return data to succeed,
 * throw to fail (`PermanentError` / `ValidationError` for failures that must not be retried,
 * `RetryableError` to ask for a delay; any other `Error` is retried).
 *
 * A new instance is created for every step execution, with no constructor arguments.
 *
 * ```ts
 * class FetchOrder extends StepHandler {
 *   static override handlerName = 'orders.fetch';
 *   async call(ctx: StepContext) {
 *     return { order: await load(ctx.getInput<string>('order_id'), ctx.signal) };
 *   }
 * }
 * ```
 */
export abstract class StepHandler {
  /**
   * Required: the registry rejects a class without a non-empty `handlerName` of its own (one
   * inherited from a parent handler does not count).
   */
  declare static handlerName: string;
  static version = '1.0.0';
  /** Extend, don't replace: `static override capabilities = [...StepHandler.capabilities, 'x']`. */
  static capabilities: readonly string[] = ['process'];

  /** The class's `handlerName`, read from the instance (as in the tasker-core workers). */
  get name(): string {
    return (this.constructor as Partial<StepHandlerClass>).handlerName ?? this.constructor.name;
  }

  /** The class's `version` (default `'1.0.0'`). */
  get version(): string {
    return (this.constructor as typeof StepHandler).version;
  }

  /**
   * The class's `capabilities`. An override may extend it per instance:
   * `override get capabilities() { return [...super.capabilities, 'x']; }`.
   */
  get capabilities(): readonly string[] {
    return (this.constructor as typeof StepHandler).capabilities;
  }

  abstract call(ctx: StepContext): Promise<StepHandlerReturn>;
}

/** The step each handler instance runs (set by the worker before `call`). */
const running = new WeakMap<StepHandler, StepContext>();

/** Called by the worker with the instance it created for a step, before `call(ctx)`. */
export function attachStep(handler: StepHandler, ctx: StepContext): void {
  running.set(handler, ctx);
}

/** The step this instance runs, if a worker created it for one. */
export function attachedStep(handler: StepHandler): StepContext | undefined {
  return running.get(handler);
}

/** A concrete `StepHandler` subclass. */
export interface StepHandlerClass {
  new (): StepHandler;
  readonly handlerName: string;
  readonly version: string;
  readonly capabilities: readonly string[];
  readonly name: string;
}
