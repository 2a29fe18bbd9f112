import type { Command } from 'commander';
import { AdminClient, type AdminOptions, type Replayed, withAdminOptions } from './admin-client.js';
import { withExitCodes } from './common.js';
import { printJson } from './format.js';

export function registerReplay(program: Command): void {
  withAdminOptions(
    program
      .command('replay')
      .description('enqueue a copy of a delivered message as a new message')
      .argument('<id>', 'message id'),
  )
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (id: string, options: AdminOptions & { json?: boolean }) => {
        const result = await (await AdminClient.connect(options)).post<Replayed>(
          `/api/messages/${encodeURIComponent(id)}/replay`,
        );
        if (options.json) return printJson(result);
        process.stdout.write(
          `replayed ${id} as ${result.messageId} (sequence ${result.sequence})\n`,
        );
      }),
    );
}
