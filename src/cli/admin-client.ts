import { request } from 'undici';
import { EXIT } from './common.js';

/** A failed admin call, with the exit code a script can rely on. */
export class AdminCallError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/**
 * The client side of the admin API, for the CLI. The API is found at --admin,
 * $HOOKQ_ADMIN_URL or http://127.0.0.1:8081; the token is $HOOKQ_ADMIN_TOKEN.
 */
export class AdminClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;

  constructor(admin: string | undefined, env: NodeJS.ProcessEnv = process.env) {
    this.baseUrl = (admin ?? env.HOOKQ_ADMIN_URL ?? 'http://127.0.0.1:8081').replace(/\/+$/, '');
    this.token = env.HOOKQ_ADMIN_TOKEN || undefined;
  }

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) params.set(key, String(value));
    const search = params.size ? `?${params}` : '';
    return this.call<T>('GET', `${path}${search}`);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  private async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 120_000,
        bodyTimeout: 120_000,
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new AdminCallError(
        `cannot reach the admin API at ${this.baseUrl} (${reason}); is hookq serve running? Set --admin or HOOKQ_ADMIN_URL`,
        EXIT.unreachable,
      );
    }
    const text = await response.body.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    const status = response.statusCode;
    if (status < 300) return json as T;
    const message = (json as { error?: string } | undefined)?.error ?? `HTTP ${status}`;
    if (status === 401) {
      throw new AdminCallError(
        `${message}: set HOOKQ_ADMIN_TOKEN to the admin token of ${this.baseUrl}`,
        EXIT.unreachable,
      );
    }
    const exitCode =
      status === 400
        ? EXIT.usage
        : status === 404
          ? EXIT.notFound
          : status === 409
            ? EXIT.conflict
            : EXIT.failed;
    throw new AdminCallError(message, exitCode);
  }
}
