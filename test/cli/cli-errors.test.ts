/**
 * Exit codes scripts can rely on (0 ok · 2 usage · 3 not found · 4 wrong state ·
 * 5 unreachable or refused), each with a message that says what to do, and the admin
 * API found from --admin, HOOKQ_ADMIN_URL or the configuration file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accepted, post } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import {
  closedPort,
  explain,
  inTurns,
  Operator,
  parseTable,
  serveRoutes,
  serveWithAdmin,
} from './support.js';

const TOKEN = 'cli-errors-token';

test('an admin API nobody answers at: exit 5, naming the URL', async () => {
  const url = `http://127.0.0.1:${await closedPort()}`;
  const operator = new Operator(url, TOKEN);
  const [fromEnv, fromFlag] = await Promise.all([
    operator.fails(5, ['status']),
    operator.fails(5, ['dlq', 'list', '--admin', url], { HOOKQ_ADMIN_URL: undefined }),
  ]);
  for (const result of [fromEnv, fromFlag]) {
    assert.ok(result.stderr.includes(url), result.stderr);
    assert.match(result.stderr, /HOOKQ_ADMIN_URL/);
    assert.equal(result.stdout, '');
  }
});

test('exit codes for refused access, unknown things, wrong states and bad usage', async (t) => {
  const target = await TestTarget.start(() => 500);
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-errors-', TOKEN, [
    {
      name: 'orders',
      path: '/orders',
      target: target.url,
      retry: { maxAttempts: 1 },
      delivery: { timeout: '1s' },
    },
  ]);
  const body = Buffer.from('{"n":1}');
  const dead = accepted(await post(`${ingressUrl}/orders`, body), 'orders', 1, body);
  await waitUntil(
    'the message dead',
    async () =>
      (await operator.api<{ state: string }>(`/api/messages/${dead.id}`)).state === 'dead',
    10_000,
  );
  const before = await operator.api<unknown>('/api/routes');

  // The admin URL from either place; the flag wins over the environment.
  const elsewhere = `http://127.0.0.1:${await closedPort()}`;
  const found = await Promise.all([
    operator.ok(['status']),
    operator.ok(['status', '--admin', operator.adminUrl], { HOOKQ_ADMIN_URL: undefined }),
    operator.ok(['status', '--admin', operator.adminUrl], { HOOKQ_ADMIN_URL: elsewhere }),
  ]);
  for (const result of found) {
    assert.deepEqual(
      parseTable(result.stdout, 'ROUTE').map((row) => [row.ROUTE, row.DEAD]),
      [['orders', '1']],
    );
  }

  const cases: Array<{
    why: string;
    code: number;
    args: string[];
    env?: NodeJS.ProcessEnv;
    says: RegExp;
  }> = [
    {
      why: 'no token',
      code: 5,
      args: ['status'],
      env: { HOOKQ_ADMIN_TOKEN: undefined },
      says: /HOOKQ_ADMIN_TOKEN/,
    },
    {
      why: 'wrong token',
      code: 5,
      args: ['dlq', 'list'],
      env: { HOOKQ_ADMIN_TOKEN: 'not-the-token' },
      says: /HOOKQ_ADMIN_TOKEN/,
    },
    { why: 'show unknown id', code: 3, args: ['dlq', 'show', 'no-such-id'], says: /no-such-id/ },
    { why: 'replay unknown id', code: 3, args: ['replay', 'no-such-id'], says: /no-such-id/ },
    {
      why: 'discard unknown id',
      code: 3,
      args: ['dlq', 'discard', 'no-such-id', '--yes'],
      says: /no-such-id/,
    },
    { why: 'replay a dead letter', code: 4, args: ['replay', dead.id], says: /redrive/ },
    { why: 'pause unknown route', code: 3, args: ['pause', 'nowhere'], says: /nowhere/ },
    { why: 'resume unknown route', code: 3, args: ['resume', 'nowhere'], says: /nowhere/ },
    { why: 'redrive nothing', code: 2, args: ['dlq', 'redrive'], says: /--route/ },
    {
      why: 'redrive an unknown route',
      code: 3,
      args: ['dlq', 'redrive', '--route', 'nowhere'],
      says: /nowhere/,
    },
    {
      why: 'list an unknown route',
      code: 3,
      args: ['dlq', 'list', '--route', 'nowhere'],
      says: /nowhere/,
    },
    {
      why: 'redrive ids that are not dead letters',
      code: 4,
      args: ['dlq', 'redrive', 'no-such-id'],
      says: /1 of 1 not redriven.*\n {2}no-such-id: no such message$/m,
    },
    {
      why: 'redrive ids and a route',
      code: 2,
      args: ['dlq', 'redrive', dead.id, '--route', 'orders'],
      says: /--route/,
    },
    {
      why: 'redrive ids and all',
      code: 2,
      args: ['dlq', 'redrive', dead.id, '--all'],
      says: /--all/,
    },
    {
      why: 'a group without its route',
      code: 2,
      args: ['dlq', 'redrive', '-g', 'x'],
      says: /--route/,
    },
    { why: 'a page of 0', code: 2, args: ['dlq', 'list', '--limit', '0'], says: /limit/ },
    { why: 'blocked without route', code: 2, args: ['dlq', 'blocked'], says: /--route/ },
    { why: 'unknown subcommand', code: 2, args: ['dlq', 'purge'], says: /purge/ },
    { why: 'unknown option', code: 2, args: ['status', '--verbose'], says: /--verbose/ },
  ];
  const results = await inTurns(cases.map((c) => () => operator.run(c.args, c.env)));
  cases.forEach((c, i) => {
    const result = results[i]!;
    assert.equal(result.code, c.code, `${c.why}: ${explain(c.args, result)}`);
    assert.match(result.stderr, c.says, `${c.why}: ${explain(c.args, result)}`);
  });

  // None of it changed anything: the dead letter is still there, alone, untouched.
  assert.deepEqual(await operator.api<unknown>('/api/routes'), before);
  const { items } = await operator.json<{ items: Array<{ id: string; attempts: number }> }>([
    'dlq',
    'list',
  ]);
  assert.deepEqual(
    items.map((m) => [m.id, m.attempts]),
    [[dead.id, 1]],
  );
  assert.equal(target.received.length, 1, 'something was delivered again');
});

test('a redrive of ids of which some are not dead letters says which moved: exit 4', async (t) => {
  const target = await TestTarget.start((request) => (request.body.includes('fail') ? 500 : 200));
  onEnd(t, () => target.close());
  // One group in strict order: while the dead letter holds it, the next message waits.
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-redrive-ids-', TOKEN, [
    { name: 'orders', path: '/orders', target: target.url, retry: { maxAttempts: 1 } },
  ]);
  const view = (id: string) =>
    operator.api<{ state: string; redrives: number }>(`/api/messages/${id}`);
  const stateOf = async (id: string) => (await view(id)).state;
  const failing = Buffer.from('{"fail":true}');
  const dead = accepted(await post(`${ingressUrl}/orders`, failing), 'orders', 1, failing);
  await waitUntil('the message dead', async () => (await stateOf(dead.id)) === 'dead');
  const fine = Buffer.from('{"fine":true}');
  const queued = accepted(await post(`${ingressUrl}/orders`, fine), 'orders', 2, fine);
  assert.equal(await stateOf(queued.id), 'queued');

  const mixed = await operator.fails(4, ['dlq', 'redrive', 'no-such-id', queued.id, dead.id]);
  assert.equal(mixed.stdout, `redriven ${dead.id}\nredriven 1 of 3\n`);
  assert.equal(
    mixed.stderr,
    `error: 2 of 3 not redriven, as only dead letters can be:\n  no-such-id: no such message\n  ${queued.id}: queued\n`,
  );
  // It fails again and holds the group again; the one behind it has not moved.
  await waitUntil('the redriven message dead again', async () => {
    const again = await view(dead.id);
    return again.redrives === 1 && again.state === 'dead';
  });
  assert.equal(await stateOf(queued.id), 'queued');

  // For scripts: the same, as JSON; an id given twice counts once.
  const twice = ['dlq', 'redrive', dead.id, 'no-such-id', dead.id, '--json'];
  const json = await operator.fails(4, twice);
  assert.deepEqual(JSON.parse(json.stdout), {
    moved: 1,
    redriven: [dead.id],
    notRedriven: [{ id: 'no-such-id', state: null }],
  });
  assert.match(json.stderr, /^error: 1 of 2 not redriven/);
});

test("--config (or HOOKQ_CONFIG) gives the admin API's address and token", async (t) => {
  const target = await TestTarget.start();
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-cli-config-'));
  const port = await closedPort();
  const config = writeConfig(dir, {
    // A wildcard address: the client connects to it over loopback.
    admin: { listen: `0.0.0.0:${port}`, token: TOKEN },
    routes: [{ name: 'orders', path: '/orders', target: target.url }],
  });
  const { operator } = await serveWithAdmin(t, config, TOKEN);
  const nothingSet = { HOOKQ_ADMIN_URL: undefined, HOOKQ_ADMIN_TOKEN: undefined };

  const [fromFlag, fromEnv] = await Promise.all([
    operator.ok(['status', '--config', config], nothingSet),
    operator.ok(['dlq', 'list', '--json'], { ...nothingSet, HOOKQ_CONFIG: config }),
  ]);
  assert.deepEqual(
    parseTable(fromFlag.stdout, 'ROUTE').map((row) => row.ROUTE),
    ['orders'],
  );
  assert.deepEqual(JSON.parse(fromEnv.stdout), { items: [], nextCursor: null });

  // What is set explicitly wins over the file: another URL, another token.
  const elsewhere = `http://127.0.0.1:${await closedPort()}`;
  const [otherUrl, otherToken, missing] = await Promise.all([
    operator.fails(5, ['status', '-c', config], { ...nothingSet, HOOKQ_ADMIN_URL: elsewhere }),
    operator.fails(5, ['status', '-c', config], { ...nothingSet, HOOKQ_ADMIN_TOKEN: 'wrong' }),
    operator.fails(2, ['status', '--config', `${dir}/missing.yaml`], nothingSet),
  ]);
  assert.ok(otherUrl.stderr.includes(elsewhere), otherUrl.stderr);
  assert.match(otherToken.stderr, /HOOKQ_ADMIN_TOKEN/);
  assert.match(missing.stderr, /missing\.yaml/);
});
