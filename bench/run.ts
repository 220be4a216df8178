/**
 * npm run bench: how fast klp-convert reads what it needs, against the tools people use today.
 *
 *  1. A vmlinux-sized symbol table (130,000 symbols): our range reader + kallsyms ordering against
 *     `readelf -sW` and `nm -n`. Uses the -dbg package's vmlinux when BENCH_VMLINUX points at one,
 *     else a linked executable with the same number of symbols made on the spot.
 *  2. The whole Debian kernel (vmlinux from the kallsyms dump, ~4000 modules, Module.symvers) into
 *     a symbol map, against a `readelf -sW` dump of the same modules and, with BENCH_NM=1, the
 *     upstream recipe (`nm -f posix` per object; 95 s measured on these machines).
 * Medians of several runs; nothing here is asserted, it is read.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../src/elf/file-source.js';
import { ElfReader } from '../src/elf/reader.js';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import { addVmlinuxSymbols } from '../src/kernel/elf-symbols.js';
import { kallsymsRulesFor } from '../src/kernel/kallsyms-rules.js';
import { formatMap, parseMap } from '../src/kernel/map-format.js';
import { findModules } from '../src/kernel/module-files.js';
import { ObjectSymbols } from '../src/kernel/symbol-map.js';
import { debianKernel } from '../test/helpers.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(runs: number, fn: () => unknown): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return median(out);
}

function command(cmd: string, args: string[]): () => void {
  return () => {
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'], maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`${cmd} failed`);
  };
}

const rows: [string, string, number][] = [];
const row = (group: string, what: string, ms: number) => {
  rows.push([group, what, ms]);
  process.stderr.write(`${group}: ${what}: ${ms.toFixed(1)} ms\n`);
};

function syntheticVmlinux(dir: string, count: number): string {
  // Ten "translation units" with the same local names, as vmlinux has many duplicated statics.
  const units = 10;
  const objects: string[] = [];
  for (let u = 0; u < units; u++) {
    const lines = ['.text', `.file "unit${u}.c"`];
    for (let i = 0; i < count / units; i++) {
      const name = i % 2 ? `global_fn_${u}_${i}` : `local_${i}`;
      if (i % 2) lines.push(`.globl ${name}`);
      lines.push(`.type ${name},@function`, `${name}:`, 'ret');
    }
    if (u === 0) lines.push('.globl _start', '_start:', 'ret');
    writeFileSync(join(dir, `u${u}.s`), lines.join('\n'));
    execFileSync('as', [join(dir, `u${u}.s`), '-o', join(dir, `u${u}.o`)]);
    objects.push(join(dir, `u${u}.o`));
  }
  execFileSync('ld', [...objects, '-o', join(dir, 'vmlinux')]);
  return join(dir, 'vmlinux');
}

const dir = mkdtempSync(join(tmpdir(), 'klpc-bench-'));
try {
  const vmlinux = process.env.BENCH_VMLINUX ?? syntheticVmlinux(dir, 130_000);
  const label = process.env.BENCH_VMLINUX ? 'vmlinux' : 'vmlinux-sized ELF (130k symbols)';
  row(label, 'klp-convert: read symtab by range, kallsyms order', await time(7, () => {
    const src = new FileSource(vmlinux);
    addVmlinuxSymbols(new ElfReader(src, vmlinux), new ObjectSymbols('vmlinux'), kallsymsRulesFor(undefined));
    src.close();
  }));
  row(label, 'readelf -sW', await time(5, command('readelf', ['-sW', vmlinux])));
  row(label, 'nm -n', await time(5, command('nm', ['-n', vmlinux])));

  const kernel = debianKernel();
  if (!kernel || !existsSync(kernel.kallsyms)) {
    process.stderr.write('whole-kernel benchmark skipped: run scripts/setup-debian.sh first\n');
  } else {
    const modules = findModules(kernel.modules);
    const group = `Debian ${kernel.kver} (vmlinux + ${modules.length} modules)`;
    row(group, 'klp-convert: symbol map, in memory', await time(3, () => buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers })));
    row(group, 'klp-convert symbols (whole command, map file written)', await time(3, command(process.execPath, [
      join(import.meta.dirname, '..', 'bin', 'klp-convert.js'), 'symbols', '--kallsyms', kernel.kallsyms, '--modules', kernel.modules,
      '--symvers', kernel.symvers, '-o', join(dir, 'map'),
    ])));
    const dump = join(dir, 'readelf.dump');
    row(group, 'readelf -sW of every module, written to a file', await time(3, () => {
      writeFileSync(dump, '');
      for (let i = 0; i < modules.length; i += 500) {
        const r = spawnSync('sh', ['-c', 'readelf -sW "$@" >> "$0"', dump, ...modules.slice(i, i + 500)], { stdio: 'ignore' });
        if (r.status !== 0) throw new Error('readelf failed');
      }
    }));
    if (process.env.BENCH_NM) {
      row(group, 'upstream recipe: nm -f posix per object', await time(1, () => {
        for (const m of modules) command('nm', ['-f', 'posix', m])();
      }));
    }
    const { map } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers });
    row(group, 'format the map (klp-convert format)', await time(3, () => formatMap(map, 'klp-convert')));
    const mapFile = join(dir, 'map');
    writeFileSync(mapFile, formatMap(map, 'klp-convert'));
    row(group, 'load that map file (what convert and verify do first)', await time(3, () => parseMap(readFileSync(mapFile, 'latin1'), mapFile)));
  }
  process.stdout.write('\n| benchmark | what | median ms |\n|---|---|---:|\n');
  for (const [g, w, ms] of rows) process.stdout.write(`| ${g} | ${w} | ${ms.toFixed(1)} |\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
