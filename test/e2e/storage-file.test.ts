/**
 * The SQLite file deleted or replaced under a running `hookq serve`, while webhooks
 * arrive: no webhook sent afterwards is acknowledged (SPEC §2.2), readiness fails, the
 * log says what happened and what to do, and a clean stop keeps every message that was
 * acknowledged before (SPEC §2.1) where a restart, or the operator, finds it.
 */
import assert from 'node:assert/strict';
import { readdirSync, renameSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { HookqServer } from '../helpers/hookq-process.js';
import { TestTarget } from '../helpers/target.js';
import { errorCode, logsSaying, post } from './support.js';

/** Ids of the messages the database at `path` holds. */
async function idsIn(path: string): Promise<Set<string>> {
  const store = SqliteStore.open(path);
  try {
    return new Set((await store.listMessages({ limit: 1_000_000 })).items.map((m) => m.id));
  } finally {
    await store.close();
  }
}

for (const how of ['deleted', 'replaced'] as const) {
  test(`the database file ${how} under load: 503 from then on, not ready, logged; a stop keeps the messages`, async (t) => {
    const target = await TestTarget.start();
    onEnd(t, () => target.close());
    const dir = removeAfter(t, tempDir(`hookq-e2e-file-${how}-`));
    const path = join(dir, 'hookq.db');
    const config = writeConfig(dir, {
      routes: [{ name: 'orders', path: '/orders', target: target.url }],
    });
    const otherPath = join(dir, 'other.db');
    let otherId = '';
    if (how === 'replaced') {
      const other = SqliteStore.open(otherPath);
      otherId = (
        await other.enqueue({
          route: 'orders',
          group: 'g',
          dedupId: null,
          dedupWindowMs: 0,
          headers: [],
          body: Buffer.from('other'),
        })
      ).messageId;
      await other.close();
    }

    const { server, ingressUrl, adminUrl } = await HookqServer.start(config);
    onEnd(t, () => server.stop('SIGKILL'));
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    onEnd(t, () => agent.destroy());

    const acknowledged: string[] = [];
    const afterwards: Array<{ status: number; retryAfter: unknown }> = [];
    let changed = false;
    let stop = false;
    const senders = Array.from({ length: 16 }, async (_, s) => {
      for (let i = 0; !stop; i++) {
        const sentAfterwards = changed;
        const reply = await post(`${ingressUrl}/orders`, `{"s":${s},"i":${i}}`, {}, agent).catch(
          (error: unknown) => {
            throw new Error(`a webhook failed with ${errorCode(error)}`);
          },
        );
        if (reply.status === 200) acknowledged.push(String(reply.json.messageId));
        if (sentAfterwards) {
          afterwards.push({ status: reply.status, retryAfter: reply.headers['retry-after'] });
        }
      }
    });
    await waitUntil('webhooks are acknowledged', () => acknowledged.length >= 200);
    if (how === 'deleted') {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    } else {
      renameSync(otherPath, path);
    }
    changed = true;
    // Past the once-a-second check, for readiness to see it without any webhook too.
    await delay(1_500);
    stop = true;
    await Promise.all(senders);

    assert.ok(afterwards.length > 0, 'no webhook was sent afterwards');
    const statuses = [...new Set(afterwards.map((reply) => reply.status))];
    assert.deepEqual(statuses, [503], 'a webhook sent afterwards was not refused');
    assert.ok(afterwards.every((reply) => Number(reply.retryAfter) > 0));

    const ready = await fetch(`${adminUrl}/readyz`);
    assert.equal(ready.status, 503);
    const what = how === 'deleted' ? 'was deleted' : 'was replaced by another file';
    assert.match(String(((await ready.json()) as { error?: string }).error), new RegExp(what));
    // The deleted log goes a moment after its database: a check from the writer thread
    // between the two finds the database still there and the log gone, and says that.
    const named = how === 'deleted' ? [path, `${path}-wal`] : [path];
    const told = server.logs.filter(
      (entry) =>
        entry.level === 'error' &&
        named.some((file) => String(entry.msg).includes(`${file} ${what}`)),
    );
    assert.equal(told.length, 1, JSON.stringify(told));
    assert.match(String(told[0]!.msg), /SIGTERM/);
    // One line for the outage, not one per webhook refused.
    assert.equal(logsSaying(server, 'webhook refused: storage failed').length, 1);

    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    if (how === 'deleted') {
      assert.equal(
        server.logs.filter((entry) =>
          String(entry.msg).startsWith('wrote the messages hookq held back'),
        ).length,
        1,
      );
      const kept = await idsIn(path);
      for (const id of acknowledged) assert.ok(kept.has(id), `acknowledged ${id} lost`);
    } else {
      // The file moved in is left alone; the messages hookq held are beside it.
      assert.deepEqual([...(await idsIn(path))], [otherId]);
      const saved = readdirSync(dir).filter((name) => name.startsWith('hookq.db.saved-'));
      assert.equal(saved.length, 1, readdirSync(dir).join(', '));
      assert.equal(server.logs.filter((entry) => entry.saved === join(dir, saved[0]!)).length, 1);
      const kept = await idsIn(join(dir, saved[0]!));
      for (const id of acknowledged) assert.ok(kept.has(id), `acknowledged ${id} lost`);
    }
    t.diagnostic(`${acknowledged.length} acknowledged before, ${afterwards.length} refused after`);
  });
}
