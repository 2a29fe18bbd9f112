// @ts-check
// The console's calls to the admin API, and the token they carry.

import { MAX_REDRIVE_IDS } from './limits.js';

/**
 * The API's answers, as its schemas on the server describe them.
 * @import { z } from 'zod'
 * @import * as schemas from '../schemas.js'
 * @typedef {z.infer<typeof schemas.RouteView>} Route
 * @typedef {z.infer<typeof schemas.MessageSummary>} MessageSummary
 * @typedef {z.infer<typeof schemas.MessageView>} Message
 * @typedef {z.infer<typeof schemas.MessagePage>} MessagePage
 * @typedef {z.infer<typeof schemas.BlockedGroupPage>} BlockedGroupPage
 * @typedef {z.infer<typeof schemas.RedriveResult>} RedriveResult
 * @typedef {z.infer<typeof schemas.Replayed>} Replayed
 * @typedef {z.infer<typeof schemas.PauseState>} PauseState
 * @typedef {z.infer<typeof schemas.RetryNowResult>} RetryNowResult
 */

/**
 * Called as the work goes on, with how many of how many are done.
 * @typedef {(done: number, total: number) => void} Progress
 */

// sessionStorage, not localStorage: the token goes away with the tab. It is only ever
// sent in the Authorization header, never in a URL, so it cannot leak into history,
// proxy logs or a Referer.
const TOKEN_KEY = 'hookq.adminToken';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (/** @type {string} */ value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  /**
   * @param {number} status The HTTP status; 0 when hookq did not answer.
   * @param {string} message
   * @param {string} [field] The request field the API named as wrong, if any.
   */
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

/** Dispatches 'unauthorized' on any 401, so the app can ask for the token wherever the call came from. */
export const apiEvents = new EventTarget();

/**
 * Call the API. Paths are relative to the page, like the page's own assets.
 * options: method, body (sent as JSON), token (to try one before keeping it).
 * The answer is the caller's to type, as the API documents it for the path.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, token?: string }} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const bearer = options.token !== undefined ? options.token : token.get();
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  let body;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(`api/${path}`, {
      method: options.method || 'GET',
      headers,
      body,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(0, `hookq did not answer (${/** @type {Error} */ (error).message})`);
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && options.token === undefined) {
    apiEvents.dispatchEvent(new Event('unauthorized'));
  }
  if (!response.ok) {
    throw new ApiError(response.status, data.error || `HTTP ${response.status}`, data.field);
  }
  return data;
}

/**
 * A query string from the given values, leaving out empty ones.
 * @param {Record<string, string | number | null | undefined>} values
 */
export function query(values) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** @returns {Promise<Route[]>} */
export const listRoutes = async () => (await api('routes')).routes;

export const messagePath = (/** @type {string} */ id) => `messages/${encodeURIComponent(id)}`;

/**
 * Redrive dead letters by id, in calls of at most MAX_REDRIVE_IDS; the number moved.
 * @param {string[]} ids
 * @param {Progress} [onProgress]
 * @returns {Promise<number>}
 */
export async function redriveIds(ids, onProgress) {
  let moved = 0;
  for (let start = 0; start < ids.length; start += MAX_REDRIVE_IDS) {
    const chunk = ids.slice(start, start + MAX_REDRIVE_IDS);
    moved += /** @type {RedriveResult} */ (
      await api('redrive', { method: 'POST', body: { ids: chunk } })
    ).moved;
    if (onProgress) onProgress(Math.min(start + chunk.length, ids.length), ids.length);
  }
  return moved;
}

/**
 * Discard dead letters one by one (the API discards one per call), a few at a time.
 * Returns how many were discarded and the errors of the others.
 * @param {string[]} ids
 * @param {Progress} [onProgress]
 * @returns {Promise<{ discarded: number, errors: string[] }>}
 */
export async function discardIds(ids, onProgress) {
  let discarded = 0;
  let done = 0;
  /** @type {string[]} */
  const errors = [];
  const queue = ids.slice();
  async function worker() {
    while (queue.length > 0) {
      const id = /** @type {string} */ (queue.shift());
      try {
        await api(messagePath(id), { method: 'DELETE' });
        discarded += 1;
      } catch (caught) {
        const error = /** @type {ApiError} */ (caught);
        if (error.status === 401) throw error;
        errors.push(`${id}: ${error.message}`);
      }
      done += 1;
      if (onProgress) onProgress(done, ids.length);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { discarded, errors };
}
