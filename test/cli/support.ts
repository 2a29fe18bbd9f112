/**
 * What the CLI tests share: `hookq serve` with an admin token, an operator who runs
 * `hookq` commands against its admin API (URL and token from the environment, as a
 * script would set them), a reader for the tables printed for people, and a port
 * nothing listens on.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import type { TestContext } from 'node:test';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { HookqServer, runHookq } from '../helpers/hookq-process.js';

export type CliResult = Awaited<ReturnType<typeof runHookq>>;

/** Someone operating one hookq: every command goes to its admin API with its token. */
export class Operator {
  constructor(
    readonly adminUrl: string,
    readonly token: string,
  ) {}

  /** Run `hookq ...args`; `env` overrides what the operator's environment holds. */
  run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return runHookq(args, {
      HOOKQ_ADMIN_URL: this.adminUrl,
      HOOKQ_ADMIN_TOKEN: this.token,
      ...env,
    });
  }

  /** Run a command that must succeed, and return what it printed. */
  async ok(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const result = await this.run(args, env);
    assert.equal(result.code, 0, explain(args, result));
    return result;
  }

  /** Run a command with `--json` that must succeed, and parse what it printed. */
  async json<T>(args: string[]): Promise<T> {
    const { stdout } = await this.ok([...args, '--json']);
    return JSON.parse(stdout) as T;
  }

  /** Run a command that must fail with `code`, and return what it printed. */
  async fails(code: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    const result = await this.run(args, env);
    assert.equal(result.code, code, explain(args, result));
    return result;
  }

  /**
   * Read the admin API directly. Waiting for a state by polling the CLI would cost a
   * process start per poll; the assertions themselves go through the CLI.
   */
  async api<T>(path: string): Promise<T> {
    const response = await fetch(`${this.adminUrl}${path}`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    assert.equal(response.status, 200, `GET ${path}: ${response.status}`);
    return (await response.json()) as T;
  }
}

/** The command, its exit code and its output: what a failed assertion should show. */
export function explain(args: string[], result: CliResult): string {
  return `hookq ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/**
 * Start `hookq serve` (its config must give the admin listener a token) and stop it when
 * the test ends, whatever happened.
 */
export async function serveWithAdmin(
  t: TestContext,
  configPath: string,
  token: string,
): Promise<{ server: HookqServer; ingressUrl: string; operator: Operator }> {
  const { server, ingressUrl, adminUrl } = await HookqServer.start(configPath);
  onEnd(t, () => server.stop('SIGKILL'));
  assert.ok(adminUrl, 'hookq serve did not report its admin URL');
  return { server, ingressUrl, operator: new Operator(adminUrl, token) };
}

/**
 * `hookq serve` with these routes, its files in a fresh directory and its admin API on a
 * free loopback port behind `token`; all of it stopped and removed when the test ends.
 */
export async function serveRoutes(
  t: TestContext,
  dirPrefix: string,
  token: string,
  routes: unknown[],
): Promise<{ server: HookqServer; ingressUrl: string; operator: Operator }> {
  const dir = removeAfter(t, tempDir(dirPrefix));
  const config = writeConfig(dir, { admin: { listen: '127.0.0.1:0', token }, routes });
  return serveWithAdmin(t, config, token);
}

/**
 * The rows of a table printed for people, each keyed by its column's heading. Columns
 * are found from where the headings start (headings like `IN FLIGHT` hold a space, so
 * splitting on blanks would not do); the table ends at a blank line or at a hint line.
 */
export function parseTable(text: string, firstHeading: string): Array<Record<string, string>> {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.startsWith(firstHeading));
  assert.ok(start >= 0, `no table headed ${firstHeading} in:\n${text}`);
  const header = lines[start]!;
  const columns: Array<{ name: string; at: number }> = [];
  for (const match of header.matchAll(/\S+(?: \S+)*/g)) {
    columns.push({ name: match[0], at: match.index });
  }
  const rows: Array<Record<string, string>> = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || /^(more|fix): /.test(line)) break;
    const row: Record<string, string> = {};
    columns.forEach((column, i) => {
      const end = columns[i + 1]?.at ?? line.length;
      row[column.name] = line.slice(column.at, end).trim();
    });
    rows.push(row);
  }
  return rows;
}

/**
 * Run `tasks` with at most one per CPU at a time: each CLI run is a process start that
 * keeps a CPU busy, and more at once only makes every one of them slower.
 */
export async function inTurns<T>(tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, availableParallelism()) }, worker));
  return results;
}

/** A loopback port that was free a moment ago and that nothing listens on now. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  await new Promise((resolve) => server.close(resolve));
  return address.port;
}
