// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} is hookq's interpolation syntax, written out on purpose
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { configFailure as failure, documentFailure as failureOf } from '../helpers/config.js';

const ROUTE = { name: 'orders', path: '/orders', target: 'http://127.0.0.1:3000/orders' };
const SW_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** A file with one route, changed by `change`. */
function withRoute(change: Record<string, unknown>, more: Record<string, unknown> = {}) {
  return { ...more, routes: [{ ...ROUTE, ...change }] };
}

interface Case {
  what: string;
  document: unknown;
  key: string;
  /** Text the message must contain after `hookq.yaml: <key>: `. */
  says?: RegExp;
}

const cases: Case[] = [
  // Unknown keys, at every level.
  {
    what: 'a typo at the top',
    document: { ...withRoute({}), rutes: [] },
    key: 'rutes',
    says: /unknown key \(did you mean "routes"\?\)/,
  },
  {
    what: 'a typo in a route',
    document: withRoute({ retires: 3 }),
    key: 'routes[0].retires',
    says: /did you mean "retry"/,
  },
  {
    what: 'a typo in a nested mapping',
    document: withRoute({ retry: { backoff: { jiter: 0.1 } } }),
    key: 'routes[0].retry.backoff.jiter',
    says: /did you mean "jitter"/,
  },
  {
    what: 'a typo in defaults',
    document: withRoute({}, { defaults: { delivery: { timout: '1s' } } }),
    key: 'defaults.delivery.timout',
  },
  {
    what: 'a route key in defaults',
    document: withRoute({}, { defaults: { target: 'http://x/' } }),
    key: 'defaults.target',
  },
  {
    what: 'an unknown server key',
    document: withRoute({}, { server: { port: 8080 } }),
    key: 'server.port',
  },
  {
    what: 'an unknown group key',
    document: withRoute({ group: { headers: 'X-A' } }),
    key: 'routes[0].group.headers',
    says: /did you mean "header"/,
  },
  {
    what: 'an unknown sign key',
    document: withRoute({ sign: { secret: SW_SECRET, scheme: 'x' } }),
    key: 'routes[0].sign.scheme',
  },

  // Structure.
  { what: 'no routes', document: { server: {} }, key: 'routes', says: /is required/ },
  {
    what: 'an empty route list',
    document: { routes: [] },
    key: 'routes',
    says: /at least one route/,
  },
  {
    what: 'routes as a mapping',
    document: { routes: { a: ROUTE } },
    key: 'routes',
    says: /must be a list of routes \(got a mapping\)/,
  },
  {
    what: 'a route that is not a mapping',
    document: { routes: ['orders'] },
    key: 'routes[0]',
    says: /must be a mapping/,
  },
  {
    what: 'a route without a target',
    document: { routes: [{ name: 'a', path: '/a' }] },
    key: 'routes[0].target',
    says: /is required/,
  },
  {
    what: 'a key without a value',
    document: 'routes:\n  - { name: a, path: /a, target: "http://x/", ordering: }\n',
    key: 'routes[0].ordering',
    says: /has no value/,
  },
  { what: 'a top level that is a list', document: [ROUTE], key: '', says: /must be a mapping/ },

  // Routes.
  {
    what: 'a name with a space',
    document: withRoute({ name: 'my route' }),
    key: 'routes[0].name',
    says: /letters, digits/,
  },
  {
    what: 'a duplicate name',
    document: { routes: [ROUTE, { ...ROUTE, path: '/other' }] },
    key: 'routes[1].name',
    says: /routes\[0\] is also named "orders"/,
  },
  {
    what: 'a duplicate path',
    document: { routes: [ROUTE, { ...ROUTE, name: 'other' }] },
    key: 'routes[1].path',
    says: /unique/,
  },
  {
    what: 'a path without a slash',
    document: withRoute({ path: 'orders' }),
    key: 'routes[0].path',
    says: /starting with "\/"/,
  },
  {
    what: 'a path with a query',
    document: withRoute({ path: '/orders?x=1' }),
    key: 'routes[0].path',
    says: /query string/,
  },
  {
    what: 'a target that is not http',
    document: withRoute({ target: 'ftp://x/' }),
    key: 'routes[0].target',
    says: /http:\/\/ or https:\/\//,
  },
  {
    what: 'a target that is not a URL',
    document: withRoute({ target: '127.0.0.1:3000' }),
    key: 'routes[0].target',
  },
  { what: 'an empty static group', document: withRoute({ group: '' }), key: 'routes[0].group' },
  {
    what: 'a group with both forms',
    document: withRoute({ group: { header: 'X-A', json: '/a' } }),
    key: 'routes[0].group',
    says: /not both/,
  },
  {
    what: 'a JSON pointer without a slash',
    document: withRoute({ group: { json: 'data.id' } }),
    key: 'routes[0].group.json',
    says: /JSON Pointer/,
  },
  {
    what: 'a group header that is not a header name',
    document: withRoute({ group: { header: 'X A' } }),
    key: 'routes[0].group.header',
  },
  { what: 'a group that is a number', document: withRoute({ group: 5 }), key: 'routes[0].group' },

  // Settings.
  {
    what: 'an unknown ordering',
    document: withRoute({ ordering: 'lifo' }),
    key: 'routes[0].ordering',
    says: /must be one of strict, fifo \(got "lifo"\)/,
  },
  {
    what: 'an unknown dedup rule',
    document: withRoute({ dedup: { by: 'body' } }),
    key: 'routes[0].dedup.by',
    says: /content, none or header:<Name>/,
  },
  {
    what: 'a dedup header without a name',
    document: withRoute({ dedup: { by: 'header:' } }),
    key: 'routes[0].dedup.by',
  },
  {
    what: 'a zero dedup window',
    document: withRoute({ dedup: { window: '0s' } }),
    key: 'routes[0].dedup.window',
    says: /greater than 0 unless dedup.by is none/,
  },
  {
    what: 'dedup by content under a zero default window',
    document: withRoute(
      { dedup: { by: 'content' } },
      { defaults: { dedup: { by: 'none', window: '0ms' } } },
    ),
    key: 'routes[0].dedup.by',
  },
  {
    what: 'zero attempts',
    document: withRoute({ retry: { maxAttempts: 0 } }),
    key: 'routes[0].retry.maxAttempts',
    says: /^must be an integer >= 1 \(got 0\)$/,
  },
  {
    what: 'fractional attempts',
    document: withRoute({ retry: { maxAttempts: 2.5 } }),
    key: 'routes[0].retry.maxAttempts',
  },
  {
    what: 'attempts as words',
    document: withRoute({ retry: { maxAttempts: 'ten' } }),
    key: 'routes[0].retry.maxAttempts',
    says: /got "ten"/,
  },
  {
    what: 'a zero initial backoff',
    document: withRoute({ retry: { backoff: { initial: '0s' } } }),
    key: 'routes[0].retry.backoff.initial',
    says: /greater than 0/,
  },
  {
    what: 'a max backoff below the initial one',
    document: withRoute({ retry: { backoff: { initial: '10s', max: '5s' } } }),
    key: 'routes[0].retry.backoff.max',
    says: /at least retry.backoff.initial, 10s \(got 5s\)/,
  },
  {
    what: 'an initial backoff above the default max',
    document: withRoute({ retry: { backoff: { initial: '10m' } } }),
    key: 'routes[0].retry.backoff.initial',
    says: /at most retry.backoff.max, 5m/,
  },
  {
    what: 'an inconsistent default backoff',
    document: withRoute({}, { defaults: { retry: { backoff: { max: '500ms' } } } }),
    key: 'defaults.retry.backoff.max',
  },
  {
    what: 'a multiplier below 1',
    document: withRoute({ retry: { backoff: { multiplier: 0.5 } } }),
    key: 'routes[0].retry.backoff.multiplier',
    says: /a number >= 1 \(got 0.5\)/,
  },
  {
    what: 'jitter above 1',
    document: withRoute({ retry: { backoff: { jitter: 1.5 } } }),
    key: 'routes[0].retry.backoff.jitter',
    says: /from 0 to 1/,
  },
  {
    what: 'negative jitter',
    document: withRoute({ retry: { backoff: { jitter: -0.1 } } }),
    key: 'routes[0].retry.backoff.jitter',
  },
  {
    what: 'a zero timeout',
    document: withRoute({ delivery: { timeout: '0ms' } }),
    key: 'routes[0].delivery.timeout',
  },
  {
    what: 'a timeout longer than a timer holds',
    document: withRoute({ delivery: { timeout: '30d' } }),
    key: 'routes[0].delivery.timeout',
  },
  {
    what: 'a duration without a unit',
    document: withRoute({ delivery: { timeout: 30 } }),
    key: 'routes[0].delivery.timeout',
    says: /with a unit/,
  },
  {
    what: 'a duration with an unknown unit',
    document: withRoute({ delivery: { timeout: '3 weeks' } }),
    key: 'routes[0].delivery.timeout',
  },
  {
    what: 'zero concurrency',
    document: withRoute({ delivery: { maxConcurrency: 0 } }),
    key: 'routes[0].delivery.maxConcurrency',
    says: /from 1 to 10000 \(got 0\)/,
  },
  {
    what: 'too much concurrency',
    document: withRoute({ delivery: { maxConcurrency: 10_001 } }),
    key: 'routes[0].delivery.maxConcurrency',
  },
  {
    what: 'a zero body size',
    document: withRoute({ maxBodyBytes: 0 }),
    key: 'routes[0].maxBodyBytes',
  },
  {
    what: 'a size with an unknown unit',
    document: withRoute({ maxBodyBytes: '1 parsec' }),
    key: 'routes[0].maxBodyBytes',
  },
  {
    what: 'a zero retention',
    document: withRoute({}, { defaults: { retention: { deadLetter: '0d' } } }),
    key: 'defaults.retention.deadLetter',
  },
  {
    what: 'forwardHeaders as a word',
    document: withRoute({ forwardHeaders: 'some' }),
    key: 'routes[0].forwardHeaders',
  },
  {
    what: 'a bad header in forwardHeaders',
    document: withRoute({ forwardHeaders: ['X-A', 'X B'] }),
    key: 'routes[0].forwardHeaders[1]',
  },

  // verify and sign.
  {
    what: 'an unknown scheme',
    document: withRoute({ verify: { scheme: 'gitlab', secret: 's' } }),
    key: 'routes[0].verify.scheme',
    says: /one of github, stripe, standard-webhooks, shopify, slack, hmac-sha256/,
  },
  {
    what: 'no scheme',
    document: withRoute({ verify: { secret: 's' } }),
    key: 'routes[0].verify.scheme',
    says: /is required/,
  },
  {
    what: 'no secret',
    document: withRoute({ verify: { scheme: 'github' } }),
    key: 'routes[0].verify.secret',
    says: /is required/,
  },
  {
    what: 'secret and secrets',
    document: withRoute({ verify: { scheme: 'github', secret: 'a', secrets: ['b'] } }),
    key: 'routes[0].verify.secrets',
    says: /not both/,
  },
  {
    what: 'an empty secret list',
    document: withRoute({ verify: { scheme: 'github', secrets: [] } }),
    key: 'routes[0].verify.secrets',
  },
  {
    what: 'an empty secret',
    document: withRoute({ verify: { scheme: 'github', secret: '' } }),
    key: 'routes[0].verify.secret',
    says: /must not be empty/,
  },
  {
    what: 'an empty secret in the list',
    document: withRoute({ verify: { scheme: 'github', secrets: ['a', ''] } }),
    key: 'routes[0].verify.secrets[1]',
  },
  {
    what: 'tolerance on github',
    document: withRoute({ verify: { scheme: 'github', secret: 's', tolerance: '5m' } }),
    key: 'routes[0].verify.tolerance',
    says: /not a setting of scheme github/,
  },
  {
    what: 'header on stripe',
    document: withRoute({ verify: { scheme: 'stripe', secret: 's', header: 'X-Sig' } }),
    key: 'routes[0].verify.header',
  },
  {
    what: 'a zero tolerance',
    document: withRoute({ verify: { scheme: 'slack', secret: 's', tolerance: '0s' } }),
    key: 'routes[0].verify.tolerance',
  },
  {
    what: 'hmac-sha256 without a header',
    document: withRoute({ verify: { scheme: 'hmac-sha256', secret: 's' } }),
    key: 'routes[0].verify.header',
    says: /is required for scheme hmac-sha256/,
  },
  {
    what: 'an unknown encoding',
    document: withRoute({
      verify: { scheme: 'hmac-sha256', secret: 's', header: 'X-Sig', encoding: 'base32' },
    }),
    key: 'routes[0].verify.encoding',
  },
  {
    what: 'a standard-webhooks secret without whsec_',
    document: withRoute({ verify: { scheme: 'standard-webhooks', secret: 'MfKQ9r8GKYqrTwjU' } }),
    key: 'routes[0].verify.secret',
    says: /"whsec_" followed by base64/,
  },
  {
    what: 'a standard-webhooks secret that is not base64',
    document: withRoute({
      verify: { scheme: 'standard-webhooks', secrets: [SW_SECRET, 'whsec_not base64!'] },
    }),
    key: 'routes[0].verify.secrets[1]',
  },
  {
    what: 'verify left empty',
    document: 'routes:\n  - { name: a, path: /a, target: "http://x/", verify: }\n',
    key: 'routes[0].verify',
    says: /must be a mapping/,
  },
  {
    what: 'a signing secret that is only the prefix',
    document: withRoute({ sign: { secret: 'whsec_' } }),
    key: 'routes[0].sign.secret',
  },
  {
    what: 'a signing secret whose base64 does not decode exactly',
    document: withRoute({ sign: { secret: 'whsec_abd' } }),
    key: 'routes[0].sign.secret',
  },
  {
    what: 'a signing secret of the wrong form',
    document: withRoute({ sign: { secret: 'plain' } }),
    key: 'routes[0].sign.secret',
    says: /Standard Webhooks secret/,
  },
  {
    what: 'sign without a secret',
    document: withRoute({ sign: {} }),
    key: 'routes[0].sign.secret',
    says: /is required/,
  },

  // Server, admin, storage.
  {
    what: 'listen as a port number',
    document: withRoute({}, { server: { listen: 8080 } }),
    key: 'server.listen',
    says: /"host:port"/,
  },
  {
    what: 'listen with a bare IPv6 address',
    document: withRoute({}, { server: { listen: '::1:8080' } }),
    key: 'server.listen',
    says: /brackets/,
  },
  {
    what: 'listen with a port out of range',
    document: withRoute({}, { server: { listen: '0.0.0.0:65536' } }),
    key: 'server.listen',
    says: /0 to 65535/,
  },
  {
    what: 'listen with a bad IPv6 address',
    document: withRoute({}, { admin: { listen: '[::g]:1' } }),
    key: 'admin.listen',
  },
  {
    what: 'listen with a bad IPv4 address',
    document: withRoute({}, { admin: { listen: '127.0.0.300:1' } }),
    key: 'admin.listen',
  },
  {
    what: 'listen without a host',
    document: withRoute({}, { admin: { listen: ':8081' } }),
    key: 'admin.listen',
  },
  {
    what: 'admin on the server port',
    document: withRoute(
      {},
      { server: { listen: '0.0.0.0:9000' }, admin: { listen: '127.0.0.1:9000' } },
    ),
    key: 'admin.listen',
    says: /same port/,
  },
  {
    what: 'a storage url of another kind',
    document: withRoute({}, { storage: { url: 'mysql://h/db' } }),
    key: 'storage.url',
    says: /sqlite:PATH/,
  },
  {
    what: 'sqlite without a path',
    document: withRoute({}, { storage: { url: 'sqlite:' } }),
    key: 'storage.url',
  },
  {
    what: 'sqlite with a host',
    document: withRoute({}, { storage: { url: 'sqlite://data/q.db' } }),
    key: 'storage.url',
  },
  {
    what: 'sqlite with ~',
    document: withRoute({}, { storage: { url: 'sqlite:~/q.db' } }),
    key: 'storage.url',
    says: /"~"/,
  },
  {
    what: 'an in-memory sqlite database',
    document: withRoute({}, { storage: { url: 'sqlite::memory:' } }),
    key: 'storage.url',
    says: /keep nothing across a restart/,
  },
  {
    what: 'an admin token that is a number',
    document: withRoute({}, { admin: { token: 12345 } }),
    key: 'admin.token',
    says: /must be text \(got a number\)/,
  },
  {
    what: 'an admin token of only whitespace',
    document: withRoute({}, { admin: { token: '   ' } }),
    key: 'admin.token',
    says: /must not be blank/,
  },
  {
    what: 'an allowed origin with a path',
    document: withRoute({}, { admin: { allowedOrigins: ['https://hookq.example.com/console'] } }),
    key: 'admin.allowedOrigins[0]',
    says: /must be an origin such as https:\/\/hookq\.example\.com.*nothing after/,
  },
  {
    what: 'an allowed origin that is a wildcard',
    document: withRoute({}, { admin: { allowedOrigins: ['https://a.example', '*'] } }),
    key: 'admin.allowedOrigins[1]',
    says: /must be an origin .*\(got "\*"\)/,
  },
  {
    what: 'an allowed origin of another scheme',
    document: withRoute({}, { admin: { allowedOrigins: ['file:///srv'] } }),
    key: 'admin.allowedOrigins[0]',
    says: /file: is not http: or https:/,
  },
  {
    what: 'allowed origins as one text',
    document: withRoute({}, { admin: { allowedOrigins: 'https://hookq.example.com' } }),
    key: 'admin.allowedOrigins',
    says: /must be a list of origins/,
  },
];

describe('each kind of bad input is a ConfigError at its key', () => {
  for (const { what, document, key, says } of cases) {
    test(what, () => {
      const error = typeof document === 'string' ? failure(document) : failureOf(document);
      assert.equal(error.key, key, error.message);
      const firstLine = error.message.split('\n')[0]!;
      const prefix = key === '' ? 'hookq.yaml: ' : `hookq.yaml: ${key}: `;
      assert.ok(firstLine.startsWith(prefix), firstLine);
      if (says) assert.match(firstLine.slice(prefix.length), says);
      assert.equal(error.code, 'config_invalid');
    });
  }
});

describe('messages', () => {
  test('name the file, the key, what is wrong and what is expected', () => {
    const error = failureOf({
      routes: [ROUTE, { ...ROUTE, name: 'b', path: '/b', retry: { maxAttempts: 0 } }],
    });
    assert.equal(
      error.message,
      'hookq.yaml: routes[1].retry.maxAttempts: must be an integer >= 1 (got 0)',
    );
  });

  test('list every problem found, the first one first', () => {
    const error = failureOf({
      routes: [
        { ...ROUTE, ordering: 'lifo' },
        { ...ROUTE, name: 'b', path: 'b', retry: { maxAttempts: 0 } },
      ],
    });
    assert.equal(error.key, 'routes[0].ordering');
    assert.deepEqual(error.message.split('\n'), [
      'hookq.yaml: routes[0].ordering: must be one of strict, fifo (got "lifo")',
      'hookq.yaml: routes[1].path: must be a path starting with "/", such as /github (got "b")',
      'hookq.yaml: routes[1].retry.maxAttempts: must be an integer >= 1 (got 0)',
    ]);
  });

  test('a YAML syntax error names the line', () => {
    const error = failure('server:\n  listen: "0.0.0.0:80"\nroutes: [\n  { name: a\n');
    assert.equal(error.key, '');
    assert.match(error.message, /^hookq\.yaml: line \d+, column \d+: invalid YAML: /);
    const duplicate = failure('routes: []\nroutes: []\n');
    assert.match(duplicate.message, /^hookq\.yaml: line 2, column 1: invalid YAML: .*unique/);
  });

  test('an unresolved alias is a YAML error', () => {
    assert.match(failure('routes: *nothing\n').message, /^hookq\.yaml: invalid YAML: .*nothing/);
  });

  test('an empty file says so', () => {
    assert.match(failure('# nothing yet\n').message, /^hookq\.yaml: the file is empty/);
  });

  const SECRET = 'hunter2-very-secret';
  const leaks: Array<[string, string, NodeJS.ProcessEnv?]> = [
    [
      'a verify secret of the wrong form',
      stringify(withRoute({ verify: { scheme: 'standard-webhooks', secret: SECRET } })),
    ],
    ['a signing secret of the wrong form', stringify(withRoute({ sign: { secret: SECRET } }))],
    [
      'a secret from the environment',
      stringify(withRoute({ sign: { secret: '${S}' } })),
      { S: SECRET },
    ],
    [
      'a storage url with a password',
      stringify(withRoute({}, { storage: { url: `mysql://u:${SECRET}@h/db` } })),
    ],
    [
      'a postgres url that does not parse',
      stringify(withRoute({}, { storage: { url: `postgres://u:${SECRET}@h:port/db` } })),
    ],
    ['a target with credentials', stringify(withRoute({ target: `gopher://u:${SECRET}@h/` }))],
    ['a YAML error on a secret line', `admin: { token: "${SECRET}" x }\nroutes: []\n`],
    [
      'a secret and a later problem',
      stringify(withRoute({ verify: { scheme: 'github', secret: SECRET, tolerance: 'x' } })),
    ],
  ];
  for (const [what, text, env] of leaks) {
    test(`never contain a secret: ${what}`, () => {
      const error = failure(text, env);
      assert.ok(!error.message.includes(SECRET), error.message);
      assert.ok(!String(error.stack).includes(SECRET));
    });
  }
});
