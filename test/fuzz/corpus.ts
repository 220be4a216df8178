import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ElfObject } from '../../src/elf/object.js';
import { repoRoot, requireDebianKernel, runCliInProcess } from '../helpers.js';

export interface Seed {
  name: string;
  bytes: Uint8Array;
}

export interface Corpus {
  /** ELF objects: kbuild-built samples, their conversions, cross-compiled objects, Debian modules. */
  elves: Seed[];
  /** Compressed modules (.ko.gz, .ko.xz, .ko.zst, zstd with and without a content size) of a sample. */
  compressed: Seed[];
  /** A small kallsyms dump (Debian's, reduced to the names the samples use, order kept). */
  kallsyms: string;
  /** The symbol map made from it, in our format. */
  map: string;
  /** The same map in the binary format. */
  binaryMap: Uint8Array;
}

export const seedsDir = join(repoRoot, 'test', 'fixtures', 'hostile', 'seeds');

/** A few of Debian's modules, small and varied: plain data, many relocations, a livepatch-like one. */
const debianModules = ['kernel/lib/crc8.ko', 'kernel/fs/nls/nls_cp437.ko', 'kernel/drivers/input/misc/pcspkr.ko', 'kernel/net/802/stp.ko'];

/**
 * Everything the fuzzer starts from, built in `dir`. The samples are kbuild-built modules
 * (test/fixtures/hostile/seeds, see test/fuzz/seeds.ts); the map is made from a reduced dump of
 * Debian's /proc/kallsyms in which every line of every name kept is kept, so positions stay the
 * kernel's.
 */
export async function buildCorpus(dir: string): Promise<Corpus> {
  mkdirSync(dir, { recursive: true });
  const kernel = requireDebianKernel();
  const samples: Seed[] = readdirSync(seedsDir)
    .filter((f) => f.endsWith('.ko'))
    .sort()
    .map((f) => ({ name: f, bytes: readFileSync(join(seedsDir, f)) }));
  const cross = join(repoRoot, 'test', 'fixtures', 'cross');
  const crossSeeds: Seed[] = readdirSync(cross)
    .filter((f) => f.endsWith('.o'))
    .sort()
    .map((f) => ({ name: f, bytes: readFileSync(join(cross, f)) }));
  // Plain .ko up to 6.1, .ko.xz from 6.12: the seed is the ELF inside.
  const debian: Seed[] = debianModules
    .map((m) => join(kernel.modules, m))
    .flatMap((p) => {
      const name = p.slice(p.lastIndexOf('/') + 1);
      if (statSync(p, { throwIfNoEntry: false })?.isFile()) return [{ name, bytes: readFileSync(p) }];
      if (statSync(`${p}.xz`, { throwIfNoEntry: false })?.isFile()) return [{ name, bytes: execFileSync('xz', ['-dc', `${p}.xz`]) }];
      return [];
    });

  const wanted = new Set<string>();
  for (const s of samples) {
    for (const y of ElfObject.parse(s.bytes, s.name).symtab?.symbols ?? []) {
      if (y.isUndefined && y.name) {
        wanted.add(y.name);
        wanted.add(`__ksymtab_${y.name}`);
      }
    }
  }
  const kallsyms = `${readFileSync(kernel.kallsyms, 'latin1')
    .split('\n')
    .filter((l) => wanted.has(l.split(' ')[2]?.split('\t')[0] ?? ''))
    .join('\n')}\n`;
  writeFileSync(join(dir, 'kallsyms.txt'), kallsyms);
  const mapFile = join(dir, 'seed.map');
  // The text format: the map mutations are line and field edits (maps are binary by default now).
  const made = await runCliInProcess(['symbols', '--kallsyms', join(dir, 'kallsyms.txt'), '-o', mapFile, '--format', 'klp-convert']);
  if (made.status !== 0) throw new Error(`corpus map: ${made.stderr}`);
  const binaryFile = join(dir, 'seed.bin.map');
  const binary = await runCliInProcess(['symbols', '--kallsyms', join(dir, 'kallsyms.txt'), '-o', binaryFile, '--format', 'binary']);
  if (binary.status !== 0) throw new Error(`corpus binary map: ${binary.stderr}`);

  // Conversions of the samples: the livepatch format is an input too (verify, inspect, convert again).
  const converted: Seed[] = [];
  for (const s of samples) {
    const input = join(dir, s.name);
    const output = join(dir, `converted-${s.name}`);
    writeFileSync(input, s.bytes);
    if ((await runCliInProcess(['convert', '--symbols', mapFile, input, output])).status === 0) {
      converted.push({ name: `converted-${s.name}`, bytes: readFileSync(output) });
    }
  }

  const compressed: Seed[] = [];
  const first = join(dir, samples[0].name);
  for (const [ext, tool, args] of [
    ['gz', 'gzip', ['-n', '-c']],
    ['xz', 'xz', ['--check=crc32', '-c']],
    ['zst', 'zstd', ['-q', '-c']],
  ] as const) {
    compressed.push({ name: `${samples[0].name}.${ext}`, bytes: execFileSync(tool, [...args, first], { maxBuffer: 1 << 26 }) });
  }
  // From a pipe, zstd declares no content size: decoded into a buffer of what its blocks hold.
  compressed.push({ name: `piped-${samples[0].name}.zst`, bytes: execFileSync('zstd', ['-q', '-c'], { input: samples[0].bytes }) });
  return {
    elves: [...samples, ...converted, ...crossSeeds, ...debian],
    compressed,
    kallsyms,
    map: readFileSync(mapFile, 'latin1'),
    binaryMap: readFileSync(binaryFile),
  };
}
