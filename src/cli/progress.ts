import { createInterface } from 'node:readline/promises';
import { SingleBar } from 'cli-progress';
import { CliError, EXIT } from './common.js';

/**
 * The progress of a long operation, on standard error: a bar on a terminal, a line per
 * step otherwise (logs, CI). Silent when `show` is false (`--json`).
 */
export class Progress {
  private bar: SingleBar | undefined;

  constructor(
    private readonly done: string,
    private readonly show: boolean,
  ) {}

  update(value: number, total: number): void {
    if (!this.show || total === 0) return;
    if (!process.stderr.isTTY) {
      process.stderr.write(`${this.done} ${value}/${total}\n`);
      return;
    }
    this.bar ??= new SingleBar({
      format: `${this.done} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`,
      stream: process.stderr,
    });
    if (!this.bar.isActive) this.bar.start(total, 0);
    this.bar.setTotal(total);
    this.bar.update(value);
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** Ask a person before doing what cannot be undone; `--yes` is the way round it for scripts. */
export async function confirm(question: string, verb: string): Promise<void> {
  if (!process.stdin.isTTY) {
    throw new CliError(`no terminal to confirm on: pass --yes to ${verb}`, EXIT.usage);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`not ${verb}ed`, EXIT.failed);
}
