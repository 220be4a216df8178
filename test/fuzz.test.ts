import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from './fuzz/run.js';
import { tempDir } from './helpers.js';

/**
 * A short seeded round of the fuzz harness (`npm run fuzz` runs long ones): mutated ELF objects,
 * compressed modules, symbol maps (text and binary) and kallsyms dumps through copy, inspect, verify, convert and
 * symbols, each execution watched for time and memory. Every execution must end in a one-line typed
 * error or in a result that holds up (see test/fuzz/worker.ts).
 */
test('fuzz: 2,000 seeded executions, no crash, hang, memory blow-up or bad output', async () => {
  const findings = tempDir('klpc-findings-');
  const r = await runFuzz({
    seed: 20261125,
    count: 2000,
    // Catches hangs, not slowness: a loaded CI machine must not turn a slow execution into a finding.
    timeLimitMs: 60_000,
    rssLimitMb: 1024,
    readelfEvery: 20,
    findings,
    kinds: ['elf', 'compressed', 'map', 'binary-map', 'kallsyms'],
  });
  assert.equal(r.executions, 2000);
  assert.deepEqual(
    r.findings.map((f) => `case ${f.index} (${f.entry}, ${f.label}): ${f.problem}`),
    [],
  );
  // Both outcomes must be reached, or the round no longer tests what it claims to.
  const sum = (status: number) =>
    Object.entries(r.statuses)
      .filter(([k]) => k.endsWith(` ${status}`))
      .reduce((n, [, v]) => n + v, 0);
  assert.ok(sum(0) > 200 && sum(1) > 200, `statuses ${JSON.stringify(r.statuses)}`);
});
