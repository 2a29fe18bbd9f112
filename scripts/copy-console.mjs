#!/usr/bin/env node
/**
 * Copies the web console's files (HTML, CSS, SVG and browser modules) from
 * src/admin/console/ into dist/admin/console/, beside the compiled serve.js that reads
 * them: tsc compiles the server but copies no other files. Part of `npm run build`.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { extname } from 'node:path';

const from = new URL('../src/admin/console/', import.meta.url);
const to = new URL('../dist/admin/console/', import.meta.url);
const SERVED = new Set(['.html', '.css', '.svg', '.js']);

mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (SERVED.has(extname(name))) copyFileSync(new URL(name, from), new URL(name, to));
}
