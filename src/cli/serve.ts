import type { Command } from 'commander';
import type { HookqConfig } from '../config/types.js';
import { configPath, exitWith, readConfig } from './common.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('receive webhooks, store them durably and deliver them to their targets')
    .option('-c, --config <file>', 'configuration file (default: $HOOKQ_CONFIG or ./hookq.yaml)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
    .option(
      '--shutdown-grace <seconds>',
      'on SIGTERM, how long attempts in flight may finish',
      '10',
    )
    .action(async (options: { config?: string; logLevel: string; shutdownGrace: string }) => {
      // A bad configuration stops here, before any port is bound.
      let config: HookqConfig;
      try {
        config = await readConfig(options.config);
      } catch (error) {
        exitWith(error);
      }
      const graceMs = Number(options.shutdownGrace) * 1000;
      if (!Number.isFinite(graceMs) || graceMs < 0) {
        exitWith(
          new Error(`--shutdown-grace must be a number of seconds, got "${options.shutdownGrace}"`),
        );
      }
      const { startHookq } = await import('../app.js');
      const { createLogger } = await import('../log.js');
      const log = createLogger(options.logLevel);
      let hookq: Awaited<ReturnType<typeof startHookq>>;
      try {
        hookq = await startHookq(config, { log });
      } catch (error) {
        log.fatal({ err: error }, 'hookq could not start');
        exitWith(error);
      }
      log.info(
        {
          config: configPath(options.config),
          ingress: hookq.ingressUrl,
          admin: hookq.adminUrl,
          storage: hookq.store.capabilities.location,
          routes: config.routes.map((route) => ({
            name: route.name,
            path: route.path,
            target: route.target,
          })),
        },
        'hookq is ready',
      );

      let stopping = false;
      const stop = async (signal: NodeJS.Signals) => {
        if (stopping) {
          log.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        stopping = true;
        log.info(
          { signal, graceMs },
          'shutting down: no new webhooks, finishing attempts in flight',
        );
        try {
          await hookq.close(graceMs);
          log.info('stopped');
          process.exit(0);
        } catch (error) {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        }
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
