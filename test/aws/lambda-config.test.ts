import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ENV, loadLambdaConfig } from '../../src/aws/lambda-config.js';
import { ConfigError } from '../../src/core/errors.js';

const TARGET = 'https://app.example.com/webhook';
const SECRET = `whsec_${Buffer.from('hookq lambda signing key, 32 b.').toString('base64')}`;
const routes = (value: unknown) => ({ HOOKQ_ROUTES: JSON.stringify(value) });

/** The ConfigError a bad environment gives, checked to name `key` first. */
function rejection(env: Record<string, string>, key: string): string {
  try {
    loadLambdaConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.key, key);
    assert.ok(error.message.startsWith(`${key}: `), error.message);
    return error.message;
  }
  assert.fail(`expected a ConfigError naming ${key}`);
}

describe('Lambda configuration from the environment', () => {
  test('applies the defaults to a minimal HOOKQ_ROUTES', () => {
    assert.deepEqual(loadLambdaConfig(routes([{ name: 'approvals', target: TARGET }])), {
      routes: [
        {
          name: 'approvals',
          target: TARGET,
          groups: [],
          timeoutMs: 10_000,
          forwardHeaders: 'all',
          verify: undefined,
        },
      ],
      sign: undefined,
      deadlineMarginMs: 1_000,
      maxReceiveCount: undefined,
      logLevel: 'info',
    });
  });

  test('reads every variable, and route settings override the global ones', () => {
    const config = loadLambdaConfig({
      ...routes([
        { name: 'approvals', target: TARGET, groups: ['sss', 'sss-*'] },
        { name: 'github', target: TARGET, timeout: '2s', forwardHeaders: ['X-GitHub-Event'] },
      ]),
      HOOKQ_TIMEOUT: '30s',
      HOOKQ_FORWARD_HEADERS: 'Content-Type, X-Request-Id',
      HOOKQ_SIGNING_SECRET: SECRET,
      HOOKQ_DEADLINE_MARGIN: '250ms',
      HOOKQ_MAX_RECEIVE_COUNT: '5',
      HOOKQ_LOG_LEVEL: 'debug',
    });
    assert.deepEqual(config.routes, [
      {
        name: 'approvals',
        target: TARGET,
        groups: ['sss', 'sss-*'],
        timeoutMs: 30_000,
        forwardHeaders: ['content-type', 'x-request-id'],
        verify: undefined,
      },
      {
        name: 'github',
        target: TARGET,
        groups: [],
        timeoutMs: 2_000,
        forwardHeaders: ['x-github-event'],
        verify: undefined,
      },
    ]);
    assert.deepEqual(config.sign, { secret: SECRET });
    assert.equal(config.deadlineMarginMs, 250);
    assert.equal(config.maxReceiveCount, 5);
    assert.equal(config.logLevel, 'debug');
  });

  test('HOOKQ_ROUTES is required', () => {
    const message = rejection({}, 'HOOKQ_ROUTES');
    assert.match(message, /is required: a JSON list of routes, such as \[\{"name"/);
  });

  test('HOOKQ_ROUTES must be JSON, a list, and not empty', () => {
    assert.match(rejection({ HOOKQ_ROUTES: '[{name: x}]' }, 'HOOKQ_ROUTES'), /is not valid JSON/);
    assert.match(rejection(routes({ name: 'x' }), 'HOOKQ_ROUTES'), /must be a list of routes/);
    assert.match(rejection(routes([]), 'HOOKQ_ROUTES'), /at least one route/);
  });

  test('a bad route field is named with its index', () => {
    assert.match(
      rejection(routes([{ name: 'ok', target: TARGET }, { name: 'x' }]), 'HOOKQ_ROUTES[1].target'),
      /is required/,
    );
    assert.match(
      rejection(routes([{ name: 'a b', target: TARGET }]), 'HOOKQ_ROUTES[0].name'),
      /letters, digits/,
    );
    const url = rejection(
      routes([{ name: 'a', target: 'ftp://user:pw@host/x' }]),
      'HOOKQ_ROUTES[0].target',
    );
    assert.match(url, /http:\/\/ or https:\/\//);
    assert.ok(!url.includes('pw@host'), 'a URL may hold credentials: it is not repeated');
    assert.match(
      rejection(routes([{ name: 'a', target: TARGET, taget: 1 }]), 'HOOKQ_ROUTES[0].taget'),
      /unknown key \(did you mean "target"\?\)/,
    );
    assert.match(
      rejection(routes([{ name: 'a', target: TARGET, timeout: 10 }]), 'HOOKQ_ROUTES[0].timeout'),
      /duration with a unit/,
    );
    assert.match(
      rejection(
        routes([{ name: 'a', target: TARGET, groups: ['a*b'] }]),
        'HOOKQ_ROUTES[0].groups[0]',
      ),
      /only at its end/,
    );
    assert.match(
      rejection(
        routes([{ name: 'a', target: TARGET, forwardHeaders: ['ok', 'bad header'] }]),
        'HOOKQ_ROUTES[0].forwardHeaders[1]',
      ),
      /HTTP header name/,
    );
  });

  test('route names and groups must not be claimed twice', () => {
    assert.match(
      rejection(
        routes([
          { name: 'a', target: TARGET },
          { name: 'a', target: TARGET },
        ]),
        'HOOKQ_ROUTES[1].name',
      ),
      /also the name of route 0/,
    );
    assert.match(
      rejection(
        routes([
          { name: 'a', target: TARGET, groups: ['g'] },
          { name: 'b', target: TARGET, groups: ['g'] },
        ]),
        'HOOKQ_ROUTES[1].groups[0]',
      ),
      /also listed by route 0/,
    );
  });

  test('each other variable is checked and named', () => {
    const ok = routes([{ name: 'a', target: TARGET }]);
    assert.match(rejection({ ...ok, HOOKQ_TIMEOUT: '10' }, ENV.timeout), /duration such as/);
    assert.match(rejection({ ...ok, HOOKQ_TIMEOUT: '0s' }, ENV.timeout), /longer than 0/);
    assert.match(rejection({ ...ok, HOOKQ_TIMEOUT: '16m' }, ENV.timeout), /at most 15m/);
    assert.match(
      rejection({ ...ok, HOOKQ_FORWARD_HEADERS: 'content-type,,x' }, ENV.forwardHeaders),
      /item 2: must be an HTTP header name/,
    );
    assert.match(
      rejection({ ...ok, HOOKQ_DEADLINE_MARGIN: 'soon' }, ENV.deadlineMargin),
      /duration/,
    );
    assert.match(
      rejection({ ...ok, HOOKQ_MAX_RECEIVE_COUNT: '0' }, ENV.maxReceiveCount),
      /1 to 1000/,
    );
    assert.match(
      rejection({ ...ok, HOOKQ_LOG_LEVEL: 'loud' }, ENV.logLevel),
      /one of fatal, error/,
    );
  });

  test('a route’s verify is hookq.yaml’s verify section, read by the same rules', () => {
    const config = loadLambdaConfig(
      routes([
        { name: 'gh', target: TARGET, verify: { scheme: 'github', secret: 'it is a secret' } },
        {
          name: 'stripe',
          target: TARGET,
          verify: { scheme: 'stripe', secrets: ['whsec_old', 'whsec_new'], tolerance: '2m' },
        },
        {
          name: 'custom',
          target: TARGET,
          verify: { scheme: 'hmac-sha256', secret: 's', header: 'X-Signature', prefix: 'sha256=' },
        },
      ]),
    );
    assert.deepEqual(
      config.routes.map((route) => route.verify),
      [
        { scheme: 'github', secrets: ['it is a secret'] },
        { scheme: 'stripe', secrets: ['whsec_old', 'whsec_new'], toleranceMs: 120_000 },
        {
          scheme: 'hmac-sha256',
          secrets: ['s'],
          header: 'x-signature',
          encoding: 'hex',
          prefix: 'sha256=',
        },
      ],
    );
  });

  test('a bad verify section is refused at cold start, naming the key, never the secret', () => {
    const at = (verify: unknown) => routes([{ name: 'a', target: TARGET, verify }]);
    assert.match(
      rejection(at({ scheme: 'github' }), 'HOOKQ_ROUTES[0].verify.secret'),
      /is required/,
    );
    assert.match(
      rejection(at({ scheme: 'gitlab', secret: 's' }), 'HOOKQ_ROUTES[0].verify.scheme'),
      /github/,
    );
    assert.match(
      rejection(
        at({ scheme: 'github', secret: 's', tolerance: '1m' }),
        'HOOKQ_ROUTES[0].verify.tolerance',
      ),
      /not a setting of scheme github/,
    );
    const secret = 'not-base64-!!';
    const message = rejection(
      at({ scheme: 'standard-webhooks', secrets: ['whsec_b2s=', secret] }),
      'HOOKQ_ROUTES[0].verify.secrets[1]',
    );
    assert.match(message, /Standard Webhooks secret/);
    assert.ok(!message.includes(secret));
  });

  test('a bad signing secret is refused without being repeated', () => {
    const secret = 'not-a-whsec-secret-12345';
    const message = rejection(
      { ...routes([{ name: 'a', target: TARGET }]), HOOKQ_SIGNING_SECRET: secret },
      ENV.signingSecret,
    );
    assert.match(message, /"whsec_" followed by base64/);
    assert.ok(!message.includes(secret));
  });

  test('every problem is listed, one per line, the first one first', () => {
    try {
      loadLambdaConfig({ HOOKQ_TIMEOUT: 'x', HOOKQ_LOG_LEVEL: 'loud' });
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const lines = error.message.split('\n');
      assert.equal(lines.length, 3, error.message);
      assert.deepEqual(
        lines.map((line) => line.split(':')[0]),
        ['HOOKQ_TIMEOUT', 'HOOKQ_LOG_LEVEL', 'HOOKQ_ROUTES'],
      );
    }
  });
});
