import type { Command } from 'commander';
import {
  AdminClient,
  type AdminOptions,
  type PauseState,
  withAdminOptions,
} from './admin-client.js';
import { withExitCodes } from './common.js';
import { printJson } from './format.js';

export function registerPause(program: Command): void {
  for (const paused of [true, false]) {
    const verb = paused ? 'pause' : 'resume';
    withAdminOptions(
      program
        .command(verb)
        .description(
          paused
            ? "stop a route's deliveries; webhooks are still accepted and queued"
            : "restart a route's deliveries",
        )
        .argument('<route>', 'route name'),
    )
      .option('--json', 'print JSON for scripts')
      .action(
        withExitCodes(async (route: string, options: AdminOptions & { json?: boolean }) => {
          const result = await (await AdminClient.connect(options)).post<PauseState>(
            `/api/routes/${encodeURIComponent(route)}/${verb}`,
          );
          if (options.json) return printJson(result);
          process.stdout.write(`${route}: deliveries ${result.paused ? 'paused' : 'resumed'}\n`);
        }),
      );
  }
}
