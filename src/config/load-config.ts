/**
 * Reading `hookq.yaml`: YAML → `${ENV}` interpolation → schema → merge with `defaults` →
 * the checks that span keys. Every failure is a ConfigError whose message starts with
 * the file name and the key, and never contains a secret.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { StorageLocation } from '../store/location.js';
import type { ListenAddress } from './fields.js';
import { interpolateEnv } from './interpolate-env.js';
import { resolveNotify } from './notify-settings.js';
import { configError, formatKey, type Problem } from './problems.js';
import {
  BUILT_IN_ROUTE_SETTINGS,
  checkRouteSettings,
  mergeRouteSettings,
} from './route-settings.js';
import { type ConfigFile, configFileSchema } from './schema.js';
import type { HookqConfig, RouteConfig } from './types.js';

const DEFAULT_SERVER: ListenAddress = { host: '0.0.0.0', port: 8080 };
const DEFAULT_ADMIN: ListenAddress = { host: '127.0.0.1', port: 8081 };
const DEFAULT_STORAGE: StorageLocation = { kind: 'sqlite', path: './data/hookq.db' };

/**
 * Load the configuration file at `path`. A relative `sqlite:` path in it is taken
 * relative to the file's directory, so the result does not depend on the working directory.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): HookqConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw configError(path, [{ key: '', message: readFailure(path, error) }], { cause: error });
  }
  return parseConfig(text, path, env, dirname(resolve(path)));
}

/**
 * Load a configuration from its YAML text. `fileName` starts every error message;
 * `baseDir` is what a relative `sqlite:` path is resolved against (by default the
 * directory of `fileName`).
 */
export function parseConfig(
  text: string,
  fileName: string,
  env: NodeJS.ProcessEnv = process.env,
  baseDir: string = dirname(resolve(fileName)),
): HookqConfig {
  const document = parseYaml(text, fileName);
  if (document === null || document === undefined) {
    throw configError(fileName, [
      { key: '', message: 'the file is empty; it needs at least a routes: list' },
    ]);
  }

  const problems: Problem[] = [];
  const interpolated = interpolateEnv(document, env, problems);
  if (problems.length > 0) throw configError(fileName, problems);

  const parsed = configFileSchema.safeParse(interpolated);
  if (!parsed.success) {
    const found = parsed.error.issues.map((issue) => ({
      key: formatKey(issue.path),
      message: issue.message,
    }));
    throw configError(fileName, found);
  }

  const config = resolveConfig(parsed.data, baseDir, problems);
  if (problems.length > 0) throw configError(fileName, problems);
  return config;
}

function parseYaml(text: string, fileName: string): unknown {
  const lineCounter = new LineCounter();
  // prettyErrors would quote the offending line, which may hold a secret.
  const document = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  const [error] = document.errors;
  if (error) {
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw configError(
      fileName,
      [{ key: '', message: `line ${line}, column ${col}: invalid YAML: ${error.message}` }],
      { cause: error },
    );
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // Unresolved or excessive aliases are only found while building the values.
    const message = error instanceof Error ? error.message : String(error);
    throw configError(fileName, [{ key: '', message: `invalid YAML: ${message}` }], {
      cause: error,
    });
  }
}

function readFailure(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = resolve(path) === path ? '' : ` (looked for ${resolve(path)})`;
  switch (code) {
    case 'ENOENT':
      return `configuration file not found${where}`;
    case 'EACCES':
    case 'EPERM':
      return `cannot read the configuration file: permission denied${where}`;
    case 'EISDIR':
      return `is a directory, not a configuration file${where}`;
    default:
      return `cannot read the configuration file${where}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function resolveConfig(file: ConfigFile, baseDir: string, problems: Problem[]): HookqConfig {
  const admin = file.admin?.listen ?? DEFAULT_ADMIN;
  const token = file.admin?.token ?? null;
  const allowedOrigins = file.admin?.allowedOrigins ?? [];
  // Without a token the admin API is open to whoever can reach it; only this machine, then.
  if (token === null && !isLoopback(admin.host)) {
    problems.push({
      key: 'admin.token',
      message: `is required because admin.listen (${admin.host}) is not a loopback address; set token: "\${HOOKQ_ADMIN_TOKEN}", or listen on 127.0.0.1`,
    });
  } else if (token === null && allowedOrigins.length > 0) {
    // Other origins mean a reverse proxy, which makes even a loopback listener reachable
    // from anywhere the proxy is.
    problems.push({
      key: 'admin.token',
      message: `is required because admin.allowedOrigins is set (a reverse proxy serves the console); set token: "\${HOOKQ_ADMIN_TOKEN}"`,
    });
  }

  const server = file.server?.listen ?? DEFAULT_SERVER;
  if (sharesPort(server, admin)) {
    problems.push({
      key: 'admin.listen',
      message: `must not use the same port as server.listen (${server.port})`,
    });
  }

  const defaults = mergeRouteSettings(BUILT_IN_ROUTE_SETTINGS, file.defaults ?? {});
  problems.push(...checkRouteSettings(defaults, file.defaults ?? {}, 'defaults'));

  const routes = file.routes.map((route, index): RouteConfig => {
    problems.push(...checkUnique(file.routes, index));
    const settings = mergeRouteSettings(defaults, route);
    problems.push(...checkRouteSettings(settings, route, `routes[${index}]`));
    return {
      name: route.name,
      path: route.path,
      target: route.target,
      group: route.group,
      ...settings,
      verify: route.verify,
      sign: route.sign,
      ...resolveNotify(route.notify, file.notify),
    };
  });

  return {
    server: { ...server },
    admin: { ...admin, token, allowedOrigins },
    storage: resolveStorage(file.storage?.url ?? DEFAULT_STORAGE, baseDir),
    routes,
  };
}

/** Names address routes in the admin API and metrics, paths address them on ingress. */
function checkUnique(routes: ConfigFile['routes'], index: number): Problem[] {
  const route = routes[index]!;
  const problems: Problem[] = [];
  const sameName = routes.findIndex((other) => other.name === route.name);
  if (sameName < index) {
    problems.push({
      key: `routes[${index}].name`,
      message: `must be unique; routes[${sameName}] is also named "${route.name}"`,
    });
  }
  const samePath = routes.findIndex((other) => other.path === route.path);
  if (samePath < index) {
    problems.push({
      key: `routes[${index}].path`,
      message: `must be unique; routes[${samePath}] also has path "${route.path}"`,
    });
  }
  return problems;
}

/** A relative sqlite path is relative to the configuration file's directory. */
function resolveStorage(location: StorageLocation, baseDir: string): StorageLocation {
  return location.kind === 'sqlite'
    ? { kind: 'sqlite', path: resolve(baseDir, location.path) }
    : location;
}

/** Whether two listeners would fight over one port: same port, and a host in common. */
function sharesPort(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  return a.host === b.host || wildcard(a.host) || wildcard(b.host);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or localhost. */
export function isLoopback(host: string): boolean {
  if (/^localhost\.?$/i.test(host)) return true;
  if (isIPv4(host)) return LOOPBACK.check(host, 'ipv4');
  if (isIPv6(host)) return LOOPBACK.check(host, 'ipv6');
  return false;
}
