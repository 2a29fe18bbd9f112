/**
 * A web page must never be able to drive or read the admin listener (SPEC §6): forged
 * `Origin`, `Sec-Fetch-Site` and `Host` headers sent over real HTTP, as a browser would
 * send them for a page on another origin (CSRF) or on a name rebound to this machine
 * (DNS rebinding); the operator's own console, scripts and scrapers still get through.
 * Also the 405 that names the methods an endpoint takes.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { Metrics } from '../../src/admin/metrics.js';
import { createAdmin } from '../../src/admin/server.js';
import { silentLogger } from '../../src/log.js';
import { openStore } from '../../src/store/open-store.js';
import { configFor, tempDir } from '../helpers/config.js';
import { type Answer, send } from '../ingress/http.js';
import { startAdmin, TOKEN } from './support.js';

const ROUTES = [{ name: 'orders', path: '/orders' }];
const FOREIGN = 'https://attacker.example';
const AUTHORIZED = { authorization: `Bearer ${TOKEN}` };

/** One request with exactly these headers, nothing added: no body, no content type. */
function call(
  baseUrl: string,
  method: string,
  path: string,
  headers: OutgoingHttpHeaders = {},
): Promise<Answer> {
  return send(`${baseUrl}${path}`, { method, headers });
}

/** The body-less POST a page on another origin can send without any preflight. */
const pause = (baseUrl: string, headers: OutgoingHttpHeaders = {}) =>
  call(baseUrl, 'POST', '/api/routes/orders/pause', headers);

async function paused(baseUrl: string): Promise<boolean> {
  const answer = await call(baseUrl, 'GET', '/api/routes', AUTHORIZED);
  assert.equal(answer.status, 200, answer.text);
  const routes = answer.json?.routes as Array<{ name: string; paused: boolean }>;
  return routes.find((route) => route.name === 'orders')!.paused;
}

function refused(answer: Answer, status: number, says: RegExp, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.text}`);
  assert.match(String(answer.json?.error), says, what);
}

describe('cross-origin requests (CSRF)', () => {
  test('a page on another origin cannot pause a route, with or without a token', async (t) => {
    for (const token of [null, TOKEN]) {
      const { hookq } = await startAdmin(t, { routes: ROUTES }, { token });
      const { port } = new URL(hookq.adminUrl);
      const credentials = token === null ? {} : AUTHORIZED;
      const forged: Array<[string, OutgoingHttpHeaders]> = [
        ['another site', { origin: FOREIGN }],
        ['another port of this host', { origin: 'http://127.0.0.1:1' }],
        ['this port under another name', { origin: `http://localhost:${port}` }],
        ['this host over https', { origin: `https://127.0.0.1:${port}` }],
        // Sandboxed frames, file: pages and cross-origin redirects say only "null".
        ['a null origin', { origin: 'null' }],
        ['no origin, but a cross-site fetch', { 'sec-fetch-site': 'cross-site' }],
      ];
      for (const [what, headers] of forged) {
        const answer = await pause(hookq.adminUrl, { ...credentials, ...headers });
        const says = headers.origin === undefined ? /cross-site/ : /Origin/;
        refused(answer, 403, says, `${what} (token: ${token})`);
      }
      // Refused before anything happened, and before the token was even looked at.
      refused(await pause(hookq.adminUrl, { origin: FOREIGN }), 403, /Origin/, 'no token');
      assert.equal(await paused(hookq.adminUrl), false);
      // Reading is refused too: a page must not see the queue either.
      for (const path of ['/api/routes', '/metrics', '/']) {
        refused(await call(hookq.adminUrl, 'GET', path, { origin: FOREIGN }), 403, /Origin/, path);
      }
    }
  });

  test("the console's own origin, and scripts that send none, are served", async (t) => {
    const { hookq } = await startAdmin(t, { routes: ROUTES });
    const own = { ...AUTHORIZED, origin: hookq.adminUrl };
    const sameOrigin = await pause(hookq.adminUrl, { ...own, 'sec-fetch-site': 'same-origin' });
    assert.equal(sameOrigin.status, 200, sameOrigin.text);
    assert.equal(await paused(hookq.adminUrl), true);
    // curl, the CLI and scripts send no Origin.
    const script = await call(hookq.adminUrl, 'POST', '/api/routes/orders/resume', AUTHORIZED);
    assert.equal(script.status, 200, script.text);
    assert.equal(await paused(hookq.adminUrl), false);
    // A cross-site GET is a link followed, not a state change.
    const link = await call(hookq.adminUrl, 'GET', '/', { 'sec-fetch-site': 'cross-site' });
    assert.equal(link.status, 200, link.text);
    // Prometheus and health checks: no token, no Origin.
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const answer = await call(hookq.adminUrl, 'GET', path);
      assert.equal(answer.status, 200, `${path}: ${answer.text}`);
    }
  });

  test('admin.allowedOrigins lets a reverse proxy serve the console on its own origin', async (t) => {
    const dir = tempDir('hookq-admin-security-');
    const config = configFor(dir, {
      admin: {
        listen: '127.0.0.1:0',
        token: TOKEN,
        allowedOrigins: ['https://HookQ.example.com:443'],
      },
      routes: [{ ...ROUTES[0], target: 'http://127.0.0.1:9/' }],
    });
    const store = await openStore(config.storage);
    const admin = createAdmin({
      store,
      routes: config.routes,
      metrics: new Metrics(store, config.routes),
      log: silentLogger(),
      token: config.admin.token,
      allowedOrigins: config.admin.allowedOrigins,
      version: '0.0.0',
    });
    t.after(async () => {
      await admin.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await admin.listen({ host: config.admin.host, port: config.admin.port });
    const baseUrl = `http://127.0.0.1:${(admin.server.address() as AddressInfo).port}`;

    // TLS ends at the proxy, which passes on its own name, or this listener's address.
    for (const host of ['hookq.example.com', new URL(baseUrl).host]) {
      const proxied = { ...AUTHORIZED, host, origin: 'https://hookq.example.com' };
      const answer = await call(baseUrl, 'GET', '/api/routes', proxied);
      assert.equal(answer.status, 200, `Host ${host}: ${answer.text}`);
    }
    // Only the origin listed: not its other scheme or port, nor another site.
    for (const origin of ['http://hookq.example.com', 'https://hookq.example.com:8443', FOREIGN]) {
      refused(
        await pause(baseUrl, { ...AUTHORIZED, origin }),
        403,
        /admin\.allowedOrigins/,
        origin,
      );
    }
    assert.equal(await paused(baseUrl), false);
  });
});

describe('Host (DNS rebinding)', () => {
  test('without a token, only loopback names are answered', async (t) => {
    const { hookq } = await startAdmin(t, { routes: ROUTES }, { token: null });
    const { port } = new URL(hookq.adminUrl);
    for (const host of ['attacker.example:8081', `attacker.example:${port}`, 'attacker.example']) {
      for (const path of ['/api/routes', '/metrics', '/']) {
        refused(await call(hookq.adminUrl, 'GET', path, { host }), 421, /Host/, `${host} ${path}`);
      }
      // The rebound page is same-origin with itself: its Origin matches its Host.
      const rebound = await pause(hookq.adminUrl, { host, origin: `http://${host}` });
      refused(rebound, 421, /admin\.token/, `${host} POST`);
    }
    assert.equal(await paused(hookq.adminUrl), false);

    for (const host of [
      `127.0.0.1:${port}`,
      '127.0.0.1',
      `127.1.2.3:${port}`,
      `localhost:${port}`,
      'LOCALHOST',
      `[::1]:${port}`,
      '[::1]',
    ]) {
      const answer = await call(hookq.adminUrl, 'GET', '/api/routes', { host });
      assert.equal(answer.status, 200, `${host}: ${answer.text}`);
    }
  });

  test('with a token, any name is answered to the right token', async (t) => {
    const { hookq } = await startAdmin(t, { routes: ROUTES });
    const host = 'attacker.example:8081';
    const answer = await call(hookq.adminUrl, 'GET', '/api/routes', { ...AUTHORIZED, host });
    assert.equal(answer.status, 200, answer.text);
    const withoutToken = await pause(hookq.adminUrl, { host });
    assert.equal(withoutToken.status, 401, withoutToken.text);
    const done = await pause(hookq.adminUrl, { ...AUTHORIZED, host });
    assert.equal(done.status, 200, done.text);
    assert.equal(await paused(hookq.adminUrl), true);
  });
});

describe('methods', () => {
  test('a wrong method on an endpoint is 405 naming the methods it takes', async (t) => {
    const { hookq } = await startAdmin(t, { routes: ROUTES });
    const cases: Array<[method: string, path: string, allow: string]> = [
      ['GET', '/api/redrive', 'POST'],
      ['DELETE', '/api/routes', 'GET, HEAD'],
      ['GET', '/api/routes/orders/pause', 'POST'],
      ['PUT', '/api/messages/some-id', 'GET, HEAD, DELETE'],
      ['POST', '/metrics?x=1', 'GET, HEAD'],
      ['DELETE', '/', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of cases) {
      const answer = await call(hookq.adminUrl, method, path, AUTHORIZED);
      const what = `${method} ${path}`;
      refused(answer, 405, new RegExp(`^${method} is not allowed on ${path.split('?')[0]}`), what);
      assert.equal(answer.headers.allow, allow, what);
    }
    for (const path of ['/api/nothing', '/api/routes/orders/nothing', '/nothing']) {
      const answer = await call(hookq.adminUrl, 'GET', path, AUTHORIZED);
      refused(answer, 404, /no such endpoint/, path);
      assert.equal(answer.headers.allow, undefined, path);
    }
  });
});
