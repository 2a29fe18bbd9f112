import type { Command } from 'commander';
import {
  AdminClient,
  type AdminOptions,
  type Routes,
  type RouteView,
  withAdminOptions,
} from './admin-client.js';
import { withExitCodes } from './common.js';
import { age, clip, printJson, since, table } from './format.js';

export function registerStatus(program: Command): void {
  withAdminOptions(
    program
      .command('status')
      .description(
        'each route: what it is doing, queued, in flight, dead letters, blocked groups, oldest message, and any target that is down',
      ),
  )
    .option('--json', 'print JSON for scripts')
    .action(
      withExitCodes(async (options: AdminOptions & { json?: boolean }) => {
        const { routes } = await (await AdminClient.connect(options)).get<Routes>('/api/routes');
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
              stateOf(r),
              r.queued,
              r.inflight,
              r.deadLetter,
              r.blockedGroups,
              r.queued + r.inflight > 0 ? age(r.oldestAgeSeconds) : '-',
              `${r.path} -> ${r.target}`,
            ]),
          )}\n`,
        );
        // The table says that a target is down; why, and when hookq looks again, needs a
        // line of its own: an error text does not fit a column.
        const down = routes.filter((r) => r.health.state === 'down');
        if (down.length > 0) process.stdout.write(`\n${down.map(outageLine).join('\n')}\n`);
        const stale = routes.filter((r) => r.staleGroupsDropped > 0);
        if (stale.length > 0) process.stdout.write(`\n${stale.map(staleLine).join('\n')}\n`);
      }),
    );
}

/** The STATE cell: the API's word, and for a stuck route what holds it. */
function stateOf(route: RouteView): string {
  if (route.state !== 'stuck') return route.state;
  if (route.health.state === 'down') {
    return route.health.since === null
      ? 'stuck: target down'
      : `stuck: target down ${since(route.health.since)}`;
  }
  return 'stuck: groups blocked';
}

/** A route that had to drop group rows: the other groups went on, but someone must look. */
function staleLine(route: RouteView): string {
  return `${route.name}: ${route.staleGroupsDropped} group row(s) dropped that named no waiting message; the log line "dropped a group row" names the message to look at`;
}

/** `orders: target down for 3m12s: connect ECONNREFUSED …; next probe in 8s` */
function outageLine(route: RouteView): string {
  const { health } = route;
  const how = health.since === null ? 'target down' : `target down for ${since(health.since)}`;
  const why = health.lastError === null ? '' : `: ${clip(health.lastError, 100)}`;
  return `${route.name}: ${how}${why}; ${nextProbe(route)}`;
}

function nextProbe(route: RouteView): string {
  if (route.paused) return 'no probe while paused';
  // A probe is a waiting message's attempt: with none waiting, none goes.
  if (route.queued === 0) return 'the next message is the probe';
  const at = route.health.nextProbeAt;
  if (at === null) return 'no probe scheduled';
  const wait = (Date.parse(at) - Date.now()) / 1000;
  return wait < 1 ? 'next probe now' : `next probe in ${age(wait)}`;
}
