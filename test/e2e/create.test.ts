/**
 * `klp-convert create` end to end: patches in kpatch's integration-test style, turned into
 * livepatch modules for the Debian kernel under test (KVER: 6.1, 6.12 or 7.3) and loaded under qemu, all
 * cases in one boot; each checks what its patch promises, then disables and unloads the patch.
 * Refusals and --dry-run are checked on the host. Needs the prepared kernel tree (the first run
 * downloads and prepares it, a minute or two). A patch written against 6.1's source that does not
 * apply to another series has a per-series copy in test/modules/create/<series>/. On a kernel
 * create does not support the one-line refusal is what is tested.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { debianKernel, plainModule, repoRoot, runCli, tempDir } from '../helpers.js';
import { cacheRoot } from '../../src/kernel/cache.js';
import { type VmCase, type VmRun, explain, missingPrerequisites, runVm } from './vm.js';

const kernel = debianKernel();
const work = tempDir('klpc-create-e2e-');
const series = /^\d+\.\d+/.exec(kernel?.kver ?? '')?.[0] ?? '';
/** The kernel series create supports (README, "Kernels"). */
const SUPPORTED = ['6.1', '6.12', '7.3'];
const patchDir = join(repoRoot, 'test', 'modules', 'create');
/** The series' own copy of a patch when 6.1's does not apply to it. */
function patchFile(name: string): string {
  const own = join(patchDir, series, `${name}.patch`);
  return existsSync(own) ? own : join(patchDir, `${name}.patch`);
}
/**
 * What the printk header patch rebuilds and replaces, per series, from the kernel's source: the
 * units of kernel/printk/ that #include "printk_ringbuffer.h", and one function each series
 * inlines prb_rec_init_rd() into.
 */
const HEADER_CASE: Record<string, { units: string; replaced: string }> = {
  '6.1': { units: 'kernel/printk/printk.c, kernel/printk/printk_ringbuffer.c', replaced: 'devkmsg_open' },
  '6.12': { units: 'kernel/printk/nbcon.c, kernel/printk/printk.c, kernel/printk/printk_ringbuffer.c', replaced: 'kmsg_dump_get_line' },
  '7.3': { units: 'kernel/printk/nbcon.c, kernel/printk/printk.c, kernel/printk/printk_ringbuffer.c', replaced: 'kmsg_dump_get_line' },
};
/** The patches turned into modules, each loaded by one case below. */
const CASES = ['cmdline-string', 'meminfo-inline', 'binfmt-module', 'consoles-statics', 'kcm-statics', 'version-new-function'];

function caseOf(run: VmRun, name: string): VmCase {
  const c = run.cases.get(name);
  assert.ok(c, `case ${name} did not run; console tail:\n${run.console.split('\n').slice(-30).join('\n')}`);
  return c;
}

/** Load the livepatch of `patch`, run `check` while it is enabled, then disable and unload it. */
function patchedCase(patch: string, beforeCmd: string, during: string, afterCmd = beforeCmd): string {
  const sys = `livepatch_${patch.replace(/-/g, '_')}`;
  return `
begin ${patch}
${beforeCmd}
insmod /m/livepatch-${patch}.ko; out insmod $?
wait_idle
out enabled "$(cat /sys/kernel/livepatch/${sys}/enabled)"
${during}
unpatch
rmmod ${sys}; out rmmod $?
${afterCmd.replace(/out (\S+)/g, 'out after-$1')}
end ${patch}
`;
}

const guestScript = [
  patchedCase('cmdline-string', 'out cmdline "$(cat /proc/cmdline)"', 'out patched "$(cat /proc/cmdline)"'),
  patchedCase('meminfo-inline', 'out memtotal "$(head -1 /proc/meminfo)"', 'out patched "$(head -1 /proc/meminfo)"'),
  patchedCase('consoles-statics', 'out consoles "$(head -1 /proc/consoles)"', 'out patched "$(head -1 /proc/consoles)"'),
  patchedCase(
    'version-new-function',
    'out lines "$(wc -l < /proc/version)"',
    'out lines "$(wc -l < /proc/version)"\nout patched "$(tail -1 /proc/version)"',
  ),
  // The module function: binfmt_misc loaded before the patch, then (late) after it.
  `
begin binfmt-module
mkdir -p /bm
insmod /m/binfmt_misc.ko; out insmod-target $?
mount -t binfmt_misc binfmt_misc /bm; out mount $?
out status "$(cat /bm/status)"
insmod /m/livepatch-binfmt-module.ko; out insmod $?
wait_idle
out patched "$(cat /bm/status)"
unpatch
rmmod livepatch_binfmt_module; out rmmod $?
out after-status "$(cat /bm/status)"
umount /bm; rmmod binfmt_misc; out rmmod-target $?
insmod /m/livepatch-binfmt-module.ko; out late-insmod $?
wait_idle
insmod /m/binfmt_misc.ko; out late-insmod-target $?
mount -t binfmt_misc binfmt_misc /bm
out late-patched "$(cat /bm/status)"
unpatch
rmmod livepatch_binfmt_module; out late-rmmod $?
out late-after "$(cat /bm/status)"
umount /bm; rmmod binfmt_misc
end binfmt-module
`,
  // A static whose name its module defines twice: kcm loaded before the patch, then after it.
  `
begin kcm-statics
insmod /m/kcm.ko; out insmod-target $?
out stats "$(cat /proc/net/kcm_stats | wc -l)"
insmod /m/livepatch-kcm-statics.ko; out insmod $?
wait_idle
out enabled "$(cat /sys/kernel/livepatch/livepatch_kcm_statics/enabled)"
out stats-lines "$(cat /proc/net/kcm_stats | wc -l)"
out patched "$(tail -1 /proc/net/kcm_stats)"
unpatch
rmmod livepatch_kcm_statics; out rmmod $?
out after-stats "$(cat /proc/net/kcm_stats | wc -l)"
rmmod kcm; out rmmod-target $?
insmod /m/livepatch-kcm-statics.ko; out late-insmod $?
wait_idle
insmod /m/kcm.ko; out late-insmod-target $?
out late-patched "$(tail -1 /proc/net/kcm_stats)"
unpatch
rmmod livepatch_kcm_statics; out late-rmmod $?
out late-after "$(cat /proc/net/kcm_stats | wc -l)"
rmmod kcm
end kcm-statics
`,
].join('');

if (!SUPPORTED.includes(series)) {
  describe(`klp-convert create refuses kernel ${kernel?.kver} up front`, () => {
    test('one line naming what is missing, exit 1, nothing downloaded or written', () => {
      assert.ok(kernel, 'no Debian kernel under test (KVER)');
      const out = join(work, 'refused.ko');
      const r = runCli(['create', '--kernel', kernel.kver, '-o', out, patchFile('cmdline-string')]);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      // No special-section layouts for other series.
      assert.match(
        lines[0],
        new RegExp(
          `^klp-convert: create cannot target kernel ${kernel.kver.replace(/[.+]/g, '\\$&')}: missing the special-section layouts of Linux ${series.replace('.', '\\.')} \\(known: 6\\.1, 6\\.12, 7\\.3\\)`,
        ),
      );
      assert.equal(existsSync(out), false);
      assert.equal(existsSync(join(cacheRoot(), 'trees', kernel.kver)), false);
    });
  });
} else
  describe("qemu: livepatches made by klp-convert create load on Debian's kernel", () => {
    let run: VmRun;
    const created = new Map<string, { status: number; stdout: string; stderr: string }>();

    before(() => {
      const missing = missingPrerequisites(kernel?.vmlinux);
      if (missing.length > 0 || !kernel)
        throw new Error(
          `end-to-end prerequisites missing: ${missing.join('; ')}. Install them with: bash scripts/setup-debian.sh (as root)`,
        );
      for (const p of CASES) {
        const r = runCli(['create', '--kernel', kernel.kver, '-o', join(work, `livepatch-${p}.ko`), patchFile(p)]);
        assert.equal(r.status, 0, `${p}: ${r.stderr}`);
        created.set(p, r);
      }
      const files = CASES.map((p) => join(work, `livepatch-${p}.ko`)).concat(
        plainModule(kernel, 'fs/binfmt_misc.ko', work),
        plainModule(kernel, 'net/kcm/kcm.ko', work),
      );
      run = runVm(kernel.vmlinux, work, files, guestScript, false);
      process.stderr.write(`# e2e create: one boot, ${run.cases.size} cases, ${run.seconds.toFixed(1)} s\n`);
    });

    /** The case ran, its patch loaded and enabled, and it was disabled and unloaded without a kernel warning. */
    function loadedAndUnloaded(c: VmCase): void {
      assert.equal(c.out.get('insmod'), '0', explain(c));
      assert.equal(c.out.get('rmmod'), '0', explain(c));
      assert.doesNotMatch(c.dmesg, /Call Trace|WARNING:|BUG:/, explain(c));
    }

    test('a /proc output change: loads, changes /proc/cmdline, and goes away cleanly', () => {
      assert.match(
        created.get('cmdline-string')!.stdout,
        /fs\/proc\/cmdline\.c: cmdline_proc_show replaces vmlinux cmdline_proc_show: edited directly/,
      );
      assert.match(created.get('cmdline-string')!.stderr, /compiling fs\/proc\/cmdline\.c/);
      const c = caseOf(run, 'cmdline-string');
      loadedAndUnloaded(c);
      assert.equal(c.out.get('enabled'), '1', explain(c));
      const before = c.out.get('cmdline')!;
      assert.equal(c.out.get('patched'), `${before} klp-create-patched`);
      assert.equal(c.out.get('after-cmdline'), before);
    });

    test('a static helper GCC inlined: its caller is replaced because the inlined callee changed', () => {
      // show_val_kb has no symbol of its own in Debian's vmlinux: every call was inlined into meminfo_proc_show.
      assert.match(
        created.get('meminfo-inline')!.stdout,
        /^fs\/proc\/meminfo\.c: meminfo_proc_show replaces vmlinux meminfo_proc_show: a callee inlined into it changed \(show_val_kb\)/m,
      );
      assert.doesNotMatch(created.get('meminfo-inline')!.stdout, /show_val_kb replaces/);
      const c = caseOf(run, 'meminfo-inline');
      loadedAndUnloaded(c);
      assert.match(c.out.get('memtotal')!, /^MemTotal:\s+\d+ kB$/);
      assert.match(c.out.get('patched')!, /^MemTotal:\s+\d+ KB$/, explain(c));
      assert.equal(c.out.get('after-memtotal'), c.out.get('memtotal'));
    });

    test("statics named in several files: the unit's own c_start, at its exact position", () => {
      // c_start is a local of arch/x86/kernel/cpu/proc.c, fs/proc/consoles.c and another proc.c; the
      // patched code compares the seq_file's .start (the running kernel's consoles.c c_start) with
      // its own reference to c_start: equal only if the relocation names the right one.
      const c = caseOf(run, 'consoles-statics');
      loadedAndUnloaded(c);
      assert.equal(c.out.get('patched'), `${c.out.get('consoles')} own-c_start`, explain(c));
      assert.equal(c.out.get('after-consoles'), c.out.get('consoles'));
    });

    test("a static its module defines twice: the unit's own kcm_net_ops, at its position in the module", () => {
      // kcm.ko links kcmsock.o then kcmproc.o (net/kcm/Makefile), each with a static kcm_net_ops:
      // kcmproc.c's is the module's second. The patched kcm_stats_seq_show compares its
      // kcm_net_ops.init with kcm_proc_init_net (a unique name): equal only for kcmproc.c's.
      const r = created.get('kcm-statics')!;
      assert.match(
        r.stdout,
        /^net\/kcm\/kcmproc\.c: kcm_stats_seq_show replaces kcm kcm_stats_seq_show: edited directly \[rebuilt original = shipped code\]$/m,
      );
      const refs = runCli(['inspect', '--json', join(work, 'livepatch-kcm-statics.ko')]);
      assert.equal(refs.status, 0, refs.stderr);
      const targets = (
        JSON.parse(refs.stdout) as { objects: { sections: { relocations: { target: { symbol: string; position: number } | null }[] }[] }[] }
      ).objects
        .flatMap((o) => o.sections.flatMap((s) => s.relocations))
        .map((x) => x.target && `${x.target.symbol},${x.target.position}`);
      assert.ok(targets.includes('kcm_net_ops,2'), targets.join(' '));
      const c = caseOf(run, 'kcm-statics');
      loadedAndUnloaded(c);
      assert.equal(c.out.get('insmod-target'), '0', explain(c));
      assert.equal(c.out.get('enabled'), '1', explain(c));
      assert.equal(c.out.get('stats-lines'), String(Number(c.out.get('stats')) + 1), explain(c));
      assert.equal(c.out.get('patched'), 'klp own-kcm_net_ops', explain(c));
      assert.equal(c.out.get('after-stats'), c.out.get('stats'));
      assert.equal(c.out.get('rmmod-target'), '0', explain(c));
      assert.equal(c.out.get('late-insmod'), '0', explain(c));
      assert.equal(c.out.get('late-insmod-target'), '0', explain(c));
      assert.equal(c.out.get('late-patched'), 'klp own-kcm_net_ops', explain(c));
      assert.equal(c.out.get('late-rmmod'), '0', explain(c));
      assert.equal(c.out.get('late-after'), c.out.get('stats'));
    });

    test('a new function and a new string', () => {
      assert.match(created.get('version-new-function')!.stdout, /^fs\/proc\/version\.c: klp_version_note: new function$/m);
      assert.match(created.get('version-new-function')!.stdout, /version_proc_show replaces vmlinux version_proc_show: edited directly/);
      const c = caseOf(run, 'version-new-function');
      loadedAndUnloaded(c);
      assert.equal(c.out.get('lines'), '2', explain(c));
      assert.equal(c.out.get('patched'), 'klp-create-new-function');
      assert.equal(c.out.get('after-lines'), '1');
    });

    test('a module function: patched when the module is loaded before the patch, and when it loads after it', () => {
      // The rebuilt original is compared with the shipped binfmt_misc.ko, relocation sites masked.
      assert.match(
        created.get('binfmt-module')!.stdout,
        /fs\/binfmt_misc\.c: bm_status_read replaces binfmt_misc bm_status_read: edited directly \[rebuilt original = shipped code\]/,
      );
      const c = caseOf(run, 'binfmt-module');
      loadedAndUnloaded(c);
      assert.equal(c.out.get('insmod-target'), '0', explain(c));
      assert.equal(c.out.get('status'), 'enabled');
      assert.equal(c.out.get('patched'), 'enabled (klp-create-patched)', explain(c));
      assert.equal(c.out.get('after-status'), 'enabled');
      assert.equal(c.out.get('rmmod-target'), '0', explain(c));
      assert.equal(c.out.get('late-insmod'), '0', explain(c));
      assert.equal(c.out.get('late-insmod-target'), '0', explain(c));
      assert.equal(c.out.get('late-patched'), 'enabled (klp-create-patched)', explain(c));
      assert.equal(c.out.get('late-rmmod'), '0', explain(c));
      assert.equal(c.out.get('late-after'), 'enabled');
    });

    test('changed initialised data is refused, naming the symbol, and nothing is written', () => {
      const out = join(work, 'data.ko');
      const r = runCli(['create', '--kernel', kernel!.kver, '-o', out, patchFile('data-change-FAIL')]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /panic_timeout: changed initialised data/);
      assert.equal(existsSync(out), false);
    });

    test('--dry-run prints the report only', () => {
      const out = join(work, 'dry.ko');
      const r = runCli([
        'create',
        '--kernel',
        kernel!.kver,
        '--dry-run',
        '--json',
        '-o',
        out,
        patchFile('cmdline-string'),
        patchFile('meminfo-inline'),
      ]);
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout) as {
        functions: { oldName: string; reason: string; via: string[]; sympos: number; shipped: string }[];
        output: string | null;
      };
      assert.deepEqual(
        j.functions.map((f) => [f.oldName, f.reason, f.via, f.sympos, f.shipped]),
        [
          ['cmdline_proc_show', 'edited', ['cmdline_proc_show'], 0, 'identical'],
          ['meminfo_proc_show', 'inlined-callee-changed', ['show_val_kb'], 0, 'identical'],
        ],
      );
      assert.equal(j.output, null);
      assert.equal(existsSync(out), false);
    });

    test("a patch to a folder's header rebuilds the units whose dependency lists name it", () => {
      const r = runCli(['create', '--kernel', kernel!.kver, '--dry-run', patchFile('printk-header')]);
      assert.equal(r.status, 0, r.stderr);
      // fixdep's lists in the prepared tree name exactly the units that include the header.
      const expected = HEADER_CASE[series];
      assert.ok(r.stderr.includes(`kernel/printk/printk_ringbuffer.h is included by ${expected.units}\n`), r.stderr);
      // prb_rec_init_rd is static inline: the functions it is inlined into are replaced, never itself.
      assert.match(
        r.stdout,
        new RegExp(
          `^kernel/printk/printk\\.c: ${expected.replaced} replaces vmlinux ${expected.replaced}: a callee inlined into it changed \\(prb_rec_init_rd\\)`,
          'm',
        ),
      );
      assert.doesNotMatch(r.stdout, /prb_rec_init_rd replaces/);
    });

    test('a patch to a global header is refused with the reason', () => {
      const r = runCli(['create', '--kernel', kernel!.kver, '--dry-run', patchFile('global-header-FAIL')]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /include\/linux\/seq_file\.h: a header any part of the kernel may include/);
    });
  });
