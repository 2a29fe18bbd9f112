// @ts-check
// Limits of the admin API that the console needs too, in one place: the server's request
// schemas (../schemas.ts) import this module, and the browser loads it as console/limits.js.
// It must stay plain JavaScript that runs unchanged in both.

/** The most items one page of a list call returns: the largest `limit` accepted. */
export const MAX_PAGE = 1000;

/** Most ids in one redrive call; larger sets go by route or group, in pages. */
export const MAX_REDRIVE_IDS = 1000;
