import type { Command } from 'commander';
import { AdminClient } from './admin-client.js';
import { exitWith } from './common.js';
import { printJson } from './format.js';

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('enqueue a copy of a delivered message as a new message')
    .argument('<id>', 'message id')
    .option('--admin <url>', 'admin API URL (default: $HOOKQ_ADMIN_URL or http://127.0.0.1:8081)')
    .option('--json', 'print JSON for scripts')
    .action(async (id: string, options: { admin?: string; json?: boolean }) => {
      try {
        const result = await new AdminClient(options.admin).post<{
          messageId: string;
          sequence: string;
        }>(`/api/messages/${encodeURIComponent(id)}/replay`);
        if (options.json) return printJson(result);
        process.stdout.write(
          `replayed ${id} as ${result.messageId} (sequence ${result.sequence})\n`,
        );
      } catch (error) {
        exitWith(error);
      }
    });
}
