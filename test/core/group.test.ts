import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  evaluatePointer,
  GROUP_REPLACEMENT,
  groupIdLength,
  MAX_GROUP_LENGTH,
  resolveGroup,
  wellFormedGroupId,
} from '../../src/core/group.js';

const noHeaders = () => undefined;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
/** Whether text survives a UTF-8 round trip, as a store writes and reads it. */
const wellFormed = (text: string) => Buffer.from(text, 'utf8').toString('utf8') === text;

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

  it('cuts at a code point boundary, counting a surrogate pair as one', () => {
    const split = `${'x'.repeat(MAX_GROUP_LENGTH - 1)}\u{1F600}tail`;
    const cut = resolveGroup({ json: '/g' }, 'r', noHeaders, json({ g: split }));
    assert.equal(cut, `${'x'.repeat(MAX_GROUP_LENGTH - 1)}\u{1F600}`);
    assert.equal(groupIdLength(cut), MAX_GROUP_LENGTH);
    assert.ok(wellFormed(cut));
    const emoji = '\u{1F600}'.repeat(MAX_GROUP_LENGTH + 1);
    assert.equal(wellFormedGroupId(emoji), '\u{1F600}'.repeat(MAX_GROUP_LENGTH));
  });

  it('replaces unpaired surrogates from headers, JSON and static ids', () => {
    // JSON.parse turns the escape into a real lone surrogate, as a sender's body would.
    const body = Buffer.from('{"g":"\\ud800x","h":"a\\udc00"}');
    assert.equal(resolveGroup({ json: '/g' }, 'r', noHeaders, body), `${GROUP_REPLACEMENT}x`);
    assert.equal(resolveGroup({ json: '/h' }, 'r', noHeaders, body), `a${GROUP_REPLACEMENT}`);
    const header = () => '\udc00\ud800';
    assert.equal(
      resolveGroup({ header: 'X-Entity-Id' }, 'r', header, json({})),
      GROUP_REPLACEMENT.repeat(2),
    );
    assert.equal(
      resolveGroup({ static: 'ok-\ud83d' }, 'r', noHeaders, json({})),
      `ok-${GROUP_REPLACEMENT}`,
    );
    assert.equal(wellFormedGroupId('\u{1F600}\u00e9\u4e2d'), '\u{1F600}\u00e9\u4e2d', 'pairs stay');
  });

  it('replaces NUL, C0 and C1 control characters and DEL', () => {
    const body = json({ g: 'a\u0000b\tc\u001fd\u007fe\u0080f\u009fg\u00a0h' });
    assert.equal(
      resolveGroup({ json: '/g' }, 'r', noHeaders, body),
      `a${GROUP_REPLACEMENT}b${GROUP_REPLACEMENT}c${GROUP_REPLACEMENT}d${GROUP_REPLACEMENT}e${GROUP_REPLACEMENT}f${GROUP_REPLACEMENT}g\u00a0h`,
    );
    assert.equal(
      resolveGroup({ header: 'X-Entity-Id' }, 'r', () => '\u0000', json({})),
      GROUP_REPLACEMENT,
      'an id of control characters is still an id, not the fallback',
    );
  });

  it('gives every id back well formed, free of control characters and within the limit', () => {
    for (let round = 0; round < 200; round++) {
      const units = Array.from({ length: randomInt(600) }, () =>
        randomInt(4) === 0 ? 0xd800 + randomInt(0x800) : randomInt(0x100),
      );
      const id = resolveGroup({ static: String.fromCharCode(...units) }, 'r', noHeaders, json({}));
      assert.ok(wellFormed(id), JSON.stringify(id));
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is checked
      assert.doesNotMatch(id, /[\u0000-\u001f\u007f-\u009f]/);
      assert.ok(groupIdLength(id) <= MAX_GROUP_LENGTH);
      assert.ok(id !== '' || units.length === 0);
    }
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
