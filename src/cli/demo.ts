import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type Command, InvalidArgumentError } from 'commander';
import type { Routes, RouteView } from './admin-client.js';
import { EXIT, withExitCodes } from './common.js';

const STEPS = [
  'created',
  'paid',
  'packed',
  'shipped',
  'delivered',
  'reviewed',
  'returned',
  'refunded',
];

/**
 * A small retry budget on purpose: the release lasts many times longer than the backoff
 * of all its attempts, and still nothing may end in the dead-letter queue.
 */
const MAX_ATTEMPTS = 3;
const BACKOFF = { initialMs: 200, maxMs: 1000, multiplier: 2 };
/** Probes at most a second apart, so the demo does not sit idle after the release. */
const BREAKER = { after: 3, probe: { initial: '250ms', max: '1s' } };

/** Exit code of a demo stopped by Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it. */
const INTERRUPTED = 130;

interface DemoOptions {
  orders: number;
  events: number;
  release: number;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'watch hookq keep webhooks safe while the application is being released: it answers 503, then refuses connections, then comes back; nothing is dead-lettered and every order arrives in order',
    )
    .option(
      '--orders <n>',
      'message groups (orders) to send events for',
      wholeNumber('--orders', 1),
      3,
    )
    .option(
      '--events <n>',
      `events per order (at most ${STEPS.length})`,
      wholeNumber('--events', 1, STEPS.length),
      5,
    )
    .option(
      '--release <seconds>',
      'how long the sample application is away: half answering 503, half refusing connections',
      seconds,
      8,
    )
    .action(
      withExitCodes(async (options: DemoOptions) => {
        process.exitCode = await runDemo(options.orders, options.events, options.release * 1000);
      }),
    );
}

/** An option's parser: commander reports what it throws as bad usage (exit 2). */
function wholeNumber(
  flag: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} must be a whole number of at least ${min}.`);
    if (n > max)
      throw new InvalidArgumentError(
        `${flag} can be at most ${max}: the sample story of an order has ${STEPS.length} events (${STEPS.join(', ')}).`,
      );
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600)
    throw new InvalidArgumentError(
      '--release must be a number of seconds above 0 and at most 3600.',
    );
  return n;
}

async function runDemo(orders: number, events: number, releaseMs: number): Promise<number> {
  const { request } = await import('undici');
  const { stringify } = await import('yaml');
  const { startHookq } = await import('../app.js');
  const { parseConfig } = await import('../config/load-config.js');

  const dir = mkdtempSync(join(tmpdir(), 'hookq-demo-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  // Whatever ends the process while the demo runs (a second Ctrl-C, process.exit from a
  // failure elsewhere) still removes the folder; normally the finally below does.
  process.once('exit', removeDir);
  const interrupt = new AbortController();
  const onSignal = () => {
    // A second Ctrl-C does not wait for the orderly stop.
    if (interrupt.signal.aborted) process.exit(INTERRUPTED);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const { signal } = interrupt;

  const started = Date.now();
  const at = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  const print = (line: string) => process.stdout.write(`${at()}  ${line}\n`);

  const received = new Map<string, string[]>();
  let releasing = true;
  let app: SampleApp | undefined;
  let hookq: Awaited<ReturnType<typeof startHookq>> | undefined;
  try {
    const sample = await SampleApp.start((order, step, attempt) => {
      if (releasing) {
        print(`app     503 ${order} ${step.padEnd(9)} (attempt ${attempt}: being released)`);
        return 503;
      }
      received.set(order, [...(received.get(order) ?? []), step]);
      print(`app     200 ${order} ${step.padEnd(9)} (attempt ${attempt})`);
      return 200;
    });
    app = sample;

    const config = parseConfig(
      stringify({
        // Free ports, so the demo runs beside a hookq that already uses the usual ones.
        server: { listen: '127.0.0.1:0' },
        admin: { listen: '127.0.0.1:0' },
        storage: { url: `sqlite:${join(dir, 'hookq.db')}` },
        routes: [
          {
            name: 'orders',
            path: '/webhooks/orders',
            target: sample.url,
            group: { json: '/order' },
            retry: {
              maxAttempts: MAX_ATTEMPTS,
              backoff: {
                initial: `${BACKOFF.initialMs}ms`,
                max: `${BACKOFF.maxMs}ms`,
                multiplier: BACKOFF.multiplier,
                jitter: 0.2,
              },
            },
            delivery: { timeout: '2s', maxConcurrency: 8, breaker: BREAKER },
          },
        ],
      }),
      'demo.yaml',
      {},
      dir,
    );
    hookq = await startHookq(config);
    signal.throwIfAborted();
    const running = hookq;
    const api = async <T>(path: string): Promise<T> => {
      const response = await request(`${running.adminUrl}${path}`, { signal });
      if (response.statusCode !== 200)
        throw new Error(`the demo's admin API answered ${path} with ${response.statusCode}`);
      return (await response.body.json()) as T;
    };
    const route = async () =>
      (await api<Routes>('/api/routes')).routes.find((r) => r.name === 'orders')!;

    print(`hookq   listening on ${hookq.ingressUrl}, admin API on ${hookq.adminUrl}`);
    print(
      `hookq   retries a message ${MAX_ATTEMPTS} times at most, ${retryBudgetMs() / 1000}s of backoff in all; the release lasts ${releaseMs / 1000}s`,
    );
    print('app     release begins: the old version drains and answers 503');

    // The release runs on its own clock while webhooks arrive and hookq holds them.
    const release = (async () => {
      await delay(releaseMs / 2, undefined, { signal });
      await sample.stop();
      print('app     the old version has stopped: connections are refused');
      await delay(releaseMs / 2, undefined, { signal });
      releasing = false;
      await sample.start();
      print('app     the new version is up and answers 200');
    })();
    // Awaited below; this only keeps an early failure elsewhere from leaving it unhandled.
    release.catch(() => {});
    let delivered = false;
    const watching = watchTarget(route, print, signal, () => delivered);
    watching.catch(() => {});

    const names = Array.from(
      { length: orders },
      (_, i) => `order-${String.fromCharCode(65 + (i % 26))}${i >= 26 ? i : ''}`,
    );
    // Events of different orders interleave, as a provider would send them.
    for (let e = 0; e < events; e++) {
      for (const order of names) {
        const response = await request(`${hookq.ingressUrl}/webhooks/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ order, event: STEPS[e] }),
          signal,
        });
        const answer = (await response.body.json()) as { sequence?: string };
        print(
          `sender  ${response.statusCode} ${order} ${STEPS[e]!.padEnd(9)} stored as #${answer.sequence}`,
        );
      }
    }
    print(`sender  ${orders * events} webhooks acknowledged; each was on disk before its 200`);

    await release;
    const total = orders * events;
    const count = () => [...received.values()].reduce((sum, steps) => sum + steps.length, 0);
    const deadline = Date.now() + 60_000;
    let now = await route();
    while ((count() < total || now.queued + now.inflight > 0) && Date.now() < deadline) {
      await delay(50, undefined, { signal });
      now = await route();
    }
    delivered = true;
    await watching.catch(() => {});

    const inOrder = names.every((order) => {
      const got = received.get(order) ?? [];
      return got.length === events && got.every((step, i) => step === STEPS[i]);
    });
    const attempts = await deliveryCounts(running.adminUrl);
    process.stdout.write('\n');
    for (const order of names)
      process.stdout.write(`  ${order}: ${(received.get(order) ?? []).join(' → ')}\n`);
    process.stdout.write(
      `\nattempts: ${[...attempts].map(([outcome, n]) => `${n} ${outcome}`).join(', ')}\n` +
        `delivered: ${count()} of ${total}   dead letters: ${now.deadLetter}   in order: ${inOrder ? 'yes' : 'NO'}\n`,
    );
    const ok = count() === total && now.deadLetter === 0 && inOrder;
    process.stdout.write(
      ok
        ? `A ${releaseMs / 1000}s release, ${times(releaseMs / retryBudgetMs())} the retry budget, cost no webhook: attempts while the app was away are not charged.\n`
        : 'DELIVERY OR ORDER PROBLEM: see above.\n',
    );
    return ok ? EXIT.ok : EXIT.failed;
  } catch (error) {
    if (!signal.aborted) throw error;
    process.stderr.write('\ninterrupted: the demo stopped and removed its files\n');
    return INTERRUPTED;
  } finally {
    // The signal handlers stay until the folder is gone: a signal during the clean-up
    // must not end the process before it (the exit handler covers a second Ctrl-C).
    await hookq?.close(signal.aborted ? 0 : 2000);
    await app?.stop();
    removeDir();
    process.off('exit', removeDir);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The backoff a message waits out between its attempts, before it is dead-lettered. */
function retryBudgetMs(): number {
  let total = 0;
  for (let wait = BACKOFF.initialMs, i = 1; i < MAX_ATTEMPTS; i++, wait *= BACKOFF.multiplier)
    total += Math.min(wait, BACKOFF.maxMs);
  return total;
}

const times = (ratio: number) => `${ratio.toFixed(ratio < 10 ? 1 : 0)} times`;

/**
 * Narrate the breaker as the admin API shows it: down, each failed probe, up again. Once
 * `finished` says so it looks one last time without waiting: the held orders can all be
 * delivered between two looks, and the heal must still be told.
 */
async function watchTarget(
  route: () => Promise<RouteView>,
  print: (line: string) => void,
  signal: AbortSignal,
  finished: () => boolean,
): Promise<void> {
  let last = (await route()).health;
  for (;;) {
    const lastLook = finished();
    if (!lastLook) await delay(100, undefined, { signal });
    const { health } = await route();
    const nextIn = () =>
      health.nextProbeAt === null
        ? ''
        : `; next probe in ${Math.max(0, (Date.parse(health.nextProbeAt) - Date.now()) / 1000).toFixed(1)}s`;
    if (health.state === 'down' && last.state === 'up') {
      print(
        `hookq   target down after ${BREAKER.after} unavailable attempts (${health.lastError}): every order is held, one probe at a time${nextIn()}`,
      );
    } else if (health.state === 'down' && health.nextProbeAt !== last.nextProbeAt) {
      print(`hookq   probe failed (${health.lastError})${nextIn()}`);
    } else if (health.state === 'up' && last.state === 'down') {
      print('hookq   the probe got through: target up, the held orders are due at once');
    }
    last = health;
    if (lastLook) return;
  }
}

/** Delivery attempts by outcome, from hookq's own metrics. */
async function deliveryCounts(adminUrl: string): Promise<Map<string, number>> {
  const { request } = await import('undici');
  const text = await (await request(`${adminUrl}/metrics`)).body.text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(
    /^hookq_deliveries_total\{[^}]*outcome="([^"]+)"[^}]*\} (\d+)$/gm,
  )) {
    counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + Number(match[2]));
  }
  return counts;
}

/**
 * The application behind hookq: answers what `decide` says for each event. It can be
 * stopped (connections refused, as while a process restarts) and started again on the
 * same port.
 */
class SampleApp {
  private server: Server | undefined;
  private port = 0;

  private constructor(
    private readonly decide: (order: string, step: string, attempt: string) => number,
  ) {}

  static async start(
    decide: (order: string, step: string, attempt: string) => number,
  ): Promise<SampleApp> {
    const app = new SampleApp(decide);
    await app.start();
    return app;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/webhook`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString()) as {
          order: string;
          event: string;
        };
        res.writeHead(this.decide(event.order, event.event, String(req.headers['hookq-attempt'])));
        res.end();
      });
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stop listening and drop kept-alive connections: new attempts are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }
}
