/**
 * The OpenAPI document at /api/openapi.json held against the server: it lists exactly
 * the endpoints the admin listener serves, and every answer a real call gets (statuses,
 * media types, bodies) is one the document describes.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import packageJson from '../../package.json' with { type: 'json' };
import { Metrics } from '../../src/admin/metrics.js';
import { createAdmin } from '../../src/admin/server.js';
import { StorageUnavailableError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/log.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { waitUntil } from '../helpers/async.js';
import { configFor, tempDir } from '../helpers/config.js';
import {
  type AdminApi,
  type ApiAnswer,
  refusingUrl,
  startAdmin,
  TOKEN,
  webhook,
} from './support.js';

interface MediaType {
  schema: Record<string, unknown>;
}
interface Parameter {
  name: string;
  in: string;
  required: boolean;
  schema: Record<string, unknown>;
}
interface Operation {
  summary: string;
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { required: boolean; content: Record<string, MediaType> };
  responses: Record<string, { description: string; content: Record<string, MediaType> }>;
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  components: { securitySchemes: Record<string, unknown> };
  security: unknown[];
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const OPEN_PATHS = ['/healthz', '/metrics', '/readyz'];

async function fetchDocument(api: AdminApi): Promise<Document> {
  const answer = await api.get<Document>('/api/openapi.json');
  assert.equal(answer.status, 200, answer.text);
  return answer.json;
}

function operationsOf(document: Document) {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
  );
}

/** The served routes this document must list: the API and the health and metrics paths. */
function documentable(path: string): boolean {
  return path.startsWith('/api/') || OPEN_PATHS.includes(path);
}

/**
 * Every METHOD path the Fastify instance serves, read from its route tree
 * (`printRoutes`), with `:param` written as OpenAPI's `{param}`. HEAD is left out:
 * Fastify adds it to every GET by itself.
 */
function servedRoutes(tree: string): string[] {
  const served: string[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    if (line.trim() === '') continue;
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\))?$/.exec(line);
    assert.ok(match, `unexpected printRoutes line: ${JSON.stringify(line)}`);
    const depth = match[1]!.length / 4;
    prefixes.length = depth;
    const path = `${prefixes.join('')}${match[2]}`;
    prefixes.push(match[2]!);
    for (const method of (match[3] ?? '').split(', ').filter(Boolean)) {
      if (method !== 'HEAD') {
        served.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
      }
    }
  }
  return served;
}

test('the document is OpenAPI 3.1 with schemas that compile', async (t) => {
  const { api } = await startAdmin(t, { routes: [{ name: 'orders', path: '/orders' }] });
  const document = await fetchDocument(api);
  assert.match(document.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof document.info.title, 'string');
  assert.equal(document.info.version, packageJson.version);
  assert.deepEqual(document.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
  assert.deepEqual(document.security, [{ bearer: [] }]);

  const ajv = new Ajv2020({ strict: false });
  const operations = operationsOf(document);
  assert.ok(operations.length >= 13, `only ${operations.length} operations`);
  for (const { path, method, operation } of operations) {
    const what = `${method} ${path}`;
    assert.ok(path.startsWith('/'), what);
    assert.ok(METHODS.includes(method), what);
    assert.equal(typeof operation.summary, 'string', what);

    const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const parameters = operation.parameters ?? [];
    assert.deepEqual(
      parameters
        .filter((p) => p.in === 'path')
        .map((p) => p.name)
        .sort(),
      templated,
      `${what}: path parameters`,
    );
    for (const parameter of parameters) {
      assert.ok(['path', 'query'].includes(parameter.in), `${what} ${parameter.name}`);
      assert.equal(typeof parameter.required, 'boolean');
      if (parameter.in === 'path') assert.equal(parameter.required, true);
      ajv.compile(parameter.schema);
    }
    for (const media of Object.values(operation.requestBody?.content ?? {})) {
      ajv.compile(media.schema);
    }

    const statuses = Object.keys(operation.responses);
    assert.ok(
      statuses.some((s) => s.startsWith('2')),
      `${what} documents no success`,
    );
    for (const [status, response] of Object.entries(operation.responses)) {
      assert.match(status, /^[1-5][0-9][0-9]$/, what);
      assert.equal(typeof response.description, 'string', `${what} ${status}`);
      const media = Object.entries(response.content);
      assert.equal(media.length, 1, `${what} ${status}: one media type`);
      ajv.compile(media[0]![1].schema);
    }

    // Health and metrics are open (Prometheus and probes carry no token); everything
    // else carries the global bearer requirement and says it may answer 401.
    const open = OPEN_PATHS.includes(path);
    assert.equal(path.startsWith('/api/'), !open, what);
    if (open) {
      assert.deepEqual(operation.security, [], what);
      assert.ok(!statuses.includes('401'), what);
    } else {
      assert.equal(operation.security, undefined, what);
      assert.ok(statuses.includes('401'), `${what} does not document 401`);
    }
  }
});

test('the document lists exactly the endpoints the server serves', async (t) => {
  const dir = tempDir('hookq-openapi-');
  const config = configFor(dir, {
    routes: [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }],
  });
  const store = SqliteStore.open(join(dir, 'hookq.db'));
  const app = createAdmin({
    store,
    routes: config.routes,
    metrics: new Metrics(store, config.routes),
    log: silentLogger(),
    token: TOKEN,
    version: packageJson.version,
  });
  t.after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await app.ready();
  const answer = await app.inject({
    method: 'GET',
    url: '/api/openapi.json',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  assert.equal(answer.statusCode, 200, answer.body);
  const document = answer.json() as Document;

  const documented = operationsOf(document)
    .map(({ path, method }) => `${method.toUpperCase()} ${path}`)
    .sort();
  const served = servedRoutes(app.printRoutes({ commonPrefix: false }));
  assert.ok(served.includes('GET /api/messages/{id}'), `route tree not understood: ${served}`);
  assert.deepEqual(
    served.filter((route) => documentable(route.split(' ')[1]!)).sort(),
    documented,
    'served routes (actual) and documented operations (expected) differ',
  );
});

test('every documented answer is what a real call gets, and every real answer is documented', async (t) => {
  const started = await startAdmin(
    t,
    {
      routes: [
        {
          name: 'orders',
          path: '/orders',
          group: { header: 'X-Group' },
          retry: { maxAttempts: 1 },
        },
        // Refuses every connection: its target goes down, and its messages wait an hour
        // between attempts unless retry-now makes them due.
        {
          name: 'down',
          path: '/down',
          target: await refusingUrl(),
          group: { header: 'X-Group' },
          retry: { backoff: { initial: '1h', max: '1h' } },
          // No probe of its own meanwhile: one could hold a head in flight when the test
          // makes it due.
          delivery: { breaker: { probe: { initial: '1h', max: '1h' } } },
        },
      ],
    },
    { behaviour: (r) => (r.body.includes('poison') ? { status: 500, body: 'refused' } : 200) },
  );
  const { hookq, api } = started;
  const document = await fetchDocument(api);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validators = new Map<object, ValidateFunction>();
  const validate = (schema: object, value: unknown, what: string) => {
    let check = validators.get(schema);
    if (!check) {
      check = ajv.compile(schema);
      validators.set(schema, check);
    }
    assert.ok(check(value), `${what}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value)}`);
  };

  const stateOf = async (id: string) => (await hookq.store.getMessage(id))?.state;
  const delivered = await webhook(hookq, '/orders', '{"fine":1}', { 'x-group': 'X' });
  const binary = await webhook(hookq, '/orders', Buffer.from([0xff, 0x00, 0xfe]), {
    'x-group': 'X',
  });
  const dead: Record<string, string> = {};
  for (const group of ['A', 'B', 'C']) {
    dead[group] = await webhook(hookq, '/orders', `{"poison":"${group}"}`, { 'x-group': group });
    await webhook(hookq, '/orders', `{"after":"${group}"}`, { 'x-group': group });
  }
  const held: Record<string, string> = {};
  for (const group of ['P', 'Q', 'R']) {
    held[group] = await webhook(hookq, '/down', `{"held":"${group}"}`, { 'x-group': group });
  }
  const attemptsOf = async (id: string) => (await hookq.store.getMessage(id))?.history.length;
  await waitUntil('messages settled', async () => {
    const states = await Promise.all(
      [delivered, binary, ...Object.values(dead), ...Object.values(held)].map((id) => stateOf(id)),
    );
    const tries = await Promise.all(Object.values(held).map(attemptsOf));
    const health = await hookq.store.routeStats(['down']);
    return (
      states.join() === 'delivered,delivered,dead,dead,dead,queued,queued,queued' &&
      tries.join() === '1,1,1' &&
      health[0]?.health.state === 'down'
    );
  });

  const seen = new Set<string>();
  const queryUsed = new Map<string, Set<string>>();
  /**
   * One real call of a documented operation: its status must be documented for it, its
   * media type the documented one, and its body valid against the documented schema.
   */
  async function check(
    method: string,
    template: string,
    values: Record<string, string>,
    options: {
      query?: Record<string, string | number>;
      body?: unknown;
      authorization?: string | null;
    } = {},
  ): Promise<ApiAnswer> {
    const operation = document.paths[template]?.[method];
    assert.ok(operation, `${method} ${template} is not documented`);
    let path = template.replace(/\{(\w+)\}/g, (_, name: string) =>
      encodeURIComponent(values[name]!),
    );
    const query = options.query ?? {};
    if (Object.keys(query).length) {
      path += `?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`;
    }
    if (options.body !== undefined) {
      const media = operation.requestBody?.content['application/json'];
      assert.ok(media, `${method} ${template} documents no JSON body`);
      validate(media.schema, options.body, `${method} ${template} request body`);
    }
    const answer = await api.call(method.toUpperCase(), path, {
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
    });
    const what = `${method.toUpperCase()} ${path} → ${answer.status}`;
    const response = operation.responses[String(answer.status)];
    assert.ok(response, `${what} is not documented: ${answer.text}`);
    const [mediaType, media] = Object.entries(response.content)[0]!;
    const contentType = String(answer.headers.get('content-type')).split(';')[0]!.trim();
    assert.equal(contentType, mediaType, what);
    validate(media.schema, mediaType === 'application/json' ? answer.json : answer.text, what);
    seen.add(`${method} ${template} ${answer.status}`);
    if (answer.status < 300) {
      const used = queryUsed.get(`${method} ${template}`) ?? new Set<string>();
      for (const name of Object.keys(query)) used.add(name);
      queryUsed.set(`${method} ${template}`, used);
    }
    return answer;
  }

  const none = {};
  const id = (value: string) => ({ id: value });
  const route = { name: 'orders' };
  const missing = id('no-such-message');

  await check('get', '/api/openapi.json', none);
  // One route delivering into blocked groups, one whose target is down: every field of
  // the route view, null or not, is held against the document.
  const routes = await check('get', '/api/routes', none);
  const views = (routes.json as { routes: Array<Record<string, unknown>> }).routes;
  const health = (name: string) => views.find((view) => view.name === name)?.health;
  assert.deepEqual(
    views.map((view) => [view.name, view.state]),
    [
      ['orders', 'stuck'],
      ['down', 'stuck'],
    ],
  );
  assert.equal((health('down') as { state: string }).state, 'down');
  assert.ok(
    Object.values(health('down') as object).every((value) => value !== null),
    JSON.stringify(health('down')),
  );
  const first = await check('get', '/api/messages', none, {
    query: { route: 'orders', state: 'dead', limit: 1 },
  });
  const cursor = (first.json as { nextCursor: string | null }).nextCursor;
  assert.ok(cursor, 'three dead letters fill more than a page of one');
  await check('get', '/api/messages', none, {
    query: { route: 'orders', state: 'dead', limit: 1, cursor },
  });
  await check('get', '/api/messages', none, { query: { group: 'A' } });
  await check('get', '/api/messages', none, { query: { state: 'nope' } });
  await check('get', '/api/messages', none, { query: { route: 'no-such-route' } });
  const range = { since: '2000-01-01T00:00:00Z', until: '2100-01-01T00:00:00+01:00' };
  await check('get', '/api/messages', none, { query: { ...range, error: 'http' } });
  const counted = await check('get', '/api/messages/count', none, {
    query: { route: 'orders', state: 'dead', group: 'A', ...range, error: 'HTTP' },
  });
  assert.deepEqual(counted.json, { count: 1 });
  await check('get', '/api/messages/count', none, { query: { since: 'yesterday' } });
  await check('get', '/api/messages/count', none, { query: { route: 'no-such-route' } });
  await check('get', '/api/messages/{id}', id(delivered));
  await check('get', '/api/messages/{id}', id(binary));
  await check('get', '/api/messages/{id}', id(dead.A!));
  await check('get', '/api/messages/{id}', missing);

  const blocked = await check('get', '/api/groups/blocked', none, {
    query: { route: 'orders', limit: 1 },
  });
  const blockedCursor = (blocked.json as { nextCursor: string | null }).nextCursor;
  assert.ok(blockedCursor, 'three blocked groups fill more than a page of one');
  await check('get', '/api/groups/blocked', none, {
    query: { route: 'orders', limit: 1, cursor: blockedCursor },
  });
  await check('get', '/api/groups/blocked', none, { query: {} });
  await check('get', '/api/groups/blocked', none, { query: { route: 'no-such-route' } });

  await check('delete', '/api/messages/{id}', id(delivered));
  await check('delete', '/api/messages/{id}', missing);
  await check('delete', '/api/messages/{id}', id(dead.C!));
  await check('post', '/api/messages/{id}/replay', id(delivered));
  await check('post', '/api/messages/{id}/replay', missing);
  await check('post', '/api/messages/{id}/replay', id(dead.A!));
  // A group with nothing delivered: the bulk replay answers without adding messages.
  const bulk = await check('post', '/api/replay', none, {
    body: { route: 'orders', group: 'none' },
  });
  assert.deepEqual(bulk.json, { replayed: 0, nextCursor: null });
  // The storage refusing the copies: the answer says how many were made and where to go on.
  const replay = hookq.store.replay.bind(hookq.store);
  hookq.store.replay = () => Promise.reject(new StorageUnavailableError('the disk is full'));
  const refused = await check('post', '/api/replay', none, { body: { route: 'orders' } });
  hookq.store.replay = replay;
  assert.equal(refused.json.replayed, 0);
  await check('post', '/api/replay', none, { body: { route: 'orders', since: 'soon' } });
  await check('post', '/api/replay', none, { body: { route: 'no-such-route' } });
  await check('get', '/api/events', none, { query: { route: 'no-such-route' } });
  // A stream does not end: its answer is checked as it starts, then let go.
  const stream = new AbortController();
  const following = await fetch(`${hookq.adminUrl}/api/events?route=orders`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: stream.signal,
  });
  assert.equal(following.status, 200);
  assert.equal(following.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.ok(document.paths['/api/events']?.get?.responses['200']?.content['text/event-stream']);
  stream.abort();
  seen.add('get /api/events 200');
  queryUsed.set('get /api/events', new Set(['route']));
  await check('post', '/api/redrive', none, { body: { ids: [dead.B!] } });
  await check('post', '/api/redrive', none, { body: { route: 'orders', group: 'A', limit: 1 } });
  await check('post', '/api/redrive', none, { body: { all: true } });
  await check('post', '/api/redrive', none, { body: { group: 'A' } });
  await check('post', '/api/redrive', none, { body: { route: 'no-such-route' } });
  for (const action of ['pause', 'resume']) {
    await check('post', `/api/routes/{name}/${action}`, route);
    await check('post', `/api/routes/{name}/${action}`, { name: 'no-such-route' });
  }

  // Retry-now: one group's head, waiting an hour, goes now, as the probe of the target
  // that is down; the other groups keep waiting.
  const retryNow = '/api/routes/{name}/retry-now';
  const down = { name: 'down' };
  const one = await check('post', retryNow, down, { body: { group: 'P' } });
  assert.deepEqual(one.json, { route: 'down', due: 1 });
  await waitUntil('P tried again', async () => (await attemptsOf(held.P!)) === 2);
  assert.equal(await attemptsOf(held.Q!), 1, 'retry-now of one group moved another');
  const unknown = await check('post', retryNow, down, { body: { id: 'no-such-message' } });
  assert.equal(unknown.status, 404);
  const elsewhere = await check('post', retryNow, route, { body: { id: held.Q! } });
  assert.equal(elsewhere.status, 404, 'a message of another route');
  const notWaiting = await check('post', retryNow, route, { body: { id: delivered } });
  assert.equal(notWaiting.status, 409, 'a delivered message waits for nothing');
  const byId = await check('post', retryNow, down, { body: { id: held.Q! } });
  assert.deepEqual(byId.json, { route: 'down', due: 1 });
  await check('post', retryNow, down, { body: {} });
  await check('post', retryNow, route, { body: {} });
  // Valid for the schema, which cannot say "not both"; the server refuses it.
  const both = await check('post', retryNow, down, { body: { group: 'P', id: held.P! } });
  assert.equal(both.status, 400, both.text);
  assert.equal((both.json as { field?: string }).field, 'id', both.text);
  const nowhere = await check('post', retryNow, { name: 'no-such-route' }, { body: {} });
  assert.equal(nowhere.status, 404, nowhere.text);
  await check('get', '/healthz', none, { authorization: null });
  await check('get', '/metrics', none, { authorization: null });
  await check('get', '/readyz', none, { authorization: null });
  for (const { path, method, operation } of operationsOf(document)) {
    if (!operation.security) {
      await check(method, path, { id: delivered, name: 'orders' }, { authorization: null });
    }
  }
  // Last: storage taken away from the running listener.
  await hookq.store.close();
  await check('get', '/readyz', none, { authorization: null });

  const documented = operationsOf(document).flatMap(({ path, method, operation }) =>
    Object.keys(operation.responses).map((status) => `${method} ${path} ${status}`),
  );
  assert.deepEqual(
    documented.filter((answer) => !seen.has(answer)),
    [],
    'documented answers no call produced',
  );
  for (const { path, method, operation } of operationsOf(document)) {
    const names = (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    assert.deepEqual(
      [...(queryUsed.get(`${method} ${path}`) ?? [])].sort(),
      names.sort(),
      `${method} ${path}: documented query parameters not all accepted`,
    );
  }
});
