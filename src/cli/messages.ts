import type { Command } from 'commander';
import { MESSAGE_STATES } from '../core/terms.js';
import { parseDuration } from '../core/units.js';
import {
  AdminClient,
  type AdminOptions,
  type MessagePage,
  type MessageSummary,
  type MessageView,
  withAdminOptions,
} from './admin-client.js';
import { CliError, EXIT, withExitCodes } from './common.js';
import { clip, printJson, since, table } from './format.js';

/** The filters every message list, count and bulk replay of the CLI takes. */
export interface FilterOptions {
  route?: string;
  group?: string;
  since?: string;
  until?: string;
  error?: string;
}

interface ListOptions extends AdminOptions, FilterOptions {
  state?: string;
  limit: string;
  cursor?: string;
  all?: boolean;
  json?: boolean;
}

/** How a list command prints: which messages it lists and how a row reads. */
interface ListShape {
  /** The state every listed message is in, when the command fixes it. */
  state?: 'dead';
  /** What is printed when nothing matches. */
  none: string;
  head: string[];
  row(message: MessageSummary): Array<string | number>;
}

/** The columns that say which message a row is, first in every message table. */
export const WHICH = ['ID', 'ROUTE', 'GROUP', 'SEQ'];

export function which(m: MessageSummary): string[] {
  return [m.id, m.route, clip(m.group, 24), m.sequence];
}

export function registerMessages(program: Command): void {
  const messages = program
    .command('messages')
    .description('every message, in any state: list, show');
  listCommand(
    withAdminOptions(messages.command('list')).description(
      'list messages in (route, sequence) order',
    ),
    'hookq messages list',
    {
      none: 'no messages',
      head: [...WHICH, 'STATE', 'ATTEMPTS', 'AGE', 'LAST ERROR'],
      row: (m) => [...which(m), m.state, m.attempts, since(m.receivedAt), clip(m.lastError, 50)],
    },
  ).option('-s, --state <state>', `only messages in this state (${MESSAGE_STATES.join(', ')})`);
  showCommand(withAdminOptions(messages.command('show')));
}

/**
 * A list command: the filters, paging (a page, or --all) and a table or JSON. `dlq list`
 * is this with the state fixed to dead.
 */
export function listCommand(command: Command, name: string, shape: ListShape): Command {
  return withFilterOptions(command)
    .option('-n, --limit <n>', 'at most this many per page (1-1000)', '50')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--all', 'every page')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (options: ListOptions) => {
        const client = await AdminClient.connect(options);
        const items: MessageSummary[] = [];
        let cursor = options.cursor;
        do {
          const page = await client.get<MessagePage>('/api/messages', {
            ...filterQuery(options),
            state: shape.state ?? options.state,
            limit: options.limit,
            cursor,
          });
          items.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (options.all && cursor);
        if (options.json) return printJson({ items, nextCursor: cursor ?? null });
        if (items.length === 0) {
          process.stdout.write(`${shape.none}\n`);
          return;
        }
        process.stdout.write(`${table(shape.head, items.map(shape.row))}\n`);
        if (cursor) {
          // The hint must list the same messages from the same hookq, so it repeats where
          // the API is, the filters and the page size: it can be pasted as it is.
          const given = (flag: string, value: string | undefined) =>
            value === undefined ? [] : [flag, value];
          const next = [
            ...given('--config', options.config),
            ...given('--admin', options.admin),
            ...given('--route', options.route),
            ...given('--group', options.group),
            ...given('--state', shape.state === undefined ? options.state : undefined),
            ...given('--since', options.since),
            ...given('--until', options.until),
            ...given('--error', options.error),
            ...given('--limit', options.limit === '50' ? undefined : options.limit),
            '--cursor',
            cursor,
          ];
          process.stdout.write(`more: ${name} ${next.map(shellWord).join(' ')}  (or --all)\n`);
        }
      }),
    );
}

/** Adds the message filters to a command. */
export function withFilterOptions(command: Command): Command {
  return command
    .option('-r, --route <route>', 'only this route')
    .option('-g, --group <group>', 'only this group (of any route, or of --route)')
    .option(
      '--since <time>',
      'only messages received at or after this time: RFC 3339 (2026-12-01T09:30:00Z) or an age (30m, 2h, 7d)',
    )
    .option('--until <time>', 'only messages received before this time (as --since)')
    .option(
      '--error <text>',
      'only messages whose last error or dead-letter reason holds this text',
    );
}

/** The filters as the admin API takes them. */
export function filterQuery(options: FilterOptions): Record<string, string | undefined> {
  return {
    route: options.route,
    group: options.group,
    since: instant(options.since, '--since'),
    until: instant(options.until, '--until'),
    error: options.error,
  };
}

/** A time as RFC 3339, from RFC 3339 text or an age such as `2h` (that long ago). */
function instant(text: string | undefined, flag: string): string | undefined {
  if (text === undefined) return undefined;
  const ago = parseDuration(text);
  if (ago !== undefined) return new Date(Date.now() - ago).toISOString();
  // The API checks the form; here only what is plainly neither gets a hint.
  if (Number.isNaN(Date.parse(text))) {
    throw new CliError(
      `${flag}: ${JSON.stringify(text)} is neither an RFC 3339 time (2026-12-01T09:30:00Z) nor an age (30m, 2h, 7d)`,
      EXIT.usage,
    );
  }
  return text;
}

/** `show`: one message with headers, body and every attempt. */
export function showCommand(command: Command): Command {
  return command
    .description('one message: headers, body and every attempt')
    .argument('<id>', 'message id')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (id: string, options: AdminOptions & { json?: boolean }) => {
        const m = await (await AdminClient.connect(options)).get<MessageView>(
          `/api/messages/${encodeURIComponent(id)}`,
        );
        if (options.json) return printJson(m);
        const lines = [
          `id          ${m.id}`,
          `route       ${m.route}   group ${m.group}   sequence ${m.sequence}`,
          `state       ${m.state}${m.deadReason ? ` (${m.deadReason})` : ''}`,
          `attempts    ${m.attempts}${m.redrives ? `, redriven ${m.redrives} time(s)` : ''}`,
          `received    ${m.receivedAt}`,
          ...(m.lastError ? [`last error  ${m.lastError}`] : []),
          ...(m.replayOf ? [`replay of   ${m.replayOf}`] : []),
          '',
          'headers',
          ...m.headers.map(([name, value]) => `  ${name}: ${value}`),
          '',
          `body (${m.bodyBytes} bytes${m.bodyEncoding === 'base64' ? ', base64' : ''})`,
          indent(prettyBody(m)),
          '',
          'attempts',
          m.history.length === 0
            ? '  none yet'
            : table(
                ['#', 'STARTED', 'OUTCOME', 'STATUS', 'MS', 'ERROR / RESPONSE'],
                m.history.map((a) => [
                  a.number,
                  a.startedAt,
                  a.outcome,
                  a.status ?? '',
                  Math.round(a.durationMs),
                  // An HTTP error's text only repeats STATUS; what the target answered says why.
                  clip(a.responseExcerpt ?? a.error, 60),
                ]),
              ),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}

function prettyBody(m: MessageView): string {
  if (m.bodyEncoding === 'base64') return m.body;
  try {
    return JSON.stringify(JSON.parse(m.body), null, 2);
  } catch {
    return m.body;
  }
}

/** `text` as one word for a POSIX shell: quoted unless it is plainly safe. */
function shellWord(text: string): string {
  return /^[\w./:@%+=-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
