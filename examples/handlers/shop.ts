/**
 * Step handlers of the example `shop/order_fulfillment` workflow
 * (examples/templates/order_fulfillment.yaml).
 */
import { PermanentError, RetryableError, StepContext, StepHandler } from '../../src';

interface OrderItem {
  sku: string;
  quantity: number;
  price: number;
}

export class ValidateOrder extends StepHandler {
  static override handlerName = 'Shop.ValidateOrder';

  async call(ctx: StepContext) {
    const items = ctx.getInput<OrderItem[]>('items') ?? [];
    const maxItems = ctx.getConfig<number>('max_items') ?? 100;
    if (items.length === 0) throw new PermanentError('order has no items');
    if (items.length > maxItems) throw new PermanentError(`order has more than ${maxItems} items`);
    const total = items.reduce((sum, i) => sum + i.quantity * i.price, 0);
    return { order_id: ctx.getInput<string>('order_id'), item_count: items.length, total };
  }
}

export class ReserveInventory extends StepHandler {
  static override handlerName = 'Shop.ReserveInventory';

  async call(ctx: StepContext) {
    const items = ctx.getInput<OrderItem[]>('items') ?? [];
    return { reserved: items.map((i) => ({ sku: i.sku, quantity: i.quantity })) };
  }
}

export class ChargePayment extends StepHandler {
  static override handlerName = 'Shop.ChargePayment';

  async call(ctx: StepContext) {
    const total = ctx.getDependencyField('validate_order', 'total') as number;
    // The first attempt meets a flaky card processor; the retry goes through.
    if (ctx.retryCount === 0 && ctx.getInput<boolean>('flaky_payment')) {
      throw new RetryableError('card processor timed out');
    }
    return { charged: total, attempt: ctx.retryCount + 1 };
  }
}

export class ShipOrder extends StepHandler {
  static override handlerName = 'Shop.ShipOrder';

  async call(ctx: StepContext) {
    const reserved = ctx.getDependencyField('reserve_inventory', 'reserved') as unknown[];
    const charged = ctx.getDependencyField('charge_payment', 'charged');
    return { tracking_number: `TRK-${ctx.taskUuid.slice(-8)}`, parcels: reserved.length, charged };
  }
}

export const shopHandlers = [ValidateOrder, ReserveInventory, ChargePayment, ShipOrder];
