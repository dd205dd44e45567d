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

  abstract call(ctx: StepContext): Promise<StepHandlerReturn>;
}

/** A concrete `StepHandler` subclass. */
export interface StepHandlerClass {
  new (): StepHandler;
  readonly handlerName: string;
  readonly version: string;
  readonly capabilities: readonly string[];
  readonly name: string;
}
