/**
 * Who may call the admin API of SPEC §6: every /api operation wants the bearer token and
 * changes nothing without it; health, readiness and metrics are open; without a token
 * the API answers on loopback only.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import type { PauseState } from '../../src/admin/schemas.js';
import { OPERATIONS } from '../../src/admin/schemas.js';
import { ConfigError } from '../../src/core/errors.js';
import { configFor, tempDir } from '../helpers/config.js';
import { send, sendRaw } from '../ingress/http.js';
import {
  type ErrorAnswer,
  expectStatus,
  routeView,
  startAdmin,
  startWithDeadLetter,
  stateOf,
  TOKEN,
} from './support.js';

/** Each operation of the API as a method and a path template, from the list the document is made of. */
function operations(which: 'api' | 'open') {
  return Object.entries(OPERATIONS).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, operation]) => Boolean(operation.open) === (which === 'open'))
      .map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
  );
}

/** A path template with its parameters filled in; a parameter with no value fails the test. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    assert.ok(value !== undefined, `no test value for path parameter {${name}} of ${template}`);
    return encodeURIComponent(value);
  });
}

describe('who may call the admin API', () => {
  test('every /api operation refuses a missing or wrong token with 401 and changes nothing', async (t) => {
    const started = await startWithDeadLetter(t);
    const { hookq, api, dead: id } = started;

    const refused: Array<[how: string, authorization: string | null]> = [
      ['no Authorization header', null],
      ['an empty bearer token', 'Bearer '],
      ['a wrong token', 'Bearer wrong'],
      ['the token with its last character changed', `Bearer ${TOKEN.slice(0, -1)}X`],
      ['the token with a character added', `Bearer ${TOKEN}0`],
      [
        'the token as Basic credentials',
        `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
      ],
      ['the token under another scheme', `Token ${TOKEN}`],
      ['the token without a scheme', TOKEN],
    ];
    const guarded = operations('api');
    assert.ok(guarded.length >= 10, `only ${guarded.length} operations listed`);
    const values = { id, name: 'orders' };
    for (const { path, method, operation } of guarded) {
      for (const [how, authorization] of refused) {
        const answer = await api.call(method, fill(path, values), {
          authorization,
          ...(operation.body ? { body: { ids: [id] } } : {}),
        });
        const what = `${method} ${path} with ${how}`;
        assert.equal(answer.status, 401, `${what}: ${answer.text}`);
        assert.equal(answer.headers.get('www-authenticate'), 'Bearer', what);
        assert.match(String(answer.headers.get('content-type')), /^application\/json/, what);
        assert.equal(typeof (answer.json as ErrorAnswer).error, 'string', what);
      }
    }

    // The same handlers reached through a percent-encoded path or an absolute-form
    // request target must not get past the check either.
    const encoded = await send(`${hookq.adminUrl}/%61pi/routes/orders/pause`, { method: 'POST' });
    assert.equal(encoded.status, 401, encoded.text);
    const { host } = new URL(hookq.adminUrl);
    const absolute = await sendRaw(
      hookq.adminUrl,
      `DELETE http://${host}/api/messages/${id} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(absolute.status, 401, absolute.text);

    assert.equal(await stateOf(started, id), 'dead', 'a refused call discarded or redrove');
    assert.equal((await routeView(api, 'orders')).paused, false, 'a refused call paused');

    // With the token every operation gets past the check (whatever it then answers).
    for (const { path, method, operation } of guarded) {
      if (operation.media === 'text/event-stream') {
        // A stream does not end: its status is read as it starts, then it is let go.
        const stream = new AbortController();
        const answer = await fetch(`${hookq.adminUrl}${fill(path, values)}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
          signal: stream.signal,
        });
        stream.abort();
        assert.equal(answer.status, 200, `${method} ${path}`);
        continue;
      }
      const answer = await api.call(method, fill(path, values), {
        ...(operation.body ? { body: { ids: [id] } } : {}),
      });
      assert.notEqual(answer.status, 401, `${method} ${path}: ${answer.text}`);
    }
    // RFC 7235: the scheme name is case-insensitive.
    expectStatus(await api.call('GET', '/api/routes', { authorization: `bearer ${TOKEN}` }), 200);
  });

  test('health, readiness and metrics need no token', async (t) => {
    const { api } = await startAdmin(t, { routes: [{ name: 'orders', path: '/orders' }] });
    const open = operations('open');
    assert.deepEqual(open.map((o) => o.path).sort(), ['/healthz', '/metrics', '/readyz']);
    for (const { path, method } of open) {
      for (const authorization of [null, 'Bearer wrong']) {
        const answer = await api.call(method, path, { authorization });
        assert.equal(answer.status, 200, `${method} ${path} with ${authorization}: ${answer.text}`);
      }
    }
  });

  test('without a configured token on loopback, calls need no header', async (t) => {
    const { api } = await startAdmin(
      t,
      { routes: [{ name: 'orders', path: '/orders' }] },
      { token: null },
    );
    expectStatus(await api.call('GET', '/api/routes', { authorization: null }), 200);
    const paused = await api.call<z.output<typeof PauseState>>('POST', '/api/routes/orders/pause', {
      authorization: null,
    });
    assert.deepEqual(expectStatus(paused, 200).json, { route: 'orders', paused: true });
    expectStatus(await api.call('GET', '/api/openapi.json', { authorization: null }), 200);
    // Any header is ignored when there is no token to check it against.
    expectStatus(await api.call('GET', '/api/routes', { authorization: 'Bearer anything' }), 200);
  });

  test('a non-loopback admin address without a token is refused at start-up', (t) => {
    const dir = tempDir('hookq-admin-config-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const routes = [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }];
    for (const listen of ['0.0.0.0:0', '192.0.2.10:8081']) {
      assert.throws(
        () => configFor(dir, { admin: { listen }, routes }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.key, 'admin.token');
          assert.match(error.message, /admin\.token/);
          return true;
        },
        listen,
      );
    }
    // Loopback may go without; any address may go with one.
    assert.equal(configFor(dir, { admin: { listen: '127.0.0.1:0' }, routes }).admin.token, null);
    const withToken = configFor(dir, { admin: { listen: '0.0.0.0:0', token: TOKEN }, routes });
    assert.equal(withToken.admin.token, TOKEN);
  });
});
