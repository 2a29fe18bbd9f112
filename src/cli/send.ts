import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError, EXIT, httpUrl, localUrl, readConfig, withExitCodes } from './common.js';
import { printJson } from './format.js';

interface SendOptions {
  config?: string;
  data?: string;
  header: string[];
  url?: string;
  json?: boolean;
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .description('send a webhook to a route, to try it out')
    .argument('<route>', 'route name from the configuration, or an ingress path such as /sqs-hook')
    .option(
      '-d, --data <body>',
      "the body (required): text, @file to read a file, or - for stdin; --data '' sends an empty body",
    )
    .option('-H, --header <header>', 'a request header "Name: value" (repeatable)', collect, [])
    .option('-c, --config <file>', 'configuration file (default: $HOOKQ_CONFIG or ./hookq.yaml)')
    .option('--url <url>', 'ingress base URL (default: $HOOKQ_URL, else from the configuration)')
    .option('--json', "print the ingress's answer as JSON for scripts")
    .action(
      withExitCodes(async (route: string, options: SendOptions) => {
        // An empty body is rarely what someone means: it is stored and delivered like any.
        if (options.data === undefined) {
          throw new CliError(
            "say what to send: --data TEXT|@FILE|- (to send an empty body, say --data '')",
            EXIT.usage,
          );
        }
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        for (const line of options.header) {
          const colon = line.indexOf(':');
          if (colon <= 0) {
            throw new CliError(`--header must look like "Name: value", got "${line}"`, EXIT.usage);
          }
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const payload = body(options.data);
        const url = await target(route, options);
        const { request } = await import('undici');
        let response: Awaited<ReturnType<typeof request>>;
        try {
          response = await request(url, { method: 'POST', headers, body: payload });
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          throw new CliError(
            `cannot reach hookq's ingress at ${url} (${reason}); is hookq serve running? Set --url, HOOKQ_URL or --config`,
          );
        }
        const text = await response.body.text();
        if (options.json) printJson({ status: response.statusCode, body: parsed(text) });
        else process.stdout.write(`${response.statusCode} ${text}\n`);
        process.exitCode = response.statusCode < 300 ? EXIT.ok : EXIT.failed;
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The ingress base URL given by hand (--url, else $HOOKQ_URL), checked. */
function givenBase(options: SendOptions): URL | undefined {
  if (options.url !== undefined) return httpUrl(options.url, '--url', 'http://127.0.0.1:8080');
  const env = process.env.HOOKQ_URL;
  return env === undefined ? undefined : httpUrl(env, 'HOOKQ_URL', 'http://127.0.0.1:8080');
}

async function target(route: string, options: SendOptions): Promise<string> {
  const base = givenBase(options);
  if (route.startsWith('/') && base) return new URL(route, base).toString();
  const config = await readConfig(options.config);
  const found = route.startsWith('/')
    ? config.routes.find((r) => r.path === route)
    : config.routes.find((r) => r.name === route);
  if (!found) {
    const names = config.routes.map((r) => r.name).join(', ');
    throw new CliError(
      `no route "${route}" in the configuration (routes: ${names})`,
      EXIT.notFound,
    );
  }
  return new URL(found.path, base ?? localUrl(config.server.host, config.server.port)).toString();
}

function body(data: string): Buffer {
  const file = data === '-' ? 0 : data.startsWith('@') ? data.slice(1) : undefined;
  if (file === undefined) return Buffer.from(data);
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : error instanceof Error
              ? error.message
              : String(error);
    const what = file === 0 ? 'standard input' : `the file "${file}"`;
    throw new CliError(`--data ${data}: cannot read ${what}: ${why}`, EXIT.usage);
  }
}

/** The ingress's answer: its JSON, else its text as it came. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
