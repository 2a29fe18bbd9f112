import type { HookqConfig } from '../config/types.js';
import { ConfigError, HookqError } from '../core/errors.js';

/**
 * Exit codes scripts can rely on:
 * 0 success · 1 the operation failed · 2 bad usage or configuration · 3 not found ·
 * 4 conflict (the thing is in the wrong state) · 5 the server could not be reached or refused access.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  unreachable: 5,
} as const;

/** The configuration file: --config, else $HOOKQ_CONFIG, else ./hookq.yaml. */
export function configPath(option: string | undefined): string {
  return option ?? process.env.HOOKQ_CONFIG ?? 'hookq.yaml';
}

/**
 * Modules a command needs are loaded when it runs, not when the CLI starts: a client
 * command or --help should not pay for loading the server.
 */
export async function readConfig(option: string | undefined): Promise<HookqConfig> {
  const { loadConfig } = await import('../config/load-config.js');
  return loadConfig(configPath(option));
}

/** Print an error for a person and exit with the code that fits it. */
export function exitWith(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error:\n${error.message}\n`);
    process.exit(EXIT.usage);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  const exitCode = (error as { exitCode?: unknown } | undefined)?.exitCode;
  if (typeof exitCode === 'number') process.exit(exitCode);
  if (error instanceof HookqError) {
    if (error.code === 'not_found') process.exit(EXIT.notFound);
    if (error.code === 'conflict') process.exit(EXIT.conflict);
    if (error.code === 'bad_request') process.exit(EXIT.usage);
  }
  process.exit(EXIT.failed);
}

/** A URL a client on this machine can use for a listener bound to `host`. */
export function localUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
