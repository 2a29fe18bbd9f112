import type { Command } from 'commander';
import {
  AdminClient,
  type AdminOptions,
  type BulkReplayed,
  type MessageCount,
  type Replayed,
  withAdminOptions,
} from './admin-client.js';
import { CliError, EXIT, withExitCodes } from './common.js';
import { printJson } from './format.js';
import { type FilterOptions, filterQuery, withFilterOptions } from './messages.js';
import { confirm, Progress } from './progress.js';

interface ReplayOptions extends AdminOptions, FilterOptions {
  yes?: boolean;
  json?: boolean;
  cursor?: string;
}

export function registerReplay(program: Command): void {
  withFilterOptions(
    withAdminOptions(
      program
        .command('replay')
        .description(
          'enqueue copies of delivered messages as new messages: one by id, or all of --route (and --group, --since, --until) in their original order',
        )
        .argument('[id]', 'message id'),
    ),
  )
    .option('-y, --yes', 'do not ask for confirmation of a replay by --route')
    .option(
      '--cursor <cursor>',
      'go on with a replay by --route that stopped, from the cursor it printed, without replaying what it did again',
    )
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (id: string | undefined, options: ReplayOptions) => {
        const client = await AdminClient.connect(options);
        if (id !== undefined) {
          if (
            options.route !== undefined ||
            options.group !== undefined ||
            options.cursor !== undefined
          ) {
            throw new CliError('give a message id or --route, not both', EXIT.usage);
          }
          const result = await client.post<Replayed>(
            `/api/messages/${encodeURIComponent(id)}/replay`,
          );
          if (options.json) return printJson(result);
          process.stdout.write(
            `replayed ${id} as ${result.messageId} (sequence ${result.sequence})\n`,
          );
          return;
        }
        if (options.route === undefined) {
          throw new CliError('give a message id, or --route to replay by filter', EXIT.usage);
        }
        if (options.error !== undefined) {
          throw new CliError(
            '--error does not apply: delivered messages have no error',
            EXIT.usage,
          );
        }
        const replayed = await replayByFilter(client, options);
        if (options.json) return printJson({ replayed });
        process.stdout.write(`replayed ${replayed} delivered message(s)\n`);
      }),
    );
}

/**
 * Count first, ask, then replay page by page with progress. Resuming from a cursor asks
 * without a count, since what is left after it cannot be counted.
 */
async function replayByFilter(client: AdminClient, options: ReplayOptions): Promise<number> {
  const filter = filterQuery(options);
  let total: number | undefined;
  if (options.cursor === undefined) {
    const { count } = await client.get<MessageCount>('/api/messages/count', {
      ...filter,
      state: 'delivered',
    });
    if (count === 0) return 0;
    total = count;
  }
  if (!options.yes) {
    await confirm(
      total === undefined
        ? `go on replaying the delivered messages of route ${options.route} as new messages, from where the replay stopped?`
        : `replay ${total} delivered message(s) of route ${options.route} as new messages?`,
      'replay',
    );
  }
  const progress = new Progress('replayed', !options.json);
  let replayed = 0;
  let cursor = options.cursor;
  do {
    let page: BulkReplayed;
    try {
      page = await client.post<BulkReplayed>('/api/replay', {
        route: filter.route,
        group: filter.group,
        since: filter.since,
        // Without one, the server bounds the walk by when it began (it never replays the
        // copies it makes), so a few delivered since the count may be replayed too.
        until: filter.until,
        cursor,
      });
    } catch (error) {
      progress.stop();
      throw stopped(error, replayed, cursor, options);
    }
    replayed += page.replayed;
    cursor = page.nextCursor ?? undefined;
    progress.update(replayed, Math.max(total ?? replayed, replayed));
  } while (cursor);
  progress.stop();
  return replayed;
}

/**
 * A replay the API stopped part of the way: what it did, and the command that goes on
 * from the first message it did not copy.
 */
function stopped(
  error: unknown,
  before: number,
  sent: string | undefined,
  options: ReplayOptions,
): unknown {
  if (!(error instanceof CliError) || typeof error.answer?.replayed !== 'number') return error;
  const replayed = before + error.answer.replayed;
  const from = typeof error.answer.nextCursor === 'string' ? error.answer.nextCursor : sent;
  const command = [
    'hookq replay --route',
    quoted(options.route!),
    ...(options.group === undefined ? [] : ['--group', quoted(options.group)]),
    ...(options.since === undefined ? [] : ['--since', quoted(options.since)]),
    ...(options.until === undefined ? [] : ['--until', quoted(options.until)]),
    ...(from === undefined ? [] : ['--cursor', from]),
  ].join(' ');
  return new CliError(
    `${error.message}; the replay stopped after ${replayed} copies. ${
      replayed === 0
        ? 'Nothing was replayed; run it again'
        : 'Go on from there, without replaying those again'
    }: ${command}`,
    error.exitCode,
  );
}

/** A value as one shell word. */
function quoted(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
