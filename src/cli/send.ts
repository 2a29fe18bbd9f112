import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT, localUrl, readConfig, withExitCodes } from './common.js';

interface SendOptions {
  config?: string;
  data: string;
  header: string[];
  url?: string;
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .description('send a webhook to a route, to try it out')
    .argument('<route>', 'route name from the configuration, or an ingress path such as /sqs-hook')
    .option('-d, --data <body>', 'the body: text, @file to read a file, or - for stdin', '')
    .option('-H, --header <header>', 'a request header "Name: value" (repeatable)', collect, [])
    .option('-c, --config <file>', 'configuration file (default: $HOOKQ_CONFIG or ./hookq.yaml)')
    .option('--url <url>', 'ingress base URL (default: $HOOKQ_URL, else from the configuration)')
    .action(
      withExitCodes(async (route: string, options: SendOptions) => {
        const url = await target(route, options);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        for (const line of options.header) {
          const colon = line.indexOf(':');
          if (colon <= 0) throw new Error(`--header must look like "Name: value", got "${line}"`);
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const { request } = await import('undici');
        const response = await request(url, { method: 'POST', headers, body: body(options.data) });
        const text = await response.body.text();
        process.stdout.write(`${response.statusCode} ${text}\n`);
        process.exitCode = response.statusCode < 300 ? EXIT.ok : EXIT.failed;
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function target(route: string, options: SendOptions): Promise<string> {
  const base = options.url ?? process.env.HOOKQ_URL;
  if (route.startsWith('/') && base) return new URL(route, base).toString();
  const config = await readConfig(options.config);
  const found = route.startsWith('/')
    ? config.routes.find((r) => r.path === route)
    : config.routes.find((r) => r.name === route);
  if (!found) {
    const names = config.routes.map((r) => r.name).join(', ');
    throw new Error(`no route "${route}" in the configuration (routes: ${names})`);
  }
  return new URL(found.path, base ?? localUrl(config.server.host, config.server.port)).toString();
}

function body(data: string): Buffer {
  if (data === '-') return readFileSync(0);
  if (data.startsWith('@')) return readFileSync(data.slice(1));
  return Buffer.from(data);
}
