/**
 * Step handlers of the example `api/user_orders` workflow (examples/templates/api_handler.yaml):
 * fetch a user and their orders from an HTTP API, then summarize them.
 *
 * The API they expect:
 * - `GET /users/:id` → `{"id": "u-1", "name": "Ada", "email": "ada@example.com"}`
 * - `GET /users/:id/orders?limit=N` → `{"orders": [{"id": "o-1", "total": 12.5, "placed_at": "2024-05-01T10:00:00Z"}]}`
 *
 * HTTP failures need no code here: `ApiHandler` throws a permanent error for a 404 (the task
 * fails at once), a retryable one for a 5xx, and a `RateLimitError` carrying the server's
 * Retry-After for a 429, which the orchestration waits out before the next attempt.
 */
import { ApiHandler, PermanentError, StepContext, StepHandler, ValidationError } from '../../src';

export type User = {
  id: string;
  name: string;
  email: string | null;
};

export type Order = {
  id: string;
  total: number;
  placed_at: string | null;
};

/**
 * The API's address is the task context's `api_base_url` when given (so one template serves any
 * environment), else the template's `base_url`. The demo's `Restock.FetchRequest` extends it too.
 */
export abstract class ExampleApiHandler extends ApiHandler {
  protected override apiConfig(ctx: StepContext): Record<string, unknown> {
    const baseUrl = ctx.getInput<unknown>('api_base_url');
    if (baseUrl === undefined || baseUrl === null) return ctx.stepConfig;
    if (typeof baseUrl !== 'string' || baseUrl === '') {
      throw new ValidationError(`api_base_url must be a non-empty string, got ${typeof baseUrl}`);
    }
    return { ...ctx.stepConfig, base_url: baseUrl };
  }
}

/** `GET /users/:user_id` → `{user}`. */
export class FetchUser extends ExampleApiHandler {
  static override handlerName = 'Api.FetchUser';

  async call(ctx: StepContext) {
    const userId = ctx.getInput<unknown>('user_id');
    if (typeof userId !== 'string' || userId.trim() === '') {
      throw new ValidationError('the task context needs a non-empty string user_id');
    }
    const response = await this.get<unknown>(ctx, `/users/${encodeURIComponent(userId)}`);
    return { user: toUser(response.body), status: response.status };
  }
}

/** `GET /users/:id/orders` (with the template's `params`, e.g. `limit`) → `{orders, count}`. */
export class FetchOrders extends ExampleApiHandler {
  static override handlerName = 'Api.FetchOrders';

  async call(ctx: StepContext) {
    const userId = ctx.getDependencyField('fetch_user', 'user', 'id');
    if (typeof userId !== 'string') {
      throw new PermanentError("no user id in the result of 'fetch_user'");
    }
    const response = await this.get<unknown>(ctx, `/users/${encodeURIComponent(userId)}/orders`);
    const orders = toOrders(response.body);
    return { orders, count: orders.length };
  }
}

/** Combines both responses: `{user_id, name, email, order_count, lifetime_value, last_order_at}`. */
export class Summarize extends StepHandler {
  static override handlerName = 'Api.Summarize';

  async call(ctx: StepContext) {
    const user = ctx.getDependencyField('fetch_user', 'user') as User | null;
    const orders = (ctx.getDependencyField('fetch_orders', 'orders') as Order[] | null) ?? [];
    if (user === null) throw new PermanentError("no user in the result of 'fetch_user'");
    const cents = orders.reduce((sum, o) => sum + Math.round(o.total * 100), 0);
    const dates = orders
      .map((o) => o.placed_at)
      .filter((d): d is string => d !== null)
      .sort();
    return {
      user_id: user.id,
      name: user.name,
      email: user.email,
      order_count: orders.length,
      lifetime_value: cents / 100,
      last_order_at: dates.at(-1) ?? null,
    };
  }
}

export const apiHandlers = [FetchUser, FetchOrders, Summarize];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A 2xx with a body we cannot use will not get better on retry: fail for good. */
function unexpected(what: string, body: unknown): PermanentError {
  return new PermanentError(`unexpected ${what} from the API: ${JSON.stringify(body)}`, {
    errorType: 'unexpected_response',
  });
}

function toUser(body: unknown): User {
  if (!isRecord(body) || typeof body.id !== 'string' || typeof body.name !== 'string') {
    throw unexpected('user', body);
  }
  return {
    id: body.id,
    name: body.name,
    email: typeof body.email === 'string' ? body.email : null,
  };
}

function toOrders(body: unknown): Order[] {
  if (!isRecord(body) || !Array.isArray(body.orders)) throw unexpected('orders', body);
  return body.orders.map((o: unknown) => {
    if (!isRecord(o) || typeof o.id !== 'string' || typeof o.total !== 'number') {
      throw unexpected('order', o);
    }
    return {
      id: o.id,
      total: o.total,
      placed_at: typeof o.placed_at === 'string' ? o.placed_at : null,
    };
  });
}
