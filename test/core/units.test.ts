import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration, parseSize } from '../../src/core/units.js';

describe('units', () => {
  it('parses durations with a unit', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('4d'), 345_600_000);
    assert.equal(parseDuration('1.5s'), 1_500);
  });

  it('rejects durations without a unit or with an unknown one', () => {
    for (const bad of ['30', '5 minutes', '-1s', 's', '', '1w'])
      assert.equal(parseDuration(bad), undefined, bad);
  });

  it('parses sizes in bytes and binary or decimal units', () => {
    assert.equal(parseSize(1024), 1024);
    assert.equal(parseSize('1MiB'), 1_048_576);
    assert.equal(parseSize('64KiB'), 65_536);
    assert.equal(parseSize('2MB'), 2_000_000);
    assert.equal(parseSize('512'), 512);
    assert.equal(parseSize('1.5 KiB'), 1_536);
  });

  it('rejects sizes that are not sizes', () => {
    for (const bad of ['1 parsec', 'MiB', '-1', 1.5, -2])
      assert.equal(parseSize(bad), undefined, String(bad));
  });

  it('formats milliseconds as the shortest exact duration', () => {
    assert.equal(formatDuration(345_600_000), '4d');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(120_000), '2m');
    assert.equal(formatDuration(1_500), '1500ms');
  });
});
