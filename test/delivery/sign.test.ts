import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import type { VerifyConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/core/errors.js';
import { signStandardWebhook } from '../../src/delivery/sign.js';
import { verifySignature } from '../../src/ingress/verify/index.js';

const SECRET = `whsec_${Buffer.from('hookq signing key, 32 bytes long').toString('base64')}`;
const MESSAGE_ID = '01J9Z7Q4V6W8X0Y2Z4A6B8C0D2';
const T = 1_750_000_000;
// Not valid UTF-8, so any text round trip of the body would change the signature.
const BODY = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x00, 0x22, 0x7d]);

describe('signStandardWebhook', () => {
  test('reproduces the Standard Webhooks specification’s test vector', () => {
    // github.com/standard-webhooks/standard-webhooks: the reference libraries' test vector.
    const headers = signStandardWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      Buffer.from('{"test": 2432232314}'),
    );
    assert.deepEqual(headers, {
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  test('signs "<id>.<timestamp>.<body>" with the base64-decoded secret', () => {
    // Computed here from the published format, not with hookq's helper.
    const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from(`${MESSAGE_ID}.${T}.`), BODY]))
      .digest('base64');
    assert.deepEqual(signStandardWebhook(SECRET, MESSAGE_ID, T, BODY), {
      'webhook-id': MESSAGE_ID,
      'webhook-timestamp': String(T),
      'webhook-signature': `v1,${expected}`,
    });
  });

  test('a secret without the whsec_ prefix gives the same signature', () => {
    const bare = SECRET.slice('whsec_'.length);
    assert.deepEqual(
      signStandardWebhook(bare, MESSAGE_ID, T, BODY),
      signStandardWebhook(SECRET, MESSAGE_ID, T, BODY),
    );
  });

  test('its output verifies with the standard-webhooks verifier', () => {
    const config: VerifyConfig = {
      scheme: 'standard-webhooks',
      secrets: [SECRET],
      toleranceMs: 5 * 60_000,
    };
    const headers: Record<string, string> = { ...signStandardWebhook(SECRET, MESSAGE_ID, T, BODY) };
    const lookup = (name: string) => headers[name];
    assert.deepEqual(verifySignature(config, lookup, BODY, T * 1000 + 1_000), { ok: true });

    const changed = Buffer.from(BODY);
    changed[2]! ^= 1;
    assert.deepEqual(verifySignature(config, lookup, changed, T * 1000), {
      ok: false,
      reason: 'signature does not match',
    });
  });

  test('each input changes the signature', () => {
    const base = signStandardWebhook(SECRET, MESSAGE_ID, T, BODY)['webhook-signature'];
    const other = `whsec_${Buffer.from('another key, thirty-two bytes...').toString('base64')}`;
    const variants = [
      signStandardWebhook(other, MESSAGE_ID, T, BODY),
      signStandardWebhook(SECRET, `${MESSAGE_ID}x`, T, BODY),
      signStandardWebhook(SECRET, MESSAGE_ID, T + 1, BODY),
      signStandardWebhook(SECRET, MESSAGE_ID, T, Buffer.concat([BODY, Buffer.from(' ')])),
    ];
    for (const variant of variants) assert.notEqual(variant['webhook-signature'], base);
  });

  test('a secret that is not base64 is refused with a ConfigError', () => {
    assert.throws(() => signStandardWebhook('whsec_not base64!', MESSAGE_ID, T, BODY), ConfigError);
    assert.throws(() => signStandardWebhook('whsec_', MESSAGE_ID, T, BODY), ConfigError);
  });

  test('a timestamp that is not whole seconds is refused', () => {
    for (const t of [1.5, -1, Number.NaN, T * 1000 * 1e6]) {
      assert.throws(() => signStandardWebhook(SECRET, MESSAGE_ID, t, BODY), RangeError);
    }
  });
});
