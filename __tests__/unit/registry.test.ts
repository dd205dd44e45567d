import { HandlerRegistry, InvalidArgumentError, StepHandler } from '../../src/index';
import { defineHandler } from '../helpers/mock-native';

class ChargeCard extends StepHandler {
  static override handlerName = 'payments.charge';
  async call(): Promise<void> {}
}

describe('HandlerRegistry', () => {
  it('registers a class under its handlerName', () => {
    const registry = new HandlerRegistry().register(ChargeCard);
    expect(registry.get('payments.charge')).toBe(ChargeCard);
    expect(registry.has('payments.charge')).toBe(true);
    expect(registry.has('other')).toBe(false);
    expect(registry.get('other')).toBeUndefined();
    expect(registry.names()).toEqual(['payments.charge']);
  });

  it('registers a class under an explicit name', () => {
    const registry = new HandlerRegistry().register('legacy.charge', ChargeCard);
    expect(registry.get('legacy.charge')).toBe(ChargeCard);
    expect(registry.has('payments.charge')).toBe(false);
  });

  it('lists names in registration order', () => {
    const registry = new HandlerRegistry()
      .register(defineHandler('z', () => null))
      .register(defineHandler('a', () => null));
    expect(registry.names()).toEqual(['z', 'a']);
  });

  it('refuses a duplicate name, naming it and both classes', () => {
    class OtherCharge extends StepHandler {
      static override handlerName = 'payments.charge';
      async call(): Promise<void> {}
    }
    const registry = new HandlerRegistry().register(ChargeCard);
    expect(() => registry.register(OtherCharge)).toThrow(InvalidArgumentError);
    expect(() => registry.register(OtherCharge)).toThrow(
      "handler 'payments.charge' is already registered (by class ChargeCard); cannot register class OtherCharge under the same name",
    );
  });

  it('refuses a class that is not a StepHandler subclass, naming it', () => {
    class Impostor {
      static handlerName = 'impostor';
      async call(): Promise<void> {}
    }
    expect(() => new HandlerRegistry().register(Impostor as never)).toThrow(
      'cannot register class Impostor: it is not a subclass of StepHandler',
    );
  });

  it.each<[string, unknown, string]>([
    ['undefined', undefined, 'cannot register undefined: it is not a subclass of StepHandler'],
    ['a number', 42, 'cannot register the number 42: it is not a subclass of StepHandler'],
    ['an object', {}, 'cannot register an object: it is not a subclass of StepHandler'],
  ])('refuses %s', (_label, value, message) => {
    expect(() => new HandlerRegistry().register(value as never)).toThrow(message);
  });

  it('refuses an explicit name without a class, naming the name', () => {
    expect(() => new HandlerRegistry().register('x', undefined as never)).toThrow(
      "cannot register undefined as 'x': it is not a subclass of StepHandler",
    );
  });

  it('refuses a class without a handlerName, naming it', () => {
    class Nameless extends StepHandler {
      async call(): Promise<void> {}
    }
    expect(() => new HandlerRegistry().register(Nameless)).toThrow(
      'cannot register class Nameless: it needs a non-empty string static handlerName',
    );
  });

  it.each<[string, unknown]>([
    ['empty', ''],
    ['blank', '  '],
    ['a number', 7],
  ])('refuses a handlerName that is %s', (_label, handlerName) => {
    class BadName extends StepHandler {
      async call(): Promise<void> {}
    }
    Object.defineProperty(BadName, 'handlerName', { value: handlerName });
    expect(() => new HandlerRegistry().register(BadName as never)).toThrow(
      'cannot register class BadName: it needs a non-empty string static handlerName',
    );
  });

  it('refuses a subclass that only inherits its parent handlerName', () => {
    class PremiumCharge extends ChargeCard {}
    expect(() => new HandlerRegistry().register(PremiumCharge)).toThrow(
      "cannot register class PremiumCharge: it inherits handlerName 'payments.charge' from its parent class",
    );
  });

  it('refuses an empty explicit name', () => {
    expect(() => new HandlerRegistry().register('', ChargeCard)).toThrow('under an empty name');
  });

  it('builds from an array, and passes a registry through', () => {
    const fromArray = HandlerRegistry.from([ChargeCard]);
    expect(fromArray.names()).toEqual(['payments.charge']);
    expect(HandlerRegistry.from(fromArray)).toBe(fromArray);
    expect(() => HandlerRegistry.from({} as never)).toThrow(
      /expected a HandlerRegistry or an array/,
    );
  });
});

describe('StepHandler statics', () => {
  it('defaults version and capabilities, and lets subclasses extend them', () => {
    class Api extends StepHandler {
      static override handlerName = 'api';
      static override capabilities = [...StepHandler.capabilities, 'http_client'];
      static override version = '2.0.0';
      async call(): Promise<void> {}
    }
    expect(ChargeCard.version).toBe('1.0.0');
    expect(ChargeCard.capabilities).toEqual(['process']);
    expect(Api.capabilities).toEqual(['process', 'http_client']);
    expect(Api.version).toBe('2.0.0');
  });
});
