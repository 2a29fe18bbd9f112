/**
 * `hookq demo`: a release many times longer than the retry budget ends with every event
 * delivered, in order, and no dead letter; the demo runs beside a hookq that holds the
 * usual ports, refuses options it cannot honour, and leaves no files behind however it
 * ends.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir } from '../helpers/config.js';
import { runHookq, spawnHookq } from '../helpers/hookq-process.js';
import { explain, inTurns } from './support.js';

/** What the demo left in the temporary folder it was given. */
const leftovers = (dir: string) =>
  readdirSync(dir).filter((name) => name.startsWith('hookq-demo-'));

test('the default demo outlasts the retry budget and ends with no dead letter, in order, beside a busy 8081', {
  timeout: 90_000,
}, async (t) => {
  // The admin port `hookq serve` uses by default: the demo must not need it.
  const busy = createServer();
  busy.listen(8081, '127.0.0.1');
  const bound = await Promise.race([
    once(busy, 'listening').then(() => true),
    once(busy, 'error').then(() => false), // taken already, which is as good
  ]);
  if (bound) onEnd(t, () => new Promise((resolve) => busy.close(resolve)));
  const tmp = removeAfter(t, tempDir('hookq-demo-test-'));

  const result = await runHookq(['demo'], { TMPDIR: tmp });
  assert.equal(result.code, 0, explain(['demo'], result));
  const out = result.stdout;
  assert.match(
    out,
    /retries a message 3 times at most, [\d.]+s of backoff in all; the release lasts 8s/,
  );
  assert.match(out, /target down after 3 unavailable attempts \(HTTP 503\)/);
  assert.match(out, /probe failed \(connect ECONNREFUSED/, 'the app also refused connections');
  assert.match(out, /the probe got through: target up/);
  // Messages went past their 3 attempts without being dead-lettered.
  assert.match(out, /app {5}200 order-\w+ +\w+ +\(attempt ([4-9]|\d{2,})\)/);
  for (const order of ['order-A', 'order-B', 'order-C'])
    assert.match(out, new RegExp(`  ${order}: created → paid → packed → shipped → delivered\\n`));
  assert.match(out, /\ndelivered: 15 of 15 {3}dead letters: 0 {3}in order: yes\n/);
  assert.deepEqual(leftovers(tmp), []);
});

test('demo options it cannot honour are bad usage (2), naming the limit', async () => {
  const cases = [
    { args: ['--events', '99'], says: /--events can be at most 8/ },
    { args: ['--events', '0'], says: /--events must be a whole number of at least 1/ },
    { args: ['--orders', '0'], says: /--orders must be a whole number of at least 1/ },
    { args: ['--orders', '2.5'], says: /--orders must be a whole number/ },
    { args: ['--release', 'soon'], says: /--release must be a number of seconds/ },
    { args: ['--release', '0'], says: /--release must be a number of seconds above 0/ },
  ];
  const results = await inTurns(
    cases.map(
      ({ args }) =>
        () =>
          runHookq(['demo', ...args]),
    ),
  );
  cases.forEach(({ args, says }, i) => {
    const result = results[i]!;
    assert.equal(result.code, 2, explain(['demo', ...args], result));
    assert.match(result.stderr, says);
    assert.equal(result.stdout, '', 'nothing ran');
  });
});

test('Ctrl-C stops the demo, exits 130 and removes its folder', { timeout: 60_000 }, async (t) => {
  const tmp = removeAfter(t, tempDir('hookq-demo-test-'));
  const child = spawnHookq(['demo'], { TMPDIR: tmp });
  onEnd(t, () => child.kill('SIGKILL'));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  await new Promise<void>((resolve) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk;
      // In the middle of the release: hookq holds messages it has not delivered.
      if (/target down/.test(stdout)) resolve();
    });
  });
  assert.equal(leftovers(tmp).length, 1, 'the demo keeps its database in a folder of its own');
  child.kill('SIGINT');
  const [code] = await exited;
  assert.equal(code, 130, `stdout: ${stdout}\nstderr: ${stderr}`);
  assert.match(stderr, /interrupted/);
  assert.deepEqual(leftovers(tmp), []);
});
