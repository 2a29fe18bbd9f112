/**
 * Malformed admin API requests (SPEC §2.8): each is answered 400 with the field it got
 * wrong, and changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ErrorAnswer, list, startWithDeadLetter, stateOf } from './support.js';

describe('malformed requests', () => {
  test('each bad input is answered 400 naming the field, and changes nothing', async (t) => {
    const started = await startWithDeadLetter(t);
    const { api, dead } = started;
    const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

    const cases: Array<{
      what: string;
      field: string;
      call: () => Promise<{ status: number; json: unknown; text: string }>;
    }> = [];
    const messages = (query: Record<string, string | number>, field: string) =>
      cases.push({
        what: `messages ${JSON.stringify(query)}`,
        field,
        call: () => api.get('/api/messages', query),
      });
    const blocked = (query: Record<string, string | number>, field: string) =>
      cases.push({
        what: `blocked groups ${JSON.stringify(query)}`,
        field,
        call: () => api.get('/api/groups/blocked', query),
      });
    const redrive = (what: string, field: string, body: { json?: unknown; raw?: string }) =>
      cases.push({
        what: `redrive ${what}`,
        field,
        call: () =>
          api.call('POST', '/api/redrive', {
            ...(body.raw === undefined ? { body: body.json } : { rawBody: body.raw }),
          }),
      });

    messages({ state: 'nope' }, 'state');
    messages({ limit: 0 }, 'limit');
    messages({ limit: 'abc' }, 'limit');
    messages({ limit: 5000 }, 'limit');
    messages({ limit: '1.5' }, 'limit');
    messages({ colour: 'red' }, 'colour');
    messages({ route: '' }, 'route');
    messages({ cursor: 'garbage' }, 'cursor');
    messages({ cursor: cursorOf(['orders']) }, 'cursor');
    // A blocked-groups cursor is no messages cursor.
    messages({ cursor: cursorOf([1, 'A']) }, 'cursor');
    blocked({}, 'route');
    blocked({ route: 'orders', limit: 0 }, 'limit');
    blocked({ route: 'orders', cursor: 'garbage' }, 'cursor');
    blocked({ route: 'orders', state: 'dead' }, 'state');
    redrive('with nothing to select', 'body', { json: {} });
    redrive('with a group but no route', 'group', { json: { group: 'A' } });
    redrive('with no ids', 'ids', { json: { ids: [] } });
    redrive('with ids not a list', 'ids', { json: { ids: 'x' } });
    redrive('with ids and a route', 'ids', { json: { ids: [dead], route: 'orders' } });
    redrive('with ids and all', 'ids', { json: { ids: [dead], all: true } });
    redrive('with all: false', 'all', { json: { all: false } });
    redrive('with an unknown field', 'colour', { json: { all: true, colour: 'red' } });
    redrive('with limit 0', 'limit', { json: { all: true, limit: 0 } });
    redrive('with a fractional limit', 'limit', { json: { all: true, limit: 1.5 } });
    redrive('with a route not a string', 'route', { json: { route: 7 } });
    redrive('with too many ids', 'ids', {
      json: { ids: Array.from({ length: 1001 }, (_, i) => (i === 0 ? dead : `id-${i}`)) },
    });
    redrive('with malformed JSON', 'body', { raw: '{"all": tr' });
    redrive('with an empty JSON body', 'body', { raw: '' });
    redrive('with a JSON list', 'body', { raw: `["${dead}"]` });

    for (const { what, field, call } of cases) {
      const answer = await call();
      assert.equal(answer.status, 400, `${what}: ${answer.text}`);
      const json = answer.json as ErrorAnswer;
      assert.deepEqual(
        Object.keys(json ?? {}).sort(),
        ['error', 'field'],
        `${what}: ${answer.text}`,
      );
      assert.equal(json.field, field, `${what}: ${answer.text}`);
      assert.ok(
        json.error.includes(field),
        `${what}: the message does not name ${field}: ${json.error}`,
      );
    }

    assert.equal(await stateOf(started, dead), 'dead', 'a refused redrive moved the dead letter');
    assert.equal((await list(api, {})).items.length, 1);
  });
});
