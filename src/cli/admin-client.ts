import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { type Dispatcher, request } from 'undici';
import type { z } from 'zod';
import type * as api from '../admin/schemas.js';
import { CliError, EXIT, exitCodeOfStatus, httpUrl, localUrl } from './common.js';

const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8081';

// What the admin API answers, as its schemas say: the server and the CLI read one definition.
export type MessageSummary = z.output<typeof api.MessageSummary>;
export type MessageView = z.output<typeof api.MessageView>;
export type MessagePage = z.output<typeof api.MessagePage>;
export type BlockedGroupPage = z.output<typeof api.BlockedGroupPage>;
export type RedriveResult = z.output<typeof api.RedriveResult>;
export type Replayed = z.output<typeof api.Replayed>;
export type BulkReplayed = z.output<typeof api.BulkReplayed>;
export type MessageCount = z.output<typeof api.MessageCount>;
export type PauseState = z.output<typeof api.PauseState>;
export type RetryNowResult = z.output<typeof api.RetryNowResult>;
export type Routes = z.output<typeof api.Routes>;
export type RouteView = z.output<typeof api.RouteView>;

/** How a client command finds the admin API: its --admin and --config options. */
export interface AdminOptions {
  admin?: string;
  config?: string;
}

/** Adds --admin and --config to a client command. */
export function withAdminOptions(command: Command): Command {
  return command
    .option(
      '--admin <url>',
      'admin API URL (default: $HOOKQ_ADMIN_URL, else admin.listen of --config, else http://127.0.0.1:8081)',
    )
    .option(
      '-c, --config <file>',
      "read the admin API's address and token from this configuration (default: $HOOKQ_CONFIG)",
    );
}

/**
 * The client side of the admin API, for the CLI. The API is found at --admin,
 * $HOOKQ_ADMIN_URL, the admin listener of the configuration file (--config or
 * $HOOKQ_CONFIG) or http://127.0.0.1:8081; the token is $HOOKQ_ADMIN_TOKEN, else the
 * configuration's admin.token.
 */
export class AdminClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;

  constructor(admin: string | undefined, env: NodeJS.ProcessEnv = process.env, token?: string) {
    this.baseUrl = (admin ?? env.HOOKQ_ADMIN_URL ?? DEFAULT_ADMIN_URL).replace(/\/+$/, '');
    this.token = env.HOOKQ_ADMIN_TOKEN || token;
  }

  /** The client a command's options and the environment point at. */
  static async connect(
    options: AdminOptions,
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<AdminClient> {
    // A URL given by hand that is no URL is bad usage (2), not an API out of reach (5).
    if (options.admin !== undefined) httpUrl(options.admin, '--admin', DEFAULT_ADMIN_URL);
    else if (env.HOOKQ_ADMIN_URL !== undefined)
      httpUrl(env.HOOKQ_ADMIN_URL, 'HOOKQ_ADMIN_URL', DEFAULT_ADMIN_URL);
    const file = options.config ?? env.HOOKQ_CONFIG;
    if (file === undefined) return new AdminClient(options.admin, env);
    const { loadConfig } = await import('../config/load-config.js');
    const { admin } = loadConfig(file, env);
    return new AdminClient(
      options.admin ?? env.HOOKQ_ADMIN_URL ?? localUrl(admin.host, admin.port),
      env,
      admin.token ?? undefined,
    );
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.call<T>('GET', withQuery(path, query));
  }

  /**
   * Follow a stream (server-sent events): its body, once the API has answered. It has no
   * read timeout, since a quiet stream is not a broken one.
   */
  async stream(path: string, query: Query = {}): Promise<Readable> {
    const response = await this.send('GET', withQuery(path, query), undefined, 0);
    if (response.statusCode >= 300) throw await this.refusal(response);
    return response.body;
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /** A GET of one thing, or null when the API answers that there is no such thing. */
  async find<T>(path: string): Promise<T | null> {
    try {
      return await this.get<T>(path);
    } catch (error) {
      if (error instanceof CliError && error.exitCode === EXIT.notFound) return null;
      throw error;
    }
  }

  private async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T> {
    const response = await this.send(method, path, body, 120_000);
    if (response.statusCode >= 300) throw await this.refusal(response);
    return parseJson(await response.body.text()) as T;
  }

  private async send(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body: unknown,
    bodyTimeout: number,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await request(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 120_000,
        bodyTimeout,
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new CliError(
        `cannot reach the admin API at ${this.baseUrl} (${reason}); is hookq serve running? Set --admin, HOOKQ_ADMIN_URL or --config`,
        EXIT.unreachable,
      );
    }
  }

  /** The error of an answer that is not a success, as the API's own words put it. */
  private async refusal(response: Dispatcher.ResponseData): Promise<CliError> {
    const json = parseJson(await response.body.text());
    const status = response.statusCode;
    const answer =
      typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : undefined;
    const message = typeof answer?.error === 'string' ? answer.error : `HTTP ${status}`;
    return new CliError(
      status === 401
        ? `${message}: set HOOKQ_ADMIN_TOKEN to the admin token of ${this.baseUrl}, or pass --config`
        : message,
      exitCodeOfStatus(status),
      answer,
    );
  }
}

type Query = Record<string, string | number | undefined>;

function withQuery(path: string, query: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query))
    if (value !== undefined) params.set(key, String(value));
  return params.size ? `${path}?${params}` : path;
}

/** JSON text as a value; undefined when it is empty or not JSON (a proxy's error page). */
function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
