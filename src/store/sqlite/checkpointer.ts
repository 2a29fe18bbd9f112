import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Copies the WAL back into the database file from a worker thread, on its own
 * connection. A checkpoint reads and writes many pages and fsyncs the database file;
 * done by the writing connection (SQLite's automatic checkpoint) it would stall every
 * webhook waiting on that thread for tens of milliseconds. A PASSIVE checkpoint never
 * blocks the writer, so ingress keeps going while it runs.
 */
export class Checkpointer {
  private readonly worker: Worker;

  constructor(path: string, intervalMs = 200) {
    // Evaluated code rather than a module file, so the same code runs from source and
    // from the build; the driver is located from here and handed over.
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, driver, intervalMs },
    });
    // A checkpointer that dies only lets the WAL grow; the writer still works.
    this.worker.on('error', () => undefined);
    this.worker.unref();
  }

  async stop(): Promise<void> {
    // Held by nothing else while hookq runs; while stopping, wait for its last round.
    this.worker.ref();
    this.worker.postMessage('stop');
    await new Promise((resolve) => this.worker.once('exit', resolve));
  }
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 1000');
let timer;
function checkpoint() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy or locked: the next round catches up
  }
  timer = setTimeout(checkpoint, workerData.intervalMs);
}
checkpoint();
parentPort.on('message', () => {
  clearTimeout(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  db.close();
  process.exit(0);
});
`;
