/** What the library logs through. Pass your own (pino, winston…) as the worker's `logger`. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** `TASKER_LOG_LEVEL` if it names a level, else `warn`. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const wanted = env.TASKER_LOG_LEVEL?.trim().toLowerCase();
  return LEVELS.find((level) => level === wanted) ?? 'warn';
}

/**
 * The default logger: writes to the console at `level` and above (`warn` unless
 * `TASKER_LOG_LEVEL` says otherwise), prefixed with `tasker:`.
 */
export function createConsoleLogger(level: LogLevel = logLevelFromEnv()): Logger {
  const threshold = LEVELS.indexOf(level);
  const write =
    (at: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (LEVELS.indexOf(at) < threshold) return;
      // Looked up per call so that console redirection (and test spies) take effect.
      if (fields === undefined) console[at](`tasker: ${message}`);
      else console[at](`tasker: ${message}`, fields);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that prefixes every message (e.g. with a task uuid and step name). */
export function prefixedLogger(base: Logger, prefix: string): Logger {
  return {
    debug: (message, fields) => base.debug(`${prefix} ${message}`, fields),
    info: (message, fields) => base.info(`${prefix} ${message}`, fields),
    warn: (message, fields) => base.warn(`${prefix} ${message}`, fields),
    error: (message, fields) => base.error(`${prefix} ${message}`, fields),
  };
}

/** A logger whose methods never throw, for code paths that must not throw (the step runner). */
export function safeLogger(base: Logger): Logger {
  const guard =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      try {
        base[level](message, fields);
      } catch {
        // A broken logger must not break the worker.
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
