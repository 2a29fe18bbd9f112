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
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (id: string | undefined, options: ReplayOptions) => {
        const client = await AdminClient.connect(options);
        if (id !== undefined) {
          if (options.route !== undefined || options.group !== undefined) {
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

/** Count first, ask, then replay page by page with progress. */
async function replayByFilter(client: AdminClient, options: ReplayOptions): Promise<number> {
  const filter = filterQuery(options);
  const { count } = await client.get<MessageCount>('/api/messages/count', {
    ...filter,
    state: 'delivered',
  });
  if (count === 0) return 0;
  if (!options.yes) {
    await confirm(
      `replay ${count} delivered message(s) of route ${options.route} as new messages?`,
      'replay',
    );
  }
  const progress = new Progress('replayed', !options.json);
  let replayed = 0;
  let cursor: string | undefined;
  do {
    const page = await client.post<BulkReplayed>('/api/replay', {
      route: filter.route,
      group: filter.group,
      since: filter.since,
      // Without one, the server bounds the walk by when it began (it never replays the
      // copies it makes), so a few delivered since the count may be replayed too.
      until: filter.until,
      cursor,
    });
    replayed += page.replayed;
    cursor = page.nextCursor ?? undefined;
    progress.update(replayed, Math.max(count, replayed));
  } while (cursor);
  progress.stop();
  return replayed;
}
