import { createHash } from 'node:crypto';

/**
 * Share of slots in use at most, before the table doubles. Runs of occupied slots grow
 * long as it fills, but a probe is one read of a typed array; memory is what counts.
 */
const MAX_LOAD = 0.75;
/** Share of slots in use below which it halves, so that a burst's ids do not hold memory once swept. */
const MIN_LOAD = MAX_LOAD / 4;
const MIN_CAPACITY = 1 << 12;

/**
 * Where each live dedup id of the SQLite store sits in its log (the `dedup_log` table,
 * rows appended in arrival order), held in memory by the writer thread.
 *
 * Dedup ids are random, so a B-tree keyed by them puts each new one on a page of its own:
 * that page is written to the WAL and copied back by the next checkpoint, half of what an
 * enqueue wrote. The log is appended to, and finding an id is this table's job.
 *
 * It holds hints, never the truth: a slot keeps 4 bytes of the id's fingerprint (which
 * also choose the slot) and the log row's number, and every caller reads that row to
 * confirm the route and key. A slot that names a row rolled back, swept, reused for
 * another id, or another id of the same fingerprint is passed over, so no undo is needed
 * when a transaction fails; an id the log holds is always here, since the table is filled
 * from the log when the writer starts and each append is added once it is made. 12 bytes
 * a slot, at most three quarters of them in use (the table doubles when more would be,
 * and halves when fewer than 3/16 are): 16 to 32 bytes per dedup id while ids arrive.
 */
export class DedupIndex {
  private prints: Uint32Array;
  /** The log row of each slot; 0 for an empty slot (rowids start at 1). */
  private rows: Float64Array;
  private used = 0;

  /** @param expected ids about to be added (those of the log, when the writer starts). */
  constructor(expected = 0) {
    let capacity = MIN_CAPACITY;
    while (expected / capacity > MAX_LOAD) capacity *= 2;
    this.prints = new Uint32Array(capacity);
    this.rows = new Float64Array(capacity);
  }

  get size(): number {
    return this.used;
  }

  /** The log rows recorded under the fingerprint of (route, key), in no set order. */
  *candidates(route: string, key: Uint8Array): Generator<number> {
    const print = fingerprint(route, key);
    const mask = this.rows.length - 1;
    for (let slot = print & mask; this.rows[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.prints[slot] === print) yield this.rows[slot]!;
    }
  }

  /** Record that log row `row` holds (route, key). */
  add(route: string, key: Uint8Array, row: number): void {
    if ((this.used + 1) / this.rows.length > MAX_LOAD) this.resize(this.rows.length * 2);
    this.place(fingerprint(route, key), row);
    this.used++;
  }

  /** Forget log row `row` of (route, key); nothing happens if it is not recorded. */
  remove(route: string, key: Uint8Array, row: number): void {
    const print = fingerprint(route, key);
    const mask = this.rows.length - 1;
    let slot = print & mask;
    while (this.rows[slot] !== row || this.prints[slot] !== print) {
      if (this.rows[slot] === 0) return;
      slot = (slot + 1) & mask;
    }
    this.used--;
    // Linear probing without tombstones: move later entries of the run back into the
    // hole when their own slot lies at or before it, so that every run stays unbroken.
    let hole = slot;
    for (let next = (hole + 1) & mask; this.rows[next] !== 0; next = (next + 1) & mask) {
      const home = this.prints[next]! & mask;
      const between = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (between) continue;
      this.prints[hole] = this.prints[next]!;
      this.rows[hole] = this.rows[next]!;
      hole = next;
    }
    this.rows[hole] = 0;
    if (this.rows.length > MIN_CAPACITY && this.used / this.rows.length < MIN_LOAD) {
      this.resize(this.rows.length / 2);
    }
  }

  private place(print: number, row: number): void {
    const mask = this.rows.length - 1;
    let slot = print & mask;
    while (this.rows[slot] !== 0) slot = (slot + 1) & mask;
    this.prints[slot] = print;
    this.rows[slot] = row;
  }

  private resize(capacity: number): void {
    const { prints, rows } = this;
    this.prints = new Uint32Array(capacity);
    this.rows = new Float64Array(capacity);
    for (let slot = 0; slot < rows.length; slot++) {
      if (rows[slot] !== 0) this.place(prints[slot]!, rows[slot]!);
    }
  }
}

/**
 * 4 bytes standing for (route, key). Keys are hashes already (dedup-key.ts); routes are
 * few, so each is hashed once. Ids sharing them are told apart by their rows.
 */
function fingerprint(route: string, key: Uint8Array): number {
  const first = (key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!;
  return (first ^ routeSalt(route)) >>> 0;
}

const salts = new Map<string, number>();
function routeSalt(route: string): number {
  let salt = salts.get(route);
  if (salt === undefined) {
    salt = createHash('sha256').update(route).digest().readUInt32BE(0);
    salts.set(route, salt);
  }
  return salt;
}
