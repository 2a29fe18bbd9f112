import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluatePointer, MAX_GROUP_LENGTH, resolveGroup } from '../../src/core/group.js';

const noHeaders = () => undefined;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('group resolution', () => {
  it('uses a static id, a header or a JSON pointer', () => {
    assert.equal(resolveGroup({ static: 'approvals' }, 'r', noHeaders, json({})), 'approvals');
    const headers = new Map([['x-entity-id', 'order-7']]);
    assert.equal(
      resolveGroup({ header: 'X-Entity-Id' }, 'r', (n) => headers.get(n), json({})),
      'order-7',
    );
    assert.equal(
      resolveGroup({ json: '/data/id' }, 'r', noHeaders, json({ data: { id: 'inv-1' } })),
      'inv-1',
    );
    assert.equal(
      resolveGroup({ json: '/data/id' }, 'r', noHeaders, json({ data: { id: 42 } })),
      '42',
    );
  });

  it('falls back to the route name when the group cannot be read, never rejecting', () => {
    assert.equal(resolveGroup(undefined, 'route', noHeaders, json({})), 'route');
    assert.equal(resolveGroup({ header: 'X-Entity-Id' }, 'route', noHeaders, json({})), 'route');
    assert.equal(
      resolveGroup({ json: '/data/id' }, 'route', noHeaders, Buffer.from('not json')),
      'route',
    );
    assert.equal(
      resolveGroup({ json: '/data/id' }, 'route', noHeaders, json({ data: {} })),
      'route',
    );
    assert.equal(
      resolveGroup({ json: '/data' }, 'route', noHeaders, json({ data: { nested: 1 } })),
      'route',
    );
    assert.equal(
      resolveGroup({ json: '/data/id' }, 'route', noHeaders, json({ data: { id: '' } })),
      'route',
    );
  });

  it('cuts very long group ids', () => {
    const long = 'x'.repeat(MAX_GROUP_LENGTH + 50);
    assert.equal(resolveGroup({ static: long }, 'r', noHeaders, json({})).length, MAX_GROUP_LENGTH);
  });

  it('evaluates RFC 6901 pointers, escapes and array indexes included', () => {
    const doc = { 'a/b': { '~k': [10, 20] }, arr: ['x'] };
    assert.equal(evaluatePointer(doc, '/a~1b/~0k/1'), 20);
    assert.equal(evaluatePointer(doc, '/arr/0'), 'x');
    assert.equal(evaluatePointer(doc, '/arr/01'), undefined);
    assert.equal(evaluatePointer(doc, '/arr/-'), undefined);
    assert.equal(evaluatePointer(doc, 'no-slash'), undefined);
    assert.equal(
      evaluatePointer(doc, '/toString'),
      undefined,
      'inherited properties are not members',
    );
    assert.deepEqual(evaluatePointer(doc, ''), doc);
  });
});
