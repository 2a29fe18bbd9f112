/**
 * hookq's benchmark (SPEC §10). Every figure is measured in this run, on this machine,
 * and set against a baseline measured in the same run:
 *
 *  - ingress: requests/s and p50/p99 latency of `hookq serve` (each 200 only after the
 *    durable commit) and of a bare node:http server, same load (64 connections, unique
 *    1 KiB JSON bodies); their ratio.
 *  - delivery: messages/s from a queue to a local target, 1 group and 100 groups.
 *  - backlog: the same with 1,000,000 messages already queued (the one-group figure on a
 *    second route, beside the paused backlog), and hookq's resident memory.
 *  - heal: an outage of the target with messages of 100 groups waiting; how long after
 *    the target returns the first message arrives, and the last.
 *
 * hookq runs from dist/, as users run it; `npm run bench` builds it first.
 *
 *   npm run bench                          # full run
 *   npm run bench -- --backlog 100000 --seconds 5
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { openStore } from '../src/store/open-store.js';
import type { NewMessage } from '../src/store/store.js';
import { tempDir, writeConfig } from '../test/helpers/config.js';
import { HookqServer } from '../test/helpers/hookq-process.js';
import { PG_URL } from '../test/helpers/postgres.js';

const { values } = parseArgs({
  options: {
    backlog: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
  },
});
const BACKLOG = Number(values.backlog);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const ROUTE = 'bench';
const PATH = '/webhooks/bench';
/** A second route, for one group's delivery beside the backlog of the first. */
const SOLO = 'bench-solo';
const GROUPS = 100;
/** Messages delivered for the one-group figures: enough for several seconds. */
const ONE_GROUP = 10_000;

/** A unique 1 KiB JSON body per request, so content deduplication drops none of them. */
function body(n: number): string {
  const head = `{"n":${n},"group":"g${n % GROUPS}","pad":"`;
  return `${head}${'x'.repeat(1024 - head.length - 2)}"}`;
}

interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string): Promise<LoadResult> {
  let n = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: body(n++) }),
      },
    ],
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function startRawServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('raw-server.mjs', import.meta.url))],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, url: `http://127.0.0.1:${line.trim()}${PATH}` };
}

/** A target that counts what it receives, in this process; on `port` if given. */
async function startCountingTarget(port = 0) {
  let count = 0;
  let firstAt = 0;
  let lastAt = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      count++;
      lastAt = performance.now();
      if (count === 1) firstAt = lastAt;
      response.writeHead(200);
      response.end();
      for (const w of waiters.filter((w) => count >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`,
    get count() {
      return count;
    },
    /** performance.now() of the first and the latest arrival. */
    get firstAt() {
      return firstAt;
    },
    get lastAt() {
      return lastAt;
    },
    /** Deliveries per second from the first arrival to the last. */
    get rate() {
      return (count - 1) / ((lastAt - firstAt) / 1000);
    },
    reached: (n: number) =>
      count >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Where a measured hookq keeps its data: a directory for its files, and its storage URL. */
interface Place {
  dir: string;
  url: string;
}

function hookqConfig(place: Place, target: string): string {
  return writeConfig(place.dir, {
    storage: { url: place.url },
    routes: [ROUTE, SOLO].map((name) => ({
      name,
      path: name === ROUTE ? PATH : `/webhooks/${name}`,
      target,
      group: { json: '/group' },
      delivery: { timeout: '5s', maxConcurrency: 128 },
    })),
  });
}

async function fill(
  place: Place,
  count: number,
  groups: number,
  paused: boolean,
  route = ROUTE,
): Promise<void> {
  const store = await openStore(place.url);
  await store.setPaused(route, paused);
  const payload = Buffer.from(body(0));
  let done = 0;
  while (done < count) {
    const batch = Math.min(1000, count - done);
    await Promise.all(
      Array.from({ length: batch }, (_, i): Promise<unknown> => {
        const message: NewMessage = {
          route,
          group: `g${(done + i) % groups}`,
          dedupId: null,
          dedupWindowMs: 0,
          headers: [['content-type', 'application/json']],
          body: payload,
        };
        return store.enqueue(message);
      }),
    );
    done += batch;
    if (count >= 100_000 && done % 100_000 === 0)
      process.stderr.write(`  queued ${done.toLocaleString('en')}\n`);
  }
  await store.close();
}

async function setPaused(place: Place, paused: boolean, route = ROUTE): Promise<void> {
  const store = await openStore(place.url);
  await store.setPaused(route, paused);
  await store.close();
}

function residentMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kib / 1024;
}

/** Ingress of hookq serve on `dir`, with deliveries paused so they do not compete. */
async function hookqIngress(
  place: Place,
  target: string,
): Promise<LoadResult & { rssMiB: number }> {
  await setPaused(place, true);
  const { server, ingressUrl } = await HookqServer.start(hookqConfig(place, target), [], {}, true);
  try {
    const result = await load(`${ingressUrl}${PATH}`);
    return { ...result, rssMiB: residentMiB(server.child.pid!) };
  } finally {
    await server.stop();
  }
}

/** Delivery rate of hookq serve over the first `count` queued messages of `route`. */
async function hookqDelivery(
  place: Place,
  count: number,
  route = ROUTE,
): Promise<{ perSecond: number; rssMiB: number }> {
  const target = await startCountingTarget();
  await setPaused(place, false, route);
  const { server } = await HookqServer.start(hookqConfig(place, target.url), [], {}, true);
  try {
    await target.reached(count);
    return { perSecond: target.rate, rssMiB: residentMiB(server.child.pid!) };
  } finally {
    await server.stop();
    await target.close();
  }
}

/** Messages waiting through the outage of the heal figure, and how long it lasts. */
const HEAL_MESSAGES = 2_000;
const OUTAGE_MS = 5_000;

/**
 * The target is away while messages of 100 groups wait (connections refused; the
 * breaker takes the route down and probes), then comes back on its port.
 */
async function heal(place: Place): Promise<{ firstMs: number; drainedMs: number }> {
  const reserved = await startCountingTarget();
  const port = Number(new URL(reserved.url).port);
  await reserved.close();
  await fill(place, HEAL_MESSAGES, GROUPS, false);
  const { server } = await HookqServer.start(
    hookqConfig(place, `http://127.0.0.1:${port}/webhook`),
    [],
    {},
    true,
  );
  try {
    await server.waitForLog((entry) => String(entry.msg).startsWith('target is down'), 30_000);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const back = performance.now();
    const target = await startCountingTarget(port);
    try {
      await target.reached(HEAL_MESSAGES);
      return { firstMs: target.firstAt - back, drainedMs: target.lastAt - back };
    } finally {
      await target.close();
    }
  } finally {
    await server.stop();
  }
}

const fmt = (n: number, width = 9) => Math.round(n).toLocaleString('en').padStart(width);
const ms = (n: number) => `${n.toFixed(1)} ms`.padStart(9);
const ratio = (n: number, base: number) => `${((100 * n) / base).toFixed(0)}%`;

const phase = (name: string) => process.stderr.write(`[${new Date().toISOString()}] ${name}\n`);

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  console.log(
    `hookq benchmark: ${CONNECTIONS} connections, 1 KiB bodies, ${SECONDS}s per load figure\n`,
  );
  const dirs: string[] = [];
  const schemas: string[] = [];
  const sqlite = (): Place => {
    const dir = tempDir('hookq-bench-');
    dirs.push(dir);
    return { dir, url: `sqlite:${join(dir, 'hookq.db')}` };
  };
  const postgres = (): Place => {
    const place = sqlite();
    const schema = `hookq_bench_${schemas.length}_${process.pid}`;
    schemas.push(schema);
    return { dir: place.dir, url: `${PG_URL}?schema=${schema}` };
  };
  try {
    phase('raw node:http ingress');
    const raw = await startRawServer();
    const rawResult = await load(raw.url);
    raw.child.kill();

    phase('hookq ingress');
    const emptyIngress = await hookqIngress(sqlite(), 'http://127.0.0.1:9/unused');

    phase('delivery, 1 group');
    const single = sqlite();
    await fill(single, ONE_GROUP, 1, true, SOLO);
    const oneGroup = await hookqDelivery(single, ONE_GROUP, SOLO);
    phase(`delivery, ${GROUPS} groups`);
    const many = sqlite();
    await fill(many, 30_000, GROUPS, true);
    const manyGroups = await hookqDelivery(many, 30_000);

    console.log('ingress (hookq answers 200 only after an fsynced commit)');
    console.log('                      requests/s     p50        p99     vs raw   errors');
    console.log(
      `  raw node:http       ${fmt(rawResult.rps)}  ${ms(rawResult.p50)}  ${ms(rawResult.p99)}     100%   ${rawResult.errors + rawResult.non2xx}`,
    );
    console.log(
      `  hookq (empty)       ${fmt(emptyIngress.rps)}  ${ms(emptyIngress.p50)}  ${ms(emptyIngress.p99)}   ${ratio(emptyIngress.rps, rawResult.rps).padStart(6)}   ${emptyIngress.errors + emptyIngress.non2xx}`,
    );
    console.log('\ndelivery to a local target');
    console.log(`  1 group            ${fmt(oneGroup.perSecond)} msg/s`);
    console.log(`  ${GROUPS} groups         ${fmt(manyGroups.perSecond)} msg/s`);

    phase('heal after an outage');
    const healed = await heal(sqlite());
    console.log(
      `\nheal: ${HEAL_MESSAGES.toLocaleString('en')} messages over ${GROUPS} groups waited through a ${OUTAGE_MS / 1000}s outage (breaker defaults)`,
    );
    console.log(`  first delivery       ${ms(healed.firstMs)} after the target returned`);
    console.log(`  backlog drained      ${ms(healed.drainedMs)} after the target returned`);

    if (await postgresReachable()) {
      phase('postgres ingress');
      const pgIngress = await hookqIngress(postgres(), 'http://127.0.0.1:9/unused');
      phase(`postgres delivery, ${GROUPS} groups`);
      const pgMany = postgres();
      await fill(pgMany, 30_000, GROUPS, true);
      const pgDelivery = await hookqDelivery(pgMany, 30_000);
      console.log('\nstores side by side          sqlite     postgres   postgres/sqlite');
      console.log(
        `  ingress requests/s     ${fmt(emptyIngress.rps)}    ${fmt(pgIngress.rps)}   ${ratio(pgIngress.rps, emptyIngress.rps).padStart(6)}`,
      );
      console.log(`  ingress p99            ${ms(emptyIngress.p99)}    ${ms(pgIngress.p99)}`);
      console.log(
        `  delivery msg/s (${GROUPS}g)  ${fmt(manyGroups.perSecond)}    ${fmt(pgDelivery.perSecond)}   ${ratio(pgDelivery.perSecond, manyGroups.perSecond).padStart(6)}`,
      );
    } else {
      console.log(`\npostgres: not reachable at ${PG_URL}; its figures are left out`);
    }

    if (BACKLOG > 0) {
      console.log(
        `\nfilling a backlog of ${BACKLOG.toLocaleString('en')} queued messages (${GROUPS} groups)...`,
      );
      const deep = sqlite();
      await fill(deep, BACKLOG, GROUPS, true);
      const deepIngress = await hookqIngress(deep, 'http://127.0.0.1:9/unused');
      // One group of another route, while the backlog waits (paused) in the same file.
      await fill(deep, ONE_GROUP, 1, true, SOLO);
      const deepOneGroup = await hookqDelivery(deep, ONE_GROUP, SOLO);
      const deepDelivery = await hookqDelivery(deep, 30_000);
      console.log(
        `\nwith ${BACKLOG.toLocaleString('en')} queued             empty      backlog   backlog/empty`,
      );
      console.log(
        `  ingress requests/s     ${fmt(emptyIngress.rps)}    ${fmt(deepIngress.rps)}   ${ratio(deepIngress.rps, emptyIngress.rps).padStart(6)}`,
      );
      console.log(`  ingress p99            ${ms(emptyIngress.p99)}    ${ms(deepIngress.p99)}`);
      console.log(
        `  delivery msg/s (1g)    ${fmt(oneGroup.perSecond)}    ${fmt(deepOneGroup.perSecond)}   ${ratio(deepOneGroup.perSecond, oneGroup.perSecond).padStart(6)}`,
      );
      console.log(
        `  delivery msg/s (${GROUPS}g)  ${fmt(manyGroups.perSecond)}    ${fmt(deepDelivery.perSecond)}   ${ratio(deepDelivery.perSecond, manyGroups.perSecond).padStart(6)}`,
      );
      console.log(
        `  resident memory        ${fmt(Math.max(emptyIngress.rssMiB, manyGroups.rssMiB), 6)} MiB  ${fmt(Math.max(deepIngress.rssMiB, deepOneGroup.rssMiB, deepDelivery.rssMiB), 6)} MiB`,
      );
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (schemas.length > 0) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
}

await main();
