import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { StorageUnavailableError } from '../../core/errors.js';
import type { StaleGroup } from '../store.js';
import type { Say } from './open-files.js';
import {
  type FromWriter,
  fromWire,
  type ToWriter,
  type WriteRequest,
  type WriterData,
} from './thread-messages.js';
import type { WriteArg, WriteName, WriteResult } from './writes.js';

/** The writer thread's module, beside this one: .ts when running from source, .js when built. */
const ENTRY = new URL(
  import.meta.url.endsWith('.ts') ? './writer-thread.ts' : './writer-thread.js',
  import.meta.url,
);

/** The first wait before a writer thread that failed is started again; it doubles while they keep failing. */
const RESTART_FIRST_MS = 1_000;
const RESTART_MOST_MS = 30_000;
/** A thread that ran this long before it failed starts the waits over. */
const RESTART_RESET_AFTER_MS = 60_000;

/**
 * The main thread's end of the SQLite writer thread (writer-thread.ts): each write is
 * sent there and answered once committed. Writes asked for in one turn of the event
 * loop travel in one message.
 *
 * Should the thread fail or stop unasked, the writes it had not answered fail (each
 * one's caller sees a storage error: a sender gets 503 and sends again, an attempt's
 * lease runs out), and a new thread is started after a wait: a restart, with the
 * store's files as they are on disk. Until it is up, writes fail fast.
 */
export class Writer {
  private worker!: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  private outbox: WriteRequest[] = [];
  private outboxTransfer: ArrayBuffer[] = [];
  private nextId = 1;
  /** Set while there is no thread to take calls, or once closing: every call then fails with it. */
  private ended: Error | undefined;
  private closing = false;
  private exited!: Promise<void>;
  private restart: NodeJS.Timeout | undefined;
  private restartInMs = RESTART_FIRST_MS;

  constructor(
    private readonly data: WriterData,
    private readonly events: { say: Say; onStaleGroup?: (problem: StaleGroup) => void },
  ) {
    this.start();
  }

  private start(): void {
    const worker = startThread(this.data);
    const startedAt = Date.now();
    let failure: string | undefined;
    this.worker = worker;
    this.ended = undefined;
    worker.unref();
    worker.on('message', (message: FromWriter) => this.receive(message));
    worker.on('error', (error: unknown) => {
      // An error thrown there that lacks Error's internal slot (better-sqlite3's own,
      // a DOMException) arrives as a plain object of its enumerable properties.
      failure = `failed: ${error instanceof Error ? error.message : inspect(error)}`;
    });
    this.exited = new Promise((resolve) =>
      worker.once('exit', () => {
        resolve();
        const why = `the SQLite writer thread ${failure ?? 'stopped'}`;
        if (this.closing) {
          // Whatever it had not answered by then never will be.
          this.end(new StorageUnavailableError(`${why} while the store was closing`));
          return;
        }
        this.end(new StorageUnavailableError(`${why}; it is being started again`));
        const inMs =
          Date.now() - startedAt >= RESTART_RESET_AFTER_MS ? RESTART_FIRST_MS : this.restartInMs;
        this.restartInMs = Math.min(inMs * 2, RESTART_MOST_MS);
        this.events.say(
          'error',
          {},
          `${why}; writes fail until it is started again, in ${inMs} ms`,
        );
        this.restart = setTimeout(() => {
          this.start();
          this.events.say('warn', {}, 'started the SQLite writer thread again');
        }, inMs).unref();
      }),
    );
  }

  /** Run a write in the thread; resolves once it is committed. `transfer`: buffers `arg` hands over. */
  run<K extends WriteName>(
    name: K,
    arg: WriteArg<K>,
    transfer: ArrayBuffer[] = [],
  ): Promise<WriteResult<K>> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    if (this.outbox.length === 0) setImmediate(() => this.post());
    this.outbox.push({ id, name, arg });
    this.outboxTransfer.push(...transfer);
    return this.await(id) as Promise<WriteResult<K>>;
  }

  /** Rejects with why the store cannot take writes now, if it cannot. */
  check(): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    this.send({ type: 'check', id });
    return this.await(id) as Promise<void>;
  }

  /** Commit what was asked for, then close the connection and end the thread. */
  async close(): Promise<void> {
    clearTimeout(this.restart);
    if (!this.closing && !this.ended) {
      this.post();
      this.send({ type: 'close' });
      this.worker.ref();
    }
    this.closing = true;
    this.ended = new StorageUnavailableError('the store is closed');
    await this.exited;
  }

  private await(id: number): Promise<unknown> {
    if (this.waiting.size === 0) this.worker.ref(); // answers are due: keep the process up
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private post(): void {
    if (this.outbox.length === 0) return;
    this.send({ type: 'writes', writes: this.outbox }, this.outboxTransfer);
    this.outbox = [];
    this.outboxTransfer = [];
  }

  private send(message: ToWriter, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(message, transfer);
  }

  private receive(message: FromWriter): void {
    switch (message.type) {
      case 'done':
        for (const outcome of message.outcomes) {
          const waiter = this.waiting.get(outcome.id);
          this.waiting.delete(outcome.id);
          if ('error' in outcome) waiter?.reject(fromWire(outcome.error));
          else waiter?.resolve(outcome.value);
        }
        if (this.waiting.size === 0 && !this.ended) this.worker.unref();
        break;
      case 'stale':
        this.events.onStaleGroup?.(message.problem);
        break;
      case 'say':
        this.events.say(message.level, message.fields, message.message);
        break;
    }
  }

  /** The thread ended (or failed): nothing more will be answered. */
  private end(why: Error): void {
    this.ended ??= why;
    for (const waiter of this.waiting.values()) waiter.reject(why);
    this.waiting.clear();
    this.outbox = [];
    this.outboxTransfer = [];
  }
}

function startThread(data: WriterData): Worker {
  if (ENTRY.pathname.endsWith('.ts')) {
    // Running from source (the tests, through tsx): a worker does not inherit the
    // loader that compiles TypeScript, so it imports its module through tsx's API.
    const tsx = import.meta.resolve('tsx/esm/api');
    const source = `import(${JSON.stringify(tsx)}).then((tsx) => tsx.tsImport(${JSON.stringify(ENTRY.href)}, ${JSON.stringify(import.meta.url)}))`;
    return new Worker(source, { eval: true, workerData: data });
  }
  return new Worker(ENTRY, { workerData: data });
}
