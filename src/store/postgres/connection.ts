import pg from 'pg';
import type { PgLocation } from '../location.js';

/**
 * BIGINT columns hold millisecond times and sequences, all below 2^53: read them as
 * numbers rather than the driver's default strings.
 */
export const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export function clientConfig(location: PgLocation): pg.ClientConfig {
  return {
    connectionString: location.connectionString,
    // Every connection works inside hookq's schema.
    options: `-c search_path=${location.schema}`,
    application_name: 'hookq',
    connectionTimeoutMillis: 5_000,
    types: PG_TYPES,
  };
}
