import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import type { VerifyConfig } from '../../src/config/types.js';
import { verifySignature } from '../../src/ingress/verify/index.js';

// Signatures here are computed from each provider's published format with node:crypto
// directly, never with the code under test, so a shared mistake cannot hide.

const NOW_MS = Date.UTC(2025, 5, 1, 12, 0, 0);
const NOW_S = NOW_MS / 1000;
const TOLERANCE_MS = 5 * 60_000;
const TOLERANCE_S = TOLERANCE_MS / 1000;
const BODY = Buffer.from('{"event":"order.paid","id":"ord_42","amount":1999}');

type Headers = Record<string, string>;

function hmac(key: string | Buffer, ...parts: Array<string | Buffer>): Buffer {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

function lookup(headers: Headers): (lowerCaseName: string) => string | undefined {
  return (name) => {
    assert.equal(name, name.toLowerCase(), 'headers are looked up by lower-cased name');
    return headers[name];
  };
}

function verify(config: VerifyConfig, headers: Headers, body = BODY, nowMs = NOW_MS) {
  return verifySignature(config, lookup(headers), body, nowMs);
}

function withoutHeader(headers: Headers, name: string): Headers {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}

function standardSecret(text: string): string {
  return `whsec_${Buffer.from(text).toString('base64')}`;
}

interface SchemeCase {
  name: string;
  /** `toleranceMs` only matters to the schemes with a timestamp. */
  config(secrets: string[], toleranceMs?: number): VerifyConfig;
  /** Two secrets for rotation tests, and one that signs nothing the receiver accepts. */
  secrets: [string, string];
  foreignSecret: string;
  /** The MAC a genuine sender computes. */
  mac(secret: string, body: Buffer, timestampSeconds: number): Buffer;
  /** The headers a sender puts the MAC in (any bytes: tests pass wrong ones on purpose). */
  headers(mac: Buffer, timestampSeconds: number): Headers;
  /** Each required header (lower-cased) and the name the rejection reason should use. */
  required: Array<[header: string, display: string]>;
  /** The header that carries the signature, for malformed-value tests. */
  signatureHeader: string;
  /** The header that carries the timestamp, for schemes that have one. */
  timestampHeader?: string;
}

const CASES: SchemeCase[] = [
  {
    name: 'github',
    config: (secrets) => ({ scheme: 'github', secrets }),
    secrets: ['gh-old-secret', 'gh-new-secret'],
    foreignSecret: 'gh-someone-else',
    mac: (secret, body) => hmac(secret, body),
    headers: (mac) => ({ 'x-hub-signature-256': `sha256=${mac.toString('hex')}` }),
    required: [['x-hub-signature-256', 'X-Hub-Signature-256']],
    signatureHeader: 'x-hub-signature-256',
  },
  {
    name: 'shopify',
    config: (secrets) => ({ scheme: 'shopify', secrets }),
    secrets: ['shpss_old', 'shpss_new'],
    foreignSecret: 'shpss_other',
    mac: (secret, body) => hmac(secret, body),
    headers: (mac) => ({ 'x-shopify-hmac-sha256': mac.toString('base64') }),
    required: [['x-shopify-hmac-sha256', 'X-Shopify-Hmac-Sha256']],
    signatureHeader: 'x-shopify-hmac-sha256',
  },
  {
    name: 'hmac-sha256 (hex, with prefix)',
    config: (secrets) => ({
      scheme: 'hmac-sha256',
      secrets,
      header: 'x-webhook-signature',
      encoding: 'hex',
      prefix: 'sha256=',
    }),
    secrets: ['generic-old', 'generic-new'],
    foreignSecret: 'generic-other',
    mac: (secret, body) => hmac(secret, body),
    headers: (mac) => ({ 'x-webhook-signature': `sha256=${mac.toString('hex')}` }),
    required: [['x-webhook-signature', 'x-webhook-signature']],
    signatureHeader: 'x-webhook-signature',
  },
  {
    name: 'hmac-sha256 (base64, no prefix)',
    config: (secrets) => ({
      scheme: 'hmac-sha256',
      secrets,
      header: 'x-signature',
      encoding: 'base64',
      prefix: '',
    }),
    secrets: ['b64-old', 'b64-new'],
    foreignSecret: 'b64-other',
    mac: (secret, body) => hmac(secret, body),
    headers: (mac) => ({ 'x-signature': mac.toString('base64') }),
    required: [['x-signature', 'x-signature']],
    signatureHeader: 'x-signature',
  },
  {
    name: 'stripe',
    config: (secrets, toleranceMs = TOLERANCE_MS) => ({ scheme: 'stripe', secrets, toleranceMs }),
    secrets: ['whsec_stripeOld', 'whsec_stripeNew'],
    foreignSecret: 'whsec_stripeOther',
    mac: (secret, body, t) => hmac(secret, `${t}.`, body),
    headers: (mac, t) => ({ 'stripe-signature': `t=${t},v1=${mac.toString('hex')}` }),
    required: [['stripe-signature', 'Stripe-Signature']],
    signatureHeader: 'stripe-signature',
    timestampHeader: 'stripe-signature',
  },
  {
    name: 'slack',
    config: (secrets, toleranceMs = TOLERANCE_MS) => ({ scheme: 'slack', secrets, toleranceMs }),
    secrets: ['slack-old', 'slack-new'],
    foreignSecret: 'slack-other',
    mac: (secret, body, t) => hmac(secret, `v0:${t}:`, body),
    headers: (mac, t) => ({
      'x-slack-request-timestamp': String(t),
      'x-slack-signature': `v0=${mac.toString('hex')}`,
    }),
    required: [
      ['x-slack-signature', 'X-Slack-Signature'],
      ['x-slack-request-timestamp', 'X-Slack-Request-Timestamp'],
    ],
    signatureHeader: 'x-slack-signature',
    timestampHeader: 'x-slack-request-timestamp',
  },
  {
    name: 'standard-webhooks',
    config: (secrets, toleranceMs = TOLERANCE_MS) => ({
      scheme: 'standard-webhooks',
      secrets,
      toleranceMs,
    }),
    secrets: [
      standardSecret('old key of thirty-two bytes!!!!!'),
      standardSecret('new key, also 32 bytes long ...'),
    ],
    foreignSecret: standardSecret('a key that nobody configured ...'),
    mac: (secret, body, t) =>
      hmac(Buffer.from(secret.slice('whsec_'.length), 'base64'), `msg_2xYz.${t}.`, body),
    headers: (mac, t) => ({
      'webhook-id': 'msg_2xYz',
      'webhook-timestamp': String(t),
      'webhook-signature': `v1,${mac.toString('base64')}`,
    }),
    required: [
      ['webhook-id', 'webhook-id'],
      ['webhook-timestamp', 'webhook-timestamp'],
      ['webhook-signature', 'webhook-signature'],
    ],
    signatureHeader: 'webhook-signature',
    timestampHeader: 'webhook-timestamp',
  },
];

for (const c of CASES) {
  describe(`verifySignature: ${c.name}`, () => {
    const [oldSecret, newSecret] = c.secrets;
    const config = c.config([oldSecret]);
    const signed = (secret: string, body = BODY, t = NOW_S) => c.headers(c.mac(secret, body, t), t);

    test('a valid signature passes', () => {
      assert.deepEqual(verify(config, signed(oldSecret)), { ok: true });
    });

    test('a signature made with another secret fails', () => {
      assert.deepEqual(verify(config, signed(c.foreignSecret)), {
        ok: false,
        reason: 'signature does not match',
      });
    });

    test('a signature with one flipped bit fails', () => {
      const mac = c.mac(oldSecret, BODY, NOW_S);
      mac[mac.length - 1]! ^= 1;
      assert.deepEqual(verify(config, c.headers(mac, NOW_S)), {
        ok: false,
        reason: 'signature does not match',
      });
    });

    test('a body changed by one byte fails', () => {
      const changed = Buffer.from(BODY);
      changed[10]! ^= 1;
      assert.deepEqual(verify(config, signed(oldSecret), changed), {
        ok: false,
        reason: 'signature does not match',
      });
    });

    for (const [name, display] of c.required) {
      test(`a missing ${display} header fails`, () => {
        assert.deepEqual(verify(config, withoutHeader(signed(oldSecret), name)), {
          ok: false,
          reason: `missing ${display} header`,
        });
      });
    }

    test('with two secrets, a signature made with the second one passes', () => {
      const rotating = c.config([oldSecret, newSecret]);
      assert.deepEqual(verify(rotating, signed(newSecret)), { ok: true });
      assert.deepEqual(verify(rotating, signed(oldSecret)), { ok: true });
      assert.equal(verify(rotating, signed(c.foreignSecret)).ok, false);
      // Without the second secret configured, the same request is refused.
      assert.equal(verify(config, signed(newSecret)).ok, false);
    });

    test('a signature of the wrong length fails without throwing', () => {
      const mac = c.mac(oldSecret, BODY, NOW_S);
      for (const wrong of [mac.subarray(0, 31), mac.subarray(0, 16), Buffer.concat([mac, mac])]) {
        assert.deepEqual(verify(config, c.headers(wrong, NOW_S)), {
          ok: false,
          reason: 'signature does not match',
        });
      }
    });

    test('garbage after a valid signature fails', () => {
      const headers = signed(oldSecret);
      headers[c.signatureHeader] = `${headers[c.signatureHeader]}zz`;
      const result = verify(config, headers);
      assert.equal(result.ok, false);
    });

    test('malformed header values fail with a reason and never throw', () => {
      const values = [
        '',
        ' ',
        '=',
        ',',
        'v1=',
        'v1,',
        't=',
        'sha256=',
        'sha256=zz',
        'v0=',
        '\u0000',
      ];
      for (const value of [...values, '%'.repeat(10_000), 'x'.repeat(64)]) {
        const headers = { ...signed(oldSecret), [c.signatureHeader]: value };
        const result = verify(config, headers);
        assert.equal(result.ok, false, `accepted ${JSON.stringify(value.slice(0, 20))}`);
        assert.ok(!result.ok && result.reason.length > 0);
      }
    });

    test('the reason never reveals a secret or the expected signature', () => {
      const changed = Buffer.from(BODY);
      changed[0]! ^= 1;
      for (const body of [BODY, changed]) {
        const expected = c.mac(oldSecret, body, NOW_S);
        const result = verify(config, signed(c.foreignSecret), body);
        assert.ok(!result.ok);
        for (const text of [oldSecret, expected.toString('hex'), expected.toString('base64')]) {
          assert.ok(!result.reason.includes(text), result.reason);
        }
      }
    });

    if (c.timestampHeader !== undefined) {
      const timestampHeader = c.timestampHeader;
      const outside = { ok: false, reason: 'timestamp outside the 5m tolerance' };

      test('a stale timestamp fails, even with a valid signature', () => {
        assert.deepEqual(verify(config, signed(oldSecret, BODY, NOW_S - TOLERANCE_S - 1)), outside);
      });

      test('a future timestamp beyond the tolerance fails', () => {
        assert.deepEqual(verify(config, signed(oldSecret, BODY, NOW_S + TOLERANCE_S + 1)), outside);
      });

      test('timestamps inside the tolerance pass', () => {
        for (const t of [NOW_S - TOLERANCE_S, NOW_S - 60, NOW_S + 60, NOW_S + TOLERANCE_S]) {
          assert.deepEqual(verify(config, signed(oldSecret, BODY, t)), { ok: true }, `t=${t}`);
        }
      });

      test('the tolerance is the configured one', () => {
        const t = NOW_S - 90;
        assert.deepEqual(verify(c.config([oldSecret], 60_000), signed(oldSecret, BODY, t)), {
          ok: false,
          reason: 'timestamp outside the 1m tolerance',
        });
        assert.deepEqual(verify(c.config([oldSecret], 120_000), signed(oldSecret, BODY, t)), {
          ok: true,
        });
      });

      test('a timestamp that is not whole unix seconds fails', () => {
        for (const t of ['1e9', '-5', '12.5', 'soon', `${NOW_S}abc`]) {
          const mac = c.mac(oldSecret, BODY, NOW_S);
          const headers = c.headers(mac, NOW_S);
          if (timestampHeader === c.signatureHeader) {
            headers[timestampHeader] = headers[timestampHeader]!.replace(`t=${NOW_S}`, `t=${t}`);
          } else {
            headers[timestampHeader] = t;
          }
          const result = verify(config, headers);
          assert.ok(
            !result.ok && /malformed/.test(result.reason),
            `t=${t}: ${JSON.stringify(result)}`,
          );
        }
      });
    }
  });
}

describe('verifySignature: provider specifics', () => {
  const stripeConfig: VerifyConfig = {
    scheme: 'stripe',
    secrets: ['sk'],
    toleranceMs: TOLERANCE_MS,
  };
  const standardHeaders = (signature: string): Headers => ({
    'webhook-id': 'msg_1',
    'webhook-timestamp': String(NOW_S),
    'webhook-signature': signature,
  });

  test('github: the example from GitHub’s documentation passes', () => {
    // docs.github.com, "Validating webhook deliveries", testing the webhook payload validation.
    const config: VerifyConfig = { scheme: 'github', secrets: ["It's a Secret to Everybody"] };
    const headers = {
      'x-hub-signature-256':
        'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    };
    assert.deepEqual(verify(config, headers, Buffer.from('Hello, World!')), { ok: true });
    assert.equal(verify(config, headers, Buffer.from('Hello, World?')).ok, false);
  });

  test('github: the signature must carry its sha256= prefix', () => {
    const config: VerifyConfig = { scheme: 'github', secrets: ['s'] };
    const headers = { 'x-hub-signature-256': hmac('s', BODY).toString('hex') };
    assert.deepEqual(verify(config, headers), {
      ok: false,
      reason: 'malformed X-Hub-Signature-256 header',
    });
  });

  test('github: an upper-case hex signature passes', () => {
    const config: VerifyConfig = { scheme: 'github', secrets: ['s'] };
    const headers = {
      'x-hub-signature-256': `sha256=${hmac('s', BODY).toString('hex').toUpperCase()}`,
    };
    assert.deepEqual(verify(config, headers), { ok: true });
  });

  test('slack: the example from Slack’s documentation passes', () => {
    // api.slack.com, "Verifying requests from Slack".
    const body = Buffer.from(
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
    );
    const config: VerifyConfig = {
      scheme: 'slack',
      secrets: ['8f742231b10e8888abcd99yyyzzz85a5'],
      toleranceMs: TOLERANCE_MS,
    };
    const headers = {
      'x-slack-request-timestamp': '1531420618',
      'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    };
    assert.deepEqual(verify(config, headers, body, 1531420618_000 + 30_000), { ok: true });
  });

  test('stripe: the secret is the HMAC key verbatim, whsec_ prefix included', () => {
    const secret = 'whsec_c2VjcmV0'; // the part after whsec_ happens to be valid base64
    const config: VerifyConfig = { scheme: 'stripe', secrets: [secret], toleranceMs: TOLERANCE_MS };
    const verbatim = hmac(secret, `${NOW_S}.`, BODY).toString('hex');
    const decoded = hmac(Buffer.from('c2VjcmV0', 'base64'), `${NOW_S}.`, BODY).toString('hex');
    const withoutPrefix = hmac('c2VjcmV0', `${NOW_S}.`, BODY).toString('hex');
    assert.deepEqual(verify(config, { 'stripe-signature': `t=${NOW_S},v1=${verbatim}` }), {
      ok: true,
    });
    for (const wrong of [decoded, withoutPrefix]) {
      assert.equal(verify(config, { 'stripe-signature': `t=${NOW_S},v1=${wrong}` }).ok, false);
    }
  });

  test('stripe: any v1 entry may match, and v0 entries are ignored', () => {
    const good = hmac('sk', `${NOW_S}.`, BODY).toString('hex');
    const other = hmac('other', `${NOW_S}.`, BODY).toString('hex');
    const header = `t=${NOW_S},v1=${other},v1=${good},v0=${'ab'.repeat(32)}`;
    assert.deepEqual(verify(stripeConfig, { 'stripe-signature': header }), { ok: true });
    // A matching v0 alone is not enough: v0 is Stripe's test-mode scheme.
    assert.deepEqual(verify(stripeConfig, { 'stripe-signature': `t=${NOW_S},v0=${good}` }), {
      ok: false,
      reason: 'malformed Stripe-Signature header',
    });
  });

  test('stripe: a header without t= or without v1= is malformed', () => {
    const good = hmac('sk', `${NOW_S}.`, BODY).toString('hex');
    for (const header of [`v1=${good}`, `t=${NOW_S}`, `t=${NOW_S},t=${NOW_S},v1=${good}`]) {
      assert.deepEqual(verify(stripeConfig, { 'stripe-signature': header }), {
        ok: false,
        reason: 'malformed Stripe-Signature header',
      });
    }
  });

  test('standard-webhooks: the specification’s test vector passes', () => {
    // github.com/standard-webhooks/standard-webhooks, the reference libraries' test vector.
    const config: VerifyConfig = {
      scheme: 'standard-webhooks',
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      toleranceMs: TOLERANCE_MS,
    };
    const headers = {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    };
    const body = Buffer.from('{"test": 2432232314}');
    assert.deepEqual(verify(config, headers, body, 1614265330_000), { ok: true });
    // The id is part of the signed content.
    const otherId = { ...headers, 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJeK' };
    assert.equal(verify(config, otherId, body, 1614265330_000).ok, false);
  });

  test('standard-webhooks: any v1 entry may match, other versions are skipped', () => {
    const secret = standardSecret('thirty-two bytes of key material');
    const config: VerifyConfig = {
      scheme: 'standard-webhooks',
      secrets: [secret],
      toleranceMs: TOLERANCE_MS,
    };
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const good = hmac(key, `msg_1.${NOW_S}.`, BODY).toString('base64');
    const bad = hmac(Buffer.from('nope'), `msg_1.${NOW_S}.`, BODY).toString('base64');
    assert.deepEqual(
      verify(config, standardHeaders(`v1a,${'A'.repeat(88)} v1,${bad} v1,${good}`)),
      {
        ok: true,
      },
    );
    assert.deepEqual(verify(config, standardHeaders(`v2,${good}`)), {
      ok: false,
      reason: 'malformed webhook-signature header',
    });
  });

  test('standard-webhooks: a secret that is not base64 matches nothing and does not throw', () => {
    const config: VerifyConfig = {
      scheme: 'standard-webhooks',
      secrets: ['whsec_not base64!'],
      toleranceMs: TOLERANCE_MS,
    };
    const mac = hmac('whsec_not base64!', `msg_1.${NOW_S}.`, BODY).toString('base64');
    const headers = standardHeaders(`v1,${mac}`);
    assert.deepEqual(verify(config, headers), { ok: false, reason: 'signature does not match' });
  });

  test('hmac-sha256: a value without the configured prefix is malformed', () => {
    const config: VerifyConfig = {
      scheme: 'hmac-sha256',
      secrets: ['s'],
      header: 'x-sig',
      encoding: 'hex',
      prefix: 'sha256=',
    };
    const hex = hmac('s', BODY).toString('hex');
    assert.deepEqual(verify(config, { 'x-sig': `sha256=${hex}` }), { ok: true });
    assert.deepEqual(verify(config, { 'x-sig': hex }), {
      ok: false,
      reason: 'malformed x-sig header',
    });
  });

  test('base64 signatures pass with or without padding, but not url-safe', () => {
    const config: VerifyConfig = { scheme: 'shopify', secrets: ['s'] };
    // Pick a body whose MAC has '+' or '/' so the url-safe alphabet differs.
    let body = BODY;
    for (let i = 0; !/[+/]/.test(hmac('s', body).toString('base64')); i += 1) {
      body = Buffer.concat([BODY, Buffer.from(String(i))]);
    }
    const b64 = hmac('s', body).toString('base64');
    assert.deepEqual(verify(config, { 'x-shopify-hmac-sha256': b64 }, body), { ok: true });
    assert.deepEqual(verify(config, { 'x-shopify-hmac-sha256': b64.replace(/=+$/, '') }, body), {
      ok: true,
    });
    const urlSafe = b64.replaceAll('+', '-').replaceAll('/', '_');
    assert.equal(verify(config, { 'x-shopify-hmac-sha256': urlSafe }, body).ok, false);
  });

  test('with no secret configured, nothing passes', () => {
    const config: VerifyConfig = { scheme: 'github', secrets: [] };
    const headers = { 'x-hub-signature-256': `sha256=${hmac('', BODY).toString('hex')}` };
    assert.equal(verify(config, headers).ok, false);
  });
});
