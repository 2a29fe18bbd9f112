/**
 * The bundle deploy/build-lambda.mjs makes is what AWS runs: one ES module, imported by a
 * bare Node.js with nothing but its environment. These tests build it and run it so, in a
 * child process, against a local target.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { crc32, inflateRawSync } from 'node:zlib';
import { tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { fifoEvent, fifoRecord } from './fifo-events.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));

/** Import the bundle as the Lambda runtime does, invoke it once, write what it returned. */
const INVOKE = `
import { readFileSync, writeFileSync } from 'node:fs';
const [bundle, eventFile, resultFile] = process.argv.slice(1);
const { handler } = await import(bundle);
const end = Date.now() + 10000;
const result = await handler(JSON.parse(readFileSync(eventFile, 'utf8')), {
  getRemainingTimeInMillis: () => end - Date.now(),
  awsRequestId: 'bundle-test',
});
writeFileSync(resultFile, JSON.stringify(result));
process.exit(0);
`;

describe('the Lambda bundle', () => {
  let dir: string;
  let bundle: string;

  before(async () => {
    dir = tempDir('hookq-lambda-');
    bundle = join(dir, 'lambda', 'index.mjs');
    await run(process.execPath, [
      join(repo, 'deploy/build-lambda.mjs'),
      '--outfile',
      bundle,
      '--zip',
      join(dir, 'forwarder.zip'),
    ]);
  });

  test('is zipped for Terraform too: index.mjs alone, the same archive for the same bundle', async () => {
    const archive = readFileSync(join(dir, 'forwarder.zip'));
    // One local file header, one central directory entry, the end record; the file is
    // deflated and inflates to the bundle.
    assert.equal(archive.readUInt32LE(0), 0x04034b50);
    const nameLength = archive.readUInt16LE(26);
    assert.equal(archive.subarray(30, 30 + nameLength).toString(), 'index.mjs');
    const compressed = archive.readUInt32LE(18);
    const data = archive.subarray(30 + nameLength, 30 + nameLength + compressed);
    assert.deepEqual(inflateRawSync(data), readFileSync(bundle));
    assert.equal(archive.readUInt32LE(14), crc32(readFileSync(bundle)));
    const end = archive.subarray(archive.length - 22);
    assert.equal(end.readUInt32LE(0), 0x06054b50);
    assert.equal(end.readUInt16LE(10), 1, 'one entry');

    await run(process.execPath, [
      join(repo, 'deploy/build-lambda.mjs'),
      '--outfile',
      join(dir, 'again', 'index.mjs'),
      '--zip',
      join(dir, 'again.zip'),
    ]);
    assert.deepEqual(readFileSync(join(dir, 'again.zip')), archive, 'byte for byte');
  });

  test('is one self-contained ES module exporting handler', () => {
    assert.deepEqual(
      readdirSync(join(dir, 'lambda')),
      ['index.mjs'],
      'no zip inside the CDK asset',
    );
    const source = readFileSync(bundle, 'utf8');
    assert.match(source, /export\s*\{[^}]*\bhandler\b/);
    assert.doesNotMatch(source, /from\s+["'](?!node:)[a-z@][^"']*["']/, 'no import of a package');
  });

  describe('run as AWS runs it', () => {
    let target: TestTarget;
    before(async () => {
      target = await TestTarget.start((_request, index) => (index === 1 ? 500 : 200));
    });
    after(() => target.close());

    test('forwards a FIFO batch, returns batchItemFailures and logs JSON lines', async () => {
      const records = [
        fifoRecord({ body: 'one', headers: { 'content-type': 'text/plain' } }),
        fifoRecord({ body: 'two' }),
        fifoRecord({ body: 'three' }),
      ];
      const eventFile = join(dir, 'event.json');
      const resultFile = join(dir, 'result.json');
      writeFileSync(eventFile, JSON.stringify(fifoEvent(...records)));

      const { stdout } = await run(
        process.execPath,
        ['--input-type=module', '-e', INVOKE, bundle, eventFile, resultFile],
        {
          cwd: dir,
          env: {
            PATH: process.env.PATH,
            HOOKQ_ROUTES: JSON.stringify([{ name: 'approvals', target: target.url }]),
            HOOKQ_TIMEOUT: '5s',
          },
        },
      );

      assert.deepEqual(JSON.parse(readFileSync(resultFile, 'utf8')), {
        batchItemFailures: [
          { itemIdentifier: records[1]!.messageId },
          { itemIdentifier: records[2]!.messageId },
        ],
      });
      assert.deepEqual(
        target.received.map((r) => r.body.toString()),
        ['one', 'two'],
      );
      assert.equal(target.received[0]!.headers['content-type'], 'text/plain');
      assert.equal(target.received[0]!.headers['hookq-route'], 'approvals');
      const lines = stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        lines.map((line) => line.msg),
        [
          'delivered',
          'delivery failed',
          'batch stopped at the first failure; later records go back to the queue untried',
        ],
      );
      assert.ok(lines.every((line) => line.requestId === 'bundle-test'));
    });

    test('refuses a bad environment at cold start, naming the variable', async () => {
      const failure = await run(
        process.execPath,
        ['--input-type=module', '-e', `await import(${JSON.stringify(bundle)})`],
        {
          cwd: dir,
          env: {
            PATH: process.env.PATH,
            HOOKQ_ROUTES: JSON.stringify([{ name: 'approvals', target: 'not a url' }]),
          },
        },
      ).then(
        () => assert.fail('the import should fail'),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      assert.notEqual(failure.code, 0);
      assert.match(
        failure.stderr,
        /HOOKQ_ROUTES\[0\]\.target: must be an http:\/\/ or https:\/\/ URL/,
      );
      const logged = JSON.parse(failure.stdout.trim()) as Record<string, unknown>;
      assert.equal(logged.msg, 'configuration rejected');
      assert.match(String(logged.error), /HOOKQ_ROUTES\[0\]\.target/);
    });
  });
});
