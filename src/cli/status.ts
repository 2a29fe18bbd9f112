import type { Command } from 'commander';
import { AdminClient, type AdminOptions, withAdminOptions } from './admin-client.js';
import { exitWith } from './common.js';
import { age, printJson, table } from './format.js';

interface RouteView {
  name: string;
  path: string;
  target: string;
  paused: boolean;
  queued: number;
  inflight: number;
  deadLetter: number;
  blockedGroups: number;
  oldestAgeSeconds: number;
}

export function registerStatus(program: Command): void {
  withAdminOptions(
    program
      .command('status')
      .description('each route: queued, in flight, dead letters, blocked groups, oldest message'),
  )
    .option('--json', 'print JSON for scripts')
    .action(async (options: AdminOptions & { json?: boolean }) => {
      try {
        const { routes } = await (await AdminClient.connect(options)).get<{ routes: RouteView[] }>(
          '/api/routes',
        );
        if (options.json) return printJson({ routes });
        process.stdout.write(
          `${table(
            [
              'ROUTE',
              'STATE',
              'QUEUED',
              'IN FLIGHT',
              'DEAD',
              'BLOCKED',
              'OLDEST',
              'PATH -> TARGET',
            ],
            routes.map((r) => [
              r.name,
              r.paused ? 'paused' : 'delivering',
              r.queued,
              r.inflight,
              r.deadLetter,
              r.blockedGroups,
              r.queued + r.inflight > 0 ? age(r.oldestAgeSeconds) : '-',
              `${r.path} -> ${r.target}`,
            ]),
          )}\n`,
        );
      } catch (error) {
        exitWith(error);
      }
    });
}
