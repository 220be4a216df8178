/**
 * `klp-convert create` end to end: patches in kpatch's integration-test style, turned into
 * livepatch modules for Debian's 6.1 kernel, loaded under qemu; refusals checked on the host.
 * Needs the prepared kernel tree (the first run downloads and prepares it, a few minutes).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { debianKernel, repoRoot, runCli, tempDir } from '../helpers.js';
import { type VmCase, type VmRun, explain, missingPrerequisites, runVm } from './vm.js';

const kernel = debianKernel();
const work = tempDir('klpc-create-e2e-');
const patches = join(repoRoot, 'test', 'modules', 'create');

function caseOf(run: VmRun, name: string): VmCase {
  const c = run.cases.get(name);
  assert.ok(c, `case ${name} did not run; console tail:\n${run.console.split('\n').slice(-30).join('\n')}`);
  return c;
}

const guestScript = `
begin cmdline-string
out cmdline-before "$(cat /proc/cmdline)"
insmod /m/livepatch-cmdline-string.ko; out insmod $?
wait_idle
out enabled "$(cat /sys/kernel/livepatch/livepatch_cmdline_string/enabled)"
out cmdline "$(cat /proc/cmdline)"
unpatch
rmmod livepatch_cmdline_string; out rmmod $?
out cmdline-after "$(cat /proc/cmdline)"
end cmdline-string
`;

describe('qemu: livepatches made by klp-convert create load on Debian\'s kernel', () => {
  let run: VmRun;
  let created: { status: number; stdout: string; stderr: string };

  before(() => {
    const missing = missingPrerequisites(kernel?.vmlinux);
    if (missing.length > 0 || !kernel) throw new Error(`end-to-end prerequisites missing: ${missing.join('; ')}. Install them with: bash scripts/setup-debian.sh (as root)`);
    created = runCli(['create', '--kernel', kernel.kver, '-o', join(work, 'livepatch-cmdline-string.ko'), join(patches, 'cmdline-string.patch')]);
    assert.equal(created.status, 0, created.stderr);
    run = runVm(kernel.vmlinux, work, [join(work, 'livepatch-cmdline-string.ko')], guestScript, false);
  });

  test('create reports the replaced function and why', () => {
    assert.match(created.stdout, /fs\/proc\/cmdline\.c: cmdline_proc_show replaces vmlinux cmdline_proc_show: edited directly/);
    assert.match(created.stderr, /compiling fs\/proc\/cmdline\.c/);
  });

  test('a /proc output change: loads, changes /proc/cmdline, and goes away cleanly', () => {
    const c = caseOf(run, 'cmdline-string');
    assert.equal(c.out.get('insmod'), '0', explain(c));
    assert.equal(c.out.get('enabled'), '1', explain(c));
    const before = c.out.get('cmdline-before')!;
    assert.equal(c.out.get('cmdline'), `${before} klp-create-patched`);
    assert.equal(c.out.get('rmmod'), '0', explain(c));
    assert.equal(c.out.get('cmdline-after'), before);
    assert.doesNotMatch(c.dmesg, /Call Trace|WARNING:/);
  });

  test('changed initialised data is refused, naming the symbol, and nothing is written', () => {
    const out = join(work, 'data.ko');
    const r = runCli(['create', '--kernel', kernel!.kver, '-o', out, join(patches, 'data-change-FAIL.patch')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /panic_timeout: changed initialised data/);
    assert.equal(existsSync(out), false);
  });

  test('--dry-run prints the report only', () => {
    const out = join(work, 'dry.ko');
    const r = runCli(['create', '--kernel', kernel!.kver, '--dry-run', '--json', '-o', out, join(patches, 'cmdline-string.patch')]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { functions: { oldName: string; reason: string; sympos: number; shipped: string }[]; output: string | null };
    assert.deepEqual(j.functions.map((f) => [f.oldName, f.reason, f.sympos]), [['cmdline_proc_show', 'edited', 0]]);
    assert.equal(j.functions[0].shipped, 'identical');
    assert.equal(j.output, null);
    assert.equal(existsSync(out), false);
  });
});
