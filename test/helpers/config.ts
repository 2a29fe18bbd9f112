import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/load-config.js';
import type { HookqConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/core/errors.js';
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
    notify?: unknown;
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

/** A configuration in the file's own shape, parsed as hookq reads a file in /srv/hookq. */
export function parseDocument(document: unknown, env: NodeJS.ProcessEnv = {}): HookqConfig {
  return parseConfig(stringify(document), 'hookq.yaml', env, '/srv/hookq');
}

/** The ConfigError that parsing a configuration file's `text` throws; accepted, the test fails. */
export function configFailure(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, 'hookq.yaml', env, '/srv/hookq');
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('the configuration was accepted');
}

/** The same for a configuration in the file's own shape. */
export function documentFailure(document: unknown, env: NodeJS.ProcessEnv = {}): ConfigError {
  return configFailure(stringify(document), env);
}
