/**
 * Bad usage as a new user makes it, with the exit codes of the README (2 bad usage,
 * 3 unknown route), a message that says the expected form, and no stack trace; `send`
 * that says what it sends; a paging hint that can be pasted as it is; help that says
 * what is required; and `serve` on a busy port.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { accepted, post } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { runHookq } from '../helpers/hookq-process.js';
import { TestTarget } from '../helpers/target.js';
import { explain, inTurns, parseTable, serveWithAdmin } from './support.js';

const TOKEN = 'cli-usage-token';

test('send: exit 3 for an unknown route, 2 for bad usage, each saying the form', async (t) => {
  const target = await TestTarget.start();
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-cli-send-'));
  const config = writeConfig(dir, {
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    routes: [{ name: 'orders', path: '/orders', target: target.url }],
  });
  const { ingressUrl, operator } = await serveWithAdmin(t, config, TOKEN);
  const send = ['send', '--config', config, '--url', ingressUrl];

  const cases: Array<{ why: string; code: number; args: string[]; says: RegExp }> = [
    {
      why: 'unknown route',
      code: 3,
      args: [...send, 'nosuch', '--data', '{}'],
      says: /no route "nosuch".*routes: orders/,
    },
    {
      why: 'a header without a colon',
      code: 2,
      args: [...send, 'orders', '-H', 'BadHeader', '--data', '{}'],
      says: /--header must look like "Name: value", got "BadHeader"/,
    },
    {
      why: '--url that is no URL',
      code: 2,
      args: ['send', '/orders', '--url', 'notaurl', '--data', '{}'],
      says: /--url must be an http:\/\/ or https:\/\/ URL such as http:\/\/127\.0\.0\.1:8080, got "notaurl"/,
    },
    {
      why: 'no --data',
      code: 2,
      args: [...send, 'orders'],
      says: /--data TEXT\|@FILE\|- \(to send an empty body, say --data ''\)/,
    },
    {
      why: '--data from a file that is not there',
      code: 2,
      args: [...send, 'orders', '--data', `@${dir}/nonexistent.json`],
      says: /cannot read the file ".*nonexistent\.json": no such file/,
    },
    { why: 'no route at all', code: 2, args: ['send'], says: /missing required argument 'route'/ },
    {
      why: 'an unknown option',
      code: 2,
      args: [...send, 'orders', '--bogus'],
      says: /unknown option '--bogus'/,
    },
    {
      why: 'no orders in the demo',
      code: 2,
      args: ['demo', '--orders', '0'],
      says: /--orders must be a whole number of at least 1/,
    },
    {
      why: 'too many events in the demo',
      code: 2,
      args: ['demo', '--events', '99'],
      says: /--events can be at most 8/,
    },
    {
      why: '--admin that is no URL',
      code: 2,
      args: ['status', '--admin', 'notaurl'],
      says: /--admin must be an http:\/\/ or https:\/\/ URL.*got "notaurl"/,
    },
  ];
  const results = await inTurns(cases.map((c) => () => operator.run(c.args)));
  cases.forEach((c, i) => {
    const result = results[i]!;
    assert.equal(result.code, c.code, `${c.why}: ${explain(c.args, result)}`);
    assert.match(result.stderr, c.says, `${c.why}: ${explain(c.args, result)}`);
    assert.doesNotMatch(result.stderr, /\n\s+at /, `${c.why}: a stack trace`);
  });
  const badEnvUrl = await operator.fails(2, ['status'], { HOOKQ_ADMIN_URL: 'localhost' });
  assert.match(badEnvUrl.stderr, /HOOKQ_ADMIN_URL must be an http/);
  // None of the refused sends reached the queue.
  assert.equal(target.received.length, 0);

  // --json: the ingress's answer for scripts; --data '' is how to send an empty body.
  const sent = await operator.ok([...send, 'orders', '--data', '{"n":1}', '--json']);
  const answer = JSON.parse(sent.stdout) as { status: number; body: { messageId: string } };
  assert.ok(answer.status >= 200 && answer.status < 300, sent.stdout);
  assert.equal(typeof answer.body.messageId, 'string', sent.stdout);
  const empty = await operator.ok([...send, 'orders', '--data', '', '--json']);
  assert.equal(typeof (JSON.parse(empty.stdout) as typeof answer).body.messageId, 'string');
  await waitUntil('both delivered', async () => target.received.length === 2);
  assert.deepEqual(
    target.received.map((r) => r.body.toString()),
    ['{"n":1}', ''],
  );
});

test('the paging hint of dlq list keeps --config, --admin and the filters', async (t) => {
  const target = await TestTarget.start(() => 500);
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-cli-paging-'));
  const config = writeConfig(dir, {
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    routes: [
      {
        name: 'orders',
        path: '/orders',
        target: target.url,
        group: { header: 'X-Group' },
        retry: { maxAttempts: 1 },
      },
    ],
  });
  const { ingressUrl, operator } = await serveWithAdmin(t, config, TOKEN);
  const ids: string[] = [];
  for (const [n, group] of ['a', 'b', 'c'].entries()) {
    const body = Buffer.from(`{"n":${n}}`);
    const reply = await post(`${ingressUrl}/orders`, body, { 'x-group': group });
    ids.push(accepted(reply, group, 1, body).id);
  }
  await waitUntil('three dead letters', async () => {
    const page = await operator.api<{ items: unknown[] }>('/api/messages?state=dead');
    return page.items.length === 3;
  });

  // Where the API is comes from the options alone, as a pasted command would have it.
  const nothingSet = { HOOKQ_ADMIN_URL: undefined, HOOKQ_CONFIG: undefined };
  const first = await operator.ok(
    [
      'dlq',
      'list',
      '--config',
      config,
      '--admin',
      operator.adminUrl,
      '--route',
      'orders',
      '-n',
      '1',
    ],
    nothingSet,
  );
  const hint = /^more: hookq (dlq list .*?) {2}\(or --all\)$/m.exec(first.stdout);
  assert.ok(hint, first.stdout);
  const args = hint[1]!.split(' ');
  for (const [flag, value] of [
    ['--config', config],
    ['--admin', operator.adminUrl],
    ['--route', 'orders'],
    ['--limit', '1'],
  ]) {
    assert.equal(args[args.indexOf(flag!) + 1], value, hint[0]);
  }
  // Pasted as it is, it lists the next page: another dead letter.
  const second = await operator.ok(args, nothingSet);
  const seen = [first, second].map((r) => parseTable(r.stdout, 'ID').map((row) => row.ID));
  assert.equal(seen[1]!.length, 1, second.stdout);
  assert.notEqual(seen[0]![0], seen[1]![0]);
  for (const id of seen.flat()) assert.ok(ids.includes(id!), id);

  // --group needs no --route in a listing.
  const byGroup = await operator.json<{ items: Array<{ group: string }> }>([
    'dlq',
    'list',
    '--group',
    'b',
  ]);
  assert.deepEqual(
    byGroup.items.map((m) => m.group),
    ['b'],
  );
});

test('help says what is required and what the limits are', async () => {
  const helps = await inTurns(
    [
      ['dlq', 'blocked', '--help'],
      ['dlq', 'list', '--help'],
      ['demo', '--help'],
    ].map((args) => () => runHookq(args)),
  );
  for (const result of helps) assert.equal(result.code, 0, result.stderr);
  const [blocked, list, demo] = helps;
  assert.match(blocked!.stdout, /^Usage: hookq dlq blocked --route <route> \[options\]$/m);
  assert.match(blocked!.stdout, /--route <route>\s+route name \(required\)/);
  assert.match(list!.stdout, /--group <group>\s+only this group \(of any route, or of --route\)/);
  assert.doesNotMatch(list!.stdout, /\(with --route\)/);
  assert.match(demo!.stdout, /--events <n>\s+events per order \(at most 8\)/);
});

test('serve on a busy port: one line naming the port and its setting, exit 1', async (t) => {
  const dir = removeAfter(t, tempDir('hookq-cli-busy-'));
  const other = createServer();
  other.listen(0, '127.0.0.1');
  await once(other, 'listening');
  onEnd(t, () => new Promise<void>((resolve) => other.close(() => resolve())));
  const address = other.address();
  assert.ok(address && typeof address === 'object');
  const port = address.port;
  const routes = [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }];

  for (const setting of ['server.listen', 'admin.listen'] as const) {
    const listen = { listen: `127.0.0.1:${port}` };
    const config = writeConfig(
      dir,
      setting === 'server.listen' ? { server: listen, routes } : { admin: listen, routes },
    );
    const result = await runHookq(['serve', '--config', config]);
    assert.equal(result.code, 1, explain(['serve'], result));
    assert.equal(
      result.stderr,
      `error: port ${port} (${setting}) is in use: another hookq or another program listens there; stop it or change ${setting} in ${config}\n`,
    );
    // The log says it too, for whoever reads the logs, without a stack.
    assert.doesNotMatch(result.stdout, /stack|\n\s+at /);
    const fatal = result.stdout
      .split('\n')
      .filter((line) => line.includes('"fatal"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      fatal.map((entry) => [entry.code, entry.port, entry.setting]),
      [['EADDRINUSE', port, setting]],
    );
  }
});
