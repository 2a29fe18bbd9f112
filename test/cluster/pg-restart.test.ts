/**
 * The PostgreSQL server goes away under load and comes back: while it is down ingress
 * answers 503 with Retry-After and readiness fails, never a 2xx for a webhook it could not
 * store; afterwards hookq recovers by itself, and every acknowledged webhook is delivered
 * in group order.
 *
 * This stops the server every PostgreSQL test uses. It first waits (a while) until no
 * other client is connected; a PostgreSQL test that starts during the outage still fails.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { deliveriesIn, serve } from '../e2e/support.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { PG_URL } from '../helpers/postgres.js';
import { TestTarget } from '../helpers/target.js';
import {
  adminUrlOf,
  assertDeliveredAsSent,
  clusterConfig,
  pgSkip,
  pgStorage,
  Sender,
  withPg,
} from './support.js';

const GROUPS = 6;
/** How long the server stays down. */
const DOWN_MS = 4_000;

/**
 * Shell commands that stop and start the server at PG_URL: $HOOKQ_TEST_PG_STOP and
 * $HOOKQ_TEST_PG_START, or else pg_ctlcluster for the local cluster on PG_URL's port.
 * The stop is `immediate`, a crash: the server does not flush anything on its way down, so
 * an acknowledged webhook whose commit was not yet durable would be missing afterwards.
 */
function serverControl(): { stop: string[]; start: string[] } | string {
  const { HOOKQ_TEST_PG_STOP: stop, HOOKQ_TEST_PG_START: start } = process.env;
  if (stop && start) return { stop: ['sh', '-c', stop], start: ['sh', '-c', start] };
  const url = new URL(PG_URL);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    return `PostgreSQL at ${url.host} is not local; set HOOKQ_TEST_PG_STOP and HOOKQ_TEST_PG_START`;
  }
  let clusters: string;
  try {
    clusters = execFileSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' });
  } catch {
    return 'no pg_lsclusters to find the local cluster; set HOOKQ_TEST_PG_STOP and HOOKQ_TEST_PG_START';
  }
  const port = url.port || '5432';
  const cluster = clusters
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields[2] === port);
  if (!cluster) return `no local cluster listens on port ${port}`;
  const [version, name] = [cluster[0]!, cluster[1]!];
  return {
    stop: [
      'pg_ctlcluster',
      '--skip-systemctl-redirect',
      '--mode',
      'immediate',
      version,
      name,
      'stop',
    ],
    start: ['pg_ctlcluster', '--skip-systemctl-redirect', version, name, 'start'],
  };
}

const control = pgSkip ? pgSkip : serverControl();
if (typeof control === 'string' && !pgSkip && process.env.CI) {
  throw new Error(`CI is set, and the PostgreSQL server cannot be restarted: ${control}`);
}

async function run(command: string[]): Promise<void> {
  await promisify(execFile)(command[0]!, command.slice(1), { timeout: 60_000 });
}

function accepting(): Promise<boolean> {
  return withPg((client) => client.query('SELECT 1')).then(
    () => true,
    () => false,
  );
}

/**
 * Wait until no one but this test has been connected to the server for a second:
 * stopping it cuts every session, and the test runner may run other PostgreSQL tests
 * beside this one. Gives up after `timeoutMs` and says so; the test then goes ahead.
 */
async function othersGone(ours: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let quietSince = Date.now();
  for (;;) {
    const others = await withPg(async (client) => {
      const { rows } = await client.query<{ name: string }>(
        `SELECT application_name AS name FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> $1`,
        [ours],
      );
      return rows.map((row) => row.name || '(unnamed)');
    });
    if (others.length > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= 1_000) return undefined;
    if (Date.now() > deadline) return `stopped PostgreSQL with other clients connected: ${others}`;
    await delay(100);
  }
}

/** How many of the schema's connections wait for notifications: one per instance. */
function listening(schema: string): Promise<number> {
  return withPg(async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`,
      [schema],
    );
    return rows[0]!.n;
  });
}

/** Start the server unless it is up, and wait until it takes connections. */
async function ensureUp(start: string[]): Promise<void> {
  if (await accepting()) return;
  // Fails when it is already starting; accepting() decides.
  await run(start).catch(() => undefined);
  await waitUntil('PostgreSQL accepts connections again', accepting, 30_000);
}

test('PostgreSQL down and back under load: 503s meanwhile, then recovery without a restart', {
  skip: typeof control === 'string' ? control : false,
  timeout: 90_000,
}, async (t) => {
  const { stop, start } = control as Exclude<typeof control, string>;
  const { url, schema } = pgStorage(t);
  // Whatever happens to this test, the server is up again when it ends.
  onEnd(t, () => ensureUp(start));
  const target = await TestTarget.start();
  onEnd(t, () => target.close());
  const config = clusterConfig(t, url, 'restart', target.url, {
    group: { json: '/group' },
    retry: { maxAttempts: 1000, backoff: { initial: '50ms', max: '200ms' } },
    delivery: { timeout: '1s', maxConcurrency: 8 },
  });
  const instances = await Promise.all([serve(t, config), serve(t, config)]);
  const admins = instances.map(({ server }) => adminUrlOf(server));
  const ingress = instances.map(({ ingressUrl }) => `${ingressUrl}/restart`);
  const agent = new Agent({ keepAlive: true, maxSockets: GROUPS });
  onEnd(t, () => agent.destroy());

  /** Each instance's /readyz answers, polled throughout. */
  const readiness: Array<{ instance: number; at: number; status: number }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await Promise.all(
        admins.map(async (admin, instance) => {
          const status = await fetch(`${admin}/readyz`, { signal: AbortSignal.timeout(5_000) })
            .then(async (response) => {
              await response.arrayBuffer();
              return response.status;
            })
            .catch(() => 0);
          readiness.push({ instance, at: Date.now(), status });
        }),
      );
      await delay(100);
    }
  })();
  const stopPolling = () => {
    polling = false;
    return poller;
  };
  onEnd(t, stopPolling);

  const sender = new Sender({
    urls: ingress,
    groups: GROUPS,
    agent,
    pauseMs: () => 10,
    retryMs: 50,
  });
  let downAt = 0;
  let restartAt = 0;
  let upAt = 0;
  let listeningAt = 0;
  try {
    await delay(1_500);
    const busy = await othersGone(schema, 60_000);
    if (busy) t.diagnostic(busy);
    assert.equal(await listening(schema), 2, "each instance listens for the others' work");
    try {
      await run(stop);
      downAt = Date.now();
      await delay(DOWN_MS);
    } finally {
      restartAt = Date.now();
      await ensureUp(start);
      upAt = Date.now();
    }
    // Recovery needs no help: both instances report ready and acknowledge new webhooks.
    const recovered = (instance: number) =>
      readiness.some((r) => r.instance === instance && r.at > upAt && r.status === 200) &&
      sender.sends.some((s) => s.url === ingress[instance] && s.sentAt > upAt && s.status === 200);
    await waitUntil('both instances recovered', () => recovered(0) && recovered(1), 20_000);
    // Their notification connections come back too (on their own backoff, up to 10 s).
    await waitUntil(
      'both instances listen again',
      async () => (await listening(schema)) === 2,
      20_000,
    );
    listeningAt = Date.now();
    await delay(1_500);
  } finally {
    await sender.stop();
    await stopPolling();
  }
  const acknowledged = [...sender.acknowledged.values()];
  const down = sender.sends.filter((s) => s.sentAt > downAt && s.answeredAt < restartAt);
  const statuses = new Map<string, number>();
  for (const s of sender.sends) {
    const key = String(s.status ?? s.error);
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  t.diagnostic(
    `${sender.sends.length} sends ${JSON.stringify([...statuses])}, ${acknowledged.length} ` +
      `acknowledged; down ${restartAt - downAt} ms, accepting ${upAt - restartAt} ms after the ` +
      `start, both listening again ${listeningAt - upAt} ms later`,
  );

  // While down: 503 with Retry-After from both instances, and never a 2xx.
  assert.deepEqual(
    [...statuses.keys()].sort(),
    ['200', '503'],
    'ingress answered only 200 or 503, and always answered',
  );
  for (const [instance, url] of ingress.entries()) {
    assert.ok(
      down.some((s) => s.url === url && s.status === 503),
      `instance ${instance} answered no 503 while the database was down`,
    );
  }
  assert.deepEqual(
    sender.sends.filter((s) => s.status === 503 && !/^\d+$/.test(s.retryAfter ?? '')),
    [],
    'a 503 without Retry-After',
  );
  assert.deepEqual(
    down.filter((s) => s.status === 200),
    [],
    'a 2xx while the database was down',
  );

  // Readiness followed the database: 503 while it was down, 200 once it was back.
  for (const instance of [0, 1]) {
    const answers = readiness.filter((r) => r.instance === instance);
    assert.ok(
      answers.some((r) => r.at > downAt && r.at < restartAt && r.status === 503),
      `instance ${instance}: /readyz never said 503 while the database was down`,
    );
    assert.equal(answers.at(-1)?.status, 200, `instance ${instance}: /readyz not 200 at the end`);
  }

  // Every acknowledgement was a durable write: the crash lost none of them.
  assert.ok(
    acknowledged.some((ack) => ack.sentAt < downAt) &&
      acknowledged.some((ack) => ack.sentAt > upAt),
    'webhooks were acknowledged both before and after the outage',
  );
  const stored = await withPg((client) =>
    client.query<{ id: string }>(`SELECT id FROM ${schema}.messages WHERE id = ANY($1)`, [
      acknowledged.map((ack) => ack.id),
    ]),
  );
  const missing = new Set(acknowledged.map((ack) => ack.id));
  for (const { id } of stored.rows) missing.delete(id);
  assert.deepEqual([...missing], [], 'acknowledged webhooks missing after the crash');

  // And each was delivered, in group order.
  await waitUntil(
    'every acknowledged webhook delivered',
    () => {
      const ids = new Set(target.received.map((r) => r.headers['hookq-message-id']));
      return acknowledged.every((ack) => ids.has(ack.id));
    },
    30_000,
  );
  const received = deliveriesIn(target.received);
  assertDeliveredAsSent(received, sender.acknowledged);
  // Outcomes lost with the connections are delivered again: allowed, and worth seeing.
  t.diagnostic(`${received.length - new Set(received.map((r) => r.id)).size} repeats`);

  // Neither instance died or needed a restart; both still stop cleanly.
  for (const { server } of instances) assert.equal((await server.stop('SIGTERM')).code, 0);
});
