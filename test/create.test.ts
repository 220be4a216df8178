import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkModuleName, moduleName } from '../src/create/create.js';
import { correlationKey, sourceName } from '../src/create/diff.js';
import { depsOf, isGlobalHeader } from '../src/create/tree.js';
import { debianKernel, repoRoot, runCliInProcess, tempDir } from './helpers.js';
import { editedOldLines, formatFilePatch, functionRanges, parsePatch, withLineDirectives } from '../src/create/patch.js';

const patch = `--- a/x.c
+++ b/x.c
@@ -1,6 +1,7 @@
 static int f(void)
 {
-	return 1;
+	pr_info("a");
+	return 2;
 }
 
 int g(void)
`;

test('#line directives restore the old numbering after each changed run, and hunk counts follow', () => {
  const [fp] = parsePatch(patch, 'p');
  const fixed = withLineDirectives(fp);
  const text = formatFilePatch(fixed);
  // Line 4 of the old file (the closing brace) follows the change: the directive names it.
  assert.match(text, /\+\treturn 2;\n\+#line 4\n \}/);
  assert.match(text, /^@@ -1,6 \+1,8 @@/m);
  // The fixed patch parses again (counts consistent).
  assert.equal(parsePatch(text, 'fixed')[0].hunks[0].newCount, 8);
});

test('edited lines map to the function that holds them', () => {
  const [fp] = parsePatch(patch, 'p');
  const src = 'static int f(void)\n{\n\treturn 1;\n}\n\nint g(void)\n{\n\treturn 0;\n}\n';
  const ranges = functionRanges(src);
  assert.deepEqual(
    ranges.map((r) => [r.name, r.first, r.last]),
    [
      ['f', 1, 4],
      ['g', 6, 9],
    ],
  );
  const edited = [...editedOldLines(fp)];
  assert.deepEqual(edited, [3]);
});

test('GCC renumbering is ignored when correlating; the source function is the stem', () => {
  assert.equal(correlationKey('foo.isra.3'), correlationKey('foo.isra.7'));
  assert.equal(correlationKey('x.12'), 'x');
  assert.notEqual(correlationKey('foo.cold'), correlationKey('foo'));
  assert.equal(sourceName('set_one_prio.part.0'), 'set_one_prio');
});

test('a patch without file headers is refused', () => {
  assert.throws(() => parsePatch('hello\n', 'p'), /not a unified diff/);
});

test("a unit's dependency list is read from the .cmd file fixdep writes; config options are not files", () => {
  // The shape of scripts/basic/fixdep.c's output (Linux 6.1), as in <build>/fs/proc/.cmdline.o.cmd.
  const cmd = `savedcmd_fs/proc/cmdline.o := gcc-12 -Wp,-MMD,fs/proc/.cmdline.o.d -c -o fs/proc/cmdline.o /src/fs/proc/cmdline.c

source_fs/proc/cmdline.o := /src/fs/proc/cmdline.c

deps_fs/proc/cmdline.o := \\
  /src/include/linux/compiler-version.h \\
    $(wildcard include/config/CC_VERSION_TEXT) \\
  /src/fs/proc/internal.h \\
  /src/include/linux/kconfig.h \\

fs/proc/cmdline.o: $(deps_fs/proc/cmdline.o)

$(deps_fs/proc/cmdline.o):
`;
  assert.deepEqual(depsOf(cmd), {
    source: '/src/fs/proc/cmdline.c',
    deps: ['/src/include/linux/compiler-version.h', '/src/fs/proc/internal.h', '/src/include/linux/kconfig.h'],
  });
});

test("headers under include/ and arch/*/include/ are global; a folder's own headers are not", () => {
  for (const h of ['include/linux/sched.h', 'arch/x86/include/asm/ftrace.h', 'include/uapi/linux/fs.h'])
    assert.equal(isGlobalHeader(h), true, h);
  for (const h of ['fs/proc/internal.h', 'kernel/printk/printk_ringbuffer.h', 'arch/x86/kernel/cpu/cpu.h'])
    assert.equal(isGlobalHeader(h), false, h);
});

test('the same patch gives the same module, byte for byte (prepared tree of the kernel under test)', async () => {
  const kernel = debianKernel();
  assert.ok(kernel, 'no Debian kernel under test (KVER): run scripts/setup-debian.sh');
  const dir = tempDir('klpc-create-repro-');
  const patch = join(repoRoot, 'test', 'modules', 'create', 'version-new-function.patch');
  const runs = [join(dir, 'a.ko'), join(dir, 'b.ko')];
  const results = [];
  for (const out of runs) results.push(await runCliInProcess(['create', '--kernel', kernel.kver, '-o', out, patch]));
  if (!['6.1', '6.12', '7.3'].includes(/^\d+\.\d+/.exec(kernel.kver)?.[0] ?? '')) {
    // Kernels create does not support are refused before anything is built (README, "Kernels").
    for (const r of results) assert.match(r.stderr, /create cannot target kernel/);
    return;
  }
  for (const r of results) assert.equal(r.status, 0, r.stderr);
  const [a, b] = runs.map((f) => readFileSync(f));
  // A temporary build folder in DWARF, or pahole's parallel BTF encoding, would make them differ.
  assert.ok(a.equals(b), `${runs[0]} and ${runs[1]} differ`);
});

test('module names: the default is livepatch-<patch> within MODULE_NAME_LEN; a --name kbuild or the kernel cannot carry is refused', () => {
  assert.equal(moduleName('/x/fix cmdline.v2.patch'), 'livepatch-fix-cmdline-v2');
  // MODULE_NAME_LEN is 64 - sizeof(unsigned long) on 64-bit: 55 usable characters.
  assert.equal(moduleName(`${'a'.repeat(80)}.diff`).length, 55);
  assert.equal(checkModuleName('livepatch-fix_1'), 'livepatch-fix_1');
  assert.throws(() => checkModuleName('fix.v2'), /module name 'fix\.v2': use only letters, digits, '_' and '-'/);
  assert.throws(() => checkModuleName('a b'), /use only letters/);
  assert.throws(() => checkModuleName('x'.repeat(56)), /is 56 characters; the kernel allows 55 \(MODULE_NAME_LEN\)/);
});
