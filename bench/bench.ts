/**
 * hookq's benchmark: the phases of SPEC §10, each set against a baseline measured in the
 * same run on the same machine, since the machine may be shared and noisy.
 *
 * The load (bench/load.mjs, in its own process, one request at a time per connection): 64
 * keep-alive connections, unique 1 KiB JSON bodies, the group in X-Entity-Id over 100
 * groups, each connection sending 4 consecutive requests for one group before it moves on;
 * 2 s of warm-up, then the measured window. The bare baseline (bench/raw-server.mjs, a node:http server that reads the body
 * and answers 200) takes the same load right before each ingress phase, so each ratio
 * compares figures taken a few seconds apart. The target hookq delivers to
 * (bench/target.mjs) runs in its own process too, answers 200 at once, counts deliveries
 * and checks per-group order. hookq runs from dist/, as users run it (`npm run bench`
 * builds it first), one process per phase, and its resident set is read from /proc at the
 * end of each phase.
 *
 *  - release window: ingress while the target is down (refused connections: the
 *    breaker holds every delivery and probes);
 *  - steady state: ingress while hookq delivers to the target; delivered/accepted over
 *    the measured window;
 *  - drain: a backlog delivered once the target is there, over 100 groups and in one
 *    group; heal: how long after the target returns from an outage the first message
 *    arrives, and the last;
 *  - deep backlog: the same with `--backlog` messages (1,000,000) queued in the store
 *    (paused on a route of their own; the 100-group drain takes the first messages of
 *    that backlog itself), as ratios to the empty-queue figures;
 *  - PostgreSQL: release window, steady state with one instance and with three (the
 *    load's connections split round-robin over them), and a drain.
 *
 * It prints one table and writes it as JSON to bench/results/ (latest.json and a dated
 * copy; the folder is not kept in git).
 *
 *   npm run bench                               # full run
 *   npm run bench -- --seconds 2 --backlog 0    # quick check of the harness itself
 *   options: --seconds N (measured window), --warmup N, --backlog N (0: no deep backlog),
 *            --connections N, --max-concurrency N (delivery.maxConcurrency), --no-postgres,
 *            --no-sqlite (the PostgreSQL phases alone, when working on that store),
 *            --only PHASES (some phases alone, comma-separated: release, steady, drain,
 *            drain-one, heal, backlog, postgres; the deep backlog is then compared with
 *            the empty-queue phases only if they ran too)
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openStore } from '../src/store/open-store.js';
import type { NewMessage } from '../src/store/store.js';
import { tempDir, writeConfig } from '../test/helpers/config.js';
import { HookqServer } from '../test/helpers/hookq-process.js';
import { PG_URL, pgUrlWith } from '../test/helpers/postgres.js';
import { cpuMsOf, postgresCpuMs } from './proc.js';

const { values } = parseArgs({
  options: {
    backlog: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'max-concurrency': { type: 'string', default: '128' },
    'no-postgres': { type: 'boolean', default: false },
    'no-sqlite': { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const PHASES = ['release', 'steady', 'drain', 'drain-one', 'heal', 'backlog', 'postgres'] as const;
type PhaseName = (typeof PHASES)[number];
const only = values.only?.split(',').map((name) => name.trim());
for (const name of only ?? []) {
  if (!(PHASES as readonly string[]).includes(name))
    throw new Error(`--only: no phase "${name}"; the phases are ${PHASES.join(', ')}`);
}
/** Whether the phase runs: all do unless --only names some. */
const runs = (name: PhaseName) => !only || (only as string[]).includes(name);
const BACKLOG = Number(values.backlog);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONNECTIONS = Number(values.connections);
const MAX_CONCURRENCY = Number(values['max-concurrency']);
const WITH_POSTGRES = !values['no-postgres'];
const WITH_SQLITE = !values['no-sqlite'];
for (const [name, value] of Object.entries({
  backlog: BACKLOG,
  seconds: SECONDS,
  warmup: WARMUP,
  connections: CONNECTIONS,
  'max-concurrency': MAX_CONCURRENCY,
})) {
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number ≥ 0`);
}

const GROUPS = 100;
const BURST = 4;
const BODY_BYTES = 1024;
const GROUP_HEADER = 'X-Entity-Id';
/** Messages delivered for the drain figures. */
const DRAIN_MANY = 30_000;
const DRAIN_ONE = 10_000;
/** Messages waiting through the outage of the heal figure, and how long it lasts. */
const HEAL_MESSAGES = 2_000;
const OUTAGE_MS = 5_000;
/** PostgreSQL instances behind the load in the scaling figure. */
const INSTANCES = 3;
/** A port nothing listens on (privileged, so no test's server takes it): refused. */
const DOWN_TARGET = 'http://127.0.0.1:9/webhook';

/**
 * The routes of every measured hookq. `down` always targets a closed port (the release
 * window); `live` takes the load while delivering; `solo` and `backlog` hold queued
 * messages for the drains and the deep backlog.
 */
const ROUTES = ['down', 'live', 'solo', 'backlog'] as const;
type RouteName = (typeof ROUTES)[number];
const pathOf = (route: RouteName) => `/webhooks/${route}`;

const MB = 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const phase = (name: string) => process.stderr.write(`[${new Date().toISOString()}] ${name}\n`);

// ---------------------------------------------------------------------------------------
// Child processes: the load, the target, the bare server, hookq.

/** Every process this run started, so that an interrupted run leaves none behind. */
const children = new Set<ChildProcess>();
function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
/** The directories of the measured stores, removed at the end. */
const dirs: string[] = [];
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

const file = (name: string) => fileURLToPath(new URL(name, import.meta.url));

/** A forked helper (.mjs, without this process's loader) that talks over IPC. */
class Forked {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (message: Record<string, unknown>) => void>();

  constructor(script: string, args: string[]) {
    this.child = track(fork(file(script), args, { execArgv: [], stdio: 'inherit' }));
    this.child.on('message', (message: Record<string, unknown>) => {
      const reply = this.pending.get(message.id as number);
      if (reply) {
        this.pending.delete(message.id as number);
        reply(message);
      }
    });
  }

  ask<T>(type: string, extra: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const exited = () => reject(new Error(`${type}: the helper exited`));
      this.child.once('exit', exited);
      this.pending.set(id, (message) => {
        this.child.off('exit', exited);
        resolve(message as T);
      });
      this.child.send({ type, id, ...extra });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill();
    await exited;
  }
}

interface TargetStats {
  count: number;
  firstAt: number;
  lastAt: number;
  repeats: number;
  violations: number;
}

/** Per-group order as the targets of this run saw it. */
const order = { deliveries: 0, repeats: 0, violations: 0 };

/** The counting target, in its own process; on `port` if given. */
async function startTarget(port = 0) {
  const helper = new Forked('target.mjs', [String(port)]);
  const [listening] = (await once(helper.child, 'message')) as [{ port: number; at: number }];
  return {
    url: `http://127.0.0.1:${listening.port}/webhook`,
    /** When it listened (epoch ms). */
    listeningAt: listening.at,
    stats: () => helper.ask<TargetStats>('stats'),
    /** Resolves once `n` deliveries arrived. */
    reached: (n: number) => helper.ask<TargetStats>('wait', { n }),
    async close(): Promise<void> {
      const last = await helper.ask<TargetStats>('stats');
      order.deliveries += last.count;
      order.repeats += last.repeats;
      order.violations += last.violations;
      await helper.close();
    },
  };
}

/** What the load generator measured in its window. */
interface Load {
  seconds: number;
  accepted: number;
  rejected: number;
  errors: number;
  statuses: Record<string, number>;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** Accepted in the window, per URL (per instance). */
  acceptedByUrl: Record<string, number>;
}

/**
 * Run the load against `urls` (connections round-robin over them). `measuring` runs as
 * the measured window opens, `measured` as it closes (while the load still runs).
 */
async function runLoad(
  urls: string[],
  hooks: { measuring?: () => Promise<void>; measured?: () => Promise<void> } = {},
): Promise<Load> {
  const child = track(
    fork(
      file('load.mjs'),
      [
        JSON.stringify({
          urls,
          connections: CONNECTIONS,
          warmupSeconds: WARMUP,
          seconds: SECONDS,
          groups: GROUPS,
          burst: BURST,
          bodyBytes: BODY_BYTES,
          header: GROUP_HEADER,
        }),
      ],
      { execArgv: [], stdio: 'inherit' },
    ),
  );
  const exited = once(child, 'exit');
  let result: Load | undefined;
  let failure: unknown;
  // The generator may exit before a hook has finished its readings: each is awaited.
  const running: Array<Promise<void>> = [];
  child.on('message', (message: { type: string } & Load) => {
    const hook = message.type === 'measuring' ? hooks.measuring : hooks.measured;
    if (message.type === 'measured') result = message;
    running.push(
      Promise.resolve(hook?.()).catch((error: unknown) => {
        failure = error;
      }),
    );
  });
  await exited;
  await Promise.all(running);
  if (failure) throw failure;
  if (!result) throw new Error('the load generator exited without its figures');
  return result;
}

/** The bare node:http server under the same load, now. */
async function bareLoad(path: string): Promise<Load> {
  const child = track(
    spawn(process.execPath, [file('raw-server.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    return await runLoad([`http://127.0.0.1:${line.trim()}${path}`]);
  } finally {
    const exited = once(child, 'exit');
    child.kill();
    await exited;
  }
}

/** Where a measured hookq keeps its data: a directory for its files, its storage URL. */
interface Place {
  dir: string;
  url: string;
  store: 'sqlite' | 'postgres';
}

function hookqConfig(place: Place, target: string): string {
  return writeConfig(place.dir, {
    storage: { url: place.url },
    routes: ROUTES.map((name) => ({
      name,
      path: pathOf(name),
      target: name === 'down' ? DOWN_TARGET : target,
      group: { header: GROUP_HEADER },
      delivery: { maxConcurrency: MAX_CONCURRENCY },
    })),
  });
}

async function startHookq(place: Place, target: string, instances = 1) {
  const config = hookqConfig(place, target);
  const servers: Array<{ server: HookqServer; ingressUrl: string }> = [];
  try {
    for (let i = 0; i < instances; i++) {
      const started = await HookqServer.start(config, [], {}, true);
      track(started.server.child);
      servers.push(started);
    }
  } catch (error) {
    await Promise.all(servers.map(({ server }) => server.stop()));
    throw error;
  }
  return {
    urls: (path: string) => servers.map(({ ingressUrl }) => `${ingressUrl}${path}`),
    /** The largest resident set of the instances, in MB. */
    residentMB: () => Math.max(...servers.map(({ server }) => residentMB(server.child.pid!))),
    /**
     * What the instances have used so far, all threads: CPU time and bytes written to
     * storage; on PostgreSQL also the database server's CPU time and its WAL position.
     */
    usage: async (): Promise<Usage> => {
      const own = servers.map(({ server }) => usageOf(server.child.pid!));
      const cpuMs = own.reduce((sum, used) => sum + used.cpuMs, 0);
      if (place.store === 'postgres') {
        return { cpuMs, writtenBytes: await walPosition(), dbCpuMs: postgresCpuMs() };
      }
      return {
        cpuMs,
        writtenBytes: own.reduce((sum, used) => sum + used.writtenBytes, 0),
        dbCpuMs: 0,
      };
    },
    log: servers[0]!.server,
    /** Whether any instance logged a line starting with `prefix`. */
    logged: (prefix: string) =>
      servers.some(({ server }) =>
        server.logs.some((entry) => String(entry.msg).startsWith(prefix)),
      ),
    stop: () => Promise.all(servers.map(({ server }) => server.stop())),
  };
}

/**
 * What a process has used, all its threads: CPU time (user and system) in ms, and the
 * bytes it had written to storage (its writes of the WAL and of checkpoints into the
 * database file, counted by the kernel as they reach the page cache; not its sockets).
 * On PostgreSQL, what the database server did for it instead: `writtenBytes` is the
 * server's WAL position (bytes of WAL since its creation, the whole cluster's, and
 * nothing else writes to it during a phase) and `dbCpuMs` the CPU time of all its
 * processes.
 */
interface Usage {
  cpuMs: number;
  writtenBytes: number;
  dbCpuMs: number;
}

function usageOf(pid: number): Omit<Usage, 'dbCpuMs'> {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return {
    cpuMs: cpuMsOf(pid) ?? 0,
    writtenBytes: Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? 0),
  };
}

/** The PostgreSQL server's WAL position, in bytes. */
async function walPosition(): Promise<number> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ at: string }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS at`,
    );
    return Number(rows[0]!.at);
  } finally {
    await client.end();
  }
}

/** A quantity per message, or null if there were none to share it. */
const perMessage = (total: number, messages: number) => (messages > 0 ? total / messages : null);

/**
 * Per message between two readings: CPU ms, KB written (on PostgreSQL, of WAL), and on
 * PostgreSQL the database's CPU ms.
 */
function usagePerMessage(place: Place, before: Usage, after: Usage, messages: number) {
  return {
    cpuMsPerMessage: perMessage(after.cpuMs - before.cpuMs, messages),
    writtenKBPerMessage: perMessage((after.writtenBytes - before.writtenBytes) / 1024, messages),
    dbCpuMsPerMessage:
      place.store === 'postgres' ? perMessage(after.dbCpuMs - before.dbCpuMs, messages) : null,
  };
}

function residentMB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return (kib * 1024) / MB;
}

// ---------------------------------------------------------------------------------------
// Queued messages, written to the store directly while no hookq runs on it.

/** A 1 KiB JSON body; the queued ones need not differ (no dedup id is given). */
const QUEUED_BODY = Buffer.from(`{"pad":"${'x'.repeat(BODY_BYTES - 10)}"}`);

async function fill(
  place: Place,
  route: RouteName,
  count: number,
  groups: number,
  paused: boolean,
): Promise<void> {
  const store = await openStore(place.url);
  try {
    await store.setPaused(route, paused);
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
            body: QUEUED_BODY,
          };
          return store.enqueue(message);
        }),
      );
      done += batch;
      if (count >= 100_000 && done % 100_000 === 0)
        process.stderr.write(`  queued ${done.toLocaleString('en')}\n`);
    }
  } finally {
    await store.close();
  }
}

async function setPaused(place: Place, route: RouteName, paused: boolean): Promise<void> {
  const store = await openStore(place.url);
  try {
    await store.setPaused(route, paused);
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------
// The phases.

interface Ingress {
  bare: Load;
  hookq: Load;
  ratio: number;
  rssMB: number;
  /** hookq's CPU time in the measured window per accepted webhook, in ms (none accepted: null). */
  cpuMsPerMessage: number | null;
  /** KB hookq wrote to storage in the measured window per accepted webhook (PostgreSQL: WAL). */
  writtenKBPerMessage: number | null;
  /** PostgreSQL only: the database server's CPU time per accepted webhook, in ms. */
  dbCpuMsPerMessage: number | null;
  /** Steady state only: deliveries in the measured window, and per accepted webhook. */
  delivered?: number;
  deliveredPerSecond?: number;
  deliveredRatio?: number;
  /** Several instances: each one's accepted req/s. */
  perInstanceRps?: number[];
  /** Release window: whether hookq's breaker took the route down (and so held deliveries). */
  breakerHeld?: boolean;
}

/** Ingress into `route`: the bare server first, then hookq; with a live target or none. */
async function ingress(place: Place, route: 'down' | 'live', instances = 1): Promise<Ingress> {
  const bare = await bareLoad(pathOf(route));
  const target = route === 'live' ? await startTarget() : undefined;
  try {
    const hookq = await startHookq(place, target?.url ?? DOWN_TARGET, instances);
    try {
      let before: TargetStats | undefined;
      let after: TargetStats | undefined;
      let rssMB = 0;
      let used: Usage = { cpuMs: 0, writtenBytes: 0, dbCpuMs: 0 };
      let usedAfter = used;
      const load = await runLoad(hookq.urls(pathOf(route)), {
        measuring: async () => {
          used = await hookq.usage();
          before = await target?.stats();
        },
        measured: async () => {
          usedAfter = await hookq.usage();
          rssMB = hookq.residentMB();
          after = await target?.stats();
        },
      });
      const figures: Ingress = {
        bare,
        hookq: load,
        ratio: load.rps / bare.rps,
        rssMB,
        ...usagePerMessage(place, used, usedAfter, load.accepted),
      };
      if (instances > 1)
        figures.perInstanceRps = Object.values(load.acceptedByUrl).map((n) => n / load.seconds);
      if (route === 'down') figures.breakerHeld = hookq.logged('target is down');
      if (before && after) {
        figures.delivered = after.count - before.count;
        figures.deliveredPerSecond = figures.delivered / load.seconds;
        figures.deliveredRatio = figures.delivered / load.accepted;
      }
      return figures;
    } finally {
      await hookq.stop();
    }
  } finally {
    await target?.close();
  }
}

interface Drain {
  perSecond: number;
  rssMB: number;
  /** hookq's CPU time from the first delivery to the last, per delivery, in ms. */
  cpuMsPerMessage: number | null;
  /** KB hookq wrote to storage over the same deliveries, per delivery (PostgreSQL: WAL). */
  writtenKBPerMessage: number | null;
  /** PostgreSQL only: the database server's CPU time per delivery, in ms. */
  dbCpuMsPerMessage: number | null;
}

/** Delivery rate over the first `count` queued messages of `route`, from the first arrival. */
async function drain(place: Place, route: RouteName, count: number, instances = 1): Promise<Drain> {
  const target = await startTarget();
  try {
    await setPaused(place, route, false);
    const hookq = await startHookq(place, target.url, instances);
    try {
      // From the first delivery on: the start-up before it is not the drain's.
      const first = await arrival(target, 1);
      const used = await hookq.usage();
      const reached = await arrival(target, count);
      return {
        perSecond: (reached.count - 1) / ((reached.lastAt - reached.firstAt) / 1000),
        rssMB: hookq.residentMB(),
        ...usagePerMessage(place, used, await hookq.usage(), reached.count - first.count),
      };
    } finally {
      await hookq.stop();
    }
  } finally {
    await target.close();
  }
}

type Target = Awaited<ReturnType<typeof startTarget>>;

/** The target's figures once `count` deliveries arrived; fails if they stop for a minute. */
async function arrival(target: Target, count: number): Promise<TargetStats> {
  const watch = { done: false };
  try {
    return await Promise.race([target.reached(count), stalled(target, count, watch)]);
  } finally {
    watch.done = true;
  }
}

async function stalled(target: Target, count: number, watch: { done: boolean }): Promise<never> {
  let last = -1;
  let since = performance.now();
  for (;;) {
    await sleep(1_000);
    if (watch.done) return new Promise<never>(() => undefined);
    const { count: now } = await target.stats();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since > 60_000) {
      throw new Error(`deliveries stopped at ${int(now)} of ${int(count)}`);
    }
  }
}

/** A free loopback port, closed again. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * The target is away while messages of 100 groups wait (connections refused; the breaker
 * takes the route down and probes), then comes back on its port.
 */
async function heal(place: Place): Promise<{ firstMs: number; drainedMs: number; rssMB: number }> {
  const port = await freePort();
  await fill(place, 'live', HEAL_MESSAGES, GROUPS, false);
  const hookq = await startHookq(place, `http://127.0.0.1:${port}/webhook`);
  try {
    await hookq.log.waitForLog((entry) => String(entry.msg).startsWith('target is down'), 30_000);
    await sleep(OUTAGE_MS);
    const target = await startTarget(port);
    try {
      const reached = await arrival(target, HEAL_MESSAGES);
      return {
        firstMs: reached.firstAt - target.listeningAt,
        drainedMs: reached.lastAt - target.listeningAt,
        rssMB: hookq.residentMB(),
      };
    } finally {
      await target.close();
    }
  } finally {
    await hookq.stop();
  }
}

// ---------------------------------------------------------------------------------------
// The table.

interface Check {
  what: string;
  ok: boolean;
}

interface Row {
  phase: string;
  store: 'sqlite' | 'postgres';
  instances: number;
  /** Messages queued in the store before the phase. */
  queued: number;
  bareRps: number | null;
  value: number | null;
  unit: 'req/s' | 'msg/s' | 'ms';
  ratio: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Steady state: deliveries per accepted webhook over the window, and per second. */
  deliveredRatio: number | null;
  deliveredPerSecond: number | null;
  /** Requests not answered 2xx, and connection errors or timeouts, in the window. */
  failed: number | null;
  rssMB: number;
  /** hookq's CPU time per message (all threads, all instances): the figure least moved by a noisy machine. */
  cpuMsPerMessage: number | null;
  /** KB written to storage per message: SQLite's WAL and checkpoints, PostgreSQL's WAL. */
  writtenKBPerMessage: number | null;
  /** PostgreSQL only: the database server's CPU time per message, in ms. */
  dbCpuMsPerMessage: number | null;
  /** Heal only: time from the target's return to the last delivery. */
  drainedMs?: number;
  /** Deep backlog and several instances: the figure against its reference row. */
  versus?: { row: string; ratio: number };
  /** Several instances: each one's accepted req/s. */
  perInstanceRps?: number[];
  /** Release window: whether hookq's breaker took the route down (and so held deliveries). */
  breakerHeld?: boolean;
  target: string;
  checks: Check[];
}

const MEMORY_TARGET_MB = 150;
/** The target of a row for which SPEC §10 names none but memory. */
const RSS_ONLY = '— (RSS only)';
const memoryCheck = (rssMB: number): Check => ({
  what: 'RSS',
  ok: rssMB <= MEMORY_TARGET_MB,
});

function ingressRow(
  phase: string,
  place: Place,
  queued: number,
  figures: Ingress,
  instances = 1,
): Omit<Row, 'target' | 'checks'> {
  return {
    phase,
    store: place.store,
    instances,
    queued,
    bareRps: figures.bare.rps,
    value: figures.hookq.rps,
    unit: 'req/s',
    ratio: figures.ratio,
    p50Ms: figures.hookq.p50,
    p99Ms: figures.hookq.p99,
    deliveredRatio: figures.deliveredRatio ?? null,
    deliveredPerSecond: figures.deliveredPerSecond ?? null,
    failed: figures.hookq.rejected + figures.hookq.errors,
    rssMB: figures.rssMB,
    cpuMsPerMessage: figures.cpuMsPerMessage,
    writtenKBPerMessage: figures.writtenKBPerMessage,
    dbCpuMsPerMessage: figures.dbCpuMsPerMessage,
    ...(figures.perInstanceRps ? { perInstanceRps: figures.perInstanceRps } : {}),
    ...(figures.breakerHeld === undefined ? {} : { breakerHeld: figures.breakerHeld }),
  };
}

function drainRow(
  phase: string,
  place: Place,
  queued: number,
  figures: Drain,
  instances = 1,
): Omit<Row, 'target' | 'checks'> {
  return {
    phase,
    store: place.store,
    instances,
    queued,
    bareRps: null,
    value: figures.perSecond,
    unit: 'msg/s',
    ratio: null,
    p50Ms: null,
    p99Ms: null,
    deliveredRatio: null,
    deliveredPerSecond: null,
    failed: null,
    rssMB: figures.rssMB,
    cpuMsPerMessage: figures.cpuMsPerMessage,
    writtenKBPerMessage: figures.writtenKBPerMessage,
    dbCpuMsPerMessage: figures.dbCpuMsPerMessage,
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en');
const pct = (n: number) => `${(100 * n).toFixed(0)} %`;
const msec = (n: number) => (n < 10 ? `${n.toFixed(1)} ms` : `${n.toFixed(0)} ms`);

function cells(row: Row): string[] {
  const value =
    row.value === null
      ? '—'
      : row.unit === 'ms'
        ? `first ${msec(row.value)}, all ${msec(row.drainedMs ?? 0)}`
        : `${int(row.value)} ${row.unit}`;
  const failed = row.failed ? ` (${int(row.failed)} failed)` : '';
  const missed = row.checks.filter((check) => !check.ok).map((check) => check.what);
  return [
    row.phase,
    row.bareRps === null ? '—' : int(row.bareRps),
    value + failed,
    row.ratio === null ? '—' : pct(row.ratio),
    row.p50Ms === null ? '—' : msec(row.p50Ms),
    row.p99Ms === null ? '—' : msec(row.p99Ms),
    row.deliveredRatio === null
      ? '—'
      : `${pct(row.deliveredRatio)} (${int(row.deliveredPerSecond ?? 0)} msg/s)`,
    `${row.rssMB.toFixed(0)} MB`,
    row.cpuMsPerMessage === null ? '—' : `${(1000 * row.cpuMsPerMessage).toFixed(0)} µs`,
    row.writtenKBPerMessage === null ? '—' : `${row.writtenKBPerMessage.toFixed(1)} KB`,
    row.dbCpuMsPerMessage === null ? '—' : `${(1000 * row.dbCpuMsPerMessage).toFixed(0)} µs`,
    row.versus ? `${row.target}: ${pct(row.versus.ratio)}` : row.target,
    row.checks.length === 0 ? '—' : missed.length === 0 ? 'met' : `missed: ${missed.join(', ')}`,
  ];
}

function table(rows: Row[]): string {
  const head = [
    'phase',
    'bare req/s',
    'hookq',
    'ratio',
    'p50',
    'p99',
    'delivered/accepted',
    'RSS',
    'CPU/msg',
    'written/msg',
    'db CPU/msg',
    'SPEC §10 target',
    'result',
  ];
  const body = rows.map(cells);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cols) => cols[i]!.length)));
  const right = new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const line = (cols: string[]) =>
    `| ${cols.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

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

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  const load = `${CONNECTIONS} connections, unique ${BODY_BYTES} B JSON bodies, ${GROUP_HEADER} over ${GROUPS} groups in bursts of ${BURST}, ${WARMUP} s warm-up + ${SECONDS} s measured`;
  console.log(`hookq benchmark (SPEC §10): ${load}; delivery.maxConcurrency ${MAX_CONCURRENCY}\n`);
  const schemas: string[] = [];
  const sqlite = (): Place => {
    const dir = tempDir('hookq-bench-');
    dirs.push(dir);
    return { dir, url: `sqlite:${join(dir, 'hookq.db')}`, store: 'sqlite' };
  };
  const postgres = (): Place => {
    const dir = tempDir('hookq-bench-');
    dirs.push(dir);
    const schema = `hookq_bench_${schemas.length}_${process.pid}`;
    schemas.push(schema);
    return { dir, url: pgUrlWith({ schema }), store: 'postgres' };
  };
  const rows: Row[] = [];
  const add = (row: Row) => {
    rows.push(row);
    process.stderr.write(`  ${cells(row).join(' | ')}\n`);
    return row;
  };
  /** The figure against its reference row's, with its check; none if that row did not run. */
  const versus = (
    reference: Row | undefined,
    figure: (row: Row) => number,
    row: Omit<Row, 'target' | 'checks'>,
    least: number,
    what: string,
  ): Pick<Row, 'versus'> & { checks: Check[] } => {
    if (!reference) return { checks: [] };
    const ratio = figure(row as Row) / figure(reference);
    return { versus: { row: reference.phase, ratio }, checks: [{ what, ok: ratio >= least }] };
  };
  try {
    if (!WITH_SQLITE) {
      process.stderr.write('SQLite: left out (--no-sqlite)\n');
    } else {
      // SQLite, empty queue.
      let releaseRow: Row | undefined;
      if (runs('release')) {
        phase('release window (target down)');
        const place = sqlite();
        const release = ingressRow('release window', place, 0, await ingress(place, 'down'));
        releaseRow = add({
          ...release,
          target: '≥ 60 %, p99 ≤ 20 ms',
          checks: [
            { what: 'ratio', ok: release.ratio! >= 0.6 },
            { what: 'p99', ok: release.p99Ms! <= 20 },
            memoryCheck(release.rssMB),
          ],
        });
      }

      let steadyRow: Row | undefined;
      if (runs('steady')) {
        phase('steady state (target answering 200)');
        const place = sqlite();
        const steady = ingressRow('steady state', place, 0, await ingress(place, 'live'));
        steadyRow = add({
          ...steady,
          target: '≥ 40 %, delivered ≥ 95 %, p99 ≤ 25 ms',
          checks: [
            { what: 'ratio', ok: steady.ratio! >= 0.4 },
            { what: 'delivered', ok: steady.deliveredRatio! >= 0.95 },
            { what: 'p99', ok: steady.p99Ms! <= 25 },
            memoryCheck(steady.rssMB),
          ],
        });
      }

      let manyRow: Row | undefined;
      if (runs('drain')) {
        phase(`drain, ${GROUPS} groups (${int(DRAIN_MANY)} queued)`);
        const place = sqlite();
        await fill(place, 'backlog', DRAIN_MANY, GROUPS, true);
        const many = drainRow(
          `drain, ${GROUPS} groups`,
          place,
          DRAIN_MANY,
          await drain(place, 'backlog', DRAIN_MANY),
        );
        manyRow = add({
          ...many,
          target: '≥ 8,000 msg/s',
          checks: [{ what: 'msg/s', ok: many.value! >= 8000 }, memoryCheck(many.rssMB)],
        });
      }

      let oneRow: Row | undefined;
      if (runs('drain-one')) {
        phase(`drain, 1 group (${int(DRAIN_ONE)} queued)`);
        const place = sqlite();
        await fill(place, 'solo', DRAIN_ONE, 1, true);
        const one = drainRow(
          'drain, 1 group',
          place,
          DRAIN_ONE,
          await drain(place, 'solo', DRAIN_ONE),
        );
        oneRow = add({
          ...one,
          target: '≥ 2,000 msg/s',
          checks: [{ what: 'msg/s', ok: one.value! >= 2000 }, memoryCheck(one.rssMB)],
        });
      }

      if (runs('heal')) {
        phase(`heal (${int(HEAL_MESSAGES)} waiting through a ${OUTAGE_MS / 1000} s outage)`);
        const healed = await heal(sqlite());
        add({
          phase: `heal, ${int(HEAL_MESSAGES)} over ${GROUPS} groups after a ${OUTAGE_MS / 1000} s outage`,
          store: 'sqlite',
          instances: 1,
          queued: HEAL_MESSAGES,
          bareRps: null,
          value: healed.firstMs,
          unit: 'ms',
          drainedMs: healed.drainedMs,
          ratio: null,
          p50Ms: null,
          p99Ms: null,
          deliveredRatio: null,
          deliveredPerSecond: null,
          failed: null,
          rssMB: healed.rssMB,
          cpuMsPerMessage: null,
          writtenKBPerMessage: null,
          dbCpuMsPerMessage: null,
          target: RSS_ONLY,
          checks: [memoryCheck(healed.rssMB)],
        });
      }

      if (BACKLOG > 0 && runs('backlog')) {
        // The same phases beside a deep backlog, queued (paused) on a route of its own; the
        // 100-group drain delivers the first messages of that backlog itself.
        const queued = `${int(BACKLOG)} queued`;
        phase(`filling a backlog of ${queued} (${GROUPS} groups)`);
        const deep = sqlite();
        await fill(deep, 'backlog', BACKLOG, GROUPS, true);
        const within = '≥ 80 % of empty';
        // Accepted req/s (msg/s in a drain) against the empty queue's, measured minutes
        // apart: not ratios to two bare-server runs, since the bare server swings with
        // the machine far more than hookq does.
        const rate = (row: Row) => row.value!;

        phase(`release window, ${queued}`);
        const deepRelease = ingressRow(
          `release window, ${queued}`,
          deep,
          BACKLOG,
          await ingress(deep, 'down'),
        );
        await setPaused(deep, 'down', true);
        const deepReleaseVs = versus(releaseRow, rate, deepRelease, 0.8, 'vs empty');
        add({
          ...deepRelease,
          ...deepReleaseVs,
          target: within,
          checks: [...deepReleaseVs.checks, memoryCheck(deepRelease.rssMB)],
        });

        phase(`steady state, ${queued}`);
        const deepSteady = ingressRow(
          `steady state, ${queued}`,
          deep,
          BACKLOG,
          await ingress(deep, 'live'),
        );
        await setPaused(deep, 'live', true);
        const deepSteadyVs = versus(steadyRow, rate, deepSteady, 0.8, 'vs empty');
        add({
          ...deepSteady,
          ...deepSteadyVs,
          target: within,
          checks: [
            ...deepSteadyVs.checks,
            { what: 'delivered', ok: deepSteady.deliveredRatio! >= 0.95 },
            memoryCheck(deepSteady.rssMB),
          ],
        });

        phase(`drain, 1 group, beside ${queued}`);
        await fill(deep, 'solo', DRAIN_ONE, 1, true);
        const deepOne = drainRow(
          `drain, 1 group, ${queued}`,
          deep,
          BACKLOG,
          await drain(deep, 'solo', DRAIN_ONE),
        );
        const deepOneVs = versus(oneRow, rate, deepOne, 0.8, 'vs empty');
        add({
          ...deepOne,
          ...deepOneVs,
          target: within,
          checks: [...deepOneVs.checks, memoryCheck(deepOne.rssMB)],
        });

        const first = Math.min(DRAIN_MANY, BACKLOG);
        phase(`drain, ${GROUPS} groups, the first ${int(first)} of ${queued}`);
        const deepMany = drainRow(
          `drain, ${GROUPS} groups, ${queued}`,
          deep,
          BACKLOG,
          await drain(deep, 'backlog', first),
        );
        const deepManyVs = versus(manyRow, rate, deepMany, 0.8, 'vs empty');
        add({
          ...deepMany,
          ...deepManyVs,
          target: within,
          checks: [...deepManyVs.checks, memoryCheck(deepMany.rssMB)],
        });
      }
    }

    let postgresNote = '';
    if (!WITH_POSTGRES) postgresNote = 'PostgreSQL: left out (--no-postgres)';
    else if (!runs('postgres')) postgresNote = 'PostgreSQL: left out (--only)';
    else if (!(await postgresReachable()))
      postgresNote = `PostgreSQL: not reachable at ${PG_URL}; its figures are left out`;
    else {
      phase('PostgreSQL release window');
      const pgReleasePlace = postgres();
      const pgRelease = ingressRow(
        'PostgreSQL release window',
        pgReleasePlace,
        0,
        await ingress(pgReleasePlace, 'down'),
      );
      add({ ...pgRelease, target: RSS_ONLY, checks: [memoryCheck(pgRelease.rssMB)] });

      phase('PostgreSQL steady state, 1 instance');
      const pgSteadyPlace = postgres();
      const pgSteady = ingressRow(
        'PostgreSQL steady state, 1 instance',
        pgSteadyPlace,
        0,
        await ingress(pgSteadyPlace, 'live'),
      );
      const pgSteadyRow = add({
        ...pgSteady,
        target: '≥ 15 %',
        checks: [{ what: 'ratio', ok: pgSteady.ratio! >= 0.15 }, memoryCheck(pgSteady.rssMB)],
      });

      phase(`PostgreSQL steady state, ${INSTANCES} instances`);
      const pgScalePlace = postgres();
      const pgScale = ingressRow(
        `PostgreSQL steady state, ${INSTANCES} instances`,
        pgScalePlace,
        0,
        await ingress(pgScalePlace, 'live', INSTANCES),
        INSTANCES,
      );
      // Accepted req/s against one instance's just before: "never ingest less than one" is
      // about what they take in, and each ratio would divide by a bare run of its own.
      const pgScaleVs = versus(pgSteadyRow, (row) => row.value!, pgScale, 1, 'vs 1 instance');
      add({
        ...pgScale,
        ...pgScaleVs,
        target: '≥ 1 instance',
        checks: [...pgScaleVs.checks, memoryCheck(pgScale.rssMB)],
      });

      phase(`PostgreSQL drain, ${GROUPS} groups (${int(DRAIN_MANY)} queued)`);
      const pgManyPlace = postgres();
      await fill(pgManyPlace, 'backlog', DRAIN_MANY, GROUPS, true);
      const pgMany = drainRow(
        `PostgreSQL drain, ${GROUPS} groups`,
        pgManyPlace,
        DRAIN_MANY,
        await drain(pgManyPlace, 'backlog', DRAIN_MANY),
      );
      add({ ...pgMany, target: RSS_ONLY, checks: [memoryCheck(pgMany.rssMB)] });
    }

    const finishedAt = new Date();
    const minutes = (finishedAt.getTime() - startedAt.getTime()) / 60_000;
    console.log(table(rows));
    console.log(
      `\nratio: hookq's accepted req/s over the bare node:http server's, measured just before under the same load.`,
    );
    console.log(
      `RSS: hookq's resident set at the end of the phase (the largest of the instances), against ≤ ${MEMORY_TARGET_MB} MB in every phase.`,
    );
    console.log(
      `CPU/msg: hookq's CPU time (all threads and instances) per accepted webhook in the window, per delivery in a drain; a noisy machine moves it less than the rates.`,
    );
    console.log(
      `written/msg: what hookq wrote to storage per message (WAL and checkpoints, as the kernel counts them), for a ${BODY_BYTES}-byte body; on PostgreSQL, the WAL the server wrote.`,
    );
    console.log(
      `db CPU/msg: PostgreSQL's CPU time (all its processes) per message, as CPU/msg is hookq's: on one machine, most of what PostgreSQL costs.`,
    );
    if (rows.some((row) => BACKLOG > 0 && row.queued === BACKLOG && row.versus))
      console.log(
        `deep backlog (against the empty queue): the % after the target compares the accepted req/s (drains: msg/s) with the empty queue's.`,
      );
    if (rows.some((row) => row.instances > 1))
      console.log(
        `${INSTANCES} instances (against 1): the % after the target compares the accepted req/s, all instances together, with one instance's just before.`,
      );
    console.log(
      `per-group order at the target: ${int(order.violations)} violations, ${int(order.repeats)} repeated deliveries, over ${int(order.deliveries)} deliveries.`,
    );
    const failed = rows.filter((row) => row.failed);
    if (failed.length > 0)
      console.log(
        `not answered 2xx or failed in the window: ${failed.map((row) => `${row.phase}: ${int(row.failed!)}`).join('; ')}`,
      );
    const notHeld = rows.filter((row) => row.breakerHeld === false);
    if (notHeld.length > 0)
      console.log(
        `the breaker did not take the route down in: ${notHeld.map((row) => row.phase).join('; ')} (deliveries were attempted throughout)`,
      );
    for (const row of rows.filter((r) => r.perInstanceRps))
      console.log(
        `${row.phase}: ${row.perInstanceRps!.map((rps) => int(rps)).join(' + ')} req/s, one instance each.`,
      );
    if (postgresNote) console.log(postgresNote);
    console.log(`\n${minutes.toFixed(1)} minutes in all.`);

    const results = fileURLToPath(new URL('results/', import.meta.url));
    mkdirSync(results, { recursive: true });
    const json = `${JSON.stringify(
      {
        date: startedAt.toISOString(),
        minutes,
        node: process.version,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? null,
        load: {
          connections: CONNECTIONS,
          bodyBytes: BODY_BYTES,
          groups: GROUPS,
          groupHeader: GROUP_HEADER,
          burst: BURST,
          warmupSeconds: WARMUP,
          seconds: SECONDS,
        },
        backlog: BACKLOG,
        maxConcurrency: MAX_CONCURRENCY,
        order,
        postgres: postgresNote || 'measured',
        rows: rows.map((row) => ({
          ...row,
          met: row.checks.length === 0 ? null : row.checks.every((check) => check.ok),
        })),
      },
      null,
      2,
    )}\n`;
    writeFileSync(join(results, 'latest.json'), json);
    writeFileSync(join(results, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`), json);
    console.log(`written to bench/results/latest.json`);
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
