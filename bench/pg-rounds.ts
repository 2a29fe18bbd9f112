/**
 * The PostgreSQL store's three hot calls, one after another in one process: rounds of a
 * batch of enqueues over some groups, a claim of what is due, and the settling of what it
 * leased as delivered. It prints the time spent in each call and the database server's
 * CPU per message (the local server's processes, read from /proc). With nothing running
 * beside it, its figures move much less than those of `npm run bench`, so it is the one
 * to compare two versions of a function with (run them in turn, a few times each).
 *
 *   npm run bench:pg-rounds
 *   npm run bench:pg-rounds -- --rounds 300 --batch 40 --groups 100
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres/postgres-store.js';
import { PG_URL, pgUrlWith } from '../test/helpers/postgres.js';
import { deliveredNow } from './delivered.js';
import { postgresCpuMs } from './proc.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '300' },
    batch: { type: 'string', default: '40' },
    groups: { type: 'string', default: '100' },
  },
});
const ROUNDS = Number(values.rounds);
const BATCH = Number(values.batch);
const GROUPS = Number(values.groups);
for (const [name, value] of Object.entries({ ROUNDS, BATCH, GROUPS })) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name.toLowerCase()} must be a whole number of at least 1`);
    process.exit(2);
  }
}
/** Rounds run before the measured ones, so that plans and caches are warm. */
const WARM_UP_ROUNDS = 30;
const BODY = Buffer.alloc(1024, 'x');

interface Times {
  enqueue: number;
  claim: number;
  settle: number;
  delivered: number;
}

const schema = `hookq_rounds_${process.pid}`;
const store = await PostgresStore.open(pgUrlWith({ schema }));
let sent = 0;

async function round(): Promise<Times> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: BATCH }, () => {
      const n = sent++;
      return store.enqueue({
        route: 'r',
        group: `g${n % GROUPS}`,
        dedupId: `d${n}`,
        dedupWindowMs: 300_000,
        headers: [['content-type', 'application/json']],
        body: BODY,
      });
    }),
  );
  const enqueued = performance.now();
  const claimed = await store.claimDue({
    route: 'r',
    limit: 100,
    maxConcurrency: 128,
    leaseMs: 30_000,
  });
  const leased = performance.now();
  // All at once, as the dispatcher's outcomes come: they share the store's commits.
  await Promise.all(claimed.map((message) => store.markDelivered(message, deliveredNow())));
  return {
    enqueue: enqueued - started,
    claim: leased - enqueued,
    settle: performance.now() - leased,
    delivered: claimed.length,
  };
}

try {
  for (let i = 0; i < WARM_UP_ROUNDS; i++) await round();
  const cpuBefore = postgresCpuMs();
  const sum: Times = { enqueue: 0, claim: 0, settle: 0, delivered: 0 };
  for (let i = 0; i < ROUNDS; i++) {
    const times = await round();
    for (const key of Object.keys(sum) as Array<keyof Times>) sum[key] += times[key];
  }
  const dbCpuMs = postgresCpuMs() - cpuBefore;
  const messages = ROUNDS * BATCH;
  const perMessage = (ms: number) => `${((ms * 1000) / messages).toFixed(0)} µs`;
  console.log(
    `${ROUNDS} rounds of ${BATCH} enqueues over ${GROUPS} groups, a claim and its settles:`,
  );
  console.log(
    `  enqueue   ${sum.enqueue.toFixed(0).padStart(6)} ms  ${perMessage(sum.enqueue)}/msg`,
  );
  console.log(`  claim     ${sum.claim.toFixed(0).padStart(6)} ms  ${perMessage(sum.claim)}/msg`);
  console.log(`  settle    ${sum.settle.toFixed(0).padStart(6)} ms  ${perMessage(sum.settle)}/msg`);
  console.log(`  database CPU ${perMessage(dbCpuMs)}/msg; ${sum.delivered} delivered`);
} finally {
  await store.close();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
