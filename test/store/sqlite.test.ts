import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import type { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import {
  CorruptDatabaseError,
  SchemaVersionError,
  StorageUnavailableError,
} from '../../src/core/errors.js';
import type { Ordering } from '../../src/core/terms.js';
import { migrate } from '../../src/store/sqlite/migrate.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { ClaimedMessage, EnqueueResult, Store } from '../../src/store/store.js';
import { waitUntil } from '../helpers/async.js';
import { fixture } from '../helpers/paths.js';
import { claim, failed, message, ok, runStoreContract, TestClock } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'hookq-sqlite-contract-'));
let n = 0;

const paths = new Map<Store, string>();

runStoreContract('sqlite', {
  async create(options) {
    n += 1;
    const path = join(dir, `store-${n}.db`);
    const store = SqliteStore.open(path, options);
    paths.set(store, path);
    return store;
  },
  async injectStaleGroup(store, route, group, headId) {
    const raw = new Database(paths.get(store)!);
    try {
      raw
        .prepare(
          `INSERT INTO groups (route, group_id, head_pk, status, due_at)
           SELECT ?, ?, pk, 'ready', 0 FROM messages WHERE id = ?`,
        )
        .run(route, group, headId);
    } finally {
      raw.close();
    }
  },
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('sqlite: the dedup log', () => {
  const send = (store: Store, dedupId: string, body = 'b') =>
    store.enqueue({ ...message('r', 'g', body), dedupId, dedupWindowMs: 60_000 });

  it('still knows every dedup id in its window after a restart', async () => {
    const path = join(dir, 'dedup-restart.db');
    let store = SqliteStore.open(path);
    const first = await Promise.all(Array.from({ length: 500 }, (_, i) => send(store, `id-${i}`)));
    await store.close();
    store = SqliteStore.open(path);
    try {
      const again = await Promise.all(
        Array.from({ length: 500 }, (_, i) => send(store, `id-${i}`)),
      );
      assert.deepEqual(
        again,
        first.map(({ messageId }) => ({ messageId, duplicate: true })),
      );
      assert.equal((await send(store, 'id-new')).duplicate, false);
    } finally {
      await store.close();
    }
  });

  it('forgets the ids of a commit that failed, even where their rows are taken again', async () => {
    const path = join(dir, 'dedup-rollback.db');
    await SqliteStore.open(path).close();
    const raw = new Database(path);
    // A body of "boom" undoes its whole transaction, as a failing disk would.
    raw.exec(`CREATE TRIGGER boom BEFORE INSERT ON payloads WHEN NEW.body = X'626F6F6D'
              BEGIN SELECT RAISE(ROLLBACK, 'boom'); END`);
    raw.close();
    const store = SqliteStore.open(path);
    try {
      // One commit: the first id is logged, then the second item undoes it all.
      const failed = await Promise.allSettled([send(store, 'a'), send(store, 'b', 'boom')]);
      assert.deepEqual(
        failed.map(({ status }) => status),
        ['rejected', 'rejected'],
      );
      // The log row the failed commit wrote first is written again, for another id.
      const other = await send(store, 'c');
      assert.equal(other.duplicate, false);
      const retried = await send(store, 'a');
      assert.equal(retried.duplicate, false, 'an id of a failed commit is new');
      assert.deepEqual(await send(store, 'a'), { messageId: retried.messageId, duplicate: true });
      assert.deepEqual(await send(store, 'c'), { messageId: other.messageId, duplicate: true });
    } finally {
      await store.close();
    }
  });

  it('forgets an id once the sweep removes it, and takes it as new', async () => {
    const clock = new TestClock();
    const path = join(dir, 'dedup-sweep.db');
    const store = SqliteStore.open(path, { now: clock.now });
    try {
      const first = await send(store, 'x');
      clock.advance(61_000);
      const swept = { queuedMs: 3_600_000, deadLetterMs: 3_600_000, deliveredMs: 3_600_000 };
      await store.sweep('r', swept, 100);
      const raw = new Database(path, { readonly: true });
      const left = raw.prepare('SELECT count(*) AS n FROM dedup_log').get() as { n: number };
      raw.close();
      assert.equal(left.n, 0, 'the expired id is still in the log');
      const again = await send(store, 'x');
      assert.equal(again.duplicate, false);
      assert.notEqual(again.messageId, first.messageId);
      assert.equal((await send(store, 'x')).duplicate, true);
    } finally {
      await store.close();
    }
  });
});

describe('sqlite: durability', () => {
  it('keeps every enqueue that resolved when the process is killed with SIGKILL', async () => {
    const path = join(dir, 'crash.db');
    const acknowledged = new Map<number, string>();
    let first = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', fixture('enqueue-until-killed.ts'), path, String(first)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const lines = createInterface({ input: child.stdout });
      const exited = once(child, 'exit');
      let killAt = 0;
      for await (const line of lines) {
        const [n, id] = line.split(' ');
        acknowledged.set(Number(n), id!);
        if (killAt === 0) {
          // Kill at a random moment once the child is producing.
          killAt = 1;
          setTimeout(() => child.kill('SIGKILL'), 50 + randomInt(400));
        }
      }
      await exited;
      assert.equal(child.signalCode, 'SIGKILL');
      first = Math.max(...acknowledged.keys()) + 1_000_000;
    }
    assert.ok(acknowledged.size > 100, `only ${acknowledged.size} enqueues before the kills`);

    const store = SqliteStore.open(path);
    try {
      const found = new Map<string, number>();
      let cursor: string | undefined;
      do {
        const page = await store.listMessages({
          route: 'crash',
          limit: 1000,
          cursor,
        });
        for (const m of page.items) found.set(m.id, (found.get(m.id) ?? 0) + 1);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const bodies = new Set<string>();
      for (const [n, id] of acknowledged) {
        assert.equal(found.get(id), 1, `acknowledged message ${n} (${id}) is missing`);
        const stored = await store.getMessage(id);
        assert.equal(stored?.body.toString(), `message ${n}`);
        bodies.add(stored!.body.toString());
      }
      assert.equal(bodies.size, acknowledged.size);
    } finally {
      await store.close();
    }
  });
});

describe('sqlite: the writer thread', () => {
  it('started again when it stops unasked: writes fail meanwhile, then commit, and nothing is lost', async () => {
    const path = join(dir, 'writer-stops.db');
    const said: string[] = [];
    const log = pino(
      { level: 'info' },
      { write: (line: string) => said.push(JSON.parse(line).msg) },
    );
    const store = SqliteStore.open(path, { log });
    try {
      const once = { dedupId: 'only-once', dedupWindowMs: 60_000 };
      const before = await store.enqueue(message('orders', 'g', 'before', once));
      // As a crash of the thread would: it ends without being asked to.
      await (store as unknown as { writer: { worker: Worker } }).writer.worker.terminate();
      await assert.rejects(store.enqueue(message('orders', 'g', 'meanwhile')), (error: Error) => {
        assert.ok(error instanceof StorageUnavailableError, String(error));
        assert.match(error.message, /writer thread stopped; it is being started again/);
        return true;
      });
      await assert.rejects(store.ping(), StorageUnavailableError);
      assert.ok(
        said.some((line) => /writes fail until it is started again, in 1000 ms/.test(line)),
        said.join('\n'),
      );
      let after: EnqueueResult | undefined;
      await waitUntil('writes commit again', async () => {
        after = await store.enqueue(message('orders', 'g', 'after')).catch(() => undefined);
        return after !== undefined;
      });
      await store.ping();
      assert.ok(said.includes('started the SQLite writer thread again'), said.join('\n'));
      // The dedup ids of the first thread's commits are known to the second.
      const again = await store.enqueue(message('orders', 'g', 'before', once));
      assert.equal(again.duplicate, true);
      assert.equal(again.messageId, before.messageId);
      const page = await store.listMessages({ route: 'orders', limit: 10 });
      assert.deepEqual(
        page.items.map((item) => item.id),
        [before.messageId, after!.messageId],
      );
    } finally {
      await store.close();
    }
  });
});

describe('sqlite: refusing files it must not touch', () => {
  function snapshot(path: string): string[] {
    return [path, `${path}-wal`, `${path}-shm`].map((file) =>
      existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : 'absent',
    );
  }

  it('refuses a file that is not a database, naming it and changing nothing', () => {
    const path = join(dir, 'garbage.db');
    writeFileSync(path, randomBytes(8192));
    const before = snapshot(path);
    assert.throws(
      () => SqliteStore.open(path),
      (error: Error) => error instanceof CorruptDatabaseError && error.message.includes(path),
    );
    assert.deepEqual(snapshot(path), before);
  });

  it("refuses another application's SQLite database", () => {
    const path = join(dir, 'other-app.db');
    const other = new Database(path);
    other.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)');
    other.close();
    const before = snapshot(path);
    assert.throws(
      () => SqliteStore.open(path),
      (error: Error) =>
        error instanceof CorruptDatabaseError &&
        error.message.includes(path) &&
        error.message.includes('users'),
    );
    assert.deepEqual(snapshot(path), before);
  });

  it('refuses a database written by a newer hookq, naming it and changing nothing', async () => {
    const path = join(dir, 'newer.db');
    await SqliteStore.open(path).close();
    const raw = new Database(path);
    raw
      .prepare('INSERT INTO hookq_migrations (version, name, applied_at) VALUES (?, ?, ?)')
      .run(999, 'future', 0);
    raw.close();
    const before = snapshot(path);
    assert.throws(
      () => SqliteStore.open(path),
      (error: Error) =>
        error instanceof SchemaVersionError &&
        error.message.includes(path) &&
        /999/.test(error.message),
    );
    assert.deepEqual(snapshot(path), before);
  });

  it('reports damaged pages as a corrupt database naming the file', async () => {
    const path = join(dir, 'damaged.db');
    const store = SqliteStore.open(path);
    for (let i = 0; i < 200; i++) {
      await store.enqueue({
        ...message('r', `g${i}`, `m${i}`),
        body: randomBytes(2000),
      });
    }
    await store.close();
    // Overwrite everything after the first page (the schema) with garbage.
    const bytes = readFileSync(path);
    randomBytes(bytes.length - 4096).copy(bytes, 4096);
    writeFileSync(path, bytes);
    await assert.rejects(
      async () => {
        const damaged = SqliteStore.open(path);
        try {
          await damaged.listMessages({ limit: 500 });
          await damaged.routeStats(['r']);
        } finally {
          await damaged.close();
        }
      },
      (error: Error) => error instanceof CorruptDatabaseError && error.message.includes(path),
    );
  });
});

describe('sqlite: upgrading an older database', () => {
  /** A database as hookq left it at `version`: its schema, and whatever `fill` writes. */
  function databaseAt(version: number, name: string, fill: (raw: Database.Database) => void) {
    const path = join(dir, name);
    const raw = new Database(path);
    migrate(raw, version);
    fill(raw);
    raw.close();
    return path;
  }

  it('keeps the dedup window of a version 2 database across the change of its keys', async () => {
    const path = databaseAt(2, 'version-2.db', (raw) => {
      // As version 2 wrote them: the dedup id itself as the key.
      const insert = raw.prepare(
        'INSERT INTO dedup (route, dedup_id, message_id, expires_at) VALUES (?, ?, ?, ?)',
      );
      insert.run('r', 'header:delivery-1', 'original-1', Date.now() + 60_000);
      insert.run('r', 'header:delivery-2', 'original-2', Date.now() - 1);
    });
    const store = SqliteStore.open(path);
    try {
      const send = (dedup: string) =>
        store.enqueue({ ...message('r', 'g', 'again'), dedupId: dedup, dedupWindowMs: 60_000 });
      assert.deepEqual(await send('header:delivery-1'), {
        messageId: 'original-1',
        duplicate: true,
      });
      // Past its window, an id is new again.
      assert.equal((await send('header:delivery-2')).duplicate, false);
      assert.equal((await send('header:delivery-3')).duplicate, false);
      assert.equal((await send('header:delivery-3')).duplicate, true);
    } finally {
      await store.close();
    }
  });

  it("delivers a version 3 database's waiting messages in order once they are indexed anew", async () => {
    const path = databaseAt(3, 'version-3.db', (raw) => {
      const insert = raw.prepare(
        `INSERT INTO messages (pk, id, route, group_id, seq, state, received_at, enqueued_at, available_at, finished_at)
         VALUES (?, ?, 'r', 'g', ?, ?, 0, 0, 0, ?)`,
      );
      insert.run(1, 'm1', 1, 'delivered', 0);
      insert.run(2, 'm2', 2, 'queued', null);
      insert.run(3, 'm3', 3, 'queued', null);
      for (const pk of [1, 2, 3]) {
        raw.prepare(`INSERT INTO payloads VALUES (?, '[]', X'7B7D')`).run(pk);
      }
      raw.exec(`INSERT INTO groups VALUES ('r', 'g', 2, 'ready', 0)`);
      raw.exec(`INSERT INTO routes (name, last_seq) VALUES ('r', 3)`);
    });
    const store = SqliteStore.open(path);
    try {
      const oldest = async () => (await store.routeStats(['r']))[0]!.oldestWaitingAt;
      assert.equal(await oldest(), 0);
      const delivered: string[] = [];
      for (;;) {
        const claimed = await store.claimDue(claim('r'));
        if (claimed.length === 0) break;
        for (const head of claimed) {
          delivered.push(head.messageId);
          assert.equal(await store.markDelivered(head, ok(Date.now())), true);
        }
      }
      assert.deepEqual(delivered, ['m2', 'm3']);
      assert.equal(await oldest(), null);
    } finally {
      await store.close();
    }
  });
});

describe("sqlite: the writer's order", () => {
  // The writer commits delivery bookkeeping ahead of the enqueues queued beside it; these
  // writes are called in one tick, so they reach the writer thread in one round.
  it('a claim called after a sweep never leases the message the sweep expires', async () => {
    const clock = new TestClock();
    const store = SqliteStore.open(join(dir, 'order-sweep.db'), { now: clock.now });
    try {
      const old = await store.enqueue(message('r', 'g', 'old'));
      clock.advance(2_000);
      const retention = { queuedMs: 1_000, deadLetterMs: 60_000, deliveredMs: 60_000 };
      const [swept, claimed] = await Promise.all([
        store.sweep('r', retention, 100),
        store.claimDue(claim('r')),
      ]);
      assert.deepEqual(
        swept.expired.map((m) => m.id),
        [old.messageId],
      );
      assert.deepEqual(claimed, []);
      assert.equal((await store.getMessage(old.messageId))?.state, 'dead');
    } finally {
      await store.close();
    }
  });

  it('an outcome that overtakes the enqueue called before it leaves that enqueue next in its group', async () => {
    const store = SqliteStore.open(join(dir, 'order-outcome.db'));
    try {
      await store.enqueue(message('r', 'g', 'first'));
      const [lease] = await store.claimDue(claim('r'));
      assert.ok(lease);
      const [second] = await Promise.all([
        store.enqueue(message('r', 'g', 'second')),
        store.markDelivered(lease, ok(Date.now())),
      ]);
      const next = await store.claimDue(claim('r'));
      assert.deepEqual(
        next.map((m) => m.messageId),
        [second.messageId],
      );
    } finally {
      await store.close();
    }
  });
});

describe('sqlite: leasing the next messages of a group ahead', () => {
  const LEASE = 30_000;
  const ahead = (route: string, maxConcurrency = 100) => ({
    ...claim(route, 100, maxConcurrency),
    lookAhead: true,
  });
  const started = { leaseMs: LEASE, maxConcurrency: 100 };
  const later = { retryAt: 0, charged: true, heldByOutage: false } as const;
  const ofAhead = (head: ClaimedMessage | undefined) =>
    (head?.ahead ?? []).map((m) => [m.messageId, m.attempt]);

  async function storeWith(
    name: string,
    count: number,
    clock = new TestClock(),
    ordering: Ordering = 'strict',
  ) {
    const store = SqliteStore.open(join(dir, `${name}.db`), {
      now: clock.now,
      ordering: { r: ordering },
    });
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(
        ((await store.enqueue(message('r', 'g', `m${i}`))) as { messageId: string }).messageId,
      );
    }
    return { store, ids, clock };
  }

  it('leases two with the head, counts them against maxConcurrency, and starts the first once the head is delivered', async () => {
    const { store, ids } = await storeWith('ahead-chain', 5);
    try {
      const [head] = await store.claimDue(ahead('r'));
      assert.equal(head?.messageId, ids[0]);
      assert.deepEqual(ofAhead(head), [
        [ids[1], 1],
        [ids[2], 1],
      ]);
      // Shown as waiting, since they are not sent yet, but counted against maxConcurrency.
      const [stats] = await store.routeStats(['r']);
      assert.deepEqual([stats?.inflight, stats?.queued], [1, 4]);
      assert.equal((await store.getMessage(ids[1]!))?.state, 'queued');
      // Listed and counted as waiting, like the route's counts.
      const listed = async (state: 'queued' | 'inflight') =>
        (await store.listMessages({ route: 'r', state, limit: 10 })).items.map((m) => m.id);
      assert.deepEqual(await listed('queued'), ids.slice(1));
      assert.deepEqual(await listed('inflight'), [ids[0]]);
      assert.equal(await store.countMessages({ route: 'r', state: 'queued' }), 4);
      await store.enqueue(message('r', 'other', 'o'));
      assert.deepEqual(await store.claimDue(ahead('r', 3)), []);
      // None of them is handed out again while they are leased.
      assert.deepEqual(
        (await store.claimDue(ahead('r'))).map((m) => m.group),
        ['other'],
      );

      const first = head!.ahead![0]!;
      const next = await store.markDeliveredAndStarted!(head!, ok(1), first, started);
      assert.equal(next.kept, true);
      assert.deepEqual(
        next.ahead.map((m) => m.messageId),
        [ids[3]],
      );
      // The started message now holds the group's lease, and its outcome is taken.
      const lease = await store.nextLeaseExpiry('r');
      assert.ok(lease !== null && lease >= Date.UTC(2026, 0, 1) + LEASE);
      const after = await store.markDeliveredAndStarted!(first, ok(2), head!.ahead![1]!, started);
      assert.deepEqual(
        after.ahead.map((m) => m.messageId),
        [ids[4]],
      );
      const detail = await store.getMessage(ids[1]!);
      assert.equal(detail?.state, 'delivered');
      assert.deepEqual(
        detail?.history.map((a) => [a.number, a.outcome]),
        [[1, 'delivered']],
      );
    } finally {
      await store.close();
    }
  });

  it('gives them back untouched when the head fails or is delivered without them', async () => {
    const { store, ids } = await storeWith('ahead-back', 4);
    try {
      let [head] = await store.claimDue(ahead('r'));
      assert.equal(await store.markFailed(head!, failed(1), later), true);
      // The head goes first again, and the messages behind it have lost no attempt.
      [head] = await store.claimDue(ahead('r'));
      assert.equal(head?.messageId, ids[0]);
      assert.equal(head?.attempt, 2);
      assert.deepEqual(ofAhead(head), [
        [ids[1], 1],
        [ids[2], 1],
      ]);
      // Delivered while stopping: what was leased ahead was not sent.
      assert.equal(await store.markDelivered(head!, ok(2)), true);
      const [next] = await store.claimDue(claim('r'));
      assert.equal(next?.messageId, ids[1]);
      assert.equal(next?.attempt, 1);
      assert.equal(next?.lease, head?.ahead?.[0]?.lease);
      assert.deepEqual((await store.getMessage(ids[1]!))?.history, []);
      assert.equal((await store.getMessage(ids[2]!))?.attempts, 0);
    } finally {
      await store.close();
    }
  });

  it('records a lost attempt, not charged, for each message leased ahead of a head whose lease ran out', async () => {
    const { store, ids, clock } = await storeWith('ahead-lost', 3);
    try {
      const [head] = await store.claimDue(ahead('r'));
      clock.advance(LEASE + 1);
      const [expired] = await store.expiredLeases('r', 10);
      assert.equal(expired?.messageId, ids[0]);
      const lost = {
        startedAt: clock.t,
        durationMs: LEASE,
        outcome: 'lease_expired' as const,
        status: null,
        responseExcerpt: null,
        error: 'lost',
      };
      assert.equal(await store.markFailed(expired!, lost, later), true);
      for (const behind of head!.ahead!) {
        const detail = await store.getMessage(behind.messageId);
        assert.equal(detail?.state, 'queued');
        assert.deepEqual(
          detail?.history.map((a) => [a.number, a.outcome]),
          [[behind.attempt, 'lease_expired']],
        );
      }
      // The next attempt has the next number, and the lost one was not charged.
      await store.markDelivered((await store.claimDue(claim('r')))[0]!, ok(clock.t));
      const [next] = await store.claimDue(claim('r'));
      assert.equal(next?.messageId, ids[1]);
      assert.equal(next?.attempt, 2);
      assert.equal(next?.charged, 0);
    } finally {
      await store.close();
    }
  });

  it('leases nothing ahead beyond maxConcurrency, while paused, or while the target is down', async () => {
    const { store } = await storeWith('ahead-limits', 9);
    try {
      let [head] = await store.claimDue(ahead('r', 1));
      assert.equal(head?.ahead, undefined);
      await store.markDelivered(head!, ok(1));
      [head] = await store.claimDue(ahead('r', 2));
      assert.equal(head?.ahead?.length, 1);
      await store.markDelivered(head!, ok(1));

      [head] = await store.claimDue(ahead('r'));
      await store.setPaused('r', true);
      const paused = await store.markDeliveredAndStarted!(head!, ok(2), head!.ahead![0]!, started);
      // What was leased ahead before the pause goes on; nothing more is leased.
      assert.deepEqual([paused.kept, paused.ahead], [true, []]);
      assert.deepEqual((await store.routeStats(['r']))[0]?.inflight, 1);
      const last = head!.ahead![1]!;
      assert.equal(
        (await store.markDeliveredAndStarted!(head!.ahead![0]!, ok(3), last, started)).kept,
        true,
      );
      assert.equal((await store.getMessage(last.messageId))?.state, 'inflight');
      await store.markDelivered(last, ok(4));
      await store.setPaused('r', false);

      [head] = await store.claimDue(ahead('r'));
      assert.equal(head?.ahead?.length, 2);
      const { after } = await store.updateTargetHealth('r', {
        event: { kind: 'unavailable', error: 'refused', probe: false },
        policy: { after: 1, probeInitialMs: 1_000, probeMaxMs: 1_000 },
        now: Date.UTC(2026, 0, 1),
      });
      assert.equal(after.state, 'down');
      const down = await store.markDeliveredAndStarted!(head!, ok(5), head!.ahead![0]!, started);
      assert.deepEqual([down.kept, down.ahead], [true, []]);
    } finally {
      await store.close();
    }
  });

  it('leases nothing more ahead once a redrive put an earlier message back in the group', async () => {
    const { store, ids } = await storeWith('ahead-redrive', 6, new TestClock(), 'fifo');
    try {
      await store.markFailed((await store.claimDue(claim('r')))[0]!, failed(1), {
        deadLetter: 'failed 1 of 1 attempts',
      });
      const [head] = await store.claimDue(ahead('r'));
      assert.equal(head?.messageId, ids[1]);
      // Redriven while the group is on its way: m2 and m3, leased before the redrive, may
      // already be sent and go on; nothing later than the redriven message is leased.
      assert.equal(await store.redrive({ route: 'r', group: 'g' }), 1);
      const [m2, m3] = head!.ahead!;
      assert.deepEqual(
        (await store.markDeliveredAndStarted!(head!, ok(2), m2!, started)).ahead,
        [],
      );
      assert.deepEqual((await store.markDeliveredAndStarted!(m2!, ok(3), m3!, started)).ahead, []);
      assert.equal(await store.markDelivered(m3!, ok(4)), true);
      // Then the redriven message, before m4 and m5.
      const [next] = await store.claimDue(ahead('r'));
      assert.equal(next?.messageId, ids[0]);
      assert.deepEqual(
        (next?.ahead ?? []).map((m) => m.messageId),
        ids.slice(4),
      );
    } finally {
      await store.close();
    }
  });
});
