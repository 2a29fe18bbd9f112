import pg from 'pg';
import { HookqError, StorageUnavailableError } from '../../core/errors.js';
import type { PgLocation } from '../location.js';

/** SQLSTATE classes and codes that mean "the database cannot serve us right now". */
const UNAVAILABLE = /^(08|53|57P0|58|25006|3D000)/;
const RETRYABLE = new Set(['40001', '40P01']);

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has(String((error as { code?: unknown })?.code));
}

/**
 * Whether the connection the error came from should be thrown away: the server ended
 * it, or the driver lost it. hookq's own errors and ordinary SQL errors leave it usable.
 */
export function isConnectionLost(error: unknown): boolean {
  if (error instanceof HookqError) return false;
  if (error instanceof pg.DatabaseError) return /^(08|57P0)/.test(error.code ?? '');
  return true;
}

/** Map driver errors to hookq's: a database that is down, full or read-only is "unavailable". */
export function translatePgError(error: unknown, location: PgLocation): Error {
  if (error instanceof HookqError) return error;
  const code = String((error as { code?: unknown })?.code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  if (
    UNAVAILABLE.test(code) ||
    /^E[A-Z]+$/.test(code) ||
    /Connection terminated|timeout exceeded|connect/i.test(message)
  ) {
    return new StorageUnavailableError(`${location.display}: ${message}`, {
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(message);
}
