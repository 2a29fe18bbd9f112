/**
 * SQL that both backends write alike. Partial indexes serve a query only when its WHERE
 * implies the index's condition, so states appear here as literals, each fragment naming
 * its index's condition together with the state wanted.
 */
import { MESSAGE_STATES } from '../core/terms.js';
import { decodeCursor } from './cursor.js';
import type { ListQuery, MessageFilter } from './store.js';

/**
 * How a backend's indexes of ended messages (`messages_ended`, `messages_ended_at`) find
 * them: SQLite's name the state, PostgreSQL's a column computed from it (its migration 9),
 * so that a lease, which changes the state but not that column, rewrites no index entry.
 */
export interface EndedSql {
  /** Messages of one ended state, through those indexes; `alias.` qualifies the column if given. */
  only(state: 'dead' | 'delivered', alias?: string): string;
}

const column = (name: string, alias?: string) => (alias ? `${alias}.${name}` : name);

export const SQLITE_ENDED: EndedSql = {
  only: (state, alias) =>
    `${column('state', alias)} IN ('dead', 'delivered') AND ${column('state', alias)} = '${state}'`,
};

export const POSTGRES_ENDED: EndedSql = {
  only: (state, alias) => `${column('ended', alias)} = '${state}'`,
};

/**
 * A route's newest dead letter, when it died and its last error (through
 * `messages_ended_at`); `route` is how the query names the route (a placeholder or a
 * column).
 */
export function lastDeadLetterSql(route: string, ended: EndedSql): string {
  return `SELECT finished_at AS at, last_error AS error FROM messages
    WHERE ${ended.only('dead')} AND route = ${route} ORDER BY finished_at DESC LIMIT 1`;
}

type Param = (value: unknown) => string;

/**
 * SQL built with the backend's placeholders, `?` (SQLite) or `$1, $2, …` (PostgreSQL),
 * and the values in placeholder order.
 */
export function bound(
  style: '?' | '$n',
  build: (param: Param) => string,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const sql = build((value) => {
    params.push(value);
    return style === '?' ? '?' : `$${params.length}`;
  });
  return { sql, params };
}

/**
 * The query of a page of messages (see Store.listMessages), with the backend's way of
 * writing a parameter: `param` is given each value in turn and returns its placeholder.
 */
export function listMessagesSql(query: ListQuery, param: Param, ended: EndedSql): string {
  const where = messagesWhere(query, param, ended);
  if (query.cursor !== undefined) {
    const [route, seq] = decodeCursor(query.cursor, ['string', 'number'] as const);
    where.conditions.push(`(m.route, m.seq) > (${param(route)}, ${param(seq)})`);
  }
  return `SELECT m.* FROM ${where.from} ${whereClause(where.conditions)}
    ORDER BY m.route, m.seq LIMIT ${param(query.limit + 1)}`;
}

/** The count of the messages listMessagesSql lists (see Store.countMessages). */
export function countMessagesSql(filter: MessageFilter, param: Param, ended: EndedSql): string {
  const where = messagesWhere(filter, param, ended);
  return `SELECT count(*) AS n FROM ${where.from} ${whereClause(where.conditions)}`;
}

function messagesWhere(filter: MessageFilter, param: Param, ended: EndedSql) {
  const conditions: string[] = [];
  let from = 'messages m';
  if (filter.state !== undefined) {
    // A literal, so that the planner can use the partial index for the state.
    if (!MESSAGE_STATES.includes(filter.state)) throw new Error(`unknown state ${filter.state}`);
    if (filter.state === 'dead' || filter.state === 'delivered') {
      conditions.push(ended.only(filter.state, 'm'));
    } else if (filter.state === 'queued') {
      // A message leased ahead of its group's head is in flight with no lease of its
      // own yet: not sent, so it is listed as waiting, as everywhere else.
      conditions.push(
        `(m.state = 'queued' OR (m.state = 'inflight' AND m.lease_expires_at IS NULL))`,
      );
    } else {
      // Few messages are in flight and each heads its group: find them there.
      from = `groups g JOIN messages m ON m.pk = g.head_pk AND g.status = 'inflight'`;
      conditions.push(`m.state = 'inflight'`);
    }
  }
  if (filter.route !== undefined) conditions.push(`m.route = ${param(filter.route)}`);
  if (filter.group !== undefined) conditions.push(`m.group_id = ${param(filter.group)}`);
  if (filter.since !== undefined) conditions.push(`m.received_at >= ${param(filter.since)}`);
  if (filter.until !== undefined) conditions.push(`m.received_at < ${param(filter.until)}`);
  if (filter.error !== undefined) {
    // LIKE on lower-cased text is case-blind in both backends (PostgreSQL's LIKE is not);
    // the needle's own % and _ are escaped so they match themselves.
    const needle = `%${filter.error.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const like = () => `LIKE ${param(needle)} ESCAPE '\\'`;
    conditions.push(`(lower(m.last_error) ${like()} OR lower(m.dead_reason) ${like()})`);
  }
  return { from, conditions };
}

function whereClause(conditions: readonly string[]): string {
  return conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
}
