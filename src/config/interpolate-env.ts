/**
 * `${NAME}` replacement. It runs on the parsed YAML values, never on the text: a secret
 * containing `:` or a newline then stays one string, and cannot add or change keys.
 */
import { formatKey, type Problem } from './problems.js';

/**
 * `$${` is a literal `${`, so a value can contain one; any other `${` must be a complete
 * reference, because a half-written one is almost always a typo that would otherwise
 * reach a target or a signature check unnoticed.
 */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;

/** A copy of `value` with every string interpolated; unset variables are reported by key. */
export function interpolateEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  problems: Problem[],
  path: Array<string | number> = [],
): unknown {
  if (typeof value === 'string') return interpolateString(value, env, problems, path);
  if (Array.isArray(value)) {
    return value.map((item, index) => interpolateEnv(item, env, problems, [...path, index]));
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolateEnv(item, env, problems, [...path, key]),
      ]),
    );
  }
  return value;
}

function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
  problems: Problem[],
  path: Array<string | number>,
): string {
  if (!text.includes('${')) return text;
  const unset: string[] = [];
  let malformed = false;
  const result = text.replace(REFERENCE, (match, name: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      malformed = true;
      return match;
    }
    const found = env[name];
    if (found === undefined) {
      if (!unset.includes(name)) unset.push(name);
      return match;
    }
    return found;
  });
  const key = formatKey(path);
  if (malformed) {
    problems.push({
      key,
      message:
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the message shows the ${NAME} syntax
        '"${" must start a reference such as ${HOOKQ_ADMIN_TOKEN} (letters, digits and _); write $${ for a literal ${',
    });
  }
  if (unset.length === 1) {
    problems.push({ key, message: `environment variable ${unset[0]} is not set` });
  } else if (unset.length > 1) {
    problems.push({ key, message: `environment variables ${unset.join(', ')} are not set` });
  }
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
