import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT, exitWith } from './common.js';

interface DemoOptions {
  orders: string;
  events: string;
  release: string;
}

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

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'watch hookq keep webhooks safe while the application is being released: it fails, then recovers, and everything arrives in order',
    )
    .option('--orders <n>', 'message groups (orders) to send events for', '3')
    .option('--events <n>', 'events per order', '5')
    .option('--release <seconds>', 'how long the sample application answers 503', '3')
    .action(async (options: DemoOptions) => {
      try {
        process.exitCode = await runDemo(
          positive(options.orders, '--orders'),
          Math.min(positive(options.events, '--events'), STEPS.length),
          Number(options.release) * 1000,
        );
      } catch (error) {
        exitWith(error);
      }
    });
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${flag} must be a whole number of at least 1, got "${value}"`);
  return n;
}

async function runDemo(orders: number, events: number, releaseMs: number): Promise<number> {
  const { request } = await import('undici');
  const { stringify } = await import('yaml');
  const { startHookq } = await import('../app.js');
  const { parseConfig } = await import('../config/load-config.js');
  const dir = mkdtempSync(join(tmpdir(), 'hookq-demo-'));
  const started = Date.now();
  const at = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`;
  const print = (line: string) => process.stdout.write(`${at()}  ${line}\n`);

  const received = new Map<string, string[]>();
  let failures = 0;
  const app = await startSampleApp((order, step, attempt) => {
    const releasing = Date.now() - appStarted < releaseMs;
    if (releasing) {
      failures++;
      print(
        `app     503 ${order} ${step.padEnd(9)} (attempt ${attempt}: the app is being released)`,
      );
      return 503;
    }
    received.set(order, [...(received.get(order) ?? []), step]);
    print(`app     200 ${order} ${step.padEnd(9)} (attempt ${attempt})`);
    return 200;
  });
  const appStarted = Date.now();

  const config = parseConfig(
    stringify({
      server: { listen: '127.0.0.1:0' },
      storage: { url: `sqlite:${join(dir, 'hookq.db')}` },
      routes: [
        {
          name: 'orders',
          path: '/webhooks/orders',
          target: app.url,
          group: { json: '/order' },
          retry: {
            maxAttempts: 30,
            backoff: { initial: '250ms', max: '1s', multiplier: 2, jitter: 0.2 },
          },
          delivery: { timeout: '2s', maxConcurrency: 8 },
        },
      ],
    }),
    'demo.yaml',
    {},
    dir,
  );
  const hookq = await startHookq(config);
  try {
    print(
      `hookq   listening on ${hookq.ingressUrl}; the sample app answers 503 for ${releaseMs / 1000}s (a release)`,
    );
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
        });
        const answer = (await response.body.json()) as { sequence?: string };
        print(
          `sender  ${response.statusCode} ${order} ${STEPS[e]!.padEnd(9)} stored as #${answer.sequence}`,
        );
      }
    }
    print(`sender  ${orders * events} webhooks acknowledged; each was on disk before its 200`);

    const deadline = Date.now() + releaseMs + 60_000;
    const total = () => [...received.values()].reduce((sum, steps) => sum + steps.length, 0);
    while (total() < orders * events && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const inOrder = names.every((order) => {
      const got = received.get(order) ?? [];
      return got.length === events && got.every((step, i) => step === STEPS[i]);
    });
    process.stdout.write('\n');
    for (const order of names)
      process.stdout.write(`  ${order}: ${(received.get(order) ?? []).join(' → ')}\n`);
    process.stdout.write(
      `\n${total()} of ${orders * events} delivered after ${failures} failed attempts during the release; ` +
        `${inOrder ? 'every order received its events in order.' : 'ORDER OR DELIVERY PROBLEM: see above.'}\n`,
    );
    return total() === orders * events && inOrder ? EXIT.ok : EXIT.failed;
  } finally {
    await hookq.close();
    app.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The application behind hookq: answers what `decide` says for each event. */
async function startSampleApp(
  decide: (order: string, step: string, attempt: string) => number,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString()) as {
        order: string;
        event: string;
      };
      res.writeHead(decide(event.order, event.event, String(req.headers['hookq-attempt'])));
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook` };
}
