/**
 * Liveness and readiness of SPEC §6: /healthz answers while the process runs, /readyz
 * only while storage answers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { expectStatus, startAdmin } from './support.js';

describe('what each call does', () => {
  test('/healthz is alive; /readyz answers 503 once storage cannot answer', async (t) => {
    const { hookq, api } = await startAdmin(t, { routes: [{ name: 'orders', path: '/orders' }] });
    const health = async (path: string) => {
      const answer = await api.call<{ status: string; error?: string }>('GET', path, {
        authorization: null,
      });
      assert.match(String(answer.headers.get('content-type')), /^application\/json/);
      return answer;
    };
    assert.deepEqual(expectStatus(await health('/healthz'), 200).json, { status: 'ok' });
    assert.deepEqual(expectStatus(await health('/readyz'), 200).json, { status: 'ready' });

    // SQLite's probe answers on the open connection even while another connection holds
    // the database's write lock, so the failure a test can cause is the store itself
    // going away under the running listener.
    await hookq.store.close();
    const unready = expectStatus(await health('/readyz'), 503).json;
    assert.equal(unready.status, 'unavailable');
    assert.match(String(unready.error), /closed/);
    // Liveness does not depend on storage: restarting would not bring it back.
    assert.deepEqual(expectStatus(await health('/healthz'), 200).json, { status: 'ok' });
  });
});
