/** Browser module: calls to the admin API, and the token they carry. */
// biome-ignore lint/complexity/noUselessStringRaw: all console files are raw strings, so a backslash added later reaches the browser as written.
export const apiJs = String.raw`
// sessionStorage, not localStorage: the token goes away with the tab. It is only ever
// sent in the Authorization header, never in a URL, so it cannot leak into history,
// proxy logs or a Referer.
const TOKEN_KEY = 'hookq.adminToken';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

/** Dispatches 'unauthorized' on any 401, so the app can ask for the token wherever the call came from. */
export const apiEvents = new EventTarget();

/** The most ids one redrive call accepts (the API's limit). */
export const MAX_REDRIVE_IDS = 1000;

/**
 * Call the API. Paths are relative to the page, like the page's own assets.
 * options: method, body (sent as JSON), token (to try one before keeping it).
 */
export async function api(path, options = {}) {
  const headers = { accept: 'application/json' };
  const bearer = options.token !== undefined ? options.token : token.get();
  if (bearer) headers.authorization = 'Bearer ' + bearer;
  let body;
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch('api/' + path, {
      method: options.method || 'GET',
      headers,
      body,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(0, 'hookq did not answer (' + error.message + ')');
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && options.token === undefined) {
    apiEvents.dispatchEvent(new Event('unauthorized'));
  }
  if (!response.ok) {
    throw new ApiError(response.status, data.error || 'HTTP ' + response.status, data.field);
  }
  return data;
}

/** A query string from the given values, leaving out empty ones. */
export function query(values) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? '?' + text : '';
}

export const listRoutes = async () => (await api('routes')).routes;

export const messagePath = (id) => 'messages/' + encodeURIComponent(id);

/** Redrive dead letters by id, in calls of at most MAX_REDRIVE_IDS; the number moved. */
export async function redriveIds(ids, onProgress) {
  let moved = 0;
  for (let start = 0; start < ids.length; start += MAX_REDRIVE_IDS) {
    const chunk = ids.slice(start, start + MAX_REDRIVE_IDS);
    moved += (await api('redrive', { method: 'POST', body: { ids: chunk } })).moved;
    if (onProgress) onProgress(Math.min(start + chunk.length, ids.length), ids.length);
  }
  return moved;
}

/**
 * Discard dead letters one by one (the API discards one per call), a few at a time.
 * Returns how many were discarded and the errors of the others.
 */
export async function discardIds(ids, onProgress) {
  let discarded = 0;
  let done = 0;
  const errors = [];
  const queue = ids.slice();
  async function worker() {
    while (queue.length > 0) {
      const id = queue.shift();
      try {
        await api(messagePath(id), { method: 'DELETE' });
        discarded += 1;
      } catch (error) {
        if (error.status === 401) throw error;
        errors.push(id + ': ' + error.message);
      }
      done += 1;
      if (onProgress) onProgress(done, ids.length);
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { discarded, errors };
}
`;
