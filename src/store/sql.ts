/**
 * SQL that both backends write alike. Partial indexes serve a query only when its WHERE
 * repeats the index's condition word for word, so states appear here as literals, each
 * fragment naming its index's condition together with the state wanted.
 */
import { MESSAGE_STATES } from '../core/terms.js';
import { decodeCursor } from './cursor.js';
import type { ListQuery } from './store.js';

/** Dead letters, through the index of ended messages (`messages_ended`, `messages_ended_at`). */
export const DEAD = `state IN ('dead', 'delivered') AND state = 'dead'`;
/** Delivered messages, through the same indexes. */
export const DELIVERED = `state IN ('dead', 'delivered') AND state = 'delivered'`;

/**
 * The query of a page of messages (see Store.listMessages), with the backend's way of
 * writing a parameter: `param` is given each value in turn and returns its placeholder.
 */
export function listMessagesSql(query: ListQuery, param: (value: unknown) => string): string {
  const where: string[] = [];
  let from = 'messages m';
  if (query.state !== undefined) {
    // A literal, so that the planner can use the partial index for the state.
    if (!MESSAGE_STATES.includes(query.state)) throw new Error(`unknown state ${query.state}`);
    if (query.state === 'dead' || query.state === 'delivered') {
      where.push(`m.state IN ('dead', 'delivered')`);
    } else if (query.state === 'inflight') {
      // Few messages are in flight and each heads its group: find them there.
      from = `groups g JOIN messages m ON m.pk = g.head_pk AND g.status = 'inflight'`;
    }
    where.push(`m.state = '${query.state}'`);
  }
  if (query.route !== undefined) where.push(`m.route = ${param(query.route)}`);
  if (query.group !== undefined) where.push(`m.group_id = ${param(query.group)}`);
  if (query.cursor !== undefined) {
    const [route, seq] = decodeCursor(query.cursor, ['string', 'number'] as const);
    where.push(`(m.route, m.seq) > (${param(route)}, ${param(seq)})`);
  }
  return `SELECT m.* FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY m.route, m.seq LIMIT ${param(query.limit + 1)}`;
}
