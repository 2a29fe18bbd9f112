import { CorruptDatabaseError, HookqError, StorageUnavailableError } from '../../core/errors.js';

/** Map driver errors to hookq's: damaged files, and storage that cannot take writes. */
export function translateSqliteError(error: unknown, location: string): Error {
  if (error instanceof HookqError) return error;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
      return new CorruptDatabaseError(location, describe(error), {
        cause: error,
      });
    }
    if (/^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|PERM|NOMEM|PROTOCOL)/.test(code)) {
      return new StorageUnavailableError(`${location}: ${describe(error)}`, {
        cause: error,
      });
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
