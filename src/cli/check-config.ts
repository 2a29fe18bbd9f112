import type { Command } from 'commander';
import { formatDuration } from '../core/units.js';
import { describeLocation } from '../store/location.js';
import { configPath, readConfig, withExitCodes } from './common.js';

export function registerCheckConfig(program: Command): void {
  program
    .command('check-config')
    .description('validate the configuration file and print what it sets up')
    .option('-c, --config <file>', 'configuration file (default: $HOOKQ_CONFIG or ./hookq.yaml)')
    .action(
      withExitCodes(async (options: { config?: string }) => {
        const config = await readConfig(options.config);
        const lines = [
          `${configPath(options.config)} is valid.`,
          `  ingress  ${config.server.host}:${config.server.port}`,
          `  admin    ${config.admin.host}:${config.admin.port}${config.admin.token ? ' (token required)' : ' (no token: loopback only)'}`,
          `  storage  ${describeLocation(config.storage)}`,
          `  routes   ${config.routes.length}`,
        ];
        for (const route of config.routes) {
          const group = route.group === undefined ? 'route name' : JSON.stringify(route.group);
          const dedup =
            route.dedup.by === 'none'
              ? 'none'
              : `${route.dedup.by === 'header' ? `header ${route.dedup.header}` : 'content'} for ${formatDuration(route.dedup.windowMs)}`;
          lines.push(
            `    ${route.name}: POST ${route.path} -> ${route.target}`,
            `      ordering ${route.ordering}, group ${group}, dedup ${dedup}`,
            `      ${route.retry.maxAttempts} attempts, timeout ${formatDuration(route.delivery.timeoutMs)}, up to ${route.delivery.maxConcurrency} at once` +
              `${route.verify ? `, verify ${route.verify.scheme}` : ''}${route.sign ? ', signs deliveries' : ''}`,
          );
          // The origin only: a chat webhook's path is its credential.
          if (route.notify) {
            lines.push(
              `      alerts to ${new URL(route.notify.url).origin}, checked every ${formatDuration(route.notify.checkEveryMs)}`,
            );
          }
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }),
    );
}
