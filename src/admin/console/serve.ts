import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { apiJs } from './api-js.js';
import { appJs } from './app-js.js';
import { blockedJs } from './blocked-js.js';
import { deadLettersJs } from './dead-letters-js.js';
import { iconSvg } from './icon-svg.js';
import { indexHtml } from './index-html.js';
import { messageJs } from './message-js.js';
import { overviewJs } from './overview-js.js';
import { styleCss } from './style-css.js';
import { uiJs } from './ui-js.js';

/*
 * The web console: a small single-page app of plain HTML, CSS and ES modules that talks
 * to the JSON API only, with the token the operator typed in (kept in sessionStorage).
 *
 * Its files are TypeScript modules exporting strings rather than .html/.js/.css files
 * read at run time: tsc does not copy non-TS files into dist/, and the published
 * package holds dist/ alone, so files beside the source would be missing exactly where
 * users run hookq. As modules they are compiled, shipped and bundled like the rest of
 * the code, with no file lookups and no build step of their own. The cost: the browser
 * code cannot use a backtick (it would end the string) or `${` (it would interpolate),
 * and the linter does not see it; the end-to-end console test runs every module in a
 * real browser and fails on any script error.
 */

const JS = 'text/javascript; charset=utf-8';

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: indexHtml },
  '/console/style.css': { type: 'text/css; charset=utf-8', body: styleCss },
  '/console/icon.svg': { type: 'image/svg+xml', body: iconSvg },
  '/console/app.js': { type: JS, body: appJs },
  '/console/api.js': { type: JS, body: apiJs },
  '/console/ui.js': { type: JS, body: uiJs },
  '/console/overview.js': { type: JS, body: overviewJs },
  '/console/dead-letters.js': { type: JS, body: deadLettersJs },
  '/console/message.js': { type: JS, body: messageJs },
  '/console/blocked.js': { type: JS, body: blockedJs },
};

/**
 * Everything the page may load comes from this listener; no inline script or style can
 * run, so a message body or error text that reaches the page can never execute.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Serves the console at `/` and its files under `/console/`; they need no token. */
export const webConsole: FastifyPluginAsync = async (app) => {
  for (const [path, asset] of Object.entries(ASSETS)) {
    const etag = `"${createHash('sha256').update(asset.body).digest('base64url').slice(0, 22)}"`;
    app.get(path, async (request, reply) => {
      reply
        .header('etag', etag)
        // Revalidated on every load, so a browser never runs an older console against a
        // newer API; unchanged files cost a 304.
        .header('cache-control', 'no-cache')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer');
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(asset.type).send(asset.body);
    });
  }
};
