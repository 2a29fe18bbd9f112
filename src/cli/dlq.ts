import { createInterface } from 'node:readline/promises';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import {
  AdminClient,
  type AdminOptions,
  type BlockedGroupPage,
  type MessagePage,
  type MessageSummary,
  type MessageView,
  type RedriveResult,
  withAdminOptions,
} from './admin-client.js';
import { CliError, EXIT, withExitCodes } from './common.js';
import { clip, printJson, since, table } from './format.js';

interface Common extends AdminOptions {
  json?: boolean;
}

/** Dead letters moved per call during a redrive by route or of all: one step of the progress bar. */
const REDRIVE_STEP = 1000;

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect and fix the dead-letter queue');
  const command = (name: string) => withAdminOptions(dlq.command(name));

  command('list')
    .description('list dead letters')
    .option('-r, --route <route>', 'only this route')
    .option('-g, --group <group>', 'only this group (of any route, or of --route)')
    .option('-n, --limit <n>', 'at most this many per page (1-1000)', '50')
    .option('--cursor <cursor>', 'the page after the one that printed this cursor')
    .option('--all', 'every page')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(
        async (
          options: Common & {
            route?: string;
            group?: string;
            limit: string;
            cursor?: string;
            all?: boolean;
          },
        ) => {
          const client = await AdminClient.connect(options);
          const items: MessageSummary[] = [];
          let cursor = options.cursor;
          do {
            const page = await client.get<MessagePage>('/api/messages', {
              state: 'dead',
              route: options.route,
              group: options.group,
              limit: options.limit,
              cursor,
            });
            items.push(...page.items);
            cursor = page.nextCursor ?? undefined;
          } while (options.all && cursor);
          if (options.json) return printJson({ items, nextCursor: cursor ?? null });
          if (items.length === 0) {
            process.stdout.write('no dead letters\n');
            return;
          }
          process.stdout.write(
            `${table(
              ['ID', 'ROUTE', 'GROUP', 'SEQ', 'ATTEMPTS', 'DEAD FOR', 'REASON', 'LAST ERROR'],
              items.map((m) => [
                m.id,
                m.route,
                clip(m.group, 24),
                m.sequence,
                m.attempts,
                since(m.finishedAt),
                clip(m.deadReason, 30),
                clip(m.lastError, 50),
              ]),
            )}\n`,
          );
          if (cursor) {
            // The hint must list the same messages from the same hookq, so it repeats where
            // the API is, the filters and the page size: it can be pasted as it is.
            const next = [
              ...(options.config === undefined ? [] : ['--config', options.config]),
              ...(options.admin === undefined ? [] : ['--admin', options.admin]),
              ...(options.route === undefined ? [] : ['--route', options.route]),
              ...(options.group === undefined ? [] : ['--group', options.group]),
              ...(options.limit === '50' ? [] : ['--limit', options.limit]),
              '--cursor',
              cursor,
            ];
            process.stdout.write(
              `more: hookq dlq list ${next.map(shellWord).join(' ')}  (or --all)\n`,
            );
          }
        },
      ),
    );

  command('show')
    .description('one message: headers, body and every attempt')
    .argument('<id>', 'message id')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (id: string, options: Common) => {
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

  command('redrive')
    .description('return dead letters to delivery, in their original order')
    .argument('[ids...]', 'message ids')
    .option('-r, --route <route>', 'every dead letter of this route')
    .option('-g, --group <group>', 'every dead letter of this group (with --route)')
    .option('--all', 'every dead letter of every route')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(
        async (
          ids: string[],
          options: Common & { route?: string; group?: string; all?: boolean },
        ) => {
          const chosen = [ids.length > 0, options.route !== undefined, options.all === true].filter(
            Boolean,
          ).length;
          if (chosen !== 1) {
            throw new CliError(
              'give message ids, or --route (with optional --group), or --all',
              EXIT.usage,
            );
          }
          const client = await AdminClient.connect(options);
          if (ids.length > 0) {
            const wanted = [...new Set(ids)];
            const { redriven, notRedriven } = await redriveIds(client, wanted, !options.json);
            // Some ids were not dead letters: a script must be able to tell, and a person
            // which ones.
            if (notRedriven.length > 0) {
              process.exitCode = EXIT.conflict;
              const why = notRedriven.map(
                ({ id, state }) => `  ${id}: ${state === null ? 'no such message' : state}\n`,
              );
              process.stderr.write(
                `error: ${notRedriven.length} of ${wanted.length} not redriven, as only dead letters can be:\n${why.join('')}`,
              );
            }
            if (options.json) return printJson({ moved: redriven.length, redriven, notRedriven });
            process.stdout.write(`redriven ${redriven.length} of ${wanted.length}\n`);
            return;
          }
          const selector = options.all
            ? { all: true }
            : { route: options.route, group: options.group };
          const moved = await redriveWithProgress(client, selector, !options.json);
          if (options.json) return printJson({ moved });
          process.stdout.write(`redriven ${moved} dead letter(s)\n`);
        },
      ),
    );

  command('discard')
    .description('delete dead letters for good (logged)')
    .argument('<ids...>', 'message ids')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (ids: string[], options: Common & { yes?: boolean }) => {
        if (!options.yes) await confirm(`discard ${ids.length} dead letter(s) for good?`);
        const client = await AdminClient.connect(options);
        const discarded: string[] = [];
        for (const id of ids) {
          await client.delete(`/api/messages/${encodeURIComponent(id)}`);
          discarded.push(id);
          if (!options.json) process.stdout.write(`discarded ${id}\n`);
        }
        if (options.json) printJson({ discarded });
      }),
    );

  command('blocked')
    .description('groups held by a dead letter (strict ordering), with that message')
    .usage('--route <route> [options]')
    .requiredOption('-r, --route <route>', 'route name (required)')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (options: Common & { route: string }) => {
        const client = await AdminClient.connect(options);
        const items: BlockedGroupPage['items'] = [];
        let cursor: string | undefined;
        do {
          const page = await client.get<BlockedGroupPage>('/api/groups/blocked', {
            route: options.route,
            limit: 1000,
            cursor,
          });
          items.push(...page.items);
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        if (options.json) return printJson({ items });
        if (items.length === 0) {
          process.stdout.write('no blocked groups\n');
          return;
        }
        process.stdout.write(
          `${table(
            ['GROUP', 'HELD BY', 'SEQ', 'BLOCKED FOR', 'LAST ERROR'],
            items.map((b) => [
              clip(b.group, 30),
              b.heldBy.id,
              b.heldBy.sequence,
              since(b.heldBy.finishedAt),
              clip(b.heldBy.lastError, 50),
            ]),
          )}\n`,
        );
        process.stdout.write(`fix: hookq dlq redrive <id>   or   hookq dlq discard <id>\n`);
      }),
    );
}

/**
 * Redrive ids one call each, so that what moved is known id by id, and look up every id
 * first to say why one cannot move. Oldest first: a message redriven by an earlier call
 * may be delivered before the next call, which must not be an older one of its group.
 */
async function redriveIds(
  client: AdminClient,
  ids: readonly string[],
  show: boolean,
): Promise<{ redriven: string[]; notRedriven: NotRedriven[] }> {
  const redriven: string[] = [];
  const notRedriven: NotRedriven[] = [];
  const found: MessageSummary[] = [];
  for (const id of ids) {
    const message = await find(client, id);
    if (message === null) notRedriven.push({ id, state: null });
    else found.push(message);
  }
  found.sort(
    (a, b) => a.route.localeCompare(b.route) || Number(BigInt(a.sequence) - BigInt(b.sequence)),
  );
  for (const { id, state } of found) {
    if (state !== 'dead') {
      notRedriven.push({ id, state });
      continue;
    }
    const { moved } = await client.post<RedriveResult>('/api/redrive', { ids: [id] });
    if (moved > 0) {
      redriven.push(id);
      if (show) process.stdout.write(`redriven ${id}\n`);
    } else {
      // Moved or discarded by someone else since it was looked up.
      notRedriven.push({ id, state: (await find(client, id))?.state ?? null });
    }
  }
  return { redriven, notRedriven };
}

/** An id that was not redriven, and its state: null when there is no such message. */
interface NotRedriven {
  id: string;
  state: string | null;
}

function find(client: AdminClient, id: string): Promise<MessageSummary | null> {
  return client.find<MessageSummary>(`/api/messages/${encodeURIComponent(id)}`);
}

/**
 * Redrive page by page so the operator sees progress: a bar on a terminal, a line per
 * step otherwise (logs, CI).
 */
async function redriveWithProgress(
  client: AdminClient,
  selector: object,
  show: boolean,
): Promise<number> {
  let moved = 0;
  let bar: SingleBar | undefined;
  // What was dead when the redrive began. Messages that die again meanwhile (the target
  // still fails) are not chased: that would never end.
  let total: number | undefined;
  for (;;) {
    const result = await client.post<RedriveResult>('/api/redrive', {
      ...selector,
      limit: Math.min(REDRIVE_STEP, total === undefined ? REDRIVE_STEP : total - moved),
    });
    moved += result.moved;
    total ??= moved + result.remaining;
    if (show && total > 0) {
      if (process.stderr.isTTY) {
        bar ??= new SingleBar({
          format: 'redriving [{bar}] {value}/{total} {percentage}% eta {eta_formatted}',
          stream: process.stderr,
        });
        if (!bar.isActive) bar.start(total, 0);
        bar.setTotal(total);
        bar.update(moved);
      } else {
        process.stderr.write(`redriven ${moved}/${total}\n`);
      }
    }
    if (result.moved === 0 || result.remaining === 0 || moved >= total) break;
  }
  bar?.stop();
  return moved;
}

async function confirm(question: string): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new CliError('no terminal to confirm on: pass --yes to discard', EXIT.usage);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not discarded', EXIT.failed);
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
