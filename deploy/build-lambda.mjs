#!/usr/bin/env node
/**
 * Bundles hookq's Lambda forwarder (src/aws/lambda.ts) and its dependencies into one
 * ES module for the Node.js 20 runtime: dist/lambda/index.mjs, handler `index.handler`,
 * and the same file zipped, dist/hookq-forwarder.zip. The CDK construct deploys the
 * directory dist/lambda; the Terraform module deploys the zip (so it needs no archive
 * provider). The zip is byte-for-byte the same for the same bundle (fixed timestamps), so
 * rebuilding an unchanged hookq does not update the function.
 *
 *   node deploy/build-lambda.mjs [--outfile PATH] [--zip PATH]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { crc32, deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    outfile: { type: 'string', default: resolve(root, 'dist/lambda/index.mjs') },
    zip: { type: 'string', default: resolve(root, 'dist/hookq-forwarder.zip') },
  },
});
const outfile = resolve(values.outfile);
const zipfile = resolve(values.zip);

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

mkdirSync(dirname(zipfile), { recursive: true });
writeFileSync(zipfile, zipOne('index.mjs', readFileSync(outfile)));
console.log(`zipped ${relative(process.cwd(), zipfile) || zipfile}`);

/**
 * A zip archive holding one file, deflated, dated 1980-01-01 (the earliest DOS date), so
 * that the same content always gives the same archive. Lambda reads the file with mode
 * 0644 and the handler index.handler.
 */
function zipOne(name, content) {
  const fileName = Buffer.from(name, 'utf8');
  const data = deflateRawSync(content, { level: 9 });
  const crc = crc32(content);
  const dosTime = 0;
  const dosDate = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
  local.writeUInt16LE(0x0800, 6); // UTF-8 file name
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt16LE(dosTime, 10);
  local.writeUInt16LE(dosDate, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  local.writeUInt16LE(0, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, 2.0
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x0800, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt16LE(dosTime, 12);
  central.writeUInt16LE(dosDate, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  central.writeUInt16LE(0, 30); // extra
  central.writeUInt16LE(0, 32); // comment
  central.writeUInt16LE(0, 34); // disk
  central.writeUInt16LE(0, 36); // internal attributes
  central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // regular file, rw-r--r--
  central.writeUInt32LE(0, 42); // offset of the local header
  const centralOffset = local.length + fileName.length + data.length;
  const centralSize = central.length + fileName.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, fileName, data, central, fileName, end]);
}
