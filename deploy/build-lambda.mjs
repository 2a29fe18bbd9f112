#!/usr/bin/env node
/**
 * Bundles hookq's Lambda forwarder (src/aws/lambda.ts) and its dependencies into one
 * ES module for the Node.js 20 runtime: dist/lambda/index.mjs, handler `index.handler`.
 * The CDK construct and the Terraform module both deploy that file.
 *
 *   node deploy/build-lambda.mjs [--outfile PATH]
 */
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { outfile: { type: 'string', default: resolve(root, 'dist/lambda/index.mjs') } },
});
const outfile = resolve(values.outfile);

const result = await build({
  entryPoints: [resolve(root, 'src/aws/lambda.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Some dependencies are CommonJS and require() Node's own modules; an ES module has no
  // require of its own, so the bundle gets one.
  banner: {
    js: "import { createRequire as __hookqCreateRequire } from 'node:module';\nconst require = __hookqCreateRequire(import.meta.url);",
  },
  // Readable stack traces in CloudWatch matter more than a few kilobytes.
  minify: false,
  keepNames: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.log(
  `built ${relative(process.cwd(), outfile) || outfile} (${Math.round(bytes / 1024)} KiB)`,
);
