/**
 * A group's next message goes as soon as the previous one is settled, on every backend:
 * no delivery may wait for the dispatcher's polling fallback. Many groups hide a missed
 * wake-up (other groups' completions wake the route); one group does not.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startHookq } from '../../src/app.js';
import { delay } from '../helpers/async.js';
import { configFor, tempDir } from '../helpers/config.js';
import { freshSchemas, PG_URL, pgUrlWith, requirePostgres } from '../helpers/postgres.js';
import { TestTarget } from '../helpers/target.js';

const postgres = await requirePostgres();
const freshSchema = freshSchemas();

const backends: Array<{ name: string; url: () => string; skip: string | false }> = [
  { name: 'sqlite', url: () => `sqlite:${tempDir()}/hookq.db`, skip: false },
  {
    name: 'postgres',
    url: () => pgUrlWith({ schema: freshSchema() }),
    skip: postgres ? false : `PostgreSQL is not reachable at ${PG_URL}`,
  },
];

for (const backend of backends) {
  describe(`one group's messages follow each other at once: ${backend.name}`, {
    skip: backend.skip,
  }, () => {
    test('30 messages of one group arrive without waiting for the polling fallback', async () => {
      const target = await TestTarget.start();
      const hookq = await startHookq(
        configFor(tempDir(), {
          storage: { url: backend.url() },
          routes: [{ name: 'one', path: '/one', target: target.url, group: 'the-only-group' }],
        }),
        // A poll so slow that a single missed wake-up shows.
        { pollMs: 60_000 },
      );
      try {
        // All 30 wait before delivery starts, so no enqueue can wake the route meanwhile.
        const pause = await fetch(`${hookq.adminUrl}/api/routes/one/pause`, { method: 'POST' });
        assert.equal(pause.status, 200);
        for (let i = 0; i < 30; i++) {
          const response = await fetch(`${hookq.ingressUrl}/one`, {
            method: 'POST',
            body: `message ${i}`,
          });
          assert.equal(response.status, 200);
        }
        const resume = await fetch(`${hookq.adminUrl}/api/routes/one/resume`, { method: 'POST' });
        assert.equal(resume.status, 200);
        await target.waitFor((received) => received.length >= 30, 20_000);
        assert.deepEqual(
          target.received.map((r) => r.body.toString()),
          Array.from({ length: 30 }, (_, i) => `message ${i}`),
        );
      } finally {
        await hookq.close();
        await target.close();
      }
    });

    test('a pause stops the group at once: only the attempt in flight arrives after it', async () => {
      // Answers slow enough that what a pause fails to stop shows after its answer.
      const target = await TestTarget.start(() => ({ status: 200, afterMs: 20 }));
      const hookq = await startHookq(
        configFor(tempDir(), {
          storage: { url: backend.url() },
          routes: [{ name: 'one', path: '/one', target: target.url, group: 'the-only-group' }],
        }),
      );
      const admin = (action: 'pause' | 'resume') =>
        fetch(`${hookq.adminUrl}/api/routes/one/${action}`, { method: 'POST' }).then((r) =>
          assert.equal(r.status, 200),
        );
      try {
        await admin('pause');
        for (let i = 0; i < 200; i++) {
          const response = await fetch(`${hookq.ingressUrl}/one`, { method: 'POST', body: `${i}` });
          assert.equal(response.status, 200);
        }
        // Each time the group is in full flow, with its next messages leased ahead where
        // the store does that: none of those may go once the pause has been answered.
        for (let round = 1; round <= 3; round++) {
          await admin('resume');
          const from = target.received.length;
          await target.waitFor((received) => received.length >= from + 20, 20_000);
          await admin('pause');
          const atPause = target.received.length;
          await delay(300);
          assert.ok(
            target.received.length - atPause <= 1,
            `round ${round}: ${target.received.length - atPause} messages arrived after the pause`,
          );
        }
      } finally {
        await hookq.close();
        await target.close();
      }
    });
  });
}
