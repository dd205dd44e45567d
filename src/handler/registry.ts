import { InvalidArgumentError } from '../errors/invalid-argument-error';
import { StepHandler, type StepHandlerClass } from './step-handler';

/** Name (a template's `handler.callable`) → handler class. */
export class HandlerRegistry {
  private readonly classes = new Map<string, StepHandlerClass>();

  /** Register under the class's `handlerName`, or under an explicit name (an alias). */
  register(cls: StepHandlerClass): this;
  register(name: string, cls: StepHandlerClass): this;
  register(nameOrClass: string | StepHandlerClass, maybeClass?: StepHandlerClass): this {
    const explicitName = typeof nameOrClass === 'string';
    const cls: unknown = explicitName ? maybeClass : nameOrClass;
    const handlerName = validateHandlerClass(cls, explicitName ? ` as '${nameOrClass}'` : '');
    const name = explicitName ? nameOrClass : handlerName;
    if (name.trim() === '') {
      throw new InvalidArgumentError(`cannot register ${describeClass(cls)} under an empty name`);
    }
    const existing = this.classes.get(name);
    if (existing !== undefined) {
      throw new InvalidArgumentError(
        `handler '${name}' is already registered (by ${describeClass(existing)}); ` +
          `cannot register ${describeClass(cls)} under the same name`,
      );
    }
    this.classes.set(name, cls as StepHandlerClass);
    return this;
  }

  get(name: string): StepHandlerClass | undefined {
    return this.classes.get(name);
  }

  has(name: string): boolean {
    return this.classes.has(name);
  }

  /** Registered names, in registration order. */
  names(): string[] {
    return [...this.classes.keys()];
  }

  static from(handlers: HandlerRegistry | readonly StepHandlerClass[]): HandlerRegistry {
    if (handlers instanceof HandlerRegistry) return handlers;
    if (!Array.isArray(handlers)) {
      throw new InvalidArgumentError(
        'handlers: expected a HandlerRegistry or an array of StepHandler classes',
      );
    }
    const registry = new HandlerRegistry();
    for (const cls of handlers) registry.register(cls);
    return registry;
  }
}

/**
 * Check that `cls` is a StepHandler subclass with a non-empty string `handlerName` of its own
 * (an inherited one would silently register a subclass under its parent's name).
 */
function validateHandlerClass(cls: unknown, as: string): string {
  if (typeof cls !== 'function' || !(cls.prototype instanceof StepHandler)) {
    throw new InvalidArgumentError(
      `cannot register ${describeClass(cls)}${as}: it is not a subclass of StepHandler`,
    );
  }
  const handlerName: unknown = (cls as { handlerName?: unknown }).handlerName;
  if (typeof handlerName !== 'string' || handlerName.trim() === '') {
    throw new InvalidArgumentError(
      `cannot register ${describeClass(cls)}: it needs a non-empty string static handlerName`,
    );
  }
  if (!Object.hasOwn(cls, 'handlerName')) {
    throw new InvalidArgumentError(
      `cannot register ${describeClass(cls)}: it inherits handlerName '${handlerName}' ` +
        'from its parent class; give it a static handlerName of its own',
    );
  }
  return handlerName;
}

function describeClass(cls: unknown): string {
  if (typeof cls === 'function') return cls.name ? `class ${cls.name}` : 'an anonymous class';
  if (cls === null || cls === undefined) return String(cls);
  if (Array.isArray(cls)) return 'an array';
  if (typeof cls === 'string') return `the string '${cls}'`;
  return typeof cls === 'object' ? 'an object' : `the ${typeof cls} ${String(cls)}`;
}
