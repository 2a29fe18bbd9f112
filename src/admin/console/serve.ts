import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';

/*
 * The web console: a small single-page app of plain HTML, CSS and ES modules that talks
 * to the JSON API only, with the token the operator typed in (kept in sessionStorage).
 *
 * Its files sit beside this module and are served as they are, with no bundler: the
 * browser loads the modules itself. They are type-checked against the DOM by their own
 * tsconfig.json and linted like the rest of the code; the build copies them into dist/
 * next to the compiled server (tsc copies no such files), so the same relative URLs find
 * them when hookq runs from src/ and from the published package. They are read once, when
 * this module loads.
 */

const JS = 'text/javascript; charset=utf-8';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/console/icon.svg': { file: 'icon.svg', type: 'image/svg+xml' },
  '/console/app.js': { file: 'app.js', type: JS },
  '/console/api.js': { file: 'api.js', type: JS },
  '/console/limits.js': { file: 'limits.js', type: JS },
  '/console/ui.js': { file: 'ui.js', type: JS },
  '/console/overview.js': { file: 'overview.js', type: JS },
  '/console/messages.js': { file: 'messages.js', type: JS },
  '/console/message-list.js': { file: 'message-list.js', type: JS },
  '/console/message-actions.js': { file: 'message-actions.js', type: JS },
  '/console/dead-letters.js': { file: 'dead-letters.js', type: JS },
  '/console/message.js': { file: 'message.js', type: JS },
  '/console/blocked.js': { file: 'blocked.js', type: JS },
};

const ASSETS = Object.entries(FILES).map(([path, { file, type }]) => {
  const body = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { path, type, body, etag };
});

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
  for (const { path, type, body, etag } of ASSETS) {
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
      return reply.type(type).send(body);
    });
  }
};
