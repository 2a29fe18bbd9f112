import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { RunningHookq } from '../../src/app.js';
import { type Answer, sample, send, storedMessage, storedMessages, withHookq } from './http.js';

// Signature verification through real HTTP (SPEC §3, §2.8). Signatures are computed here
// from each provider's published format with node:crypto, never with hookq's own code,
// so a mistake shared by signer and verifier cannot hide.

type Headers = Record<string, string>;

function hmac(key: string | Buffer, ...parts: Array<string | Buffer>): Buffer {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function whsec(text: string): string {
  return `whsec_${Buffer.from(text).toString('base64')}`;
}

interface Scheme {
  /** The route's `verify` section as written in hookq.yaml, without the secrets. */
  verify: { scheme: string } & Record<string, unknown>;
  /** Two secrets, for rotation; a signature with either must pass. */
  secrets: [string, string];
  /** A secret hookq does not know. */
  foreign: string;
  /** The headers a genuine sender puts on `body`, signed with `secret` at `timestamp`. */
  sign(secret: string, body: Buffer, timestamp: number): Headers;
  /** The header whose absence must be named in the refusal. */
  signatureHeader: string;
  /** Whether the scheme signs a timestamp, so stale requests can be refused. */
  timestamped: boolean;
}

const SCHEMES: Scheme[] = [
  {
    verify: { scheme: 'github' },
    secrets: ['gh-old', 'gh-new'],
    foreign: 'gh-other',
    sign: (secret, body) => ({
      'X-Hub-Signature-256': `sha256=${hmac(secret, body).toString('hex')}`,
    }),
    signatureHeader: 'X-Hub-Signature-256',
    timestamped: false,
  },
  {
    verify: { scheme: 'shopify' },
    secrets: ['shpss_old', 'shpss_new'],
    foreign: 'shpss_other',
    sign: (secret, body) => ({ 'X-Shopify-Hmac-Sha256': hmac(secret, body).toString('base64') }),
    signatureHeader: 'X-Shopify-Hmac-Sha256',
    timestamped: false,
  },
  {
    verify: { scheme: 'hmac-sha256', header: 'X-Signature', encoding: 'base64', prefix: 'v1=' },
    secrets: ['generic-old', 'generic-new'],
    foreign: 'generic-other',
    sign: (secret, body) => ({ 'X-Signature': `v1=${hmac(secret, body).toString('base64')}` }),
    signatureHeader: 'X-Signature',
    timestamped: false,
  },
  {
    verify: { scheme: 'stripe' },
    // Stripe uses the whole secret, prefix included, as the HMAC key.
    secrets: ['whsec_stripe_old', 'whsec_stripe_new'],
    foreign: 'whsec_stripe_other',
    sign: (secret, body, t) => ({
      'Stripe-Signature': `t=${t},v1=${hmac(secret, `${t}.`, body).toString('hex')}`,
    }),
    signatureHeader: 'Stripe-Signature',
    timestamped: true,
  },
  {
    verify: { scheme: 'standard-webhooks' },
    secrets: [whsec('standard webhooks old key'), whsec('standard webhooks new key')],
    foreign: whsec('someone else entirely'),
    sign: (secret, body, t) => {
      const id = `msg_${randomUUID()}`;
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      return {
        'webhook-id': id,
        'webhook-timestamp': String(t),
        'webhook-signature': `v1,${hmac(key, `${id}.${t}.`, body).toString('base64')}`,
      };
    },
    signatureHeader: 'webhook-signature',
    timestamped: true,
  },
  {
    verify: { scheme: 'slack' },
    secrets: ['slack-old', 'slack-new'],
    foreign: 'slack-other',
    sign: (secret, body, t) => ({
      'X-Slack-Request-Timestamp': String(t),
      'X-Slack-Signature': `v0=${hmac(secret, `v0:${t}:`, body).toString('hex')}`,
    }),
    signatureHeader: 'X-Slack-Signature',
    timestamped: true,
  },
];

/** A different body each time, not valid UTF-8, so content dedup never interferes. */
function freshBody(): Buffer {
  return Buffer.concat([
    Buffer.from(`{"id":"${randomUUID()}","x":"`),
    Buffer.from([0xff, 0x00, 0xfe]),
    Buffer.from('"}'),
  ]);
}

function refusedForSignature(answer: Answer, reason: RegExp): void {
  assert.equal(answer.status, 401, answer.text);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(answer.json ?? {}), ['error']);
  assert.match(String(answer.json?.error), reason);
}

for (const scheme of SCHEMES) {
  describe(`ingress verifies ${scheme.verify.scheme} signatures`, () => {
    const route = {
      name: 'signed',
      path: '/signed',
      verify: { ...scheme.verify, secrets: scheme.secrets },
    };
    const check = (body: (url: string, hookq: RunningHookq) => Promise<void>) =>
      withHookq({ routes: [route] }, (hookq) => body(`${hookq.ingressUrl}/signed`, hookq));
    /** Send `body` as a sender holding `secret` signs it at `at`. */
    const sendSigned = (url: string, body: Buffer, secret = scheme.secrets[0], at = nowSeconds()) =>
      send(url, { headers: scheme.sign(secret, body, at), body });

    test('a valid signature is accepted and the exact body stored', async () => {
      await check(async (url, hookq) => {
        const body = freshBody();
        const answer = await sendSigned(url, body);
        assert.equal(answer.status, 200, answer.text);
        const stored = await storedMessage(hookq, String(answer.json?.messageId));
        assert.deepEqual([...stored.body], [...body]);
      });
    });

    test('a signature made with the second secret is accepted (rotation)', async () => {
      await check(async (url, hookq) => {
        const body = freshBody();
        const answer = await sendSigned(url, body, scheme.secrets[1]);
        assert.equal(answer.status, 200, answer.text);
        assert.equal((await storedMessages(hookq, 'signed')).length, 1);
      });
    });

    test('refusals get 401 naming why, store nothing and are counted', async () => {
      await check(async (url, hookq) => {
        const body = freshBody();
        const t = nowSeconds();

        const foreign = await sendSigned(url, body, scheme.foreign, t);
        refusedForSignature(foreign, /signature does not match/);

        // Signed for one body, sent with another: the MAC must cover the bytes received.
        const tampered = Buffer.from(body);
        tampered[tampered.length - 3] = 0xfd;
        const swapped = await send(url, {
          headers: scheme.sign(scheme.secrets[0], body, t),
          body: tampered,
        });
        refusedForSignature(swapped, /signature does not match/);

        const unsigned = scheme.sign(scheme.secrets[0], body, t);
        delete unsigned[scheme.signatureHeader];
        refusedForSignature(
          await send(url, { headers: unsigned, body }),
          // Header names are case-insensitive; the generic scheme reports the lower-cased one.
          new RegExp(`missing ${scheme.signatureHeader} header`, 'i'),
        );
        refusedForSignature(await send(url, { body }), /missing .* header/);

        const garbled = scheme.sign(scheme.secrets[0], body, t);
        garbled[scheme.signatureHeader] = `${garbled[scheme.signatureHeader]}zz`;
        refusedForSignature(await send(url, { headers: garbled, body }), /malformed/);

        let refusals = 5;
        if (scheme.timestamped) {
          const stale = scheme.sign(scheme.secrets[0], body, t - 10 * 60);
          refusedForSignature(await send(url, { headers: stale, body }), /timestamp outside/);
          const early = scheme.sign(scheme.secrets[0], body, t + 10 * 60);
          refusedForSignature(await send(url, { headers: early, body }), /timestamp outside/);
          refusals += 2;
        }

        assert.equal((await storedMessages(hookq, 'signed')).length, 0);
        const text = await hookq.metrics.text();
        assert.equal(
          sample(text, 'hookq_messages_rejected_total{route="signed",reason="signature"}'),
          refusals,
        );
        assert.equal(sample(text, 'hookq_messages_received_total{route="signed"}'), 0);

        // The same body, correctly signed, is then accepted: nothing of the refusals was kept.
        const good = await sendSigned(url, body);
        assert.equal(good.status, 200, good.text);
        assert.equal(good.json?.duplicate, false);
      });
    });
  });
}
