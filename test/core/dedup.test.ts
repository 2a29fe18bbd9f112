import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dedupId, MAX_HEADER_DEDUP_ID } from '../../src/core/dedup.js';

const header = (value: string | undefined) => (name: string) =>
  name === 'x-delivery' ? value : undefined;
const rule = { by: 'header', header: 'X-Delivery' } as const;

describe('dedup ids', () => {
  it('keeps a provider delivery id as it is', () => {
    assert.equal(dedupId(rule, header('abc-123'), Buffer.alloc(0)), 'header:abc-123');
  });

  it('keeps a sender-controlled value of any length as a bounded key', () => {
    const long = 'x'.repeat(6_000);
    const id = dedupId(rule, header(long), Buffer.alloc(0));
    assert.match(id ?? '', /^header-sha256:[0-9a-f]{64}$/);
    assert.equal(id, dedupId(rule, header(long), Buffer.alloc(0)), 'the same value, the same id');
    assert.notEqual(id, dedupId(rule, header(`${long}y`), Buffer.alloc(0)));
    const edge = 'y'.repeat(MAX_HEADER_DEDUP_ID);
    assert.equal(dedupId(rule, header(edge), Buffer.alloc(0)), `header:${edge}`);
  });

  it('gives no id without the header, and hashes the body by content', () => {
    assert.equal(dedupId(rule, header(undefined), Buffer.alloc(0)), null);
    assert.equal(dedupId(rule, header(''), Buffer.alloc(0)), null);
    assert.match(dedupId({ by: 'content' }, header(undefined), Buffer.from('x')) ?? '', /^sha256:/);
    assert.equal(dedupId({ by: 'none' }, header('a'), Buffer.from('x')), null);
  });
});
