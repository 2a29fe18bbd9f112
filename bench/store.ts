/**
 * Store benchmark: durable enqueue rates by batch size, and claim+complete rates with
 * an empty queue and with a deep backlog. Figures are also given as ratios to
 * baselines measured in the same run, because the machine may be shared and noisy.
 *
 *   npm run bench:store                   # 1,000,000 queued for the backlog figures
 *   npm run bench:store -- --backlog 200000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { NewMessage, Store } from '../src/store/store.js';
import { deliveredNow } from './delivered.js';

const { values } = parseArgs({
  options: {
    backlog: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '3' },
  },
});
const BACKLOG = Number(values.backlog);
const SECONDS = Number(values.seconds);
const BODY = Buffer.alloc(1024, 'x');
const dir = mkdtempSync(join(tmpdir(), 'hookq-bench-store-'));

function message(route: string, n: number, groups: number): NewMessage {
  return {
    route,
    group: `g${n % groups}`,
    dedupId: `n${n}`,
    dedupWindowMs: 300_000,
    headers: [['content-type', 'application/json']],
    body: BODY,
  };
}

/** Runs `step` repeatedly for the configured time; returns items per second. */
async function rate(step: () => Promise<number>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let items = 0;
  while (performance.now() < end) items += await step();
  return items / ((performance.now() - start) / 1000);
}

/** The floor under every durable enqueue: one fsynced SQLite commit per row. */
function rawFsyncCommitsPerSecond(): number {
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)');
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < end) {
    insert.run(BODY);
    n++;
  }
  const perSecond = n / ((performance.now() - start) / 1000);
  db.close();
  return perSecond;
}

let counter = 0;
async function enqueueRate(store: Store, route: string, batch: number): Promise<number> {
  return rate(async () => {
    await Promise.all(
      Array.from({ length: batch }, () => store.enqueue(message(route, counter++, 100))),
    );
    return batch;
  });
}

async function claimCompleteRate(store: Store, route: string): Promise<number> {
  return rate(async () => {
    const claimed = await store.claimDue({
      route,
      limit: 100,
      maxConcurrency: 100,
      leaseMs: 30_000,
    });
    for (const m of claimed) {
      await store.markDelivered(m, deliveredNow());
    }
    return claimed.length;
  });
}

async function fill(store: Store, route: string, count: number): Promise<void> {
  let done = 0;
  let shown = 0;
  while (done < count) {
    const batch = Math.min(1000, count - done);
    await Promise.all(
      Array.from({ length: batch }, () => store.enqueue(message(route, counter++, 10_000))),
    );
    done += batch;
    if (done - shown >= count / 10) {
      shown = done;
      process.stderr.write(
        `  filled ${done.toLocaleString('en')} / ${count.toLocaleString('en')}\n`,
      );
    }
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en').padStart(10);
const ratio = (n: number, base: number) => `${(n / base).toFixed(2)}x`;

async function main(): Promise<void> {
  console.log(`hookq store benchmark (sqlite, 1 KiB bodies, ${SECONDS}s per figure)\n`);
  const raw = rawFsyncCommitsPerSecond();
  console.log(`baseline: raw fsynced SQLite commits, 1 row each   ${fmt(raw)} /s\n`);

  const store = SqliteStore.open(join(dir, 'hookq.db'));
  console.log('durable enqueues (each resolved only after fsync):');
  for (const batch of [1, 10, 100]) {
    const perSecond = await enqueueRate(store, 'enqueue', batch);
    console.log(
      `  ${String(batch).padStart(3)} concurrent   ${fmt(perSecond)} msg/s   ${ratio(perSecond, raw)} the baseline`,
    );
  }

  await fill(store, 'empty', 100_000);
  const emptyEnqueue = await enqueueRate(store, 'probe', 100);
  const emptyClaim = await claimCompleteRate(store, 'empty');

  console.log(
    `\nfilling a backlog of ${BACKLOG.toLocaleString('en')} queued messages (10,000 groups)...`,
  );
  await fill(store, 'backlog', BACKLOG);
  const deepEnqueue = await enqueueRate(store, 'backlog', 100);
  const deepClaim = await claimCompleteRate(store, 'backlog');
  const [stats] = await store.routeStats(['backlog']);

  console.log('\n                          empty queue   with backlog   ratio');
  console.log(
    `enqueue (100 concurrent)  ${fmt(emptyEnqueue)} /s ${fmt(deepEnqueue)} /s   ${ratio(deepEnqueue, emptyEnqueue)}`,
  );
  console.log(
    `claim + complete          ${fmt(emptyClaim)} /s ${fmt(deepClaim)} /s   ${ratio(deepClaim, emptyClaim)}`,
  );
  console.log(`\nqueued in the backlog route at the end: ${stats?.queued.toLocaleString('en')}`);
  console.log(`resident memory: ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
  await store.close();
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
