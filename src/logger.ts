/**
 * Structured fields of a log line, e.g. `taskUuid`, `stepUuid`, `step`, `workerId`, `attempt`,
 * `cause`; an error is under `err` (as pino serializes it).
 */
export type LogFields = Record<string, unknown>;

/**
 * What the library logs through, in pino's calling convention: the fields first, then the
 * message. A pino logger satisfies it as it is (`createWorker({ logger: pino() })`), and so does
 * any object with these four methods; the library always passes a fields object (`{}` when it
 * has none). A console or winston logger takes the message first: see `createConsoleLogger`, or
 * wrap it, e.g. `info: (fields, message) => winston.info(message, fields)`.
 */
export interface Logger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
  error(fields: LogFields, message: string): void;
  /**
   * The least severe level the logger writes, as pino and winston name it (`trace`, `debug`,
   * `info`, `warn`, `error`, `fatal`, `silent`): read once when a worker is created, so that the
   * core's lines below it are dropped in Rust instead of crossing to JavaScript. Without it every
   * line is passed to the logger, which filters.
   */
  readonly level?: string;
}

/** One method of `ctx.logger`: `(fields, message)` as pino takes it, or just `(message)`. */
export interface LogMethod {
  (fields: LogFields, message: string): void;
  (message: string): void;
}

/**
 * A handler's `ctx.logger`: the worker's logger with the step's fields (`taskUuid`, `stepUuid`,
 * `step`, `workerId`, `attempt`) added to every line. Call it as pino: `ctx.logger.info('done')`
 * or `ctx.logger.info({ orderId }, 'charged')`.
 */
export interface StepLogger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];
type Method = Exclude<LogLevel, 'silent'>;
const METHODS: readonly Method[] = ['debug', 'info', 'warn', 'error'];

/** `TASKER_LOG_LEVEL` if it names a level, else `warn`. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const wanted = env.TASKER_LOG_LEVEL?.trim().toLowerCase();
  return LEVELS.find((level) => level === wanted) ?? 'warn';
}

/**
 * The level below which a logger writes nothing, from its `level` (pino's and winston's names;
 * `trace` counts as `debug`, `fatal` as `error`); `debug` (everything) when it has none this
 * library knows.
 */
export function levelOf(logger: Pick<Logger, 'level'>): LogLevel {
  let level: unknown;
  try {
    level = logger.level;
  } catch {
    return 'debug';
  }
  if (typeof level !== 'string') return 'debug';
  const name = level.trim().toLowerCase();
  if (name === 'trace') return 'debug';
  if (name === 'fatal') return 'error';
  return LEVELS.find((l) => l === name) ?? 'debug';
}

/**
 * The default logger: writes to the console at `level` and above (`warn` unless
 * `TASKER_LOG_LEVEL` says otherwise), as `tasker: <message>` followed by the fields, if any.
 */
export function createConsoleLogger(level: LogLevel = logLevelFromEnv()): Logger {
  const threshold = LEVELS.indexOf(level);
  const write =
    (at: Method) =>
    (fields: LogFields, message: string): void => {
      if (LEVELS.indexOf(at) < threshold) return;
      // Looked up per call so that console redirection (and test spies) take effect.
      if (fields === undefined || fields === null || Object.keys(fields).length === 0) {
        console[at](`tasker: ${message}`);
      } else {
        console[at](`tasker: ${message}`, fields);
      }
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    level,
  };
}

/** `ctx.logger`: `base` with `fields` added to every line (a line's own fields win). */
export function stepLogger(base: Logger, fields: LogFields): StepLogger {
  const method =
    (level: Method): LogMethod =>
    (first: LogFields | string, second?: unknown): void => {
      if (typeof first === 'string') {
        // `(message)`; a plain object after the message (the order of console and winston)
        // is taken as the fields rather than dropped.
        const own = isPlainObject(second) ? second : undefined;
        base[level](own === undefined ? { ...fields } : { ...fields, ...own }, first);
      } else {
        base[level]({ ...fields, ...first }, typeof second === 'string' ? second : '');
      }
    };
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
  };
}

/** A logger whose methods never throw, for code paths that must not throw (the step runner). */
export function safeLogger(base: Logger): Logger {
  const guard =
    (level: Method) =>
    (fields: LogFields, message: string): void => {
      try {
        base[level](fields, message);
      } catch {
        // A broken logger must not break the worker.
      }
    };
  const safe: Logger = {
    debug: guard('debug'),
    info: guard('info'),
    warn: guard('warn'),
    error: guard('error'),
  };
  Object.defineProperty(safe, 'level', { get: () => levelOf(base), enumerable: true });
  return safe;
}

/** Whether `value` has the four logger methods. */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return METHODS.every((m) => typeof record[m] === 'function');
}

function isPlainObject(value: unknown): value is LogFields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
