import type { Command } from 'commander';
import { AdminClient, type AdminOptions, withAdminOptions } from './admin-client.js';
import { CliError, EXIT, withExitCodes } from './common.js';
import { clip } from './format.js';

/** An event of the admin API's stream, as its `data` line holds it. */
interface StreamEvent {
  type: string;
  at?: string;
  route?: string;
  messageId?: string;
  group?: string;
  sequence?: string;
  attempt?: number;
  status?: number | null;
  durationMs?: number;
  error?: string | null;
  next?: string;
  retryAt?: string | null;
  deadReason?: string | null;
  state?: string;
  count?: number;
}

export function registerTail(program: Command): void {
  withAdminOptions(
    program
      .command('tail')
      .description(
        'follow messages as they are accepted and attempted, live, until Ctrl-C (what this hookq instance sees)',
      ),
  )
    .option('-r, --route <route>', 'only this route')
    .option('--json', 'print each event as one line of JSON, for scripts')
    .action(
      withExitCodes(async (options: AdminOptions & { route?: string; json?: boolean }) => {
        const client = await AdminClient.connect(options);
        const body = await client.stream('/api/events', { route: options.route });
        process.stderr.write(
          `following ${options.route === undefined ? 'every route' : `route ${options.route}`} of ${client.baseUrl} (Ctrl-C to stop)\n`,
        );
        let buffered = '';
        body.setEncoding('utf8');
        for await (const chunk of body as AsyncIterable<string>) {
          buffered += chunk;
          // Events end with a blank line; a chunk may hold several, or part of one.
          for (;;) {
            const end = buffered.indexOf('\n\n');
            if (end < 0) break;
            const event = parseEvent(buffered.slice(0, end));
            buffered = buffered.slice(end + 2);
            if (event === null) continue;
            process.stdout.write(
              options.json ? `${JSON.stringify(event)}\n` : `${describeEvent(event)}\n`,
            );
          }
        }
        throw new CliError(`the admin API at ${client.baseUrl} ended the stream`, EXIT.unreachable);
      }),
    );
}

/** One server-sent event: its `event` and JSON `data` lines; null for a comment. */
function parseEvent(block: string): StreamEvent | null {
  let type: string | undefined;
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) type = line.slice('event: '.length);
    else if (line.startsWith('data: ')) data += line.slice('data: '.length);
  }
  if (type === undefined || data === '') return null;
  return { ...(JSON.parse(data) as object), type };
}

/** A line for people: the time, the route, what happened and to which message. */
export function describeEvent(event: StreamEvent): string {
  const time = event.at === undefined ? '' : event.at.slice(11, 23);
  const message = `${event.messageId}  group ${clip(event.group ?? '', 24)}  seq ${event.sequence}`;
  switch (event.type) {
    case 'accepted':
      return `${time}  ${event.route}  accepted   ${message}`;
    case 'attempt': {
      const how = `attempt ${event.attempt}  ${event.status ?? '-'}  ${event.durationMs} ms`;
      if (event.next === 'delivered')
        return `${time}  ${event.route}  delivered  ${message}  ${how}`;
      const why = clip(event.error ?? '', 60);
      if (event.next === 'dead') {
        return `${time}  ${event.route}  dead       ${message}  ${how}  ${why}  (${event.deadReason})`;
      }
      const next = event.retryAt ? `  next try ${event.retryAt.slice(11, 19)}` : '';
      return `${time}  ${event.route}  retry      ${message}  ${how}  ${why}${next}`;
    }
    case 'target':
      return event.state === 'down'
        ? `${time}  ${event.route}  target down: ${clip(event.error ?? '', 80)}`
        : `${time}  ${event.route}  target up again`;
    case 'missed':
      return `(${event.count} event(s) missed: this terminal read too slowly)`;
    default:
      return `${time}  ${event.type}`;
  }
}
