import type { Command } from 'commander';
import {
  AdminClient,
  type AdminOptions,
  type BlockedGroupPage,
  type MessageSummary,
  type RedriveResult,
  withAdminOptions,
} from './admin-client.js';
import { CliError, EXIT, withExitCodes } from './common.js';
import { clip, printJson, since, table } from './format.js';
import { listCommand, showCommand, WHICH, which } from './messages.js';
import { confirm, Progress } from './progress.js';

interface Common extends AdminOptions {
  json?: boolean;
}

/** Dead letters moved per call during a redrive by route or of all: one step of the progress bar. */
const REDRIVE_STEP = 1000;

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect and fix the dead-letter queue');
  const command = (name: string) => withAdminOptions(dlq.command(name));

  listCommand(command('list').description('list dead letters'), 'hookq dlq list', {
    state: 'dead',
    none: 'no dead letters',
    head: [...WHICH, 'ATTEMPTS', 'DEAD FOR', 'REASON', 'LAST ERROR'],
    row: (m) => [
      ...which(m),
      m.attempts,
      since(m.finishedAt),
      clip(m.deadReason, 30),
      clip(m.lastError, 50),
    ],
  });

  showCommand(command('show'));

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
        if (!options.yes)
          await confirm(`discard ${ids.length} dead letter(s) for good?`, 'discard');
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
    .description(
      'groups held by a dead letter (strict ordering), longest blocked first, with that message and how many messages wait behind it',
    )
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
            ['GROUP', 'WAITING', 'HELD BY', 'SEQ', 'BLOCKED FOR', 'LAST ERROR'],
            items.map((b) => [
              clip(b.group, 30),
              // Counting stops at the API's limit: past it, "10000+".
              `${b.waiting}${b.waitingCapped ? '+' : ''}`,
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

/** Redrive page by page so the operator sees progress. */
async function redriveWithProgress(
  client: AdminClient,
  selector: object,
  show: boolean,
): Promise<number> {
  let moved = 0;
  const progress = new Progress('redriven', show);
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
    progress.update(moved, total);
    if (result.moved === 0 || result.remaining === 0 || moved >= total) break;
  }
  progress.stop();
  return moved;
}
