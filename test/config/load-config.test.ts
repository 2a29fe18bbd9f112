// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is hookq's interpolation syntax, written out on purpose
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load-config.js';
import type { HookqConfig, RouteConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/core/errors.js';
import { describeLocation, storageLocationOf } from '../../src/store/location.js';

const BASE = '/srv/hookq';
const MINUTE = 60_000;
const DAY = 86_400_000;

function parse(text: string, env: NodeJS.ProcessEnv = {}): HookqConfig {
  return parseConfig(text, 'hookq.yaml', env, BASE);
}

/** A config written as a JS object, so each test states only what it is about. */
function parseObject(document: unknown, env: NodeJS.ProcessEnv = {}): HookqConfig {
  return parse(stringify(document), env);
}

const ROUTE = { name: 'orders', path: '/orders', target: 'http://127.0.0.1:3000/orders' };

function onlyRoute(config: HookqConfig): RouteConfig {
  assert.equal(config.routes.length, 1);
  return config.routes[0]!;
}

/** What a route gets with no `defaults` and no settings of its own: SPEC §3. */
const BUILT_IN = {
  group: undefined,
  maxBodyBytes: 1024 * 1024,
  ordering: 'strict',
  dedup: { by: 'content', windowMs: 5 * MINUTE },
  retry: {
    maxAttempts: 10,
    backoff: { initialMs: 1000, maxMs: 5 * MINUTE, multiplier: 2, jitter: 0.2 },
  },
  delivery: {
    timeoutMs: 30_000,
    maxConcurrency: 16,
    maxPerSecond: undefined,
    breaker: { after: 3, probeInitialMs: 1000, probeMaxMs: 30_000 },
  },
  retention: { queuedMs: 4 * DAY, deadLetterMs: 4 * DAY, deliveredMs: DAY },
  forwardHeaders: 'all',
  verify: undefined,
  sign: undefined,
} satisfies Omit<RouteConfig, 'name' | 'path' | 'target'>;

describe('a valid file', () => {
  test('resolves to the exact configuration', () => {
    const text = `
server: { listen: "0.0.0.0:9080" }
admin:
  listen: "[::1]:9081"
  token: "\${ADMIN_TOKEN}"
storage: { url: "postgres://hookq@db.internal:5432/hookq" }
defaults:
  maxBodyBytes: 256KiB
  ordering: fifo
  dedup: { by: "header:X-Delivery-Id", window: 10m }
  retry: { maxAttempts: 5, backoff: { initial: 500ms, max: 1m, multiplier: 3, jitter: 0 } }
  delivery: { timeout: 10s, maxConcurrency: 4, maxPerSecond: 20, breaker: { after: 5, probe: { initial: 2s, max: 1m } } }
  retention: { queued: 2d, deadLetter: 7d, delivered: 12h }
  forwardHeaders: [Content-Type, X-Delivery-Id]
routes:
  - name: approvals
    path: /sqs-hook
    target: http://127.0.0.1:3000/webhook
    group: approvals
    verify: { scheme: github, secret: "\${GITHUB_WEBHOOK_SECRET}" }
    sign: { secret: "\${HOOKQ_SIGNING_SECRET}" }
  - name: payments.stripe
    path: /stripe
    target: https://payments.internal/stripe
    group: { json: /data/object/customer }
    dedup: { by: none }
    verify: { scheme: stripe, secrets: [whsec_old, whsec_new], tolerance: 10m }
    forwardHeaders: all
  - name: generic_hmac
    path: /generic
    target: http://10.0.0.5:8000/in
    group: { header: X-Entity-Id }
    maxBodyBytes: 4096
    verify: { scheme: hmac-sha256, secret: s3, header: X-Signature, encoding: base64, prefix: "sha256=" }
  - name: sw
    path: /sw
    target: http://127.0.0.1:3000/sw
    verify: { scheme: standard-webhooks, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }
  - name: shop
    path: /shop
    target: http://127.0.0.1:3000/shop
    verify: { scheme: shopify, secret: shop-secret }
  - name: slack
    path: /slack
    target: http://127.0.0.1:3000/slack
    verify: { scheme: slack, secret: slack-secret }
    group: { json: "" }
`;
    const env = {
      ADMIN_TOKEN: 'admin-token',
      GITHUB_WEBHOOK_SECRET: 'gh-secret',
      HOOKQ_SIGNING_SECRET: 'whsec_c2lnbmluZy1zZWNyZXQ=',
    };
    const defaults = {
      maxBodyBytes: 256 * 1024,
      ordering: 'fifo',
      dedup: { by: 'header', header: 'x-delivery-id', windowMs: 10 * MINUTE },
      retry: {
        maxAttempts: 5,
        backoff: { initialMs: 500, maxMs: MINUTE, multiplier: 3, jitter: 0 },
      },
      delivery: {
        timeoutMs: 10_000,
        maxConcurrency: 4,
        maxPerSecond: 20,
        breaker: { after: 5, probeInitialMs: 2000, probeMaxMs: MINUTE },
      },
      retention: { queuedMs: 2 * DAY, deadLetterMs: 7 * DAY, deliveredMs: 12 * 3_600_000 },
      forwardHeaders: ['content-type', 'x-delivery-id'],
    } satisfies Partial<RouteConfig>;
    const expected: HookqConfig = {
      server: { host: '0.0.0.0', port: 9080 },
      admin: { host: '::1', port: 9081, token: 'admin-token', allowedOrigins: [] },
      storage: storageLocationOf('postgres://hookq@db.internal:5432/hookq'),
      routes: [
        {
          name: 'approvals',
          path: '/sqs-hook',
          target: 'http://127.0.0.1:3000/webhook',
          group: { static: 'approvals' },
          ...defaults,
          verify: { scheme: 'github', secrets: ['gh-secret'] },
          sign: { secret: 'whsec_c2lnbmluZy1zZWNyZXQ=' },
        },
        {
          name: 'payments.stripe',
          path: '/stripe',
          target: 'https://payments.internal/stripe',
          group: { json: '/data/object/customer' },
          ...defaults,
          dedup: { by: 'none', windowMs: 10 * MINUTE },
          forwardHeaders: 'all',
          verify: {
            scheme: 'stripe',
            secrets: ['whsec_old', 'whsec_new'],
            toleranceMs: 10 * MINUTE,
          },
          sign: undefined,
        },
        {
          name: 'generic_hmac',
          path: '/generic',
          target: 'http://10.0.0.5:8000/in',
          group: { header: 'x-entity-id' },
          ...defaults,
          maxBodyBytes: 4096,
          verify: {
            scheme: 'hmac-sha256',
            secrets: ['s3'],
            header: 'x-signature',
            encoding: 'base64',
            prefix: 'sha256=',
          },
          sign: undefined,
        },
        {
          name: 'sw',
          path: '/sw',
          target: 'http://127.0.0.1:3000/sw',
          group: undefined,
          ...defaults,
          verify: {
            scheme: 'standard-webhooks',
            secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
            toleranceMs: 5 * MINUTE,
          },
          sign: undefined,
        },
        {
          name: 'shop',
          path: '/shop',
          target: 'http://127.0.0.1:3000/shop',
          group: undefined,
          ...defaults,
          verify: { scheme: 'shopify', secrets: ['shop-secret'] },
          sign: undefined,
        },
        {
          name: 'slack',
          path: '/slack',
          target: 'http://127.0.0.1:3000/slack',
          group: { json: '' },
          ...defaults,
          verify: { scheme: 'slack', secrets: ['slack-secret'], toleranceMs: 5 * MINUTE },
          sign: undefined,
        },
      ],
    };
    assert.deepEqual(parse(text, env), expected);
  });

  test('a minimal file gets the built-in defaults of SPEC §3', () => {
    const config = parse(`routes:\n  - { name: a, path: /a, target: "http://127.0.0.1:3000/" }\n`);
    assert.deepEqual(config, {
      server: { host: '0.0.0.0', port: 8080 },
      admin: { host: '127.0.0.1', port: 8081, token: null, allowedOrigins: [] },
      storage: { kind: 'sqlite', path: `${BASE}/data/hookq.db` },
      routes: [{ name: 'a', path: '/a', target: 'http://127.0.0.1:3000/', ...BUILT_IN }],
    });
  });

  test('a verify scheme with no settings of its own takes hmac-sha256 defaults', () => {
    const route = onlyRoute(
      parseObject({
        routes: [{ ...ROUTE, verify: { scheme: 'hmac-sha256', secret: 's', header: 'X-Sig' } }],
      }),
    );
    assert.deepEqual(route.verify, {
      scheme: 'hmac-sha256',
      secrets: ['s'],
      header: 'x-sig',
      encoding: 'hex',
      prefix: '',
    });
  });

  test('empty sections count as left out', () => {
    const config = parse(
      `server:\nadmin:\nstorage:\ndefaults:\nroutes:\n  - { name: a, path: /a, target: "http://x/" }\n`,
    );
    assert.deepEqual(config.admin, {
      host: '127.0.0.1',
      port: 8081,
      token: null,
      allowedOrigins: [],
    });
    assert.deepEqual(onlyRoute(config).retry, BUILT_IN.retry);
  });

  test('YAML merge keys can share settings between routes', () => {
    const config = parse(`
routes:
  - &common { name: a, path: /a, target: "http://x/", ordering: fifo }
  - { <<: *common, name: b, path: /b }
`);
    assert.equal(config.routes[1]!.ordering, 'fifo');
    assert.equal(config.routes[1]!.target, 'http://x/');
  });
});

describe('defaults', () => {
  test('are deep-merged under each route, and the route wins', () => {
    const config = parseObject({
      defaults: {
        dedup: { window: '1m' },
        retry: { maxAttempts: 3, backoff: { max: '10m', jitter: 0.5 } },
        delivery: { maxConcurrency: 2 },
        retention: { delivered: '1h' },
      },
      routes: [
        { ...ROUTE, name: 'plain', path: '/plain' },
        {
          ...ROUTE,
          name: 'own',
          path: '/own',
          dedup: { by: 'header:X-GitHub-Delivery' },
          retry: { backoff: { jitter: 0.1, initial: '2s' } },
          delivery: { timeout: '5s' },
          ordering: 'fifo',
        },
      ],
    });
    const [plain, own] = config.routes;
    // Only what `defaults` sets differs from the built-in settings.
    const merged = {
      ...ROUTE,
      name: 'plain',
      path: '/plain',
      ...BUILT_IN,
      dedup: { ...BUILT_IN.dedup, windowMs: MINUTE },
      retry: {
        maxAttempts: 3,
        backoff: { ...BUILT_IN.retry.backoff, maxMs: 10 * MINUTE, jitter: 0.5 },
      },
      delivery: { ...BUILT_IN.delivery, maxConcurrency: 2 },
      retention: { ...BUILT_IN.retention, deliveredMs: 3_600_000 },
    };
    assert.deepEqual(plain, merged);
    assert.deepEqual(own, {
      ...plain,
      name: 'own',
      path: '/own',
      ordering: 'fifo',
      dedup: { by: 'header', header: 'x-github-delivery', windowMs: MINUTE },
      retry: {
        ...merged.retry,
        backoff: { ...merged.retry.backoff, initialMs: 2000, jitter: 0.1 },
      },
      delivery: { ...merged.delivery, timeoutMs: 5000 },
    });
  });

  test('a list replaces the list of defaults instead of merging with it', () => {
    const config = parseObject({
      defaults: { forwardHeaders: ['Content-Type', 'X-A'] },
      routes: [
        { ...ROUTE, forwardHeaders: ['X-B'] },
        { ...ROUTE, name: 'all', path: '/all', forwardHeaders: 'all' },
        { ...ROUTE, name: 'inherit', path: '/inherit' },
      ],
    });
    assert.deepEqual(
      config.routes.map((route) => route.forwardHeaders),
      [['x-b'], 'all', ['content-type', 'x-a']],
    );
  });

  test('routes do not share objects with each other', () => {
    const config = parseObject({
      defaults: { forwardHeaders: ['x-a'] },
      routes: [ROUTE, { ...ROUTE, name: 'b', path: '/b' }],
    });
    const [a, b] = config.routes;
    assert.notEqual(a!.forwardHeaders, b!.forwardHeaders);
    assert.notEqual(a!.retry.backoff, b!.retry.backoff);
    assert.notEqual(a!.dedup, b!.dedup);
  });
});

describe('values and units', () => {
  for (const [written, ms] of [
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 5 * MINUTE],
    ['2h', 7_200_000],
    ['4d', 4 * DAY],
    ['1.5s', 1500],
  ] as const) {
    test(`duration ${written} is ${ms} ms`, () => {
      const route = onlyRoute(
        parseObject({ routes: [{ ...ROUTE, delivery: { timeout: written } }] }),
      );
      assert.equal(route.delivery.timeoutMs, ms);
    });
  }

  for (const [written, bytes] of [
    [2048, 2048],
    ['2048', 2048],
    ['1MiB', 1024 * 1024],
    ['1MB', 1_000_000],
    ['64KiB', 65_536],
  ] as const) {
    test(`size ${JSON.stringify(written)} is ${bytes} bytes`, () => {
      const route = onlyRoute(parseObject({ routes: [{ ...ROUTE, maxBodyBytes: written }] }));
      assert.equal(route.maxBodyBytes, bytes);
    });
  }

  test('listen addresses: IPv6 in brackets comes back bare; port 0 means any free port', () => {
    const config = parseObject({
      server: { listen: '[::]:0' },
      admin: { listen: 'localhost:0' },
      routes: [ROUTE],
    });
    assert.deepEqual(config.server, { host: '::', port: 0 });
    assert.deepEqual(config.admin, {
      host: 'localhost',
      port: 0,
      token: null,
      allowedOrigins: [],
    });
  });

  test('header names are lower-cased everywhere', () => {
    const route = onlyRoute(
      parseObject({
        routes: [
          {
            ...ROUTE,
            group: { header: 'X-Entity-ID' },
            dedup: { by: 'header: X-GitHub-Delivery' },
            forwardHeaders: ['Content-Type', 'content-type', 'X-Trace'],
          },
        ],
      }),
    );
    assert.deepEqual(route.group, { header: 'x-entity-id' });
    assert.deepEqual(route.dedup, {
      by: 'header',
      header: 'x-github-delivery',
      windowMs: 5 * MINUTE,
    });
    assert.deepEqual(route.forwardHeaders, ['content-type', 'x-trace']);
  });

  test('dedup by none may have a zero window', () => {
    const route = onlyRoute(
      parseObject({ routes: [{ ...ROUTE, dedup: { by: 'none', window: '0s' } }] }),
    );
    assert.deepEqual(route.dedup, { by: 'none', windowMs: 0 });
  });
});

describe('${NAME} interpolation', () => {
  test('replaces variables anywhere in a string value', () => {
    const config = parseObject(
      {
        routes: [{ ...ROUTE, target: 'http://${HOST}:${PORT}/hook', group: 'tenant-${TENANT}' }],
      },
      { HOST: 'example.internal', PORT: '3000', TENANT: '' },
    );
    const route = onlyRoute(config);
    assert.equal(route.target, 'http://example.internal:3000/hook');
    assert.deepEqual(route.group, { static: 'tenant-' });
  });

  test('a value with YAML syntax stays one string', () => {
    const token = 'a: b\n- c\n"}, evil: {x: 1}';
    const config = parse(
      `admin: { token: "\${TOKEN}" }\nroutes: [{ name: a, path: /a, target: "http://x/" }]\n`,
      {
        TOKEN: token,
      },
    );
    assert.equal(config.admin.token, token);
  });

  test('numbers can come from the environment', () => {
    const route = onlyRoute(
      parseObject(
        {
          routes: [
            { ...ROUTE, retry: { maxAttempts: '${ATTEMPTS}', backoff: { jitter: '${JITTER}' } } },
          ],
        },
        { ATTEMPTS: '7', JITTER: '0.25' },
      ),
    );
    assert.equal(route.retry.maxAttempts, 7);
    assert.equal(route.retry.backoff.jitter, 0.25);
  });

  test('$${ is a literal ${', () => {
    const route = onlyRoute(parseObject({ routes: [{ ...ROUTE, group: 'g-$${NAME}' }] }));
    assert.deepEqual(route.group, { static: 'g-${NAME}' });
  });

  test('keys are not interpolated', () => {
    assert.throws(
      () => parseObject({ routes: [{ ...ROUTE, '${KEY}': 'x' }] }, { KEY: 'ordering' }),
      (error: unknown) => error instanceof ConfigError && error.key === 'routes[0]["${KEY}"]',
    );
  });

  test('an unset variable names the key and the variable', () => {
    assert.throws(
      () =>
        parseObject({
          routes: [{ ...ROUTE, verify: { scheme: 'github', secret: '${GH_SECRET}' } }],
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.key, 'routes[0].verify.secret');
        assert.equal(
          error.message,
          'hookq.yaml: routes[0].verify.secret: environment variable GH_SECRET is not set',
        );
        return true;
      },
    );
  });

  test('a malformed reference is an error, not a literal', () => {
    assert.throws(
      () => parseObject({ routes: [{ ...ROUTE, target: 'http://${HOST/' }] }, { HOST: 'x' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 'routes[0].target' &&
        /\$\$\{/.test(error.message),
    );
  });
});

describe('storage.url', () => {
  const withStorage = (url: string, baseDir = BASE) =>
    describeLocation(
      parseConfig(stringify({ storage: { url }, routes: [ROUTE] }), 'hookq.yaml', {}, baseDir)
        .storage,
    );

  test('a relative sqlite path is resolved against the base directory', () => {
    assert.equal(withStorage('sqlite:./data/q.db'), `${BASE}/data/q.db`);
    assert.equal(withStorage('sqlite:q.db', '/etc/hookq'), '/etc/hookq/q.db');
    assert.equal(withStorage('sqlite:../q.db', '/etc/hookq'), '/etc/q.db');
  });

  test('an absolute sqlite path is kept', () => {
    assert.equal(withStorage('sqlite:/var/lib/hookq/q.db'), '/var/lib/hookq/q.db');
    assert.equal(withStorage('sqlite:///var/lib/hookq/q.db'), '/var/lib/hookq/q.db');
  });

  test('postgres URLs are kept, their password masked wherever they are shown', () => {
    assert.equal(withStorage('postgresql://u:p@h/db'), 'postgresql://u:***@h/db');
    const config = parseConfig(
      stringify({ storage: { url: 'postgresql://u:p@h/db?schema=q' }, routes: [ROUTE] }),
      'hookq.yaml',
    );
    assert.deepEqual(config.storage, {
      kind: 'postgres',
      connectionString: 'postgresql://u:p@h/db',
      schema: 'q',
      display: 'postgresql://u:***@h/db',
    });
  });

  test('the base directory defaults to the directory of the file name', () => {
    const config = parseConfig(stringify({ routes: [ROUTE] }), '/etc/hookq/hookq.yaml', {});
    assert.deepEqual(config.storage, { kind: 'sqlite', path: '/etc/hookq/data/hookq.db' });
  });
});

describe('admin.token', () => {
  for (const listen of [
    '127.0.0.1:8081',
    '127.9.8.7:0',
    '[::1]:8081',
    'localhost:8081',
    'LOCALHOST:1',
  ]) {
    test(`may be omitted on loopback ${listen}`, () => {
      assert.equal(parseObject({ admin: { listen }, routes: [ROUTE] }).admin.token, null);
    });
  }

  for (const listen of [
    '0.0.0.0:8081',
    '10.0.0.1:8081',
    '[::]:8081',
    'admin.internal:8081',
    '128.0.0.1:1',
  ]) {
    test(`is required on ${listen}`, () => {
      assert.throws(
        () => parseObject({ admin: { listen }, routes: [ROUTE] }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.key === 'admin.token' &&
          error.message.startsWith('hookq.yaml: admin.token: is required'),
      );
      const config = parseObject({ admin: { listen, token: 't0ken' }, routes: [ROUTE] });
      assert.equal(config.admin.token, 't0ken');
    });
  }

  test('an empty token is an error, also on loopback', () => {
    assert.throws(
      () => parseObject({ admin: { token: '${EMPTY}' }, routes: [ROUTE] }, { EMPTY: '' }),
      (error: unknown) => error instanceof ConfigError && error.key === 'admin.token',
    );
  });

  test('a blank token is an error, also on loopback: no client could present it', () => {
    for (const blank of [' ', '   ', '\t\n']) {
      assert.throws(
        () => parseObject({ admin: { token: '${BLANK}' }, routes: [ROUTE] }, { BLANK: blank }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.key === 'admin.token' &&
          error.message.startsWith('hookq.yaml: admin.token: must not be blank'),
        JSON.stringify(blank),
      );
    }
    // Only a blank one: spaces inside a token are the operator's choice.
    assert.equal(
      parseObject({ admin: { token: 'two words' }, routes: [ROUTE] }).admin.token,
      'two words',
    );
  });
});

describe('admin.allowedOrigins', () => {
  test('is empty when left out', () => {
    assert.deepEqual(parseObject({ routes: [ROUTE] }).admin.allowedOrigins, []);
  });

  test('keeps each origin as a browser writes it in Origin', () => {
    const config = parseObject({
      admin: {
        token: 't0ken',
        allowedOrigins: [
          'https://HookQ.Example.com',
          'https://hookq.example.com:443/',
          'http://10.0.0.5:8081',
        ],
      },
      routes: [ROUTE],
    });
    assert.deepEqual(config.admin.allowedOrigins, [
      'https://hookq.example.com',
      'https://hookq.example.com',
      'http://10.0.0.5:8081',
    ]);
  });

  test('needs a token, also on loopback: a reverse proxy makes the listener reachable', () => {
    assert.throws(
      () =>
        parseObject({
          admin: { listen: '127.0.0.1:8081', allowedOrigins: ['https://hookq.example.com'] },
          routes: [ROUTE],
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 'admin.token' &&
        error.message.startsWith(
          'hookq.yaml: admin.token: is required because admin.allowedOrigins is set',
        ),
    );
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hookq-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads the file and resolves sqlite paths against its directory', () => {
    mkdirSync(join(dir, 'etc'));
    const path = join(dir, 'etc', 'hookq.yaml');
    writeFileSync(
      path,
      'storage: { url: "sqlite:db/q.db" }\nroutes:\n  - { name: a, path: /a, target: "http://x/" }\n',
    );
    const config = loadConfig(path, {});
    assert.deepEqual(config.storage, { kind: 'sqlite', path: join(dir, 'etc', 'db', 'q.db') });
  });

  test('uses process.env by default', () => {
    const path = join(dir, 'env.yaml');
    writeFileSync(
      path,
      'admin: { token: "${HOOKQ_TEST_CONFIG_TOKEN}" }\nroutes: [{ name: a, path: /a, target: "http://x/" }]\n',
    );
    process.env.HOOKQ_TEST_CONFIG_TOKEN = 'from-env';
    try {
      assert.equal(loadConfig(path).admin.token, 'from-env');
    } finally {
      delete process.env.HOOKQ_TEST_CONFIG_TOKEN;
    }
  });

  test('a missing file says so, with the path', () => {
    const path = join(dir, 'nope.yaml');
    assert.throws(
      () => loadConfig(path, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === '' &&
        error.message === `${path}: configuration file not found`,
    );
  });

  test('a missing relative path also shows where it was looked for', () => {
    const path = 'no-such-hookq-config.yaml';
    assert.throws(
      () => loadConfig(path, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === `${path}: configuration file not found (looked for ${resolve(path)})`,
    );
  });

  test('a directory is not a configuration file', () => {
    assert.throws(
      () => loadConfig(dir, {}),
      (error: unknown) => error instanceof ConfigError && /is a directory/.test(error.message),
    );
  });

  test('error messages start with the path as given', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'routes: []\n');
    assert.throws(
      () => loadConfig(path, {}),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message === `${path}: routes: must list at least one route`,
    );
  });
});
