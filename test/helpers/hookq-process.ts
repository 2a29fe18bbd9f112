import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * Run the hookq CLI as a real process: from source (tests see the code as it is now),
 * or `built` from dist/ (what users run, with the Node.js flags of its first line; the
 * benchmark measures that).
 */
export function spawnHookq(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  built = false,
): ChildProcess {
  const [file, ...command] = built ? [BUILT] : [process.execPath, '--import', 'tsx', SOURCE];
  return spawn(file!, [...command, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A CLI command run to its end: exit code and output. */
export async function runHookq(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnHookq(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/**
 * `hookq serve` as a real process. Its JSON log lines are kept; `ready` resolves with
 * the ingress URL once it logs that it is ready.
 */
export class HookqServer {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  private readonly exited: Promise<[number | null, NodeJS.Signals | null]>;

  private constructor(
    configPath: string,
    extraArgs: string[],
    env: NodeJS.ProcessEnv,
    built: boolean,
  ) {
    this.child = spawnHookq(['serve', '--config', configPath, ...extraArgs], env, built);
    this.exited = once(this.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.logs.push({ msg: line });
      }
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  /** Start `hookq serve --config FILE` and wait until it is ready. */
  static async start(
    configPath: string,
    extraArgs: string[] = [],
    env: NodeJS.ProcessEnv = {},
    built = false,
  ): Promise<{
    server: HookqServer;
    ingressUrl: string;
    adminUrl: string | undefined;
  }> {
    const server = new HookqServer(configPath, extraArgs, env, built);
    const ready = await server.waitForLog((entry) => entry.msg === 'hookq is ready', 30_000);
    return {
      server,
      ingressUrl: String(ready.ingress),
      adminUrl: ready.admin === undefined ? undefined : String(ready.admin),
    };
  }

  /** The first log entry (past or future) matching `predicate`. */
  async waitForLog(
    predicate: (entry: Record<string, unknown>) => boolean,
    timeoutMs = 20_000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(predicate);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `hookq exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.join('\n')}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs}ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Send a signal and wait for the process to end. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const [code, got] = await this.exited;
    return { code, signal: got };
  }
}
