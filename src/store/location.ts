/**
 * Where a store keeps its data, parsed once from `storage.url`: `sqlite:PATH` (the
 * embedded default) or `postgres://user@host:port/database?schema=hookq`. The config
 * loader, `openStore` and the backends all take this, never the text again.
 */
import { ConfigError } from '../core/errors.js';

export type StorageLocation =
  | { kind: 'sqlite'; path: string }
  | ({ kind: 'postgres' } & PgLocation);

/** Where a PostgreSQL store lives: the connection settings and hookq's schema in it. */
export interface PgLocation {
  /** The URL without hookq's own parameters, for the driver. */
  connectionString: string;
  schema: string;
  /** The URL with any password masked, for messages. */
  display: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * `postgres://user@host:5432/db?schema=hookq`: the schema (default `hookq`) holds
 * hookq's tables, so hookq can share a database with other applications.
 */
function parsePgUrl(url: string): PgLocation | string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${mask(url)}" is not a valid postgres:// URL`;
  }
  const schema = parsed.searchParams.get('schema') ?? 'hookq';
  if (!SCHEMA_NAME.test(schema)) {
    return `schema "${schema}" must be lower-case letters, digits and _ (at most 48), starting with a letter or _`;
  }
  parsed.searchParams.delete('schema');
  const display = new URL(parsed.toString());
  if (display.password) display.password = '***';
  return {
    connectionString: parsed.toString(),
    schema,
    display: display.toString(),
  };
}

function mask(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/**
 * Parse `storage.url`. A problem comes back as text for the person editing the file
 * (never repeating a password); a relative sqlite path is left for the caller to resolve.
 */
export function parseStorageUrl(url: string): StorageLocation | string {
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('///')) path = path.slice(2);
    else if (path.startsWith('//')) {
      return 'sqlite: takes a file path, such as sqlite:./data/hookq.db or sqlite:///var/lib/hookq/hookq.db';
    }
    if (path === '') return 'sqlite: needs a file path, such as sqlite:./data/hookq.db';
    if (path === ':memory:') {
      return 'sqlite::memory: would keep nothing across a restart, and hookq acknowledges a webhook only once it is on disk; give a file path';
    }
    if (path === '~' || path.startsWith('~/')) {
      return 'sqlite: paths do not expand "~"; give an absolute path or one relative to this file';
    }
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const location = parsePgUrl(url);
    return typeof location === 'string' ? location : { kind: 'postgres', ...location };
  }
  return 'must be sqlite:PATH (such as sqlite:./data/hookq.db) or a postgres:// URL';
}

/** The same, for callers holding a URL outside a configuration file: a problem throws. */
export function storageLocationOf(url: string): StorageLocation {
  const location = parseStorageUrl(url);
  if (typeof location === 'string') {
    throw new ConfigError('storage.url', `storage.url: ${location}`);
  }
  return location;
}

/** Where the data lives, for people: the path, or the URL with any password masked. */
export function describeLocation(location: StorageLocation): string {
  return location.kind === 'sqlite' ? location.path : location.display;
}
