/**
 * npm run bench: how fast klp-convert reads what it needs, against the tools people use today.
 *
 *  1. A vmlinux-sized symbol table (130,000 symbols): our range reader + kallsyms ordering against
 *     `readelf -sW` and `nm -n`. Uses the -dbg package's vmlinux (BENCH_VMLINUX, else the one
 *     scripts/debian-kernel.sh caches), else a linked executable with as many symbols made on the spot.
 *  2a. With that -dbg vmlinux: the whole kernel's `symbols` (vmlinux + every module, binary map)
 *     against `readelf -sW` of the same files written to a file, alternately in the same run.
 *  2. The whole Debian kernel (vmlinux from the kallsyms dump, ~4000 modules, Module.symvers) into
 *     a symbol map, against a `readelf -sW` dump of the same modules and, with BENCH_NM=1, the
 *     upstream recipe (`nm -f posix` per object; 95 s measured on these machines).
 *  3. convert and verify with that whole-kernel map, in each format: the 6-reference sample and two
 *     generated livepatches (bench/livepatch.ts), the whole command (wall, max RSS) and its phases
 *     in process; the C klp-convert v7 figures of issue 13 beside them.
 * Medians of several runs; nothing here is asserted, it is read.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../src/elf/file-source.js';
import { ElfReader } from '../src/elf/reader.js';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import { cacheRoot } from '../src/kernel/cache.js';
import { addVmlinuxSymbols } from '../src/kernel/elf-symbols.js';
import { ElfObject } from '../src/elf/object.js';
import { writeElf } from '../src/elf/writer.js';
import { kallsymsRulesFor } from '../src/kernel/kallsyms-rules.js';
import { formatMap, parseMap } from '../src/kernel/map-format.js';
import { MAP_FORMATS, loadMap, writeMap } from '../src/kernel/map-load.js';
import { convertLivepatch } from '../src/livepatch/convert.js';
import { verifyLivepatch } from '../src/livepatch/verify.js';
import { benchLivepatch, sampleLivepatch } from './livepatch.js';
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

const rows: [string, string, number, string][] = [];
const row = (group: string, what: string, value: number, unit = 'ms') => {
  rows.push([group, what, value, unit]);
  process.stderr.write(`${group}: ${what}: ${value.toFixed(1)} ${unit}\n`);
};

/** The whole command, as a user runs it: median wall time and the largest max RSS of the runs. */
function cli(runs: number, args: string[]): { ms: number; rssMB: number } {
  const walls: number[] = [];
  let rss = 0;
  const timeBin = existsSync('/usr/bin/time');
  for (let i = 0; i < runs; i++) {
    const bin = join(import.meta.dirname, '..', 'bin', 'klp-convert.js');
    const t = process.hrtime.bigint();
    const r = timeBin
      ? spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] })
      : spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
    walls.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.status !== 0) throw new Error(`klp-convert ${args.join(' ')} failed: ${r.stderr}`);
    if (timeBin) rss = Math.max(rss, Number(r.stderr.trim().split('\n').at(-1)) / 1024);
  }
  return { ms: median(walls), rssMB: rss };
}

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

/**
 * A vmlinux with its full symbol table: BENCH_VMLINUX, else the -dbg package's one where
 * scripts/debian-kernel.sh caches it for this kernel release.
 */
function dbgVmlinux(kver: string | undefined): string | undefined {
  if (process.env.BENCH_VMLINUX) return process.env.BENCH_VMLINUX;
  if (!kver) return undefined;
  const path = join(cacheRoot(), 'debian', kver, 'vmlinux-dbg');
  return existsSync(path) ? path : undefined;
}

const dir = mkdtempSync(join(tmpdir(), 'klpc-bench-'));
try {
  const kernel = debianKernel();
  const dbg = dbgVmlinux(kernel?.kver);
  const vmlinux = dbg ?? syntheticVmlinux(dir, 130_000);
  const label = dbg ? 'vmlinux (-dbg)' : 'vmlinux-sized ELF (130k symbols)';
  row(
    label,
    'klp-convert: read symtab by range, kallsyms order',
    await time(7, () => {
      const src = new FileSource(vmlinux);
      addVmlinuxSymbols(new ElfReader(src, vmlinux), new ObjectSymbols('vmlinux'), kallsymsRulesFor(undefined));
      src.close();
    }),
  );
  row(label, 'readelf -sW', await time(5, command('readelf', ['-sW', vmlinux])));
  row(label, 'nm -n', await time(5, command('nm', ['-n', vmlinux])));

  // 2a. The whole kernel from the -dbg vmlinux and every module, against readelf dumping the same
  // symbol tables, the two measured alternately in the same run.
  if (!kernel || !dbg) {
    process.stderr.write(
      'whole-kernel symbols from the -dbg vmlinux skipped: set BENCH_VMLINUX or run scripts/debian-kernel.sh with the -dbg vmlinux\n',
    );
  } else {
    const modules = findModules(kernel.modules);
    const group = `whole kernel: -dbg vmlinux + ${modules.length} modules`;
    const bin = join(import.meta.dirname, '..', 'bin', 'klp-convert.js');
    const ours = command(process.execPath, [bin, 'symbols', '--vmlinux', dbg, '--modules', kernel.modules, '-o', join(dir, 'whole.map')]);
    const dump = join(dir, 'readelf.dump');
    const readelf = () => {
      writeFileSync(dump, '');
      for (let i = 0; i < modules.length; i += 500) {
        const r = spawnSync('sh', ['-c', 'readelf -sW "$@" >> "$0"', dump, ...(i === 0 ? [dbg] : []), ...modules.slice(i, i + 500)], {
          stdio: 'ignore',
        });
        if (r.status !== 0) throw new Error('readelf failed');
      }
    };
    const oursMs: number[] = [];
    const readelfMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      oursMs.push(await time(1, ours));
      readelfMs.push(await time(1, readelf));
    }
    row(group, 'klp-convert symbols --vmlinux --modules (whole command, binary map written)', median(oursMs));
    row(group, 'readelf -sW of the vmlinux and every module, written to a file', median(readelfMs));
    row(group, 'klp-convert / readelf (issue 13: at most 0.5)', median(oursMs) / median(readelfMs), 'x');
    // The phases, in process.
    row(
      group,
      '  phase: vmlinux symbol table read and put in kallsyms order',
      await time(3, () => {
        const src = new FileSource(dbg);
        addVmlinuxSymbols(new ElfReader(src, dbg), new ObjectSymbols('vmlinux'), kallsymsRulesFor(kernel?.kver));
        src.close();
      }),
    );
    row(group, '  phase: read every module', await time(3, () => buildSymbolMap({ modules: [kernel.modules] })));
    const whole = (await buildSymbolMap({ vmlinux: dbg, modules: [kernel.modules] })).map;
    // What the command does: the map streamed to its file, fsynced and renamed into place.
    row(
      group,
      '  phase: write the binary map (format, write, fsync, rename)',
      await time(3, () => writeMap(whole, join(dir, 'whole.map'))),
    );
  }

  if (!kernel || !existsSync(kernel.kallsyms)) {
    process.stderr.write('whole-kernel benchmark skipped: run scripts/setup-debian.sh first\n');
  } else {
    const modules = findModules(kernel.modules);
    const group = `Debian ${kernel.kver} (vmlinux + ${modules.length} modules)`;
    row(
      group,
      'klp-convert: symbol map, in memory',
      await time(3, () => buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers })),
    );
    row(
      group,
      'klp-convert symbols (whole command, map file written)',
      await time(
        3,
        command(process.execPath, [
          join(import.meta.dirname, '..', 'bin', 'klp-convert.js'),
          'symbols',
          '--kallsyms',
          kernel.kallsyms,
          '--modules',
          kernel.modules,
          '--symvers',
          kernel.symvers,
          '-o',
          join(dir, 'map'),
        ]),
      ),
    );
    const dump = join(dir, 'readelf.dump');
    row(
      group,
      'readelf -sW of every module, written to a file',
      await time(3, () => {
        writeFileSync(dump, '');
        for (let i = 0; i < modules.length; i += 500) {
          const r = spawnSync('sh', ['-c', 'readelf -sW "$@" >> "$0"', dump, ...modules.slice(i, i + 500)], { stdio: 'ignore' });
          if (r.status !== 0) throw new Error('readelf failed');
        }
      }),
    );
    if (process.env.BENCH_NM) {
      row(
        group,
        'upstream recipe: nm -f posix per object',
        await time(1, () => {
          for (const m of modules) command('nm', ['-f', 'posix', m])();
        }),
      );
    }
    const { map } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers });
    row(group, 'format the map (klp-convert format)', await time(3, () => formatMap(map, 'klp-convert')));
    const mapFile = join(dir, 'map');
    writeFileSync(mapFile, formatMap(map, 'klp-convert'));
    row(group, 'load that map file (what convert and verify do first)', await time(3, () => loadMap(mapFile)));
    row(
      group,
      'read and check that map file whole (parseMap, for tests and tools)',
      await time(3, () => parseMap(readFileSync(mapFile, 'latin1'), mapFile)),
    );

    // 3. convert and verify against the whole-kernel map.
    const maps = MAP_FORMATS.map((format) => {
      const path = join(dir, `kernel.${format}`);
      writeMap(map, path, format);
      return { format, path };
    });
    const patches = [
      { label: '6-reference livepatch (samples/auto-resolved)', ko: sampleLivepatch(kernel) },
      ...[
        [2000, 4000, 8000],
        [12500, 10000, 50000],
      ].map(([f, s, r]) => ({
        label: `${r.toLocaleString('en')} relocations to ${s.toLocaleString('en')} symbols`,
        ko: benchLivepatch(kernel, map, f, s, r).ko,
      })),
    ];
    for (const p of patches) {
      const out = join(dir, 'out.ko');
      for (const m of maps) {
        const what = `${m.format} map`;
        const c = cli(5, ['convert', '--symbols', m.path, p.ko, out]);
        row(`convert, ${p.label}`, `klp-convert convert, ${what} (whole command)`, c.ms);
        row(`convert, ${p.label}`, `klp-convert convert, ${what}: max RSS`, c.rssMB, 'MB');
        row(`verify, ${p.label}`, `klp-convert verify, ${what} (whole command)`, cli(5, ['verify', out, '--symbols', m.path]).ms);
        // The phases, in process.
        let loaded = loadMap(m.path);
        row(`convert, ${p.label}`, `  phase: read the ${what}`, await time(5, () => (loaded = loadMap(m.path))));
        let obj = ElfObject.parse(readFileSync(p.ko), p.ko);
        row(`convert, ${p.label}`, '  phase: parse the module', await time(5, () => (obj = ElfObject.parse(readFileSync(p.ko), p.ko))));
        row(
          `convert, ${p.label}`,
          '  phase: parse the module, resolve and rewrite',
          await time(5, () => {
            obj = ElfObject.parse(readFileSync(p.ko), p.ko);
            convertLivepatch(obj, { map: loaded });
          }),
        );
        row(`convert, ${p.label}`, '  phase: write', await time(5, () => writeElf(obj)));
        const converted = ElfObject.parse(readFileSync(out), out);
        row(`verify, ${p.label}`, `  phase: verify, ${what} loaded`, await time(5, () => verifyLivepatch(converted, { map: loaded })));
      }
    }
    // Measured in issue 13 on these machines, same runs, Debian 6.1.0-56 (Symbols.list from nm).
    row('convert, 6-reference livepatch (samples/auto-resolved)', 'C klp-convert v7 (issue 13)', 550);
    row('convert, 6-reference livepatch (samples/auto-resolved)', 'C klp-convert v7 (issue 13): max RSS', 189, 'MB');
    row('convert, 8,000 relocations to 4,000 symbols', 'C klp-convert v7 (issue 13)', 104_000);
  }
  process.stdout.write('\n| benchmark | what | median |\n|---|---|---:|\n');
  for (const [g, w, v, unit] of rows) process.stdout.write(`| ${g} | ${w} | ${v.toFixed(1)} ${unit} |\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
