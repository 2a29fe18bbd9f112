import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { runStoreContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'hookq-sqlite-contract-'));
let n = 0;

runStoreContract('sqlite', {
  async create(options) {
    n += 1;
    return SqliteStore.open(join(dir, `store-${n}.db`), options);
  },
  async dispose() {
    rmSync(dir, { recursive: true, force: true });
  },
});
