/**
 * `klp-convert create` on real patches against Debian's 6.1 source (test/modules/create/refuse-*,
 * line-stable): the refusals the issue lists besides changed data (assembly, __init code, a
 * function without an ftrace site), each exit 1 with its exact message and nothing written; and
 * `__LINE__` stability on a real compile: lines inserted above code whose machine code or
 * __bug_table holds line numbers leave that code unchanged. On the host, no qemu; needs the
 * prepared 6.1 tree (the first run downloads and prepares it) and the -dbg vmlinux.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { diffUnit } from '../src/create/diff.js';
import { patchedCopy } from '../src/create/create.js';
import { type FilePatch, parsePatch, withLineDirectives } from '../src/create/patch.js';
import { compileUnit, kernelTarget, prepareTree, treeFile } from '../src/create/tree.js';
import { ElfObject } from '../src/elf/object.js';
import { repoRoot, runCli, tempDir } from './helpers.js';
import { cacheRoot } from '../src/kernel/cache.js';

/** The patches are written against this kernel's source (linux-source-6.1 6.1.192-2). */
const KVER = '6.1.0-56-amd64';
const patches = join(repoRoot, 'test', 'modules', 'create');
const dbgVmlinux = join(cacheRoot(), 'debian', KVER, 'vmlinux-dbg');
const work = tempDir('klpc-create-refusals-');

/** `create` with -o, expected to refuse: its error lines (progress left out), and nothing written. */
function refused(patch: string): string {
  const out = join(work, `${patch}.ko`);
  const r = runCli(['create', '--kernel', KVER, '-o', out, join(patches, `${patch}.patch`)]);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(existsSync(out), false);
  return r.stderr
    .split('\n')
    .filter((l) => !l.startsWith('klp-convert create: ['))
    .join('\n');
}

/** The shipped kernel's symbol table line of `name` (objdump -t: address, flags, section, size, name). */
function shippedSymbol(name: string): { address: string; section: string } | undefined {
  const line = execFileSync('objdump', ['-t', dbgVmlinux], { encoding: 'utf8', maxBuffer: 1 << 28 })
    .split('\n')
    .find((l) => l.endsWith(` ${name}`));
  const m = line ? /^([0-9a-f]+)\s.*\s(\S+)\s+[0-9a-f]+\s+\S+$/.exec(line) : null;
  return m ? { address: m[1], section: m[2] } : undefined;
}

/** Whether the shipped function starts with ftrace's `call __fentry__` (after an endbr64, if any). */
function shippedFentry(name: string): boolean {
  const at = BigInt(`0x${shippedSymbol(name)!.address}`);
  const code = execFileSync('objdump', ['-d', `--start-address=${at}`, `--stop-address=${at + 9n}`, dbgVmlinux], { encoding: 'utf8' });
  return /call\s+[0-9a-f]+ <__fentry__>/.test(code);
}

describe('create refuses what a livepatch cannot do, naming the symbol and the reason', () => {
  test('an assembly file: refused before any kernel tree is touched', () => {
    assert.equal(
      refused('refuse-asm'),
      `klp-convert: cannot create a livepatch:
  - arch/x86/lib/clear_page_64.S: assembly files cannot be livepatched (no ftrace sites, no function boundaries the diff can trust)
`,
    );
  });

  test('a change to __init code (proc_cmdline_init, freed after boot)', () => {
    // The kernel's own placement of the function: .init.text, freed by free_initmem().
    assert.equal(shippedSymbol('proc_cmdline_init')?.section, '.init.text');
    assert.equal(
      refused('refuse-init'),
      `klp-convert: fs/proc/cmdline.c: the patch changes what a livepatch cannot:
  - proc_cmdline_init: changes __init/__exit code (.init.text): it ran at boot or load and is gone; a livepatch cannot replace it
`,
    );
  });

  test('a change to a notrace function (core_kernel_text, no ftrace site)', () => {
    // The shipped code: core_kernel_text has no `call __fentry__` at its entry, a traced function has.
    assert.equal(shippedFentry('core_kernel_text'), false);
    assert.equal(shippedFentry('param_set_charp'), true);
    assert.equal(
      refused('refuse-notrace'),
      `klp-convert: kernel/extable.c: the patch changes what a livepatch cannot:
  - core_kernel_text: has no ftrace site (notrace, or inline code the compiler emitted out of line): the kernel cannot redirect it; patch its callers instead
`,
    );
  });
});

describe('__LINE__ of unchanged code stays put on a real compile (#line directives)', () => {
  // line-stable.patch inserts five lines in kmalloc_parameter (kernel/params.c:48), above
  // param_sysfs_init (__init, printk of __FILE__ and __LINE__: the line is an immediate in its
  // code) and functions with BUG_ON/WARN_ON_ONCE (their lines are in __bug_table).
  test('--dry-run --json reports only the function the edit reaches', () => {
    // The shipped kernel has no kmalloc_parameter: GCC inlined it into its one caller, param_set_charp.
    assert.equal(shippedSymbol('kmalloc_parameter'), undefined);
    assert.equal(shippedSymbol('param_set_charp')?.section, '.text');
    const out = join(work, 'line-stable.ko');
    const r = runCli(['create', '--kernel', KVER, '--dry-run', '--json', '-o', out, join(patches, 'line-stable.patch')]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      output: string | null;
      functions: { name: string; oldName: string; unit: string; reason: string; via: string[]; sympos: number; shipped: string }[];
    };
    assert.deepEqual(
      j.functions.map((f) => [f.unit, f.name, f.oldName, f.reason, f.via, f.sympos, f.shipped]),
      [['kernel/params.c', 'param_set_charp', 'param_set_charp', 'inlined-callee-changed', ['kmalloc_parameter'], 0, 'identical']],
    );
    assert.equal(j.output, null);
    assert.equal(existsSync(out), false);
  });

  test("without the #line directives the same patch moves param_sysfs_init's __LINE__ and the __bug_table lines", () => {
    const progress = () => {};
    const tree = prepareTree(kernelTarget(KVER), progress);
    const unit = 'kernel/params.c';
    const fp = parsePatch(readFileSync(join(patches, 'line-stable.patch'), 'utf8'), 'line-stable.patch')[0];
    const orig = treeFile(tree, unit);
    const flags = ['-ffunction-sections', '-fdata-sections'];
    const compile = (name: string, patch: FilePatch | undefined): ElfObject => {
      const file = patch ? patchedCopy(tree, join(work, name), unit, patch) : orig;
      const out = join(work, `${name}.o`);
      compileUnit(tree, unit, file, out, flags, progress);
      return ElfObject.parse(readFileSync(out), out);
    };
    const original = compile('original', undefined);
    const bare = compile('bare', fp);
    const lined = compile('lined', withLineDirectives(fp));
    const bugTable = (o: ElfObject) => Buffer.from(o.sections.find((s) => s.name === '__bug_table')!.data).toString('hex');
    assert.notEqual(bugTable(bare), bugTable(original));
    assert.equal(bugTable(lined), bugTable(original));
    const edited = new Set(['kmalloc_parameter']);
    assert.deepEqual(
      diffUnit(original, bare, edited).refusals.map((r) => r.symbol),
      ['param_sysfs_init'],
    );
    assert.deepEqual(diffUnit(original, lined, edited).refusals, []);
  });
});
