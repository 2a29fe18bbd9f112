import { createHash } from 'node:crypto';

/** Share of slots in use at most, before the table doubles: short probe runs. */
const MAX_LOAD = 0.5;
/** Share of slots in use below which it halves, so that a burst's ids do not hold memory once swept. */
const MIN_LOAD = 0.125;
const FIRST_CAPACITY = 1 << 12;

/**
 * Where each live dedup id of the SQLite store sits in its log (the `dedup_log` table,
 * rows appended in arrival order), held in memory by the writer thread.
 *
 * Dedup ids are random, so a B-tree keyed by them puts each new one on a page of its own:
 * that page is written to the WAL and copied back by the next checkpoint, half of what an
 * enqueue wrote. The log is appended to, and finding an id is this table's job.
 *
 * It holds hints, never the truth: a slot keeps 8 bytes of the id's fingerprint and the
 * log row's number, and every caller reads that row to confirm the route and key. A slot
 * that names a row rolled back, swept or reused for another id is passed over, so no
 * undo is needed when a transaction fails; an id the log holds is always here, since
 * the table is filled from the log when the writer starts and each append is added
 * once it is made. 16 bytes a slot, at most half of them in use (the table doubles when
 * more would be, and halves when fewer than an eighth are): 32 to 64 bytes per dedup id
 * while ids arrive.
 */
export class DedupIndex {
  private high = new Uint32Array(FIRST_CAPACITY);
  private low = new Uint32Array(FIRST_CAPACITY);
  /** The log row of each slot; 0 for an empty slot (rowids start at 1). */
  private rows = new Float64Array(FIRST_CAPACITY);
  private used = 0;

  get size(): number {
    return this.used;
  }

  /** The log rows recorded under the fingerprint of (route, key), in no set order. */
  *candidates(route: string, key: Uint8Array): Generator<number> {
    const [high, low] = fingerprint(route, key);
    const mask = this.rows.length - 1;
    for (let slot = low & mask; this.rows[slot] !== 0; slot = (slot + 1) & mask) {
      if (this.high[slot] === high && this.low[slot] === low) yield this.rows[slot]!;
    }
  }

  /** Record that log row `row` holds (route, key). */
  add(route: string, key: Uint8Array, row: number): void {
    if ((this.used + 1) / this.rows.length > MAX_LOAD) this.resize(this.rows.length * 2);
    const [high, low] = fingerprint(route, key);
    this.place(high, low, row);
    this.used++;
  }

  /** Forget log row `row` of (route, key); nothing happens if it is not recorded. */
  remove(route: string, key: Uint8Array, row: number): void {
    const [high, low] = fingerprint(route, key);
    const mask = this.rows.length - 1;
    let slot = low & mask;
    while (this.rows[slot] !== row || this.high[slot] !== high || this.low[slot] !== low) {
      if (this.rows[slot] === 0) return;
      slot = (slot + 1) & mask;
    }
    this.used--;
    // Linear probing without tombstones: move later entries of the run back into the
    // hole when their own slot lies at or before it, so that every run stays unbroken.
    let hole = slot;
    for (let next = (hole + 1) & mask; this.rows[next] !== 0; next = (next + 1) & mask) {
      const home = this.low[next]! & mask;
      const between = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (between) continue;
      this.high[hole] = this.high[next]!;
      this.low[hole] = this.low[next]!;
      this.rows[hole] = this.rows[next]!;
      hole = next;
    }
    this.rows[hole] = 0;
    if (this.rows.length > FIRST_CAPACITY && this.used / this.rows.length < MIN_LOAD) {
      this.resize(this.rows.length / 2);
    }
  }

  private place(high: number, low: number, row: number): void {
    const mask = this.rows.length - 1;
    let slot = low & mask;
    while (this.rows[slot] !== 0) slot = (slot + 1) & mask;
    this.high[slot] = high;
    this.low[slot] = low;
    this.rows[slot] = row;
  }

  private resize(capacity: number): void {
    const { high, low, rows } = this;
    this.high = new Uint32Array(capacity);
    this.low = new Uint32Array(capacity);
    this.rows = new Float64Array(capacity);
    for (let slot = 0; slot < rows.length; slot++) {
      if (rows[slot] !== 0) this.place(high[slot]!, low[slot]!, rows[slot]!);
    }
  }
}

/**
 * 8 bytes standing for (route, key). Keys are hashes already (dedup-key.ts); routes are
 * few, so each is hashed once.
 */
function fingerprint(route: string, key: Uint8Array): [number, number] {
  const salt = routeSalt(route);
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  return [(view.getUint32(0) ^ salt[0]) >>> 0, (view.getUint32(4) ^ salt[1]) >>> 0];
}

const salts = new Map<string, [number, number]>();
function routeSalt(route: string): [number, number] {
  let salt = salts.get(route);
  if (!salt) {
    const digest = createHash('sha256').update(route).digest();
    salt = [digest.readUInt32BE(0), digest.readUInt32BE(4)];
    salts.set(route, salt);
  }
  return salt;
}
