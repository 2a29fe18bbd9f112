/**
 * What the cluster tests share: a PostgreSQL schema of the test's own, a sender that
 * spreads webhooks over several instances and sends each one again until one of them
 * acknowledges it, and a target that counts how many requests of a group it holds at once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Agent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, type TestContext } from 'node:test';
import pg from 'pg';
import {
  assertFirstDeliveriesInOrder,
  type Delivery,
  errorCode,
  hookqHeaders,
  post,
} from '../e2e/support.js';
import { delay } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { routeConfig } from '../helpers/config.js';
import type { HookqServer } from '../helpers/hookq-process.js';
import { PG_URL, pgUrlWith, requirePostgres } from '../helpers/postgres.js';

/** Why the cluster tests cannot run here; with CI set, an unreachable database throws. */
export const pgSkip: string | false = (await requirePostgres())
  ? false
  : `PostgreSQL is not reachable at ${PG_URL}`;

/** Run `work` on a connection of its own (not hookq's), closed afterwards. */
export async function withPg<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Keep a connection open while the test file calling this runs. Before stopping the
 * server, the restart test waits until no other client is connected; without this, the
 * gap between two of the file's tests would look like a quiet server.
 */
export function holdPgDuringFile(name: string): void {
  let release: (() => Promise<void>) | undefined;
  before(async () => {
    if (!pgSkip) release = await holdPg(name);
  });
  after(() => release?.());
}

/** Open a connection of its own; resolves to the function that closes it. */
async function holdPg(name: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: PG_URL, application_name: name });
  client.on('error', () => undefined);
  await client.connect();
  return () => client.end().catch(() => undefined);
}

/**
 * A storage URL on a fresh schema, dropped when the test ends. Register it before the
 * processes using it, so that they are stopped first. The schema's name is also the
 * connections' application_name, which tells them apart in pg_stat_activity.
 */
export function pgStorage(t: TestContext): { url: string; schema: string } {
  const schema = `hookq_test_${randomBytes(6).toString('hex')}`;
  onEnd(t, () => withPg((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)));
  return { url: pgUrlWith({ schema, application_name: schema }), schema };
}

/** The configuration every instance runs with: routeConfig on a `pgStorage` URL. */
export function clusterConfig(
  t: TestContext,
  storageUrl: string,
  name: string,
  target: string,
  settings: Record<string, unknown>,
): string {
  return routeConfig(t, name, target, settings, { storage: { url: storageUrl } });
}

/** The admin URL a `hookq serve` process announced when it became ready. */
export function adminUrlOf(server: HookqServer): string {
  const ready = server.logs.find((entry) => entry.msg === 'hookq is ready');
  if (typeof ready?.admin !== 'string') throw new Error('hookq has not announced its admin URL');
  return ready.admin;
}

/** Ids of the messages a process logged as delivered, with whether the outcome was kept. */
export function deliveredBy(server: HookqServer): Array<{ id: string; kept: boolean }> {
  return server.logs
    .filter((entry) => entry.msg === 'delivered')
    .map((entry) => ({ id: String(entry.messageId), kept: entry.kept === true }));
}

// --- Sending ------------------------------------------------------------------------------

/** One webhook as its sender numbered it: the n-th of its group. */
export interface Webhook {
  group: string;
  n: number;
}

/** A webhook some instance answered with a 2xx and a message id. */
export interface Ack extends Webhook {
  id: string;
  /** When the acknowledging try was sent. */
  sentAt: number;
}

/** One try at sending a webhook: the answer, or the network error. */
export interface Send {
  url: string;
  sentAt: number;
  answeredAt: number;
  status: number | null;
  retryAfter: string | undefined;
  error?: string;
}

export function webhookKey(webhook: Webhook): string {
  return `${webhook.group}/${webhook.n}`;
}

/** The webhook a delivered body carries. */
export function webhookOf(body: Buffer): Webhook {
  return JSON.parse(body.toString('utf8')) as Webhook;
}

/**
 * Webhooks for `groups` groups (`{"group": "g3", "n": 17}`; hookq groups by the JSON
 * pointer /group), sent concurrently. Each group sends its next webhook only once the
 * previous one was acknowledged, so its own count gives the order hookq must keep. Every
 * try goes to the next URL in turn; a webhook that gets no 2xx is sent again, as a
 * provider does, and the content dedup answers a repeat of one already stored.
 */
export class Sender {
  /** By webhookKey. */
  readonly acknowledged = new Map<string, Ack>();
  readonly sends: Send[] = [];
  private sending = true;
  private turn = 0;
  private readonly loops: Array<Promise<void>>;

  constructor(
    private readonly options: {
      urls: readonly string[];
      groups: number;
      agent: Agent;
      /** Between a group's acknowledged webhook and its next one. */
      pauseMs: () => number;
      /** Before sending a webhook again. */
      retryMs: number;
    },
  ) {
    this.loops = Array.from({ length: options.groups }, (_, g) => this.sendGroup(`g${g}`));
  }

  /** Stop sending and wait for the tries under way; a webhook not yet acknowledged is dropped. */
  async stop(): Promise<void> {
    this.sending = false;
    await Promise.all(this.loops);
  }

  private async sendGroup(group: string): Promise<void> {
    for (let n = 0; this.sending; n++) {
      const body = JSON.stringify({ group, n });
      while (this.sending && !(await this.sendOnce(group, n, body))) {
        await delay(this.options.retryMs);
      }
      await delay(this.options.pauseMs());
    }
  }

  private async sendOnce(group: string, n: number, body: string): Promise<boolean> {
    const { urls, agent } = this.options;
    const send: Send = {
      url: urls[this.turn++ % urls.length]!,
      sentAt: Date.now(),
      answeredAt: 0,
      status: null,
      retryAfter: undefined,
    };
    this.sends.push(send);
    try {
      const reply = await post(send.url, body, {}, agent);
      send.status = reply.status;
      const retryAfter = reply.headers['retry-after'];
      send.retryAfter = Array.isArray(retryAfter) ? retryAfter.join(',') : retryAfter;
      const id = reply.json.messageId;
      if (reply.status < 200 || reply.status > 299 || id === undefined) return false;
      this.acknowledged.set(webhookKey({ group, n }), { group, n, id, sentAt: send.sentAt });
      return true;
    } catch (error) {
      send.error = errorCode(error);
      return false;
    } finally {
      send.answeredAt = Date.now();
    }
  }
}

/**
 * The target got what was sent: each webhook under one message id, the one it was
 * acknowledged with (a webhook sent again after a lost answer is a duplicate, not a second
 * message); per group, first deliveries in sequence order, which is also the order the
 * group's sender sent them in.
 */
export function assertDeliveredAsSent(
  received: readonly GroupDelivery[],
  acknowledged: ReadonlyMap<string, Ack>,
): void {
  const idOf = new Map<string, string>();
  const lastN = new Map<string, number>();
  for (const r of received) {
    const webhook = webhookOf(r.body);
    assert.equal(r.group, webhook.group);
    const key = webhookKey(webhook);
    const id = idOf.get(key) ?? acknowledged.get(key)?.id ?? r.id;
    assert.equal(r.id, id, `${key} delivered as ${r.id}, but it is ${id}`);
    if (idOf.has(key)) continue;
    idOf.set(key, r.id);
    assert.ok(
      webhook.n > (lastN.get(r.group) ?? -1),
      `${r.group}: webhook ${webhook.n} first delivered after ${lastN.get(r.group)}`,
    );
    lastN.set(r.group, webhook.n);
  }
  assertFirstDeliveriesInOrder(received);
}

// --- The target -----------------------------------------------------------------------------

/** A request the target got, with hookq's headers and the body. */
export interface GroupDelivery extends Delivery {
  body: Buffer;
}

/**
 * A recording target that answers 200 after `delayMs`, and counts per group the requests
 * it holds at the same moment. A request counts from its arrival until its answer is
 * written (hookq cannot have read the answer before) or its connection goes (the instance
 * that sent it died). Per-group FIFO across instances means the count never passes 1.
 */
export class GroupTarget {
  readonly received: Array<GroupDelivery & { status: number }> = [];
  /** Per group, the most requests held at once. */
  readonly mostAtOnce = new Map<string, number>();
  /** Requests that arrived while another of their group was held. */
  readonly overlaps: Array<{ group: string; id: string; at: number }> = [];
  private readonly holding = new Map<string, number>();
  private readonly server = createServer((request, response) => this.handle(request, response));
  private port = 0;

  private constructor(
    private readonly delayMs: () => number,
    private readonly fails: () => boolean,
  ) {}

  /** `fails`: whether to answer this request 500 (a rejection) rather than 200. */
  static async start(delayMs: () => number, fails = () => false): Promise<GroupTarget> {
    const target = new GroupTarget(delayMs, fails);
    target.server.listen(0, '127.0.0.1');
    await once(target.server, 'listening');
    target.port = (target.server.address() as AddressInfo).port;
    return target;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhook`;
  }

  /** Stop, cutting the connections that instances keep alive. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    return closed;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const at = Date.now();
    const headers = hookqHeaders(request);
    const held = (this.holding.get(headers.group) ?? 0) + 1;
    this.holding.set(headers.group, held);
    this.mostAtOnce.set(headers.group, Math.max(held, this.mostAtOnce.get(headers.group) ?? 0));
    if (held > 1) this.overlaps.push({ group: headers.group, id: headers.id, at });
    let holding = true;
    const release = () => {
      if (!holding) return;
      holding = false;
      this.holding.set(headers.group, this.holding.get(headers.group)! - 1);
    };
    response.on('close', release);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = this.fails() ? 500 : 200;
      this.received.push({ ...headers, at, body: Buffer.concat(chunks), status });
      setTimeout(() => {
        release();
        if (!response.destroyed) response.writeHead(status).end(status === 200 ? 'ok' : 'no');
      }, this.delayMs());
    });
  }
}
