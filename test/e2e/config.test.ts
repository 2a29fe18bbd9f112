// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is hookq's interpolation syntax, written out on purpose
/**
 * A bad configuration file stops `hookq serve` and `hookq check-config` before anything
 * listens, with a message naming the file and the key; a good one is summarised.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { removeAfter } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/config.js';
import { runHookq } from '../helpers/hookq-process.js';

const ROUTE = { name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/orders' };
/** Unset in every run: the file refers to it, so start-up must fail. */
const UNSET = 'HOOKQ_E2E_NEVER_SET';

const BAD: Array<{ what: string; route: Record<string, unknown>; key: string; says: RegExp }> = [
  {
    what: 'an unknown key',
    route: { retires: { maxAttempts: 3 } },
    key: 'routes[0].retires',
    says: /unknown key \(did you mean "retry"\?\)/,
  },
  {
    what: 'a bad duration',
    route: { delivery: { timeout: '5 seconds' } },
    key: 'routes[0].delivery.timeout',
    says: /must be a duration/,
  },
  {
    what: 'an unset environment variable',
    route: { sign: { secret: `\${${UNSET}}` } },
    key: 'routes[0].sign.secret',
    says: new RegExp(`environment variable ${UNSET} is not set`),
  },
];

describe('configuration errors', () => {
  for (const bad of BAD) {
    test(`${bad.what} stops serve and check-config with exit 2, naming file and key`, async (t) => {
      const dir = removeAfter(t, tempDir('hookq-e2e-config-'));
      const file = join(dir, 'bad.yaml');
      writeFileSync(
        file,
        stringify({
          server: { listen: '127.0.0.1:0' },
          storage: { url: `sqlite:${join(dir, 'hookq.db')}` },
          routes: [{ ...ROUTE, ...bad.route }],
        }),
      );
      const env = { [UNSET]: undefined };
      const [served, checked] = await Promise.all([
        runHookq(['serve', '--config', file], env),
        runHookq(['check-config', '--config', file], env),
      ]);
      for (const [command, result] of [
        ['serve', served],
        ['check-config', checked],
      ] as const) {
        assert.equal(result.code, 2, `${command} exited ${result.code}: ${result.stderr}`);
        assert.ok(
          result.stderr.includes(`${file}: ${bad.key}: `),
          `${command} did not name the file and key:\n${result.stderr}`,
        );
        assert.match(result.stderr, bad.says);
        // Nothing was logged, so nothing started: no listener, no store.
        assert.equal(result.stdout, '', `${command} wrote:\n${result.stdout}`);
      }
      assert.ok(!existsSync(join(dir, 'hookq.db')), 'the store was opened');
    });
  }

  test('a missing file stops serve with exit 2, naming it', async (t) => {
    const dir = removeAfter(t, tempDir('hookq-e2e-config-'));
    const file = join(dir, 'absent.yaml');
    const result = await runHookq(['serve', '--config', file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /configuration file not found/);
    assert.ok(result.stderr.includes(file));
    assert.equal(result.stdout, '');
  });
});

test('check-config accepts a valid file, exits 0 and lists its routes', async (t) => {
  const dir = removeAfter(t, tempDir('hookq-e2e-config-'));
  const file = join(dir, 'good.yaml');
  writeFileSync(
    file,
    stringify({
      server: { listen: '127.0.0.1:0' },
      storage: { url: 'sqlite:./hookq.db' },
      defaults: { retry: { maxAttempts: 3 }, delivery: { timeout: '2s' } },
      notify: { url: 'https://alerts.example.com/T000/secret-path', checkEvery: '30s' },
      routes: [
        { ...ROUTE, group: { json: '/customer' } },
        {
          name: 'github',
          path: '/github',
          target: 'http://127.0.0.1:9/github',
          ordering: 'fifo',
          dedup: { by: 'header:X-GitHub-Delivery' },
        },
      ],
    }),
  );
  const result = await runHookq(['check-config', '--config', file]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /is valid/);
  assert.match(result.stdout, /routes +2/);
  assert.match(result.stdout, /orders: POST \/orders -> http:\/\/127\.0\.0\.1:9\/orders/);
  assert.match(result.stdout, /github: POST \/github -> http:\/\/127\.0\.0\.1:9\/github/);
  assert.match(result.stdout, /ordering fifo, .*dedup header x-github-delivery/);
  assert.match(result.stdout, /3 attempts, timeout 2s/);
  // Where alerts go, without the path that may be the receiver's credential.
  assert.match(result.stdout, /alerts to https:\/\/alerts\.example\.com, checked every 30s/);
  assert.ok(!result.stdout.includes('secret-path'), result.stdout);
  assert.equal(result.stderr, '');
  // check-config only reads: it opens no store.
  assert.ok(!existsSync(join(dir, 'hookq.db')));
});
