import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * hookq's structured log: one JSON line per event on stdout, with the message id where
 * there is one. Secrets and bodies are never logged. Lines are written synchronously:
 * hookq logs little at `info`, and a line still buffered when the process exits (or a
 * Lambda is frozen) would be lost or come out of order.
 */
export function createLogger(level = 'info'): Logger {
  return pino(
    {
      level,
      base: { service: 'hookq' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
