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

type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * A command's failure, with the exit code a script can rely on. Commands throw this for
 * what they find wrong themselves; what the admin API answers becomes one in the client.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
    /** The admin API's answer, when it refused: what it says besides `error`. */
    readonly answer?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The exit code of each HookqError code a command can end with; any other fails (1). */
const EXIT_OF_CODE: Readonly<Record<string, ExitCode>> = {
  config_invalid: EXIT.usage,
  bad_request: EXIT.usage,
  not_found: EXIT.notFound,
  conflict: EXIT.conflict,
};

/**
 * The exit code of an admin API answer's status: the HTTP side of the same table. A
 * refused token is "refused access" (5), like an API that cannot be reached.
 */
const EXIT_OF_STATUS: Readonly<Record<number, ExitCode>> = {
  400: EXIT.usage,
  401: EXIT.unreachable,
  404: EXIT.notFound,
  409: EXIT.conflict,
};

export function exitCodeOfStatus(status: number): ExitCode {
  return EXIT_OF_STATUS[status] ?? EXIT.failed;
}

/** The exit code that fits an error a command ends with. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof HookqError) return EXIT_OF_CODE[error.code] ?? EXIT.failed;
  return EXIT.failed;
}

/** Print an error for a person and exit with the code that fits it. */
export function exitWith(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error:\n${error.message}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message}\n`);
  }
  process.exit(exitCodeOf(error));
}

/**
 * A command's action that ends the process with the exit code that fits whatever it
 * throws: every command reports its failures the same way.
 */
export function withExitCodes<A extends unknown[]>(
  action: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      exitWith(error);
    }
  };
}

/**
 * `value` as an http(s) URL, or bad usage naming where it came from (`--url`,
 * `HOOKQ_ADMIN_URL`, …) and the form expected.
 */
export function httpUrl(value: string, name: string, example: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new CliError(
      `${name} must be an http:// or https:// URL such as ${example}, got "${value}"`,
      EXIT.usage,
    );
  }
  return url;
}

/** A URL a client on this machine can use for a listener bound to `host`. */
export function localUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '') return `http://127.0.0.1:${port}`;
  if (host === '::') return `http://[::1]:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
