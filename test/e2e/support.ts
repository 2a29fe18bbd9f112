/**
 * What the end-to-end tests share: a plain HTTP sender, readers for hookq's headers, the
 * ordering checks every scenario repeats, and `hookq serve` stopped when a test ends.
 */
import assert from 'node:assert/strict';
import { type Agent, type OutgoingHttpHeaders, request } from 'node:http';
import type { TestContext } from 'node:test';
import { onEnd } from '../helpers/cleanup.js';
import { HookqServer } from '../helpers/hookq-process.js';
import type { Received } from '../helpers/target.js';

// --- Sending webhooks -------------------------------------------------------------------

/** Ingress's answer to one webhook. */
export interface Reply {
  status: number;
  json: { messageId?: string; sequence?: string; duplicate?: boolean; error?: string };
  headers: Record<string, string | string[] | undefined>;
}

/**
 * POST a webhook with node:http rather than fetch: fetch refuses to send some headers
 * (Connection) that the tests need to show are never forwarded. Rejects on network
 * errors (refused, reset); every request gives up after 10 s so no loop can hang.
 */
export function post(
  url: string,
  body: Buffer | string,
  headers: OutgoingHttpHeaders = {},
  agent?: Agent,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        agent,
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let json: Reply['json'] = {};
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Reply['json'];
          } catch {
            // Not JSON: the status is what counts.
          }
          resolve({ status: res.statusCode ?? 0, json, headers: res.headers });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The Node error code of a failed request (ECONNREFUSED, ECONNRESET, ...). */
export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
}

/** A message ingress accepted (a 200 with a sequence, not a duplicate). */
export interface Accepted {
  id: string;
  sequence: number;
  group: string;
  /** The sender's own count within the group: its order of sending. */
  n: number;
  body: Buffer;
}

export function accepted(reply: Reply, group: string, n: number, body: Buffer): Accepted {
  assert.equal(
    reply.status,
    200,
    `ingress answered ${reply.status}: ${JSON.stringify(reply.json)}`,
  );
  assert.equal(reply.json.duplicate, false);
  assert.ok(reply.json.messageId, 'no messageId');
  return { id: reply.json.messageId, sequence: Number(reply.json.sequence), group, n, body };
}

// --- Reading what the target got ----------------------------------------------------------

/** hookq's own headers on one forwarded request (SPEC §5). */
export interface HookqHeaders {
  id: string;
  group: string;
  sequence: number;
  attempt: number;
  route: string;
  receivedAt: string;
}

export function hookqHeaders(received: Pick<Received, 'headers'>): HookqHeaders {
  const one = (name: string): string => {
    const value = received.headers[name];
    assert.equal(typeof value, 'string', `${name} missing or repeated`);
    return value as string;
  };
  return {
    id: one('hookq-message-id'),
    group: decodeURIComponent(one('hookq-group-id')),
    sequence: Number(one('hookq-sequence')),
    attempt: Number(one('hookq-attempt')),
    route: one('hookq-route'),
    receivedAt: one('hookq-received-at'),
  };
}

/** A forwarded request the target answered with a 2xx: a delivery. */
export interface Delivery extends HookqHeaders {
  at: number;
}

/** Requests the target answered with a 2xx, read as deliveries (with their bodies). */
export function deliveriesIn(received: readonly Received[]): Array<Delivery & { body: Buffer }> {
  return received.map((r) => ({ ...hookqHeaders(r), at: r.at, body: r.body }));
}

/**
 * Per-group FIFO as the target saw it: within each group, the first delivery of each
 * message comes in increasing sequence order, so no message was first delivered after
 * a later one of its group. Repeats (at-least-once) are allowed here; callers check
 * when they may happen.
 */
export function assertFirstDeliveriesInOrder(deliveries: readonly Delivery[]): void {
  const seen = new Set<string>();
  const last = new Map<string, number>();
  for (const delivery of deliveries) {
    if (seen.has(delivery.id)) continue;
    seen.add(delivery.id);
    const key = `${delivery.route}\u0000${delivery.group}`;
    const previous = last.get(key);
    assert.ok(
      previous === undefined || delivery.sequence > previous,
      `group ${delivery.group} of ${delivery.route}: sequence ${delivery.sequence} first delivered after ${previous}`,
    );
    last.set(key, delivery.sequence);
  }
}

// --- Lifecycles -------------------------------------------------------------------------------

/**
 * Start `hookq serve` and stop it (SIGKILL if it is still up) when the test ends,
 * whatever happened in between.
 */
export async function serve(
  t: TestContext,
  configPath: string,
  extraArgs: string[] = [],
): Promise<{ server: HookqServer; ingressUrl: string; adminUrl: string | undefined }> {
  const started = await HookqServer.start(configPath, extraArgs);
  onEnd(t, () => started.server.stop('SIGKILL'));
  return started;
}

/** The log entries of a hookq process with this `msg`. */
export function logsSaying(server: HookqServer, msg: string): Array<Record<string, unknown>> {
  return server.logs.filter((entry) => entry.msg === msg);
}
