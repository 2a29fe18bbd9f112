// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is hookq's interpolation syntax, written out on purpose
/**
 * `notify` in hookq.yaml: the top-level one applies to every route, a route's own
 * replaces it whole (or `off` silences the route), defaults fill what is left out, and
 * a bad value stops start-up naming its key without repeating a URL or a header value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { documentFailure, parseDocument } from '../helpers/config.js';

const ROUTE = { name: 'orders', path: '/orders', target: 'http://127.0.0.1:3000/orders' };
const OTHER = { name: 'billing', path: '/billing', target: 'http://127.0.0.1:3000/billing' };

const load = parseDocument;
const failure = documentFailure;

const global = (notify: unknown) => ({ notify, routes: [ROUTE] });
const own = (notify: unknown) => ({ routes: [{ ...ROUTE, notify }] });

describe('notify settings', () => {
  test('the top-level notify applies to every route, with its defaults', () => {
    const config = load(
      {
        notify: {
          url: 'https://alerts.example.com/hookq',
          headers: { Authorization: 'Bearer ${ALERT_TOKEN}' },
        },
        routes: [ROUTE, OTHER],
      },
      { ALERT_TOKEN: 't0k3n' },
    );
    const expected = {
      url: 'https://alerts.example.com/hookq',
      headers: [['authorization', 'Bearer t0k3n']],
      checkEveryMs: 10_000,
      timeoutMs: 5_000,
      retries: 3,
    };
    assert.deepEqual(config.routes[0]!.notify, expected);
    assert.deepEqual(config.routes[1]!.notify, expected);
    assert.notEqual(config.routes[0]!.notify, config.routes[1]!.notify, 'nothing shared');
  });

  test("a route's notify replaces the top-level one whole; off silences the route", () => {
    const config = load({
      notify: { url: 'https://alerts.example.com/all', headers: { 'X-Token': 'secret' } },
      routes: [
        {
          ...ROUTE,
          notify: { url: 'http://127.0.0.1:9000/own', checkEvery: '2s', timeout: '1s', retries: 0 },
        },
        { ...OTHER, notify: 'off' },
        { name: 'c', path: '/c', target: 'http://127.0.0.1:3000/c' },
      ],
    });
    assert.deepEqual(config.routes[0]!.notify, {
      url: 'http://127.0.0.1:9000/own',
      headers: [], // not the top-level X-Token: that credential is for the other URL
      checkEveryMs: 2_000,
      timeoutMs: 1_000,
      retries: 0,
    });
    assert.equal('notify' in config.routes[1]!, false);
    assert.equal(config.routes[2]!.notify?.url, 'https://alerts.example.com/all');
  });

  test('without notify, or with an empty one, no route has alerts', () => {
    assert.equal('notify' in load({ routes: [ROUTE] }).routes[0]!, false);
    assert.equal('notify' in load(global(null)).routes[0]!, false);
  });
});

describe('a bad notify stops start-up at its key', () => {
  const cases: Array<{ what: string; document: unknown; key: string; says: RegExp }> = [
    {
      what: 'no url',
      document: global({ retries: 1 }),
      key: 'notify.url',
      says: /^is required$/,
    },
    {
      what: 'a url that is not one',
      document: global({ url: 'alerts.example.com/hookq' }),
      key: 'notify.url',
      says: /must be an http:\/\/ or https:\/\/ URL/,
    },
    {
      what: 'a url of another scheme',
      document: own({ url: 'mailto:ops@example.com' }),
      key: 'routes[0].notify.url',
      says: /must be an http:\/\/ or https:\/\/ URL, not mailto:/,
    },
    {
      what: 'a url as a number',
      document: global({ url: 8080 }),
      key: 'notify.url',
      says: /must be a URL \(got a number\)/,
    },
    {
      what: 'a route notify that is neither off nor a mapping',
      document: own('on'),
      key: 'routes[0].notify',
      says: /must be off, or a mapping/,
    },
    {
      what: 'a typo',
      document: global({ url: 'https://a.example/', checkevery: '5s' }),
      key: 'notify.checkevery',
      says: /did you mean "checkEvery"/,
    },
    {
      what: 'checkEvery without a unit',
      document: global({ url: 'https://a.example/', checkEvery: 10 }),
      key: 'notify.checkEvery',
      says: /must be a duration with a unit/,
    },
    {
      what: 'checkEvery too short',
      document: own({ url: 'https://a.example/', checkEvery: '10ms' }),
      key: 'routes[0].notify.checkEvery',
      says: /must be at least 100ms \(got 10ms\)/,
    },
    {
      what: 'a zero timeout',
      document: global({ url: 'https://a.example/', timeout: '0s' }),
      key: 'notify.timeout',
      says: /greater than 0/,
    },
    {
      what: 'negative retries',
      document: global({ url: 'https://a.example/', retries: -1 }),
      key: 'notify.retries',
      says: /must be an integer from 0 to 10 \(got -1\)/,
    },
    {
      what: 'headers as a list',
      document: global({ url: 'https://a.example/', headers: ['Authorization: x'] }),
      key: 'notify.headers',
      says: /must be a mapping of header names to values/,
    },
    {
      what: 'a header hookq sets itself',
      document: global({ url: 'https://a.example/', headers: { 'Content-Type': 'text/plain' } }),
      key: 'notify.headers.Content-Type',
      says: /is set by hookq itself/,
    },
    {
      what: 'a header name that is not one',
      document: global({ url: 'https://a.example/', headers: { 'X Token': 'a' } }),
      key: 'notify.headers["X Token"]',
      says: /must be an HTTP header name/,
    },
    {
      what: 'a header value with a line break',
      document: global({ url: 'https://a.example/', headers: { 'X-Token': 'a\r\nX-Evil: 1' } }),
      key: 'notify.headers.X-Token',
      says: /must not contain line breaks/,
    },
  ];
  for (const { what, document, key, says } of cases) {
    test(what, () => {
      const error = failure(document);
      assert.equal(error.key, key, error.message);
      const firstLine = error.message.split('\n')[0]!;
      const prefix = `hookq.yaml: ${key}: `;
      assert.ok(firstLine.startsWith(prefix), firstLine);
      assert.match(firstLine.slice(prefix.length), says);
      assert.equal(error.code, 'config_invalid');
    });
  }

  test('a URL or header value in error is never repeated', () => {
    const url = failure(global({ url: 'gopher://user:hunter2@alerts.example.com/x' }));
    assert.ok(!url.message.includes('hunter2'), url.message);
    const header = failure(
      global({ url: 'https://a.example/', headers: { 'X-Token': 'hunter2\n' } }),
    );
    assert.ok(!header.message.includes('hunter2'), header.message);
  });
});
