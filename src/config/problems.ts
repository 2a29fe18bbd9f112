/** Problems found in a configuration file, and the one error that reports them. */
import { ConfigError } from '../core/errors.js';

/** One thing wrong with the file. `key` is the dotted path, such as `routes[1].retry.maxAttempts`. */
export interface Problem {
  key: string;
  message: string;
}

/** Enough to fix a file in one go without burying the first problem. */
const MAX_LISTED = 10;

/** The dotted path of a key: `routes[1].retry.maxAttempts`; odd key names are quoted. */
export function formatKey(path: ReadonlyArray<PropertyKey>): string {
  let key = '';
  for (const segment of path) {
    if (typeof segment === 'number') key += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$-]*$/.test(segment)) {
      key += key === '' ? segment : `.${segment}`;
    } else key += `[${JSON.stringify(String(segment))}]`;
  }
  return key;
}

/**
 * A ConfigError for the first problem, its message listing the others too, one per line.
 * Each line reads `file: key: problem`, the form editors and CI logs link to.
 */
export function configError(
  fileName: string,
  problems: readonly Problem[],
  options?: { cause?: unknown },
): ConfigError {
  const [first, ...rest] = problems;
  if (first === undefined) throw new TypeError('configError needs at least one problem');
  const line = (problem: Problem) =>
    `${fileName}: ${problem.key ? `${problem.key}: ` : ''}${problem.message}`;
  const lines = [first, ...rest.slice(0, MAX_LISTED - 1)].map(line);
  if (rest.length >= MAX_LISTED) {
    lines.push(`${fileName}: and ${rest.length - (MAX_LISTED - 1)} more problems`);
  }
  return new ConfigError(first.key, lines.join('\n'), options);
}
