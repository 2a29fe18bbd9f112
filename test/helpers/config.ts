import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load-config.js';
import type { HookqConfig } from '../../src/config/types.js';
import { removeAfter } from './cleanup.js';

/** A fresh temporary directory for one test's files. */
export function tempDir(prefix = 'hookq-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A configuration file as a user writes it (YAML), listening on free loopback ports,
 * storing in `dir`. `routes` and `defaults` are given in the file's own shape.
 */
export function writeConfig(
  dir: string,
  file: {
    routes: unknown[];
    defaults?: unknown;
    storage?: unknown;
    admin?: unknown;
    server?: unknown;
  },
): string {
  const document = {
    server: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    storage: { url: `sqlite:${join(dir, 'hookq.db')}` },
    ...file,
  };
  const path = join(dir, 'hookq.yaml');
  writeFileSync(path, stringify(document));
  return path;
}

/** The same, loaded, for starting hookq inside the test process. */
export function configFor(dir: string, file: Parameters<typeof writeConfig>[1]): HookqConfig {
  const document = {
    server: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    storage: { url: `sqlite:${join(dir, 'hookq.db')}` },
    ...file,
  };
  return parseConfig(stringify(document), join(dir, 'hookq.yaml'), process.env, dir);
}

/**
 * A configuration file with one route, served at `/NAME`, in a directory of the test's
 * own that is removed when it ends. `file` gives the rest of the file (its storage, say).
 */
export function routeConfig(
  t: TestContext,
  name: string,
  target: string,
  settings: Record<string, unknown> = {},
  file: Omit<Parameters<typeof writeConfig>[1], 'routes'> = {},
): string {
  const dir = removeAfter(t, tempDir(`hookq-${name}-`));
  return writeConfig(dir, { ...file, routes: [{ name, path: `/${name}`, target, ...settings }] });
}
