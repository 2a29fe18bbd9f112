import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * hookq's structured log: one JSON line per event on stdout, with the message id where
 * there is one. Secrets and bodies are never logged.
 */
export function createLogger(level = 'info'): Logger {
  return pino({
    level,
    base: { service: 'hookq' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** A logger that drops everything (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
