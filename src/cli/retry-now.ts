import type { Command } from 'commander';
import {
  AdminClient,
  type AdminOptions,
  type MessageSummary,
  type RetryNowResult,
  type Routes,
  withAdminOptions,
} from './admin-client.js';
import { CliError, EXIT, withExitCodes } from './common.js';
import { printJson } from './format.js';

interface RetryNowOptions extends AdminOptions {
  group?: string;
  id?: string;
  json?: boolean;
}

export function registerRetryNow(program: Command): void {
  withAdminOptions(
    program
      .command('retry-now')
      .description(
        "try a route's waiting messages now instead of at the end of their backoff, charging no attempt; a down target is probed now",
      )
      .argument('<route>', 'route name'),
  )
    .option('--group <group>', "only this group's waiting message")
    .option('--id <id>', 'only this message (it must head its group)')
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (route: string, options: RetryNowOptions) => {
        if (options.group !== undefined && options.id !== undefined) {
          throw new CliError('give --group or --id, not both', EXIT.usage);
        }
        const client = await AdminClient.connect(options);
        const only =
          options.group !== undefined
            ? { group: options.group }
            : options.id !== undefined
              ? { id: options.id }
              : {};
        const name = encodeURIComponent(route);
        // Read before the call: the probe it brings forward may heal the target at once.
        const down = await targetDown(client, route);
        const result = await client.post<RetryNowResult>(`/api/routes/${name}/retry-now`, only);
        const note =
          options.id !== undefined && result.due === 0
            ? await whyNot(client, route, options.id)
            : '';
        if (options.json) return printJson(result);
        const made = `${result.due} waiting ${result.due === 1 ? 'message' : 'messages'} made due now`;
        process.stdout.write(
          `${route}: ${made}${note}${down ? '; the target is down: the next probe goes now' : ''}\n`,
        );
      }),
    );
}

/**
 * Why a message given by id was not made due. An id that names nothing on this route is
 * not found, one that cannot wait for a retry is in the wrong state; a queued message
 * that is due already or waits behind an earlier one of its group is no error.
 */
async function whyNot(client: AdminClient, route: string, id: string): Promise<string> {
  const message = await client.find<MessageSummary>(`/api/messages/${encodeURIComponent(id)}`);
  if (message === null) throw new CliError(`no message ${id}`, EXIT.notFound);
  if (message.route !== route) {
    throw new CliError(`message ${id} is on route ${message.route}, not ${route}`, EXIT.notFound);
  }
  if (message.state !== 'queued') {
    throw new CliError(
      `message ${id} is ${message.state === 'inflight' ? 'in flight' : message.state}: only a queued message waits for a retry`,
      EXIT.conflict,
    );
  }
  return ` (${id} is due already, or waits behind an earlier message of its group)`;
}

/** Whether the route's target is down: then the breaker, not a backoff, holds the messages. */
async function targetDown(client: AdminClient, route: string): Promise<boolean> {
  const { routes } = await client.get<Routes>('/api/routes');
  return routes.find((r) => r.name === route)?.health.state === 'down';
}
