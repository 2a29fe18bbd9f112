/**
 * The delivery keys of SPEC §5a: `delivery.maxPerSecond` and `delivery.breaker`. Bad
 * values stop start-up naming the key; good ones reach the route merged with defaults.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { documentFailure, parseDocument } from '../helpers/config.js';

const ROUTE = { name: 'orders', path: '/orders', target: 'http://127.0.0.1:3000/orders' };

const load = parseDocument;
const failure = documentFailure;

const delivery = (value: unknown) => ({ routes: [{ ...ROUTE, delivery: value }] });

describe('bad delivery keys stop start-up at their key', () => {
  const cases: Array<{ what: string; document: unknown; key: string; says: RegExp }> = [
    {
      what: 'maxPerSecond of 0',
      document: delivery({ maxPerSecond: 0 }),
      key: 'routes[0].delivery.maxPerSecond',
      says: /must be a number from/,
    },
    {
      what: 'maxPerSecond as text',
      document: delivery({ maxPerSecond: 'lots' }),
      key: 'routes[0].delivery.maxPerSecond',
      says: /got "lots"/,
    },
    {
      what: 'breaker: on',
      document: delivery({ breaker: 'on' }),
      key: 'routes[0].delivery.breaker',
      says: /must be off, or a mapping/,
    },
    {
      what: 'breaker.after of 0',
      document: delivery({ breaker: { after: 0 } }),
      key: 'routes[0].delivery.breaker.after',
      says: /must be an integer from 1/,
    },
    {
      what: 'a typo in breaker',
      document: delivery({ breaker: { afterr: 3 } }),
      key: 'routes[0].delivery.breaker.afterr',
      says: /did you mean "after"/,
    },
    {
      what: 'a probe interval without a unit',
      document: delivery({ breaker: { probe: { initial: 5 } } }),
      key: 'routes[0].delivery.breaker.probe.initial',
      says: /with a unit/,
    },
    {
      what: 'probe.max below probe.initial',
      document: delivery({ breaker: { probe: { initial: '10s', max: '1s' } } }),
      key: 'routes[0].delivery.breaker.probe.max',
      says: /must be at least delivery\.breaker\.probe\.initial, 10s/,
    },
    {
      what: 'a bad breaker in defaults, reported once at defaults',
      document: { defaults: { delivery: { breaker: { after: -1 } } }, routes: [ROUTE] },
      key: 'defaults.delivery.breaker.after',
      says: /must be an integer/,
    },
  ];
  for (const { what, document, key, says } of cases) {
    test(what, () => {
      const error = failure(document);
      assert.equal(error.key, key, error.message);
      assert.match(error.message.split('\n')[0]!, says);
    });
  }
});

describe('good delivery keys', () => {
  test('the breaker is on by default, with after 3 and probes from 1s to 30s', () => {
    const [route] = load({ routes: [ROUTE] }).routes;
    assert.deepEqual(route?.delivery.breaker, {
      after: 3,
      probeInitialMs: 1000,
      probeMaxMs: 30_000,
    });
    assert.equal(route?.delivery.maxPerSecond, undefined);
  });

  test('breaker: off, and a route that turns it back on over defaults', () => {
    const config = load({
      defaults: { delivery: { breaker: 'off', maxPerSecond: 2.5 } },
      routes: [ROUTE, { ...ROUTE, name: 'b', path: '/b', delivery: { breaker: { after: 5 } } }],
    });
    assert.equal(config.routes[0]?.delivery.breaker, null);
    assert.equal(config.routes[0]?.delivery.maxPerSecond, 2.5);
    assert.deepEqual(config.routes[1]?.delivery.breaker, {
      after: 5,
      probeInitialMs: 1000,
      probeMaxMs: 30_000,
    });
  });
});
