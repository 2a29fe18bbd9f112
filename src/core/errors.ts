/**
 * Named errors that tell the user what to do. Each has a stable `code`; the HTTP
 * layers map codes to statuses in one place.
 */
export class HookqError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A configuration file or value is wrong. `key` is the dotted path of the offending key;
 * the message names it too, as the whole text the user reads.
 */
export class ConfigError extends HookqError {
  readonly key: string;

  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
    this.key = key;
  }
}

/** Storage cannot take a write or answer a read right now (disk full, database down, read-only). */
export class StorageUnavailableError extends HookqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_unavailable', message, options);
  }
}

/** The database file is not a hookq database, or is damaged. */
export class CorruptDatabaseError extends HookqError {
  constructor(location: string, detail: string, options?: { cause?: unknown }) {
    super(
      'storage_corrupt',
      `${location} is not a usable hookq database (${detail}). Restore it from a backup, or point storage.url at a new file.`,
      options,
    );
  }
}

/** The database was written by a newer hookq. */
export class SchemaVersionError extends HookqError {
  constructor(location: string, found: number, known: number) {
    super(
      'schema_too_new',
      `${location} has schema version ${found}, but this hookq knows versions up to ${known}. Upgrade hookq, or point storage.url at another database.`,
    );
  }
}

/**
 * The storage refused one webhook for what it holds (a value its database cannot keep),
 * not for being unavailable: sending it again would fail the same way.
 */
export class WebhookRefusedError extends HookqError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('webhook_refused', message, options);
  }
}

/** A request names something that does not exist. */
export class NotFoundError extends HookqError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** A request is well formed but the thing it acts on is in the wrong state. */
export class ConflictError extends HookqError {
  constructor(message: string) {
    super('conflict', message);
  }
}

/** A request is malformed. `field` names the offending field. */
export class BadRequestError extends HookqError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('bad_request', field ? `${field}: ${message}` : message);
    this.field = field;
  }
}

/** The HTTP status that answers an error; the admin API turns errors into answers here. */
export function httpStatusOf(error: unknown): number {
  switch (error instanceof HookqError ? error.code : undefined) {
    case 'bad_request':
      return 400;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'webhook_refused':
      return 422;
    case 'storage_unavailable':
    case 'storage_corrupt':
      return 503;
    default:
      return 500;
  }
}
