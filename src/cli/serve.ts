import type { Command } from 'commander';
import type { RunningHookq } from '../app.js';
import type { HookqConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { CliError, configPath, EXIT, exitWith, readConfig } from './common.js';

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
      // Signals are taken first: one that comes while hookq starts must stop it cleanly
      // once start-up is done, not kill it half-started (the default action of SIGTERM).
      let signalled: NodeJS.Signals | undefined;
      let log: Logger | undefined;
      let hookq: RunningHookq | undefined;
      let graceMs = 0;
      const stop = async (signal: NodeJS.Signals) => {
        log?.info(
          { signal, graceMs },
          'shutting down: no new webhooks, finishing attempts in flight',
        );
        try {
          await hookq?.close(graceMs);
          log?.info('stopped');
          process.exit(0);
        } catch (error) {
          log?.error({ err: error }, 'shutdown failed');
          process.exit(1);
        }
      };
      const onSignal = (signal: NodeJS.Signals) => {
        if (signalled) {
          log?.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        signalled = signal;
        // During start-up, start-up itself stops once it is done (below).
        if (hookq) void stop(signal);
        else log?.info({ signal }, 'signal during start-up: stopping once started');
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);

      // A bad configuration stops here, before any port is bound.
      let config: HookqConfig;
      try {
        config = await readConfig(options.config);
      } catch (error) {
        exitWith(error);
      }
      graceMs = Number(options.shutdownGrace) * 1000;
      if (!Number.isFinite(graceMs) || graceMs < 0) {
        exitWith(
          new Error(`--shutdown-grace must be a number of seconds, got "${options.shutdownGrace}"`),
        );
      }
      const { createLogger } = await import('../log.js');
      log = createLogger(options.logLevel);
      // Nothing is started yet: a signal so far needs no more than an exit.
      if (signalled) {
        log.info({ signal: signalled }, 'stopped before starting');
        process.exit(0);
      }
      log.info({ config: configPath(options.config) }, 'hookq is starting');
      const { startHookq } = await import('../app.js');
      try {
        hookq = await startHookq(config, { log });
      } catch (error) {
        // A busy port is not a bug of hookq: one line that says what to do, no stack.
        const busy = portInUse(error, config, configPath(options.config));
        if (busy) {
          log.fatal({ code: 'EADDRINUSE', port: busy.port, setting: busy.setting }, busy.message);
          exitWith(new CliError(busy.message, EXIT.failed));
        }
        log.fatal({ err: error }, 'hookq could not start');
        exitWith(error);
      }
      if (signalled) {
        await stop(signalled);
        return;
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
    });
}

/**
 * What to say when start-up failed because a listener's port is taken: which setting
 * names that port, and what to do about it. Undefined for any other failure.
 */
function portInUse(
  error: unknown,
  config: HookqConfig,
  file: string,
): { port: number; setting: string; message: string } | undefined {
  const e = error as NodeJS.ErrnoException & { port?: number };
  if (e?.code !== 'EADDRINUSE') return undefined;
  const port = typeof e.port === 'number' ? e.port : config.server.port;
  const setting =
    port === config.admin.port && port !== config.server.port ? 'admin.listen' : 'server.listen';
  return {
    port,
    setting,
    message: `port ${port} (${setting}) is in use: another hookq or another program listens there; stop it or change ${setting} in ${file}`,
  };
}
