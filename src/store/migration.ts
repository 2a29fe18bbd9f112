/**
 * One step of a backend's schema, as its append-only list of migrations holds them. Each
 * runs in one transaction and leaves a row in `hookq_migrations`; a released entry is
 * never edited, a change is a new entry.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}
