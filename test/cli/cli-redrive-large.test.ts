/**
 * A redrive of 100,000 dead letters through `hookq dlq redrive --route`: it finishes,
 * shows its progress step by step, and every message then reaches the target once,
 * each group in sequence order.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { AttemptRecord } from '../../src/store/store.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { serveWithAdmin } from './support.js';

const TOKEN = 'cli-redrive-large-token';
const TOTAL = 100_000;
/**
 * Preparing the dead letters (below) costs, in fifo ordering, a scan past every earlier
 * dead letter of the group each time a message dies: quadratic in the messages per
 * group (50 groups of 2,000 take about two minutes; 500 groups of 200, seconds), and each
 * group still spans every page of the redrive, which is where its order could break.
 */
const GROUPS = 500;
const ROUTE = 'bulk';

/**
 * A target that keeps no request: it counts deliveries and checks, as they come, that
 * each group's sequence only goes up. Storing 100,000 requests would measure the test.
 */
class CountingTarget {
  delivered = 0;
  repeats = 0;
  readonly perGroup = new Map<string, number>();
  readonly outOfOrder: string[] = [];
  private readonly lastSequence = new Map<string, number>();
  private readonly seen = new Set<number>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const group = String(request.headers['hookq-group-id']);
        const sequence = Number(request.headers['hookq-sequence']);
        const last = this.lastSequence.get(group) ?? 0;
        if (sequence <= last && this.outOfOrder.length < 10) {
          this.outOfOrder.push(`group ${group}: sequence ${sequence} after ${last}`);
        }
        this.lastSequence.set(group, Math.max(last, sequence));
        if (this.seen.has(sequence)) this.repeats++;
        this.seen.add(sequence);
        this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
        this.delivered++;
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhook`;
  }

  /** Every sequence from 1 to `n` seen, and nothing else. */
  sawExactly(n: number): boolean {
    if (this.seen.size !== n) return false;
    for (let sequence = 1; sequence <= n; sequence++) if (!this.seen.has(sequence)) return false;
    return true;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/**
 * Fill the database with TOTAL dead letters over GROUPS groups, straight through the
 * store: making each one die over HTTP would take far longer than the redrive under test.
 *
 * In strict ordering only a group's head can be claimed, and once it is dead the group
 * is blocked, so the messages behind it could never be claimed and failed. The store is
 * therefore opened with `fifo` ordering, where a dead letter steps aside and the next
 * message of its group becomes claimable: each message dies after one failed attempt,
 * as it would on a fifo route with `maxAttempts: 1`. The route is then served as `fifo`
 * too, so hookq finds the database exactly as it would have left it (a strict route
 * would expect its groups marked blocked). Fifo is also the stricter test of the
 * redrive: nothing blocks a group there, so order holds only if the redrive returns
 * each group's messages oldest first, page after page.
 */
async function prepareDeadLetters(path: string): Promise<void> {
  const store = SqliteStore.open(path, { ordering: { [ROUTE]: 'fifo' } });
  try {
    const batch = 1000;
    for (let start = 0; start < TOTAL; start += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, TOTAL - start) }, (_, k) => {
          const i = start + k;
          return store.enqueue({
            route: ROUTE,
            group: `g${i % GROUPS}`,
            dedupId: null,
            dedupWindowMs: 0,
            headers: [['content-type', 'application/json']],
            body: Buffer.from(`{"i":${i}}`),
          });
        }),
      );
    }
    for (;;) {
      const claimed = await store.claimDue({
        route: ROUTE,
        limit: GROUPS,
        maxConcurrency: GROUPS,
        leaseMs: 60_000,
      });
      if (claimed.length === 0) break;
      const failed: AttemptRecord = {
        startedAt: Date.now(),
        durationMs: 1,
        outcome: 'http_error',
        status: 503,
        responseExcerpt: 'down for maintenance',
        error: 'HTTP 503',
      };
      await Promise.all(
        claimed.map((message) =>
          store.markFailed(message, failed, { deadLetter: 'failed 1 of 1 attempts' }),
        ),
      );
    }
    assert.equal(await store.countDead({ route: ROUTE }), TOTAL);
  } finally {
    await store.close();
  }
}

interface RouteView {
  name: string;
  queued: number;
  inflight: number;
  deadLetter: number;
  delivered: number;
}

test(`dlq redrive of ${TOTAL} dead letters shows progress and delivers every group in order`, {
  // Far above the minute or so it takes: a machine busy with other work must not make
  // it fail. The time taken is reported instead.
  timeout: 300_000,
}, async (t) => {
  const began = Date.now();
  const target = await new CountingTarget().start();
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-cli-redrive-large-'));
  await prepareDeadLetters(join(dir, 'hookq.db'));
  const prepared = Date.now();
  t.diagnostic(`${TOTAL} dead letters prepared in ${((prepared - began) / 1000).toFixed(1)}s`);

  const config = writeConfig(dir, {
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    routes: [
      {
        name: ROUTE,
        path: `/${ROUTE}`,
        target: target.url,
        ordering: 'fifo',
        retry: { maxAttempts: 3, backoff: { initial: '50ms', max: '200ms' } },
        // Many attempts at once: hookq commits their outcomes together.
        delivery: { timeout: '10s', maxConcurrency: 200 },
      },
    ],
  });
  const { operator } = await serveWithAdmin(t, config, TOKEN);
  const before = await operator.json<{ routes: RouteView[] }>(['status']);
  assert.deepEqual(
    before.routes.map((r) => [r.name, r.deadLetter, r.queued, r.delivered]),
    [[ROUTE, TOTAL, 0, 0]],
  );
  assert.equal(target.delivered, 0);

  const redriveStarted = Date.now();
  const redrive = await operator.ok(['dlq', 'redrive', '--route', ROUTE]);
  const redriveEnded = Date.now();
  t.diagnostic(`redrive command took ${((redriveEnded - redriveStarted) / 1000).toFixed(1)}s`);
  assert.match(redrive.stdout, new RegExp(`^redriven ${TOTAL} dead letter\\(s\\)$`, 'm'));

  // Not a terminal: one line per step, the count going up to the total.
  const steps = [...redrive.stderr.matchAll(/^redriven (\d+)\/(\d+)$/gm)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  assert.ok(steps.length >= 10, `only ${steps.length} progress lines:\n${redrive.stderr}`);
  for (let i = 1; i < steps.length; i++) {
    assert.ok(
      steps[i]![0]! > steps[i - 1]![0]!,
      `progress went from ${steps[i - 1]} to ${steps[i]}`,
    );
  }
  assert.ok(
    steps.every(([, total]) => total === TOTAL),
    'the total changed during the redrive',
  );
  assert.deepEqual(steps.at(-1), [TOTAL, TOTAL]);

  await waitUntil(
    `all ${TOTAL} delivered`,
    () => target.delivered >= TOTAL || target.outOfOrder.length > 0,
    240_000,
  );
  const deliveredAt = Date.now();
  t.diagnostic(
    `delivered ${target.delivered} in ${((deliveredAt - redriveStarted) / 1000).toFixed(1)}s after the redrive began (${Math.round(target.delivered / ((deliveredAt - redriveStarted) / 1000))}/s)`,
  );

  assert.deepEqual(target.outOfOrder, []);
  assert.equal(target.repeats, 0);
  assert.ok(target.sawExactly(TOTAL), 'some sequence was never delivered');
  assert.equal(target.perGroup.size, GROUPS);
  for (const [group, n] of target.perGroup) assert.equal(n, TOTAL / GROUPS, `group ${group}`);

  // The target counts a delivery when it answers; hookq records it just after.
  await waitUntil(
    'every delivery recorded',
    async () =>
      (await operator.api<{ routes: RouteView[] }>('/api/routes')).routes[0]?.delivered === TOTAL,
    10_000,
  );
  const after = await operator.json<{ routes: RouteView[] }>(['status']);
  assert.deepEqual(
    after.routes.map((r) => [r.name, r.deadLetter, r.queued, r.inflight, r.delivered]),
    [[ROUTE, 0, 0, 0, TOTAL]],
  );
  t.diagnostic(`whole test: ${((Date.now() - began) / 1000).toFixed(1)}s`);
});
