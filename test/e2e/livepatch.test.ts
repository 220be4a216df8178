/**
 * Debian's own kernel (the one $KVER names, see test/helpers.ts), booted under qemu, loads what
 * klp-convert produced. One boot runs every case; each test below checks one thing the boot
 * showed. Run with `npm run test:e2e`; `KVER=6.12.95+deb12-amd64 npm run test:e2e` for another.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildSymbolMap } from '../../src/kernel/build-map.js';
import { kernelVersionOf } from '../../src/kernel/kallsyms-rules.js';
import { VMLINUX } from '../../src/kernel/symbol-map.js';
import { type BrokenVariant, brokenVariants } from '../broken-variants.js';
import { copySources, debianKernel, plainModule as plainModuleOf, repoRoot, runCli, tempDir } from '../helpers.js';
import { type VmCase, type VmRun, explain, missingPrerequisites, runVm } from './vm.js';

const kernel = debianKernel();
const work = tempDir('klpc-e2e-');
const samples = join(work, 'samples');
const out = join(work, 'out');
/** Debian modules with duplicated names inside them and no dependencies, loaded for the sympos check. */
const debianModules = ['fs/overlayfs/overlay.ko', 'drivers/comedi/drivers/ni_routing.ko'];

/** A Debian module as a plain .ko in the work folder. */
const plainModule = (path: string): string => plainModuleOf(kernel!, path, work);

/** Address and name of every symbol `nm -n` lists: the kernel build's own view of a vmlinux. */
function nmSymbols(vmlinux: string): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  const text = execFileSync('nm', ['-n', vmlinux], { encoding: 'latin1', maxBuffer: 1 << 30 });
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length !== 3) continue;
    const list = byName.get(f[2]);
    if (list) list.push(f[0]);
    else byName.set(f[2], [f[0]]);
  }
  return byName;
}

function kallsymsEntries(text: string, object: string | undefined): { addr: string; name: string }[] {
  const out: { addr: string; name: string }[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(/\s+/);
    if (f.length < 3) continue;
    const mod = f[3]?.replace(/^\[|\]$/g, '');
    if (mod === object) out.push({ addr: f[0], name: f[2] });
  }
  return out;
}

function nth(entries: { addr: string; name: string }[], name: string, n: number): string | undefined {
  return entries.filter((e) => e.name === name)[n - 1]?.addr;
}

function caseOf(run: VmRun, name: string): VmCase {
  const c = run.cases.get(name);
  assert.ok(c, `case ${name} did not run; console tail:\n${run.console.split('\n').slice(-30).join('\n')}`);
  return c;
}

function brokenCases(variants: BrokenVariant[]): string {
  // Every variant is named klp_sample_annotated: one that loads anyway must go before the next.
  return variants
    .map(
      (v) => `
begin broken-${v.name}
insmod /m/broken-${v.name}.ko; out insmod $?
unpatch; rmmod klp_sample_annotated 2>/dev/null
end broken-${v.name}`,
    )
    .join('\n');
}

const guestScript = (variants: BrokenVariant[]) => `
begin unconverted
insmod /m/klp_sample_auto_unconverted.ko; out insmod $?
end unconverted
${['klp_sample_plain', 'klp_sample_auto', 'klp_sample_annotated']
  .map(
    (m) => `
begin ${m}
insmod /m/${m}.ko; out insmod $?
wait_idle
out enabled "$(cat /sys/kernel/livepatch/${m}/enabled)"
out cmdline "$(cat /proc/cmdline)"
unpatch
rmmod ${m}; out rmmod $?
out cmdline-after "$(cat /proc/cmdline)"
end ${m}`,
  )
  .join('\n')}
${['klp_sample_modpatch', 'klp_sample_byfile']
  .map(
    (m) => `
begin ${m}-early
insmod /m/klp_sample_target.ko; out insmod-target $?
out show-before "$(cat /sys/module/klp_sample_target/parameters/show)"
insmod /m/${m}.ko; out insmod $?
wait_idle
out enabled "$(cat /sys/kernel/livepatch/${m}/enabled)"
out show "$(cat /sys/module/klp_sample_target/parameters/show)"
module_syms klp_sample_target
unpatch
rmmod ${m}; out rmmod $?
out show-after "$(cat /sys/module/klp_sample_target/parameters/show)"
rmmod klp_sample_target; out rmmod-target $?
end ${m}-early`,
  )
  .join('\n')}

begin klp_sample_modpatch-late
insmod /m/klp_sample_modpatch.ko; out insmod $?
wait_idle
insmod /m/klp_sample_target.ko; out insmod-target $?
out show "$(cat /sys/module/klp_sample_target/parameters/show)"
module_syms klp_sample_target
unpatch
rmmod klp_sample_modpatch; out rmmod $?
rmmod klp_sample_target; out rmmod-target $?
end klp_sample_modpatch-late

${brokenCases(variants)}

begin klp_sample_modpatch-reload
insmod /m/klp_sample_target.ko; out insmod-target $?
insmod /m/klp_sample_modpatch.ko; out insmod $?
wait_idle
rmmod klp_sample_target; out rmmod-target $?
insmod /m/klp_sample_target.ko; out reinsmod-target $?
out show "$(cat /sys/module/klp_sample_target/parameters/show 2>&1)"
unpatch
rmmod klp_sample_modpatch; out rmmod $?
rmmod klp_sample_target 2>/dev/null
end klp_sample_modpatch-reload

begin loaded-modules
insmod /m/klp_sample_target.ko; out insmod-target $?
${debianModules.map((m) => `insmod /m/${m.split('/').pop()}; out insmod-${m.split('/').pop()} $?`).join('\n')}
out modules "$(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')"
end loaded-modules
`;

describe("qemu: Debian's kernel loads what klp-convert produced", () => {
  let run: VmRun;
  let ambiguous: { status: number; stderr: string };
  let rejected: BrokenVariant[];

  before(async () => {
    const missing = missingPrerequisites(kernel?.vmlinux);
    if (kernel && !kernel.dbgVmlinux)
      missing.push(`the -dbg vmlinux of ${kernel.kver} (scripts/setup-debian.sh --dbg fetches it, about 1 GB)`);
    if (missing.length > 0 || !kernel) {
      throw new Error(`end-to-end prerequisites missing: ${missing.join('; ')}. Install them with: bash scripts/setup-debian.sh (as root)`);
    }
    const kdir = kernel.kdir;
    copySources(join(repoRoot, 'samples'), samples);
    const build = (dir: string, ...args: string[]) => runCli(['build', join(samples, dir), '--kdir', kdir, '-o', out, ...args]);
    let r = build('module-target/target');
    assert.equal(r.status, 0, r.stderr);
    const map = join(work, 'symbols.map');
    r = runCli([
      'symbols',
      '--kallsyms',
      kernel.kallsyms,
      '--modules',
      kernel.modules,
      join(out, 'klp_sample_target.ko'),
      '--symvers',
      kernel.symvers,
      '-o',
      map,
    ]);
    assert.equal(r.status, 0, r.stderr);
    for (const dir of ['livepatch-sample', 'auto-resolved', 'annotated', 'module-target/livepatch', 'by-file']) {
      r = build(dir, '-s', map);
      assert.equal(r.status, 0, `${dir}: ${r.stderr}`);
    }
    ambiguous = build('ambiguous', '-s', map);
    copyFileSync(join(samples, 'auto-resolved', 'klp_sample_auto.ko'), join(out, 'klp_sample_auto_unconverted.ko'));
    rejected = brokenVariants(readFileSync(join(out, 'klp_sample_annotated.ko'))).filter((v) => v.kernel);
    for (const v of rejected) writeFileSync(join(out, `broken-${v.name}.ko`), v.bytes);
    const files = [
      'klp_sample_auto_unconverted',
      'klp_sample_plain',
      'klp_sample_auto',
      'klp_sample_annotated',
      'klp_sample_target',
      'klp_sample_modpatch',
      'klp_sample_byfile',
    ]
      .map((m) => join(out, `${m}.ko`))
      .concat(rejected.map((v) => join(out, `broken-${v.name}.ko`)))
      .concat(debianModules.map(plainModule));
    run = runVm(kernel.vmlinux, work, files, guestScript(rejected), true);
    process.stderr.write(`# e2e: ${kernel.kver}, one boot, ${run.cases.size} cases, ${run.seconds.toFixed(1)} s\n`);
  });

  test('every converted sample verifies clean against the target kernel before it is loaded', () => {
    for (const m of ['klp_sample_plain', 'klp_sample_auto', 'klp_sample_annotated', 'klp_sample_modpatch', 'klp_sample_byfile']) {
      const r = runCli(['verify', join(out, `${m}.ko`), '-s', join(work, 'symbols.map'), '--symvers', kernel!.symvers]);
      assert.equal(r.status, 0, `${m}: ${r.stdout}${r.stderr}`);
    }
  });

  test('the ambiguous sample fails at build time, listing both candidates', () => {
    assert.equal(ambiguous.status, 1);
    assert.match(ambiguous.stderr, /'ucode_path' is defined 2 times in the target kernel/);
    assert.match(ambiguous.stderr, /vmlinux ucode_path,1/);
    assert.match(ambiguous.stderr, /vmlinux ucode_path,2/);
    assert.ok(!existsSync(join(out, 'klp_sample_ambiguous.ko')), 'no output for the refused module');
  });

  test('the module before conversion is refused by the kernel (unknown symbol)', () => {
    const c = caseOf(run, 'unconverted');
    assert.notEqual(c.out.get('insmod'), '0', explain(c));
    assert.match(c.dmesg, /Unknown symbol saved_command_line/, explain(c));
  });

  test('a livepatch that needs no conversion still loads (livepatch-sample)', () => {
    const c = caseOf(run, 'klp_sample_plain');
    assert.equal(c.out.get('insmod'), '0', explain(c));
    assert.equal(c.out.get('enabled'), '1', explain(c));
    assert.equal(c.out.get('cmdline'), 'this has been live patched', explain(c));
  });

  for (const m of ['klp_sample_plain', 'klp_sample_auto', 'klp_sample_annotated']) {
    test(`${m}: disable and unload restore the original function`, () => {
      const c = caseOf(run, m);
      assert.equal(c.out.get('rmmod'), '0', explain(c));
      assert.match(c.out.get('cmdline-after') ?? '', /^console=ttyS0/, explain(c));
    });
  }

  test('automatically resolved references reach the kernel symbols kallsyms lists', () => {
    const c = caseOf(run, 'klp_sample_auto');
    assert.equal(c.out.get('insmod'), '0', explain(c));
    assert.equal(c.out.get('enabled'), '1', explain(c));
    const m = /nr_processes=(\d+) saved_command_line=([0-9a-f]+) nr_processes@([0-9a-f]+) cmdline=\[console=ttyS0/.exec(
      c.out.get('cmdline') ?? '',
    );
    assert.ok(m, explain(c));
    const vmlinux = kallsymsEntries(run.kallsyms!, undefined);
    assert.equal(m[2], nth(vmlinux, 'saved_command_line', 1));
    assert.equal(m[3], nth(vmlinux, 'nr_processes', 1));
    assert.ok(Number(m[1]) > 0);
  });

  test('an annotated position binds the n-th symbol of that name (ucode_path,2)', () => {
    const c = caseOf(run, 'klp_sample_annotated');
    assert.equal(c.out.get('insmod'), '0', explain(c));
    const m = /ucode_path=([0-9a-f]+) (\S+)/.exec(c.out.get('cmdline') ?? '');
    assert.ok(m, explain(c));
    assert.equal(m[1], nth(kallsymsEntries(run.kallsyms!, undefined), 'ucode_path', 2));
    assert.equal(m[2], 'kernel/x86/microcode/AuthenticAMD.bin');
  });

  for (const [m, label] of [
    ['klp_sample_modpatch', 'position annotations'],
    ['klp_sample_byfile', 'source-file annotations'],
  ]) {
    test(`patching a loaded module with its static symbols, by ${label}`, () => {
      const c = caseOf(run, `${m}-early`);
      assert.equal(c.out.get('insmod-target'), '0', explain(c));
      assert.match(c.out.get('show-before') ?? '', /unpatched, homonym string A/, explain(c));
      assert.equal(c.out.get('insmod'), '0', explain(c));
      assert.equal(c.out.get('enabled'), '1', explain(c));
      const show = /=([0-9a-f]+) \[homonym string B\] get_homonym_string\S*=([0-9a-f]+) \[homonym string A\]/.exec(c.out.get('show') ?? '');
      assert.ok(show, explain(c));
      const ksyms = c.lines.filter((l) => l.key.startsWith('ksym ')).map((l) => ({ name: l.key.slice(5), addr: l.value }));
      assert.equal(show[1], nth(ksyms, 'homonym_string', 2), 'homonym_string,2 is the second in kallsyms');
      assert.equal(show[2], nth(ksyms, 'get_homonym_string', 1), 'get_homonym_string,1 is the first in kallsyms');
      assert.equal(c.out.get('rmmod'), '0', explain(c));
      assert.match(c.out.get('show-after') ?? '', /unpatched/, explain(c));
    });
  }

  test('late module patching: the target loads after the patch and gets its relocations', () => {
    const c = caseOf(run, 'klp_sample_modpatch-late');
    assert.equal(c.out.get('insmod'), '0', explain(c));
    assert.equal(c.out.get('insmod-target'), '0', explain(c));
    assert.match(c.dmesg, /applying patch 'klp_sample_modpatch' to loading module 'klp_sample_target'/, explain(c));
    const show = /homonym_string,2=([0-9a-f]+) \[homonym string B\]/.exec(c.out.get('show') ?? '');
    assert.ok(show, explain(c));
    const ksyms = c.lines.filter((l) => l.key.startsWith('ksym ')).map((l) => ({ name: l.key.slice(5), addr: l.value }));
    assert.equal(show[1], nth(ksyms, 'homonym_string', 2));
    assert.equal(c.out.get('rmmod'), '0', explain(c));
  });

  test('reloading a patched module while the patch is enabled: patched again from Linux 6.3, refused before', () => {
    const c = caseOf(run, 'klp_sample_modpatch-reload');
    assert.equal(c.out.get('insmod'), '0', explain(c));
    assert.equal(c.out.get('rmmod-target'), '0', explain(c));
    const v = kernelVersionOf(kernel!.kver)!;
    const fixed = v.major * 1000 + v.minor >= 6003;
    assert.equal(
      c.out.get('reinsmod-target') === '0',
      fixed,
      `${kernel!.kver}: reload ${fixed ? 'must' : 'cannot'} succeed; ${explain(c)}`,
    );
    if (fixed) {
      assert.match(c.out.get('show') ?? '', /klp_sample_modpatch: homonym_string,2=/, explain(c));
    } else {
      // Kernels without "livepatch,x86: Clear relocation targets on a module removal" (6.3) find
      // the first load's values still in place (README, Limits).
      assert.match(c.dmesg, /Skipping invalid relocation target, existing value is nonzero/, explain(c));
      assert.match(c.dmesg, /refusing to load module 'klp_sample_target'/, explain(c));
    }
    assert.equal(c.out.get('rmmod'), '0', explain(c));
  });

  test('modules that verify rejects are rejected by the kernel too, with the message verify predicts', () => {
    assert.ok(rejected.length >= 8);
    for (const v of rejected) {
      const c = caseOf(run, `broken-${v.name}`);
      assert.notEqual(c.out.get('insmod'), '0', `${v.name} loaded: ${explain(c)}`);
      assert.match(c.dmesg, v.kernel!, `${v.name} (verify rule ${v.rule}): ${explain(c)}`);
    }
  });

  test("a map made from the -dbg vmlinux (--vmlinux) lists vmlinux's symbols in the VM's kallsyms order, and its positions bind the addresses the VM shows", async () => {
    assert.ok(run.kallsyms, 'the VM dumped /proc/kallsyms');
    const { map } = await buildSymbolMap({ vmlinux: kernel!.dbgVmlinux, modules: [] });
    assert.equal(map.meta.get('release'), kernel!.kver, 'the map records the release linux_banner names');
    const ours = map.object(VMLINUX)!;
    const vm = kallsymsEntries(run.kallsyms!, undefined);
    // The whole list, ties at one address included: then every position names the same entry.
    assert.deepEqual(
      ours.names.filter((_, i) => ours.listed[i]),
      vm.map((e) => e.name),
      'vmlinux: kallsyms order differs from the map',
    );
    // The VM boots through PVH (no KASLR), so its addresses are the vmlinux's: position n of a
    // duplicated name is the n-th lowest address nm lists for it.
    const nm = nmSymbols(kernel!.dbgVmlinux!);
    let checked = 0;
    const vmAddresses = new Map<string, string[]>();
    for (const e of vm) {
      const list = vmAddresses.get(e.name);
      if (list) list.push(e.addr);
      else vmAddresses.set(e.name, [e.addr]);
    }
    for (const [name, addrs] of vmAddresses) {
      if (addrs.length < 2) continue;
      assert.equal(ours.count(name), addrs.length, `${name}: positions`);
      assert.deepEqual(
        addrs,
        (nm.get(name) ?? []).filter((a) => addrs.includes(a)),
        `${name}: addresses by position`,
      );
      checked++;
    }
    process.stderr.write(`# e2e: vmlinux: ${vm.length} symbols in order, ${checked} duplicated names bound to the VM's addresses\n`);
    assert.ok(checked > 1100, `${checked} duplicated names compared`);
  });

  test("a map made from System.map (--system-map; the kernel's own scripts/mksysmap over the -dbg vmlinux) lists vmlinux's symbols in the VM's kallsyms order", async () => {
    assert.ok(run.kallsyms, 'the VM dumped /proc/kallsyms');
    const systemMap = join(work, 'System.map');
    const mksysmap = join(kernel!.kdir, 'scripts', 'mksysmap');
    // Up to 6.3 mksysmap is a shell script running $NM; from 6.4 a sed script reading `nm -n`.
    if (readFileSync(mksysmap, 'latin1').startsWith('#!/bin/sed')) {
      writeFileSync(
        systemMap,
        execFileSync('sh', ['-c', 'nm -n "$0" | sed -f "$1"', kernel!.dbgVmlinux!, mksysmap], { maxBuffer: 1 << 30 }),
      );
    } else {
      execFileSync('sh', [mksysmap, kernel!.dbgVmlinux!, systemMap], { env: { ...process.env, NM: 'nm' } });
    }
    const { map } = await buildSymbolMap({ systemMap, modules: [], release: kernel!.kver });
    const ours = map.object(VMLINUX)!;
    assert.deepEqual(
      ours.names.filter((_, i) => ours.listed[i]),
      kallsymsEntries(run.kallsyms!, undefined).map((e) => e.name),
      'vmlinux: kallsyms order differs from the System.map map',
    );
  });

  test("our positions equal the VM's kallsyms order for every duplicated name of the loaded modules", async () => {
    const c = caseOf(run, 'loaded-modules');
    for (const m of debianModules) assert.equal(c.out.get(`insmod-${m.split('/').pop()}`), '0', explain(c));
    assert.ok(run.kallsyms, 'the VM dumped /proc/kallsyms');
    const files = [join(out, 'klp_sample_target.ko'), ...debianModules.map(plainModule)];
    const { map } = await buildSymbolMap({ modules: files });
    let checked = 0;
    for (const object of ['klp_sample_target', 'overlay', 'ni_routing']) {
      const vm = kallsymsEntries(run.kallsyms!, object);
      const ours = map.object(object)!;
      const listed = ours.names.filter((_, i) => ours.listed[i]);
      // The kernel lists exactly the symbols we count, in the same order: positions cannot differ.
      assert.deepEqual(
        vm.map((e) => e.name),
        listed,
        `${object}: kallsyms order differs from the map`,
      );
      for (const name of new Set(listed)) if (ours.count(name) > 1) checked++;
    }
    process.stderr.write(`# e2e: modules: ${checked} duplicated names in kallsyms order\n`);
    assert.ok(checked > 20, `${checked} duplicated names compared`);
  });
});
