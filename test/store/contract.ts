/**
 * The store contract: every backend runs this suite unchanged, through a factory that
 * gives each test a fresh, isolated store.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, afterEach, describe, it } from 'node:test';
import { dedupId } from '../../src/core/dedup.js';
import { BadRequestError, ConflictError, NotFoundError } from '../../src/core/errors.js';
import { MAX_GROUP_LENGTH, resolveGroup } from '../../src/core/group.js';
import { HEALTHY } from '../../src/core/outage.js';
import { afterFailure } from '../../src/core/retry.js';
import type { Ordering } from '../../src/core/terms.js';
import type {
  AttemptRecord,
  ClaimRequest,
  ListQuery,
  NewMessage,
  Store,
  StoreOptions,
} from '../../src/store/store.js';
import { blockedGroupsContract } from './contract-blocked.js';

export interface StoreFactory {
  /** A fresh store with its own empty data. */
  create(options: StoreOptions): Promise<Store>;
  /** Cleanup after the whole suite (drop schemas, remove files). */
  dispose?(): Promise<void>;
  /**
   * Write, behind the store's back, a ready group row `group` of `route`, due before
   * everything, whose head is the message `headId`: the row a group id that did not read
   * back as written used to leave behind.
   */
  injectStaleGroup(store: Store, route: string, group: string, headId: string): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 1);
const LEASE_MS = 30_000;
/**
 * A PostgreSQL claim adds the real time it waited for the route's claim lock to the
 * caller's clock (so that rate limits hold across instances); on a busy machine that is a
 * millisecond now and then even without another instance, so a lease, or the next start
 * maxPerSecond allows, may come this much later than the test clock alone says.
 */
const CLAIM_WAIT_MS = 100;

/** A clock the test moves by hand. */
export class TestClock {
  t = T0;
  readonly now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function message(
  route: string,
  group: string,
  body: string,
  extra: Partial<NewMessage> = {},
): NewMessage {
  return {
    route,
    group,
    dedupId: null,
    dedupWindowMs: 300_000,
    headers: [
      ['content-type', 'application/json'],
      ['x-test', body],
    ],
    body: Buffer.from(body),
    ...extra,
  };
}

export function ok(startedAt: number): AttemptRecord {
  return {
    startedAt,
    durationMs: 5,
    outcome: 'delivered',
    status: 200,
    responseExcerpt: 'ok',
    error: null,
  };
}

export function failed(startedAt: number, status = 503): AttemptRecord {
  return {
    startedAt,
    durationMs: 7,
    outcome: 'http_error',
    status,
    responseExcerpt: 'unavailable',
    error: null,
  };
}

export function claim(route: string, limit = 100, maxConcurrency = 100): ClaimRequest {
  return { route, limit, maxConcurrency, leaseMs: LEASE_MS };
}

/** `skip`: why the backend cannot run here (listed in the report), or false. */
export function runStoreContract(
  backend: string,
  factory: StoreFactory,
  skip: string | false = false,
): void {
  describe(`store contract: ${backend}`, { skip }, () => {
    const open: Store[] = [];
    let clock: TestClock;

    async function fresh(ordering: Record<string, Ordering> = {}): Promise<Store> {
      clock = new TestClock();
      const store = await factory.create({ ordering, now: clock.now });
      open.push(store);
      return store;
    }

    afterEach(async () => {
      for (const store of open.splice(0)) await store.close();
    });
    after(async () => {
      await factory.dispose?.();
    });

    describe('enqueue', () => {
      it('assigns sequences that increase within a route and keeps exact bytes and headers', async () => {
        const store = await fresh();
        const body = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x7b]);
        const a = await store.enqueue({ ...message('r1', 'g', 'x'), body });
        const b = await store.enqueue(message('r1', 'h', 'y'));
        const c = await store.enqueue(message('r2', 'g', 'z'));
        assert.equal(a.duplicate, false);
        assert.ok(!a.duplicate && !b.duplicate && !c.duplicate);
        assert.ok(b.sequence > a.sequence);
        assert.equal(c.sequence, 1, 'each route counts its own sequence');
        const stored = await store.getMessage(a.messageId);
        assert.ok(stored);
        assert.deepEqual(stored.body, body);
        assert.deepEqual(stored.headers, [
          ['content-type', 'application/json'],
          ['x-test', 'x'],
        ]);
        assert.equal(stored.state, 'queued');
        assert.equal(stored.attempts, 0);
        assert.equal(stored.receivedAt, clock.t);
      });

      it('gives every concurrent enqueue its own message and sequence', async () => {
        const store = await fresh();
        const results = await Promise.all(
          Array.from({ length: 300 }, (_, i) => store.enqueue(message('r', `g${i % 7}`, `m${i}`))),
        );
        const sequences = results.map((r) => (r.duplicate ? -1 : r.sequence));
        assert.equal(new Set(sequences).size, 300);
        assert.equal(new Set(results.map((r) => r.messageId)).size, 300);
        const [stats] = await store.routeStats(['r']);
        assert.equal(stats?.queued, 300);
      });

      it('tells listeners which route has work', async () => {
        const store = await fresh();
        const seen: string[] = [];
        const stop = store.onWork((route) => seen.push(route));
        await store.enqueue(message('alpha', 'g', 'a'));
        stop();
        await store.enqueue(message('beta', 'g', 'b'));
        // A backend may tell more than once (locally, and again from the database).
        assert.deepEqual([...new Set(seen)], ['alpha']);
      });
    });

    describe('deduplication', () => {
      it('drops a repeat of the same content within the window and accepts it after', async () => {
        const store = await fresh();
        const body = Buffer.from('{"event":"approved","id":1}');
        const id = dedupId({ by: 'content' }, () => undefined, body);
        const first = await store.enqueue({
          ...message('r', 'g', 'a'),
          body,
          dedupId: id,
          dedupWindowMs: 60_000,
        });
        clock.advance(59_000);
        const repeat = await store.enqueue({
          ...message('r', 'g', 'a'),
          body,
          dedupId: id,
          dedupWindowMs: 60_000,
        });
        assert.deepEqual(repeat, {
          messageId: first.messageId,
          duplicate: true,
        });
        assert.equal((await store.routeStats(['r']))[0]?.queued, 1, 'the duplicate was not stored');
        clock.advance(2_000);
        const later = await store.enqueue({
          ...message('r', 'g', 'a'),
          body,
          dedupId: id,
          dedupWindowMs: 60_000,
        });
        assert.equal(later.duplicate, false);
        assert.notEqual(later.messageId, first.messageId);
      });

      it('dedups by a header value, per route, and not at all without one', async () => {
        const store = await fresh();
        const headers = new Map([['x-delivery', 'd-1']]);
        const id = dedupId(
          { by: 'header', header: 'X-Delivery' },
          (n) => headers.get(n),
          Buffer.from('1'),
        );
        assert.equal(id, 'header:d-1');
        const a = await store.enqueue({
          ...message('r', 'g', 'one'),
          dedupId: id,
        });
        const b = await store.enqueue({
          ...message('r', 'g', 'two'),
          dedupId: id,
        });
        assert.equal(b.duplicate, true);
        assert.equal(b.messageId, a.messageId);
        const other = await store.enqueue({
          ...message('other', 'g', 'one'),
          dedupId: id,
        });
        assert.equal(other.duplicate, false, 'dedup ids are scoped to their route');
        const missing = dedupId(
          { by: 'header', header: 'X-Delivery' },
          () => undefined,
          Buffer.from('1'),
        );
        assert.equal(missing, null);
      });

      it('dedups concurrent identical sends into one message', async () => {
        const store = await fresh();
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            store.enqueue({ ...message('r', 'g', 'same'), dedupId: 'k' }),
          ),
        );
        assert.equal(results.filter((r) => !r.duplicate).length, 1);
        assert.equal(new Set(results.map((r) => r.messageId)).size, 1);
      });
    });

    describe('claiming and per-group FIFO', () => {
      it('claims only the head of each group, oldest first', async () => {
        const store = await fresh();
        await store.enqueue(message('r', 'a', 'a1'));
        await store.enqueue(message('r', 'b', 'b1'));
        await store.enqueue(message('r', 'a', 'a2'));
        const first = await store.claimDue(claim('r'));
        assert.deepEqual(
          first.map((m) => m.body.toString()),
          ['a1', 'b1'],
        );
        assert.deepEqual(
          await store.claimDue(claim('r')),
          [],
          'groups in flight give nothing more',
        );
        const a1 = first[0]!;
        assert.equal(a1.attempt, 1);
        assert.ok(await store.markDelivered(a1, ok(clock.t)));
        const next = await store.claimDue(claim('r'));
        assert.deepEqual(
          next.map((m) => m.body.toString()),
          ['a2'],
        );
      });

      it('keeps per-group order under random interleaving, with never two of a group in flight', async () => {
        const store = await fresh();
        const groups = 12;
        const perGroup = 40;
        const order = Array.from({ length: groups * perGroup }, (_, i) => i % groups);
        for (let i = order.length - 1; i > 0; i--) {
          const j = randomInt(i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const sent = new Map<string, number[]>();
        const producing = (async () => {
          for (const g of order) {
            const group = `g${g}`;
            const n = (sent.get(group)?.length ?? 0) + 1;
            sent.set(group, [...(sent.get(group) ?? []), n]);
            await store.enqueue(message('r', group, `${group}:${n}`));
          }
        })();

        const inFlight = new Set<string>();
        const received = new Map<string, number[]>();
        let delivered = 0;
        const worker = async () => {
          while (delivered < groups * perGroup) {
            const batch = await store.claimDue(claim('r', 1 + randomInt(4), 8));
            if (batch.length === 0) {
              await new Promise((resolve) => setImmediate(resolve));
              continue;
            }
            await Promise.all(
              batch.map(async (m) => {
                assert.ok(!inFlight.has(m.group), `two messages of ${m.group} in flight`);
                inFlight.add(m.group);
                await new Promise((resolve) => setTimeout(resolve, randomInt(3)));
                inFlight.delete(m.group);
                if (randomInt(5) === 0) {
                  // A failure retried at once: order must still hold.
                  assert.ok(
                    await store.markFailed(m, failed(clock.t), {
                      retryAt: clock.t,
                    }),
                  );
                  return;
                }
                const [group, n] = m.body.toString().split(':');
                received.set(group!, [...(received.get(group!) ?? []), Number(n)]);
                assert.ok(await store.markDelivered(m, ok(clock.t)));
                delivered++;
              }),
            );
          }
        };
        await Promise.all([producing, worker(), worker(), worker()]);
        for (const [group, numbers] of sent) {
          assert.deepEqual(received.get(group), numbers, `group ${group} out of order`);
        }
      });

      it('honours the route concurrency limit', async () => {
        const store = await fresh();
        for (let i = 0; i < 10; i++) await store.enqueue(message('r', `g${i}`, `m${i}`));
        const first = await store.claimDue(claim('r', 100, 3));
        assert.equal(first.length, 3);
        assert.equal((await store.claimDue(claim('r', 100, 3))).length, 0);
        await store.markDelivered(first[0]!, ok(clock.t));
        assert.equal((await store.claimDue(claim('r', 100, 3))).length, 1);
      });

      it('claims nothing from a paused route, and reports work on resume', async () => {
        const store = await fresh();
        await store.enqueue(message('r', 'g', 'a'));
        await store.setPaused('r', true);
        assert.deepEqual(await store.claimDue(claim('r')), []);
        assert.equal((await store.routeStats(['r']))[0]?.paused, true);
        await store.enqueue(message('r', 'g', 'b'));
        const woken: string[] = [];
        store.onWork((route) => woken.push(route));
        await store.setPaused('r', false);
        assert.ok(woken.includes('r'), 'a resume tells listeners');
        assert.equal((await store.claimDue(claim('r'))).length, 1);
      });

      it('tells when the next head is due', async () => {
        const store = await fresh();
        assert.equal(await store.nextDueAt('r'), null);
        await store.enqueue(message('r', 'g', 'a'));
        assert.equal(await store.nextDueAt('r'), clock.t);
        const [m] = await store.claimDue(claim('r'));
        assert.equal(await store.nextDueAt('r'), null);
        const expiry = (await store.nextLeaseExpiry('r')) ?? 0;
        assert.ok(
          expiry >= clock.t + LEASE_MS && expiry <= clock.t + LEASE_MS + CLAIM_WAIT_MS,
          `the lease ends ${expiry - clock.t} ms after the claim, not ${LEASE_MS}`,
        );
        await store.markFailed(m!, failed(clock.t), {
          retryAt: clock.t + 5_000,
        });
        assert.equal(await store.nextDueAt('r'), clock.t + 5_000);
        assert.equal(await store.nextLeaseExpiry('r'), null);
      });
    });

    describe('failure, retry and dead letters', () => {
      it('retries after the backoff and dead-letters after maxAttempts, recording every attempt', async () => {
        const store = await fresh();
        const policy = {
          maxAttempts: 3,
          backoff: {
            initialMs: 1_000,
            maxMs: 10_000,
            multiplier: 2,
            jitter: 0,
          },
        };
        const { messageId } = await store.enqueue(message('r', 'g', 'a'));
        const waits: number[] = [];
        for (let attempt = 1; attempt <= 3; attempt++) {
          const [m] = await store.claimDue(claim('r'));
          assert.ok(m, `attempt ${attempt} was claimable`);
          assert.equal(m.attempt, attempt);
          const next = afterFailure(
            policy,
            { attempt: m.attempt, charged: m.attempt },
            clock.t,
            () => 0.5,
          );
          assert.ok(await store.markFailed(m, failed(clock.t, 500 + attempt), next));
          if ('retryAt' in next) {
            waits.push(next.retryAt - clock.t);
            assert.deepEqual(await store.claimDue(claim('r')), [], 'not due before the backoff');
            clock.advance(next.retryAt - clock.t - 1);
            assert.deepEqual(await store.claimDue(claim('r')), [], 'not due a millisecond early');
            clock.advance(1);
          }
        }
        assert.deepEqual(waits, [1_000, 2_000]);
        const dead = await store.getMessage(messageId);
        assert.equal(dead?.state, 'dead');
        assert.equal(dead?.deadReason, 'failed 3 of 3 attempts');
        assert.equal(dead?.lastError, 'HTTP 503');
        assert.deepEqual(
          dead?.history.map((a) => [a.number, a.outcome, a.status]),
          [
            [1, 'http_error', 501],
            [2, 'http_error', 502],
            [3, 'http_error', 503],
          ],
        );
        assert.equal((await store.routeStats(['r']))[0]?.dead, 1);
      });

      it('strict ordering: a dead letter blocks its group until redriven, which restores order', async () => {
        const store = await fresh({ r: 'strict' });
        const first = await store.enqueue(message('r', 'g', 'first'));
        await store.enqueue(message('r', 'g', 'second'));
        await store.enqueue(message('r', 'other', 'free'));
        const heads = await store.claimDue(claim('r'));
        const head = heads.find((m) => m.group === 'g')!;
        await store.markFailed(head, failed(clock.t), {
          deadLetter: 'failed 1 of 1 attempts',
        });
        await store.markDelivered(heads.find((m) => m.group === 'other')!, ok(clock.t));

        assert.deepEqual(
          await store.claimDue(claim('r')),
          [],
          'the group waits behind its dead letter',
        );
        const stats = (await store.routeStats(['r']))[0]!;
        assert.equal(stats.blockedGroups, 1);
        const blocked = await store.blockedGroups('r', 10);
        assert.equal(blocked.items.length, 1);
        assert.equal(blocked.items[0]?.group, 'g');
        assert.equal(blocked.items[0]?.heldBy.id, first.messageId);

        assert.equal(await store.redrive({ ids: [first.messageId] }), 1);
        const [again] = await store.claimDue(claim('r'));
        assert.equal(
          again?.body.toString(),
          'first',
          'the redriven message goes before later ones',
        );
        assert.equal(again?.attempt, 1, 'attempts start again');
        await store.markDelivered(again!, ok(clock.t));
        const [second] = await store.claimDue(claim('r'));
        assert.equal(second?.body.toString(), 'second');
        const history = (await store.getMessage(first.messageId))?.history ?? [];
        assert.deepEqual(
          history.map((a) => a.outcome),
          ['http_error', 'delivered'],
          'the earlier attempts stay in the history',
        );
        assert.equal((await store.getMessage(first.messageId))?.redrives, 1);
      });

      it('fifo ordering: a dead letter does not block its group; a redrive puts it first again', async () => {
        const store = await fresh({ r: 'fifo' });
        const first = await store.enqueue(message('r', 'g', 'first'));
        await store.enqueue(message('r', 'g', 'second'));
        await store.enqueue(message('r', 'g', 'third'));
        const [head] = await store.claimDue(claim('r'));
        await store.markFailed(head!, failed(clock.t), {
          deadLetter: 'failed 1 of 1 attempts',
        });
        const [second] = await store.claimDue(claim('r'));
        assert.equal(second?.body.toString(), 'second', 'the next message goes on');
        assert.equal((await store.routeStats(['r']))[0]?.blockedGroups, 0);
        // Redriven while `second` is in flight: it waits for that attempt, then goes
        // before `third`, whose sequence is later.
        await store.redrive({ route: 'r', group: 'g' });
        assert.deepEqual(await store.claimDue(claim('r')), [], 'never two of a group in flight');
        await store.markDelivered(second!, ok(clock.t));
        const [next] = await store.claimDue(claim('r'));
        assert.equal(next?.messageId, first.messageId);
      });

      it('fifo ordering: a group with many dead letters goes on to its next message', async () => {
        const store = await fresh({ r: 'fifo' });
        for (let i = 0; i < 40; i++) {
          await store.enqueue(message('r', 'g', `dies ${i}`));
          const [m] = await store.claimDue(claim('r'));
          assert.ok(await store.markFailed(m!, failed(clock.t), { deadLetter: 'test' }));
        }
        const survivor = await store.enqueue(message('r', 'g', 'lives'));
        const [next] = await store.claimDue(claim('r'));
        assert.equal(next?.messageId, survivor.messageId);
        assert.equal(await store.countDead({ route: 'r', group: 'g' }), 40);
        await store.markDelivered(next!, ok(clock.t));
        assert.equal(await store.redrive({ route: 'r', group: 'g' }), 40);
        const [first] = await store.claimDue(claim('r'));
        assert.equal(first?.body.toString(), 'dies 0', 'redriven, the earliest goes first');
      });

      it('a failure that was retried keeps its place at the head', async () => {
        const store = await fresh();
        await store.enqueue(message('r', 'g', 'a'));
        await store.enqueue(message('r', 'g', 'b'));
        const [a] = await store.claimDue(claim('r'));
        await store.markFailed(a!, failed(clock.t), {
          retryAt: clock.t + 1_000,
        });
        assert.deepEqual(await store.claimDue(claim('r')), [], 'the group waits for the retry');
        clock.advance(1_000);
        const [retried] = await store.claimDue(claim('r'));
        assert.equal(retried?.body.toString(), 'a');
        assert.equal(retried?.attempt, 2);
      });
    });

    describe('leases', () => {
      it('a lease that expires (crash) makes the message claimable again; the old lease is refused', async () => {
        const store = await fresh();
        const { messageId } = await store.enqueue(message('r', 'g', 'a'));
        const [m] = await store.claimDue(claim('r'));
        assert.deepEqual(await store.expiredLeases('r', 10), []);
        clock.advance(LEASE_MS + CLAIM_WAIT_MS);
        const expired = await store.expiredLeases('r', 10);
        assert.equal(expired.length, 1);
        assert.equal(expired[0]?.messageId, messageId);
        assert.equal(expired[0]?.attempt, 1);
        const lost: AttemptRecord = {
          startedAt: expired[0]!.startedAt,
          durationMs: LEASE_MS,
          outcome: 'lease_expired',
          status: null,
          responseExcerpt: null,
          error: 'lease expired',
        };
        assert.ok(await store.markFailed(expired[0]!, lost, { retryAt: clock.t }));
        const [again] = await store.claimDue(claim('r'));
        assert.equal(again?.messageId, messageId);
        assert.equal(again?.attempt, 2);
        assert.equal(
          await store.markDelivered(m!, ok(clock.t)),
          false,
          'a lost lease cannot complete',
        );
        assert.ok(await store.markDelivered(again!, ok(clock.t)));
        assert.equal((await store.getMessage(messageId))?.state, 'delivered');
      });

      it('counts each state a batch of claims and outcomes moves its messages through', async () => {
        const store = await fresh();
        await Promise.all(
          Array.from({ length: 30 }, (_, i) => store.enqueue(message('r', `g${i % 10}`, `m${i}`))),
        );
        const counts = async () => {
          const { queued, inflight, delivered } = (await store.routeStats(['r']))[0]!;
          return { queued, inflight, delivered };
        };
        const heads = await store.claimDue(claim('r'));
        assert.equal(heads.length, 10, 'one head per group');
        assert.deepEqual(await counts(), { queued: 20, inflight: 10, delivered: 0 });
        await Promise.all(heads.map((m) => store.markDelivered(m, ok(clock.t))));
        assert.deepEqual(await counts(), { queued: 20, inflight: 0, delivered: 10 });
        const next = await store.claimDue(claim('r', 4));
        await Promise.all(next.map((m) => store.markDelivered(m, ok(clock.t))));
        assert.deepEqual(await counts(), { queued: 16, inflight: 0, delivered: 14 });
      });

      it('outcomes that arrive together each move their own group on, and a lost lease among them is refused', async () => {
        const store = await fresh();
        // Groups a–d have two messages each; e has one; f's head will have lost its lease.
        for (const group of ['a', 'b', 'c', 'd']) {
          await store.enqueue(message('r', group, `${group}1`));
          await store.enqueue(message('r', group, `${group}2`));
        }
        await store.enqueue(message('r', 'e', 'e1'));
        await store.enqueue(message('r', 'f', 'f1'));
        const [stale] = await store.claimDue(claim('r', 1));
        assert.equal(stale?.body.toString(), 'a1');
        clock.advance(LEASE_MS + CLAIM_WAIT_MS);
        const [expired] = await store.expiredLeases('r', 10);
        assert.ok(await store.markFailed(expired!, failed(clock.t), { retryAt: clock.t }));
        const heads = await store.claimDue(claim('r'));
        const byBody = new Map(heads.map((m) => [m.body.toString(), m]));
        assert.deepEqual([...byBody.keys()].sort(), ['a1', 'b1', 'c1', 'd1', 'e1', 'f1']);
        const results = await Promise.all([
          store.markDelivered(stale!, ok(clock.t)),
          store.markDelivered(byBody.get('a1')!, ok(clock.t)),
          store.markDelivered(byBody.get('b1')!, ok(clock.t)),
          store.markFailed(byBody.get('c1')!, failed(clock.t), { retryAt: clock.t + 60_000 }),
          store.markFailed(byBody.get('d1')!, failed(clock.t, 400), { deadLetter: 'max_attempts' }),
          store.markDelivered(byBody.get('e1')!, ok(clock.t)),
          store.markDelivered(byBody.get('f1')!, ok(clock.t)),
        ]);
        assert.deepEqual(results, [false, true, true, true, true, true, true]);
        // a and b go on to their second message; c waits for its retry; d is blocked by
        // its dead letter (strict ordering); e and f have nothing left.
        const next = await store.claimDue(claim('r'));
        assert.deepEqual(next.map((m) => m.body.toString()).sort(), ['a2', 'b2']);
        assert.equal(next.find((m) => m.group === 'a')?.attempt, 1);
        const stats = (await store.routeStats(['r']))[0]!;
        assert.equal(stats.delivered, 4);
        assert.equal(stats.dead, 1);
        assert.equal(stats.blockedGroups, 1);
        assert.equal(stats.activeGroups, 3, 'a and b in flight, c waiting for its retry');
        const a1 = await store.getMessage(byBody.get('a1')!.messageId);
        assert.deepEqual(
          a1?.history.map((attempt) => attempt.outcome),
          ['http_error', 'delivered'],
        );
        clock.advance(60_000);
        assert.deepEqual(
          (await store.claimDue(claim('r'))).map((m) => m.body.toString()),
          ['c1'],
        );
      });
    });

    describe('redrive, discard, replay', () => {
      async function deadLetters(store: Store, route: string, groups: string[]): Promise<string[]> {
        const ids: string[] = [];
        for (const group of groups)
          ids.push((await store.enqueue(message(route, group, group))).messageId as string);
        for (;;) {
          const claimed = await store.claimDue(claim(route));
          if (claimed.length === 0) break;
          for (const m of claimed)
            await store.markFailed(m, failed(clock.t), { deadLetter: 'test' });
        }
        return ids;
      }

      it('redrives by route, by group, by ids and all, in pages', async () => {
        const store = await fresh({ a: 'fifo', b: 'fifo' });
        await deadLetters(store, 'a', ['x', 'x', 'y', 'y', 'y']);
        const inB = await deadLetters(store, 'b', ['z', 'z']);
        assert.equal(await store.countDead({ route: 'a', group: 'y' }), 3);
        assert.equal(await store.countDead({ route: 'a' }), 5);
        assert.equal(await store.countDead({ all: true }), 7);
        assert.equal(await store.redrive({ route: 'a', group: 'y' }, 2), 2, 'a page');
        assert.equal(await store.countDead({ route: 'a', group: 'y' }), 1);
        assert.equal(await store.redrive({ route: 'a', group: 'y' }), 1);
        assert.equal(await store.redrive({ ids: [inB[1]!, 'no-such-id'] }), 1);
        assert.equal(await store.redrive({ route: 'a' }), 2);
        assert.equal(await store.redrive({ all: true }), 1);
        assert.equal(await store.redrive({ all: true }), 0);
        assert.equal(await store.countDead({ all: true }), 0);
        const stats = await store.routeStats(['a', 'b']);
        assert.deepEqual(
          stats.map((s) => [s.queued, s.dead]),
          [
            [5, 0],
            [2, 0],
          ],
        );
      });

      it('discards only dead letters, and a discard unblocks a strict group', async () => {
        const store = await fresh({ r: 'strict' });
        const [dead] = await deadLetters(store, 'r', ['g']);
        const waiting = await store.enqueue(message('r', 'g', 'waiting'));
        assert.deepEqual(await store.claimDue(claim('r')), []);
        await assert.rejects(store.discard(waiting.messageId), ConflictError);
        assert.equal(await store.discard('no-such-id'), null);
        const discarded = await store.discard(dead!);
        assert.equal(discarded?.id, dead);
        assert.equal(await store.getMessage(dead!), null);
        const [next] = await store.claimDue(claim('r'));
        assert.equal(next?.messageId, waiting.messageId);
        assert.equal((await store.routeStats(['r']))[0]?.dead, 0);
      });

      it('replays a delivered message as a new message', async () => {
        const store = await fresh();
        const original = await store.enqueue({
          ...message('r', 'g', 'a'),
          dedupId: 'k',
        });
        const [m] = await store.claimDue(claim('r'));
        await store.markDelivered(m!, ok(clock.t));
        const copy = await store.replay(original.messageId);
        assert.notEqual(copy.messageId, original.messageId);
        assert.ok(!original.duplicate && copy.sequence > original.sequence);
        const stored = await store.getMessage(copy.messageId);
        assert.equal(stored?.replayOf, original.messageId);
        assert.equal(stored?.body.toString(), 'a');
        assert.equal(stored?.state, 'queued');
        await assert.rejects(
          store.replay(copy.messageId),
          ConflictError,
          'only delivered messages',
        );
        await assert.rejects(store.replay('no-such-id'), NotFoundError);
      });
    });

    describe('listing and stats', () => {
      it('pages through messages in (route, sequence) order with filters', async () => {
        const store = await fresh();
        for (let i = 0; i < 25; i++)
          await store.enqueue(message(i % 2 ? 'b' : 'a', `g${i % 3}`, `m${i}`));
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.listMessages({ limit: 10, cursor });
          seen.push(...page.items.map((m) => `${m.route}:${m.sequence}`));
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (cursor);
        assert.equal(pages, 3);
        assert.equal(seen.length, 25);
        assert.deepEqual(
          seen,
          [...seen].sort((x, y) => {
            const [rx, sx] = x.split(':');
            const [ry, sy] = y.split(':');
            return rx === ry ? Number(sx) - Number(sy) : rx! < ry! ? -1 : 1;
          }),
        );
        const onlyB = await store.listMessages({
          route: 'b',
          group: 'g1',
          limit: 100,
        });
        assert.ok(onlyB.items.length > 0);
        assert.ok(onlyB.items.every((m) => m.route === 'b' && m.group === 'g1'));
        assert.equal((await store.listMessages({ state: 'dead', limit: 10 })).items.length, 0);
        await assert.rejects(store.listMessages({ limit: 10, cursor: 'garbage' }), BadRequestError);
      });

      it('filters by time received and by error text, and counts what it would list', async () => {
        const store = await fresh({ r: 'fifo' });
        const early = await store.enqueue(message('r', 'g', 'early'));
        clock.advance(1_000);
        const later = await store.enqueue(message('r', 'g', 'later'));
        await store.enqueue(message('other', 'g', 'elsewhere'));
        const [head] = await store.claimDue(claim('r', 1));
        assert.equal(head?.messageId, early.messageId);
        await store.markFailed(
          head!,
          { ...failed(clock.t), error: 'Connection RESET 100%_off' },
          {
            deadLetter: 'gave up',
          },
        );
        const ids = async (filter: Omit<ListQuery, 'limit'>) => {
          const listed = (await store.listMessages({ ...filter, limit: 100 })).items.map(
            (m) => m.id,
          );
          assert.equal(await store.countMessages(filter), listed.length, JSON.stringify(filter));
          return listed;
        };
        const T = clock.t;
        assert.deepEqual(await ids({ route: 'r', since: T }), [later.messageId]);
        assert.deepEqual(
          await ids({ route: 'r', until: T }),
          [early.messageId],
          'until is exclusive',
        );
        assert.deepEqual(await ids({ route: 'r', since: T - 1_000, until: T + 1 }), [
          early.messageId,
          later.messageId,
        ]);
        // Any case; % and _ are text, not wildcards; the dead-letter reason counts too.
        assert.deepEqual(await ids({ error: 'connection reset' }), [early.messageId]);
        assert.deepEqual(await ids({ error: '100%_OFF' }), [early.messageId]);
        assert.deepEqual(await ids({ error: '100_%' }), []);
        assert.deepEqual(await ids({ state: 'dead', error: 'GAVE UP' }), [early.messageId]);
        assert.deepEqual(await ids({ state: 'queued', error: 'reset' }), []);
        assert.equal(await store.countMessages({}), 3);
      });

      it('counts messages per route and reports the oldest waiting one', async () => {
        const store = await fresh();
        const [empty] = await store.routeStats(['r']);
        assert.deepEqual(empty, {
          route: 'r',
          paused: false,
          queued: 0,
          inflight: 0,
          dead: 0,
          delivered: 0,
          blockedGroups: 0,
          activeGroups: 0,
          health: HEALTHY,
          oldestWaitingAt: null,
          lastDeadLetter: null,
        });
        const start = clock.t;
        await store.enqueue(message('r', 'a', '1'));
        clock.advance(1_000);
        await store.enqueue(message('r', 'b', '2'));
        await store.enqueue(message('r', 'a', '3'));
        const claimed = await store.claimDue(claim('r'));
        await store.markDelivered(claimed[0]!, ok(clock.t));
        const [stats] = await store.routeStats(['r']);
        assert.equal(stats?.queued, 1);
        assert.equal(stats?.inflight, 1);
        assert.equal(stats?.delivered, 1);
        assert.equal(stats?.oldestWaitingAt, start + 1_000);
        // Group a's second message and group b's first wait: both groups are active.
        assert.equal(stats?.activeGroups, 2);
        assert.equal(stats?.lastDeadLetter, null);

        // The newest dead letter is the one reported, with its error.
        const rest = await store.claimDue(claim('r'));
        await store.markFailed(
          claimed[1]!,
          { ...failed(clock.t), error: 'first' },
          {
            deadLetter: 'test',
          },
        );
        clock.advance(500);
        await store.markFailed(
          rest[0]!,
          { ...failed(clock.t), error: 'second' },
          {
            deadLetter: 'test',
          },
        );
        const [after] = await store.routeStats(['r']);
        assert.deepEqual(after?.lastDeadLetter, { at: clock.t, error: 'second' });
      });
    });

    describe('target health (outages)', () => {
      const policy = { after: 2, probeInitialMs: 1_000, probeMaxMs: 8_000 };
      const unavailable = (probe = false) =>
        ({ kind: 'unavailable', error: 'HTTP 503', probe }) as const;

      it('holds every claim while the target is down, then hands out one probe at a time', async () => {
        const store = await fresh();
        for (const group of ['a', 'b', 'c']) await store.enqueue(message('r', group, group));
        for (let i = 0; i < 2; i++) {
          await store.updateTargetHealth('r', { event: unavailable(), policy, now: clock.t });
        }
        const health = await store.targetHealth('r');
        assert.equal(health.state, 'down');
        assert.equal(health.since, clock.t);
        assert.equal(health.lastError, 'HTTP 503');
        assert.equal(health.nextProbeAt, clock.t + 1_000);
        assert.deepEqual(await store.claimDue(claim('r')), [], 'nothing before the probe is due');
        clock.advance(1_000);
        const [probe, ...more] = await store.claimDue(claim('r'));
        assert.ok(probe?.probe, 'the probe is marked');
        assert.equal(more.length, 0, 'one probe, however much is due');
        assert.deepEqual(await store.claimDue(claim('r')), [], 'one probe at a time');
        // The probe fails: the next one waits twice as long.
        await store.markFailed(probe, failed(clock.t), {
          retryAt: clock.t + 60_000,
          charged: false,
          heldByOutage: true,
        });
        const after = await store.updateTargetHealth('r', {
          event: unavailable(true),
          policy,
          now: clock.t,
        });
        assert.equal(after.after.nextProbeAt, clock.t + 2_000);
        clock.advance(2_000);
        const [second] = await store.claimDue(claim('r'));
        assert.ok(second?.probe);
        // A message held by the outage is probed although its own backoff has not run out.
        assert.notEqual(second.group, undefined);
      });

      it('heals at once: groups held only by the outage become due, rejected ones keep their backoff', async () => {
        const store = await fresh();
        for (const group of ['held', 'rejected', 'fresh']) {
          await store.enqueue(message('r', group, group));
          clock.advance(1);
        }
        const claimed = await store.claimDue(claim('r', 2));
        const held = claimed.find((m) => m.group === 'held')!;
        const rejected = claimed.find((m) => m.group === 'rejected')!;
        await store.markFailed(held, failed(clock.t), {
          retryAt: clock.t + 300_000,
          charged: false,
          heldByOutage: true,
        });
        await store.markFailed(rejected, failed(clock.t, 422), { retryAt: clock.t + 300_000 });
        for (let i = 0; i < 2; i++) {
          await store.updateTargetHealth('r', { event: unavailable(), policy, now: clock.t });
        }
        clock.advance(1_000);
        const [probe] = await store.claimDue(claim('r'));
        assert.equal(probe?.group, 'fresh', 'the earliest due head is the probe');
        await store.markDelivered(probe, ok(clock.t));
        const { before, after } = await store.updateTargetHealth('r', {
          event: { kind: 'answered' },
          policy,
          now: clock.t,
        });
        assert.equal(before.state, 'down');
        assert.deepEqual(after, { ...HEALTHY, since: clock.t });
        const due = await store.claimDue(claim('r'));
        assert.deepEqual(
          due.map((m) => m.group),
          ['held'],
          'the held group is due at once; the rejected one waits for its backoff',
        );
        assert.equal(due[0]?.attempt, 2);
        assert.equal(due[0]?.charged, 0, 'the outage charged nothing');
      });

      it('records charged attempts and when the previous attempt ended', async () => {
        const store = await fresh();
        await store.enqueue(message('r', 'g', 'x'));
        const queuedAt = clock.t;
        clock.advance(10);
        const [first] = await store.claimDue(claim('r'));
        assert.equal(first?.charged, 0);
        assert.equal(first?.chargeSince, queuedAt, 'a first attempt counts from acceptance');
        clock.advance(10);
        await store.markFailed(first!, failed(clock.t), { retryAt: clock.t, charged: false });
        const triedAt = clock.t;
        clock.advance(10);
        const [second] = await store.claimDue(claim('r'));
        assert.equal(second?.charged, 0);
        assert.equal(second?.chargeSince, triedAt);
        await store.markFailed(second!, failed(clock.t, 422), { retryAt: clock.t });
        const [third] = await store.claimDue(claim('r'));
        assert.equal(third?.charged, 1);
        assert.equal(third?.attempt, 3);
      });

      it('knows when the route last delivered', async () => {
        const store = await fresh();
        assert.equal(await store.lastDeliveredAt('r'), null);
        await store.enqueue(message('r', 'g', 'x'));
        const [m] = await store.claimDue(claim('r'));
        clock.advance(5);
        await store.markDelivered(m!, ok(clock.t));
        assert.equal(await store.lastDeliveredAt('r'), clock.t);
        assert.equal(await store.lastDeliveredAt('other'), null);
      });

      it('spaces starts by maxPerSecond, across calls', async () => {
        const store = await fresh();
        for (let i = 0; i < 5; i++) await store.enqueue(message('r', `g${i}`, `m${i}`));
        const rated = { ...claim('r'), maxPerSecond: 10 };
        assert.equal((await store.claimDue(rated)).length, 1);
        assert.equal((await store.claimDue(rated)).length, 0, 'the next start is 100 ms away');
        clock.advance(99);
        assert.equal((await store.claimDue(rated)).length, 0);
        clock.advance(1 + CLAIM_WAIT_MS);
        assert.equal((await store.claimDue(rated)).length, 1);
      });

      it('retry-now makes waiting heads due without charging them, and brings the probe forward', async () => {
        const store = await fresh();
        for (const group of ['a', 'b']) await store.enqueue(message('r', group, group));
        for (const m of await store.claimDue(claim('r'))) {
          await store.markFailed(m, failed(clock.t, 422), { retryAt: clock.t + 600_000 });
        }
        assert.equal(await store.retryNow('r', { group: 'a' }), 1);
        const [a] = await store.claimDue(claim('r'));
        assert.equal(a?.group, 'a');
        assert.equal(a?.charged, 1, 'retry-now charges nothing itself');
        assert.equal(await store.retryNow('r', { id: 'no-such-id' }), 0);
        assert.equal(await store.retryNow('r'), 1);
        assert.equal((await store.claimDue(claim('r')))[0]?.group, 'b');

        await store.enqueue(message('r', 'c', 'c'));
        for (let i = 0; i < 2; i++) {
          await store.updateTargetHealth('r', { event: unavailable(), policy, now: clock.t });
        }
        assert.deepEqual(await store.claimDue(claim('r')), []);
        await store.retryNow('r');
        assert.equal((await store.claimDue(claim('r')))[0]?.probe, true, 'the probe goes now');
      });

      it('reports the target health in the route stats', async () => {
        const store = await fresh();
        await store.updateTargetHealth('r', { event: unavailable(), policy, now: clock.t });
        await store.updateTargetHealth('r', { event: unavailable(), policy, now: clock.t });
        const [stats] = await store.routeStats(['r']);
        assert.equal(stats?.health.state, 'down');
        assert.equal(stats?.health.nextProbeAt, clock.t + 1_000);
      });
    });

    describe('retention', () => {
      const retention = {
        queuedMs: 10_000,
        deadLetterMs: 20_000,
        deliveredMs: 5_000,
      };

      it('expires old queued messages into dead letters and deletes old history', async () => {
        const store = await fresh({ r: 'strict' });
        const old = await store.enqueue(message('r', 'g', 'old'));
        const behind = await store.enqueue(message('r', 'g', 'behind'));
        const delivered = await store.enqueue(message('r', 'h', 'delivered'));
        const claimed = await store.claimDue(claim('r'));
        for (const m of claimed) {
          if (m.group === 'h') await store.markDelivered(m, ok(clock.t));
          else await store.markFailed(m, failed(clock.t), { retryAt: clock.t });
        }

        clock.advance(5_001);
        let result = await store.sweep('r', retention, 100);
        assert.equal(result.deliveredDeleted, 1);
        assert.deepEqual(result.expired, []);
        assert.equal(await store.getMessage(delivered.messageId), null);

        clock.advance(5_000);
        result = await store.sweep('r', retention, 100);
        assert.deepEqual(
          result.expired.map((m) => m.id).sort(),
          [old.messageId, behind.messageId].sort(),
        );
        const expired = await store.getMessage(old.messageId);
        assert.equal(expired?.state, 'dead');
        assert.equal(expired?.deadReason, 'expired: queued longer than 10s');

        clock.advance(20_001);
        result = await store.sweep('r', retention, 100);
        assert.equal(result.deadLettersDeleted.length, 2);
        assert.equal(await store.getMessage(old.messageId), null);
        const [stats] = await store.routeStats(['r']);
        assert.deepEqual([stats?.queued, stats?.dead, stats?.blockedGroups], [0, 0, 0]);
      });

      it('an expired head blocks a strict group and lets a fifo group go on', async () => {
        for (const ordering of ['strict', 'fifo'] as const) {
          const store = await fresh({ r: ordering });
          await store.enqueue(message('r', 'g', 'old'));
          clock.advance(6_000);
          await store.enqueue(message('r', 'g', 'young'));
          clock.advance(4_001);
          const result = await store.sweep('r', retention, 100);
          assert.equal(result.expired.length, 1);
          const next = await store.claimDue(claim('r'));
          assert.deepEqual(
            next.map((m) => m.body.toString()),
            ordering === 'strict' ? [] : ['young'],
            ordering,
          );
        }
      });

      it('works in pages of the given limit', async () => {
        const store = await fresh({ r: 'fifo' });
        for (let i = 0; i < 5; i++) await store.enqueue(message('r', `g${i}`, `${i}`));
        clock.advance(10_001);
        assert.equal((await store.sweep('r', retention, 2)).expired.length, 2);
        assert.equal((await store.sweep('r', retention, 2)).expired.length, 2);
        assert.equal((await store.sweep('r', retention, 2)).expired.length, 1);
        assert.equal((await store.sweep('r', retention, 2)).expired.length, 0);
      });
    });

    describe('a group row the dispatcher cannot handle', () => {
      it('is dropped and reported, and every other group of the route goes on', async () => {
        clock = new TestClock();
        const problems: unknown[] = [];
        const store = await factory.create({
          now: clock.now,
          onStaleGroup: (problem) => problems.push(problem),
        });
        open.push(store);
        await store.enqueue(message('r', 'a', 'a1'));
        const [a1] = await store.claimDue(claim('r'));
        assert.ok(a1);
        await store.markDelivered(a1, ok(clock.t));
        await factory.injectStaleGroup(store, 'r', 'ghost', a1.messageId);
        for (const group of ['b', 'c']) await store.enqueue(message('r', group, group));

        // With room for one only, the stale row comes first: it must not take the slot
        // for ever. A probe or maxPerSecond claims one at a time, too.
        const first = await store.claimDue(claim('r', 1));
        const second = await store.claimDue(claim('r', 10));
        assert.deepEqual(
          first.map((m) => m.group),
          ['b'],
          'the claim went on past the stale row',
        );
        assert.deepEqual(
          second.map((m) => m.group),
          ['c'],
        );
        assert.deepEqual(problems, [{ route: 'r', group: 'ghost', messageId: a1.messageId }]);
        const [stats] = await store.routeStats(['r']);
        assert.equal(stats?.activeGroups, 2, 'the stale row is gone');
      });
    });

    describe('hostile group ids', () => {
      // Each raw value as a sender puts it in a JSON body, read by a `{ json: /g }` rule
      // the way ingress resolves groups.
      const hostile: Record<string, string> = {
        'a lone surrogate': String.raw`{"g":"\ud800x"}`,
        'an emoji split at the cut': JSON.stringify({
          g: `${'x'.repeat(MAX_GROUP_LENGTH - 1)}\u{1F600}${'y'.repeat(10)}`,
        }),
        NUL: String.raw`{"g":"a\u0000b"}`,
        'control characters': String.raw`{"g":"\u0001\u001b[31m\t\u007f\u0085\u009f"}`,
        'an empty id': '{"g":""}',
      };
      const normal: Record<string, string> = {
        'normal 1': '{"g":"normal-1"}',
        'normal 2': '{"g":"normal-2"}',
      };

      it('stores, delivers and orders each one beside normal groups, which go on', async () => {
        const store = await fresh();
        const rule = { json: '/g' };
        const groups = new Map<string, string>();
        for (const [what, body] of Object.entries({ ...hostile, ...normal }))
          groups.set(
            what,
            resolveGroup(rule, 'r', () => undefined, Buffer.from(body)),
          );
        assert.equal(groups.get('an empty id'), 'r', 'an empty id falls back to the route name');
        assert.equal(new Set(groups.values()).size, groups.size);

        const ids = new Map<string, string[]>();
        for (const n of [1, 2]) {
          for (const [what, group] of groups) {
            const result = await store.enqueue(message('r', group, `${what}:${n}`));
            ids.set(what, [...(ids.get(what) ?? []), result.messageId]);
          }
        }
        for (const [what, group] of groups) {
          const listed = await store.listMessages({ route: 'r', group, limit: 10 });
          assert.deepEqual(
            listed.items.map((m) => m.id),
            ids.get(what),
            `${what}: both messages are found under the group they were stored with`,
          );
        }

        for (const n of [1, 2]) {
          const claimed = await store.claimDue(claim('r'));
          assert.deepEqual(
            claimed.map((m) => m.body.toString()).sort(),
            [...groups.keys()].map((what) => `${what}:${n}`).sort(),
            `round ${n}: the head of every group, and only the head`,
          );
          for (const m of claimed) {
            const what = m.body.toString().split(':')[0]!;
            assert.equal(m.group, groups.get(what), `${what}: the group comes back unchanged`);
          }
          assert.deepEqual(
            await store.claimDue(claim('r')),
            [],
            'nothing more of a group before its head is settled',
          );
          for (const m of claimed) assert.ok(await store.markDelivered(m, ok(clock.t)));
        }
        assert.deepEqual(await store.claimDue(claim('r')), []);
        const [stats] = await store.routeStats(['r']);
        assert.deepEqual(
          [stats?.queued, stats?.inflight, stats?.delivered, stats?.blockedGroups],
          [0, 0, groups.size * 2, 0],
        );
      });
    });

    blockedGroupsContract(async (ordering) => ({ store: await fresh(ordering), clock }));
  });
}
