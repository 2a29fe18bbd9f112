import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { DedupIndex } from '../../src/store/sqlite/dedup-index.js';

const key = (n: number) => createHash('sha256').update(String(n)).digest().subarray(0, 16);

/** A key with the same first bytes (the fingerprint) as `key(n)` but another last one. */
const twin = (n: number) => {
  const bytes = Buffer.from(key(n));
  bytes[15] = (bytes[15]! + 1) % 256;
  return bytes;
};

describe('the in-memory dedup index', () => {
  it('finds every row added, through growth, removals and shrinking, as a map of them would', () => {
    const index = new DedupIndex();
    const model = new Map<number, number>(); // key number -> row
    let seed = 7;
    const random = (below: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % below;
    };
    let row = 1;
    // Enough to double the table several times; a third of them removed again.
    for (let step = 0; step < 30_000; step++) {
      const k = random(20_000);
      if (model.has(k) && random(3) === 0) {
        index.remove('r', key(k), model.get(k)!);
        model.delete(k);
      } else if (!model.has(k)) {
        index.add('r', key(k), row);
        model.set(k, row++);
      }
    }
    const agree = () => {
      assert.equal(index.size, model.size);
      for (let k = 0; k < 20_000; k++) {
        const rows = [...index.candidates('r', key(k))];
        assert.deepEqual(rows, model.has(k) ? [model.get(k)] : [], `key ${k}`);
      }
    };
    agree();
    // Nearly all swept: the table halves, several times, and keeps the rest.
    for (const [k, n] of [...model].slice(100)) {
      index.remove('r', key(k), n);
      model.delete(k);
    }
    agree();
  });

  it('keeps a route apart from another, and yields every row of a shared fingerprint', () => {
    const index = new DedupIndex();
    index.add('a', key(1), 1);
    index.add('b', key(1), 2);
    index.add('a', twin(1), 3);
    assert.deepEqual([...index.candidates('b', key(1))], [2]);
    // The fingerprint is 4 bytes: a key differing only after them is a candidate too,
    // which the store tells apart by reading the row.
    assert.deepEqual([...index.candidates('a', key(1))].sort(), [1, 3]);
    index.remove('a', key(1), 1);
    assert.deepEqual([...index.candidates('a', twin(1))], [3]);
    // Removing a row that is not there changes nothing.
    index.remove('a', key(1), 99);
    assert.equal(index.size, 2);
  });
});
