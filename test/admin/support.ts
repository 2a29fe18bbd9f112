/**
 * What the admin tests share: hookq started in-process with an admin token and a
 * recording target, a small client for the admin API and readers of its answers,
 * webhook sending, and a reader for the Prometheus text.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import type { TestContext } from 'node:test';
import type { z } from 'zod';
import type { MessagePage, Routes } from '../../src/admin/schemas.js';
import { type RunningHookq, type StartOptions, startHookq } from '../../src/app.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { configFor, tempDir } from '../helpers/config.js';
import { type Behaviour, type Received, TestTarget } from '../helpers/target.js';
import { send } from '../ingress/http.js';

export const TOKEN = 'admin-token-0123456789';

export interface Started {
  hookq: RunningHookq;
  target: TestTarget;
  api: AdminApi;
}

/**
 * hookq on a fresh SQLite file with an admin token (unless `token: null`), its routes
 * pointing at one recording target unless they name their own; everything is closed
 * when the test ends, whatever happened.
 */
export async function startAdmin(
  t: TestContext,
  file: { routes: Array<Record<string, unknown>>; defaults?: unknown },
  options: { token?: string | null; behaviour?: Behaviour; start?: StartOptions } = {},
): Promise<Started> {
  const token = options.token === undefined ? TOKEN : options.token;
  const dir = tempDir('hookq-admin-');
  const target = await TestTarget.start(options.behaviour);
  let hookq: RunningHookq | undefined;
  t.after(async () => {
    try {
      await hookq?.close(1_000);
    } finally {
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const routes = file.routes.map((route) => ({ target: target.url, ...route }));
  hookq = await startHookq(
    configFor(dir, {
      admin: { listen: '127.0.0.1:0', ...(token === null ? {} : { token }) },
      routes,
      ...(file.defaults === undefined ? {} : { defaults: file.defaults }),
    }),
    options.start,
  );
  return { hookq, target, api: new AdminApi(hookq.adminUrl, token) };
}

/** One answer of the admin listener. `json` is undefined when the body is not JSON. */
export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

type Query = Record<string, string | number | undefined>;

/** The admin API as an operator's script calls it, with the bearer token by default. */
export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | null,
  ) {}

  get<T = Record<string, unknown>>(path: string, query: Query = {}): Promise<ApiAnswer<T>> {
    return this.call<T>('GET', withQuery(path, query));
  }

  post<T = Record<string, unknown>>(path: string, body?: unknown): Promise<ApiAnswer<T>> {
    return this.call<T>('POST', path, { body });
  }

  delete<T = Record<string, unknown>>(path: string): Promise<ApiAnswer<T>> {
    return this.call<T>('DELETE', path);
  }

  /**
   * Any call. `body` goes as JSON, `rawBody` as written (with a JSON content type);
   * `authorization` replaces the header (null: none at all).
   */
  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options: { body?: unknown; rawBody?: string; authorization?: string | null } = {},
  ): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = {};
    const authorization =
      options.authorization === undefined
        ? this.token === null
          ? null
          : `Bearer ${this.token}`
        : options.authorization;
    if (authorization !== null) headers.authorization = authorization;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json: json as T };
  }
}

function withQuery(path: string, query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  return params.size ? `${path}?${params}` : path;
}

/** Fail with the answer in the message unless it has this status. */
export function expectStatus<T>(answer: ApiAnswer<T>, status: number): ApiAnswer<T> {
  assert.equal(answer.status, status, `expected ${status}, got ${answer.status}: ${answer.text}`);
  return answer;
}

/** POST a webhook to ingress; returns the accepted message's id. */
export async function webhook(
  hookq: RunningHookq,
  path: string,
  body: string | Buffer,
  headers: OutgoingHttpHeaders = {},
): Promise<string> {
  const answer = await send(`${hookq.ingressUrl}${path}`, {
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? Buffer.from(body) : body,
  });
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json?.duplicate, false, answer.text);
  return String(answer.json?.messageId);
}

// The API's answers, typed by its own schemas.
type RoutesAnswer = z.output<typeof Routes>;
export type RouteAnswer = RoutesAnswer['routes'][number];
export type PageAnswer = z.output<typeof MessagePage>;
export type ErrorAnswer = { error: string; field?: string };

/** A route's retry setting under which the first failed attempt makes a dead letter. */
export const ONE_ATTEMPT = { maxAttempts: 1 };
/** A route's group setting: the group is the X-Group header. */
export const BY_HEADER = { header: 'X-Group' };

/** One route as GET /api/routes shows it; fails if it is missing. */
export async function routeView(api: AdminApi, name: string): Promise<RouteAnswer> {
  const answer = expectStatus(await api.get<RoutesAnswer>('/api/routes'), 200);
  const route = answer.json.routes.find((r) => r.name === name);
  assert.ok(route, `route ${name} missing from ${answer.text}`);
  return route;
}

/** One page of GET /api/messages. */
export async function list(
  api: AdminApi,
  query: Record<string, string | number>,
): Promise<PageAnswer> {
  return expectStatus(await api.get<PageAnswer>('/api/messages', query), 200).json;
}

/** A message's state as the store holds it; undefined once it is gone. */
export async function stateOf(started: Started, id: string): Promise<string | undefined> {
  return (await started.hookq.store.getMessage(id))?.state;
}

/** A target that fails bodies containing "poison" until `healthy` is set. */
export function poisonTarget() {
  const state = { healthy: false };
  const behaviour = (received: { body: Buffer }) =>
    !state.healthy && received.body.includes('poison')
      ? { status: 500, body: 'cannot take it' }
      : 200;
  return { state, behaviour };
}

/**
 * hookq with one route, `orders`, that tries each message once at a target rejecting
 * every attempt, and one message on it that is a dead letter already.
 */
export async function startWithDeadLetter(t: TestContext): Promise<Started & { dead: string }> {
  const started = await startAdmin(
    t,
    { routes: [{ name: 'orders', path: '/orders', retry: ONE_ATTEMPT }] },
    { behaviour: () => 500 },
  );
  const dead = await webhook(started.hookq, '/orders', '{"n":1}');
  await waitUntil('a dead letter', async () => (await stateOf(started, dead)) === 'dead');
  return { ...started, dead };
}

/** The message id of each request the target answered, in arrival order. */
export function messageIds(received: readonly Received[]): string[] {
  return received.map((r) => String(r.headers['hookq-message-id']));
}

/**
 * A URL where nothing listens: every attempt is refused. Under SPEC §5a a refused
 * attempt means the target is unavailable, which dead-letters nothing while the route
 * delivers nothing else: use `rejectingUrl` where a test needs dead letters.
 */
export async function refusingUrl(): Promise<string> {
  const target = await TestTarget.start();
  await target.close();
  return target.url;
}

/**
 * A target that answers every attempt with a rejection (`status`, 500 by default:
 * not one of the "unavailable" statuses of SPEC §5a), so each attempt counts toward
 * `retry.maxAttempts`. It closes when the test ends.
 */
export async function rejectingUrl(t: TestContext, status = 500): Promise<string> {
  const target = await TestTarget.start(() => ({ status, body: 'rejected' }));
  onEnd(t, () => target.close());
  return target.url;
}

/** One Prometheus sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The value of the series with exactly these labels; 0 when it is absent (prom-client
 * shows a labelled counter only once it has moved).
 */
export function seriesValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string>,
): number {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([key, value]) => s.labels[key] === value),
  );
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} appears ${found.length} times`);
  return found[0]?.value ?? 0;
}

/** Scrape /metrics as Prometheus does: no token. */
export async function scrape(api: AdminApi): Promise<Sample[]> {
  const answer = await api.call('GET', '/metrics', { authorization: null });
  assert.equal(answer.status, 200, answer.text);
  assert.match(String(answer.headers.get('content-type')), /^text\/plain/);
  return parseMetrics(answer.text);
}
