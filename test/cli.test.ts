import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runCli, runCliInProcess } from './helpers.js';

const commands = ['build', 'convert', 'verify', 'inspect', 'symbols', 'copy'];

// A process of its own: the bin entry and the exit status it sets (the other tests call main() in process).
test('klp-convert --help lists every command; no arguments is a usage error', () => {
  const r = runCli(['--help']);
  assert.equal(r.status, 0);
  for (const c of commands) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  assert.equal(runCli([]).status, 2);
});

for (const c of commands) {
  test(`klp-convert ${c} --help`, async () => {
    const r = await runCliInProcess([c, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: klp-convert ${c} `));
    assert.equal(r.stderr, '');
  });
}

test('unknown command and unknown option: one line, the hint, exit 2', async () => {
  let r = await runCliInProcess(['frobnicate']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "klp-convert: unknown command 'frobnicate'\nTry 'klp-convert --help'.\n");
  r = await runCliInProcess(['inspect', '--frob', 'x.ko']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "klp-convert: Unknown option '--frob'\nTry 'klp-convert inspect --help'.\n");
});

test('--include-dir prints the folder holding klp-convert.h', async () => {
  const r = await runCliInProcess(['--include-dir']);
  assert.equal(r.status, 0);
  assert.ok(existsSync(join(r.stdout.trim(), 'klp-convert.h')), r.stdout);
});

test('copy: unreadable input, non-ELF input, unwritable output: one line, exit 1', async () => {
  for (const [args, message] of [
    [['copy', '/nonexistent.o', '/tmp/x.o'], 'klp-convert: cannot read input /nonexistent.o: no such file or directory\n'],
    [['copy', '/etc/passwd', '/tmp/x.o'], 'klp-convert: /etc/passwd: not an ELF file (bad magic number)\n'],
    [
      ['copy', '/bin/true', '/tmp/x.o'],
      'klp-convert: /bin/true: objects with program headers (executables, shared objects) cannot be written, only relocatable objects\n',
    ],
    [
      ['copy', join(repoRoot, 'test/fixtures/cross/fixture-s390.o'), '/nonexistent/dir/x.o'],
      'klp-convert: cannot write /nonexistent/dir/x.o: no such file or directory\n',
    ],
  ] as const) {
    const r = await runCliInProcess([...args]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, message);
  }
});
