/**
 * The large livepatches of the convert benchmark, generated and built with kbuild once, then kept
 * in .cache/bench/. FUNCTIONS functions make RELOCATIONS references, spread evenly over SYMBOLS
 * vmlinux symbols that a livepatch can only reach through livepatch relocations: listed by the
 * target kernel's kallsyms (the dump taken from it), defined once in the whole kernel (so no
 * annotation is needed), not exported (Module.symvers), and named as C can spell them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKbuild } from '../src/build/kbuild.js';
import type { KernelSymbolMap } from '../src/kernel/symbol-map.js';
import { parseSymvers } from '../src/kernel/symvers.js';
import { repoRoot } from '../test/helpers.js';

export interface BenchPatch {
  ko: string;
  functions: number;
  symbols: number;
  relocations: number;
}

/**
 * Names the patch may use: what the kernel's own kallsyms dump lists. The kallsyms tables
 * (kallsyms_names, kallsyms_token_table, ...) are not listed by 6.1's kallsyms, so on 6.1 they are
 * left out without a list of our own; from 6.4 on the kernel lists them, and they are fair picks.
 */
function candidates(kallsyms: string, symvers: string, map: KernelSymbolMap): string[] {
  const count = new Map<string, number>();
  const vmlinux: string[] = [];
  for (const line of readFileSync(kallsyms, 'latin1').split('\n')) {
    const f = line.split(/[ \t]/);
    if (f.length < 3) continue;
    count.set(f[2], (count.get(f[2]) ?? 0) + 1);
    // Functions and data; not absolute (per-cpu offsets) or weak symbols.
    if (f.length === 3 && /^[tTdDbBrR]$/.test(f[1])) vmlinux.push(f[2]);
  }
  const exported = parseSymvers(readFileSync(symvers, 'latin1'), symvers);
  // Unique in the dump and in the whole kernel's map (modules not loaded when it was dumped too).
  return vmlinux.filter(
    (n) => count.get(n) === 1 && !exported.has(n) && !n.startsWith('__') && !/[^A-Za-z0-9_.]/.test(n) && map.definitions(n).length === 1,
  );
}

export function benchLivepatch(
  kernel: { kver: string; kallsyms: string; symvers: string },
  map: KernelSymbolMap,
  functions: number,
  symbols: number,
  relocations: number,
): BenchPatch {
  const name = `klp_bench_${functions}_${symbols}_${relocations}`;
  const dir = join(repoRoot, '.cache', 'bench', kernel.kver, name);
  const ko = join(dir, `${name}.ko`);
  if (existsSync(ko)) return { ko, functions, symbols, relocations };
  const names = candidates(kernel.kallsyms, kernel.symvers, map);
  if (names.length < symbols) throw new Error(`only ${names.length} usable symbols in ${kernel.kallsyms}`);
  // Evenly spaced through the kernel, so every part of the map is asked for.
  const picked = Array.from({ length: symbols }, (_, i) => names[Math.floor((i * names.length) / symbols)]);
  const perFunction = relocations / functions;
  const lines = [
    '#include <linux/module.h>',
    '#include <linux/livepatch.h>',
    // Under names of our own: the kernel headers declare some of these with their real types.
    ...picked.map((n, i) => `extern char klp_bench_sym_${i}[] __asm__("${n}");`),
  ];
  let ref = 0;
  for (let f = 0; f < functions; f++) {
    const terms: string[] = [];
    for (let k = 0; k < perFunction; k++) terms.push(`(unsigned long)klp_bench_sym_${ref++ % symbols}`);
    lines.push(`noinline unsigned long klp_bench_fn_${f}(void) { return ${terms.join(' ^ ')}; }`);
  }
  lines.push(
    'static struct klp_func funcs[] = { { .old_name = "cmdline_proc_show", .new_func = klp_bench_fn_0, }, { } };',
    'static struct klp_object objs[] = { { .funcs = funcs, }, { } };',
    'static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };',
    'static int bench_init(void) { return klp_enable_patch(&patch); }',
    'static void bench_exit(void) { }',
    'module_init(bench_init);',
    'module_exit(bench_exit);',
    'MODULE_LICENSE("GPL");',
    'MODULE_INFO(livepatch, "Y");',
    '',
  );
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.c`), lines.join('\n'));
  writeFileSync(join(dir, 'Makefile'), `obj-m := ${name}.o\n`);
  process.stderr.write(`building ${name} with kbuild (once)...\n`);
  runKbuild(dir, `/lib/modules/${kernel.kver}/build`, join(repoRoot, 'include'));
  return { ko, functions, symbols, relocations };
}

/** The 6-reference sample (samples/auto-resolved), built once the same way. */
export function sampleLivepatch(kernel: { kver: string }): string {
  const dir = join(repoRoot, '.cache', 'bench', kernel.kver, 'auto-resolved');
  const ko = join(dir, 'klp_sample_auto.ko');
  if (existsSync(ko)) return ko;
  mkdirSync(dir, { recursive: true });
  for (const f of ['klp_sample_auto.c', 'Makefile'])
    writeFileSync(join(dir, f), readFileSync(join(repoRoot, 'samples', 'auto-resolved', f)));
  runKbuild(dir, `/lib/modules/${kernel.kver}/build`, join(repoRoot, 'include'));
  return ko;
}
