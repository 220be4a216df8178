import { gzipSync } from 'node:zlib';
import type { Corpus } from './corpus.js';
import { type ElfStrategy, type Rng, caseRng, elfStrategies, mutateBinaryMap, mutateBytes, mutateElf, mutateText } from './mutate.js';

export type Entry = 'copy' | 'inspect' | 'inspect --json' | 'verify' | 'convert' | 'symbols --modules' | 'symbols --kallsyms';

/** One execution: the files to lay out in the case folder and the command line to run on them. */
export interface FuzzCase {
  index: number;
  entry: Entry;
  /** What was mutated and how, for the report. */
  label: string;
  /** Files by name (relative to the case folder); `mods/` is the modules folder for `symbols`. */
  files: Map<string, Uint8Array | string>;
  /** Arguments, with `@name` standing for the path of that file in the case folder. */
  argv: string[];
  /** The file the command writes, if any. */
  output?: string;
  /** The map verify and convert were given (to verify a conversion with the same one). */
  map?: string;
  /** The ELF input, to size the output against and to compare readelf's complaints. */
  elfInput?: string;
}

const elfEntries: Entry[] = ['copy', 'inspect', 'inspect --json', 'verify', 'convert', 'symbols --modules'];

function elfCase(index: number, rng: Rng, corpus: Corpus): FuzzCase {
  const seed = rng.pick(corpus.elves);
  let bytes: Uint8Array = Uint8Array.from(seed.bytes);
  const used: ElfStrategy[] = [];
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const s = rng.pick(elfStrategies);
    used.push(s);
    bytes = mutateElf(bytes, seed.bytes, s, rng);
  }
  const entry = rng.pick(elfEntries);
  const files = new Map<string, Uint8Array | string>([['seed.map', corpus.map]]);
  const label = `${seed.name} ${used.join('+')}`;
  switch (entry) {
    case 'copy':
      files.set('in.ko', bytes);
      return { index, entry, label, files, argv: ['copy', '@in.ko', '@out.ko'], output: 'out.ko', elfInput: 'in.ko' };
    case 'inspect':
    case 'inspect --json':
      files.set('in.ko', bytes);
      return { index, entry, label, files, argv: ['inspect', '@in.ko', ...(entry === 'inspect' ? [] : ['--json'])], elfInput: 'in.ko' };
    case 'verify':
      files.set('in.ko', bytes);
      return { index, entry, label, files, argv: ['verify', '@in.ko', '--symbols', '@seed.map'], elfInput: 'in.ko' };
    case 'convert':
      files.set('in.ko', bytes);
      return {
        index,
        entry,
        label,
        files,
        argv: ['convert', '--symbols', '@seed.map', '@in.ko', '@out.ko'],
        output: 'out.ko',
        map: 'seed.map',
        elfInput: 'in.ko',
      };
    default: {
      // Sometimes compressed, sometimes beside a good module with --keep-going.
      const gz = rng.int(4) === 0;
      files.set(gz ? 'mods/x.ko.gz' : 'mods/x.ko', gz ? gzipSync(bytes) : bytes);
      const keepGoing = rng.int(2) === 0;
      if (keepGoing) files.set('mods/good.ko', corpus.elves[0].bytes);
      return {
        index,
        entry,
        label: `${label}${gz ? ' (gzip)' : ''}`,
        files,
        argv: ['symbols', '--modules', '@mods', '-o', '@out.map', ...(keepGoing ? ['--keep-going'] : [])],
        output: 'out.map',
      };
    }
  }
}

/** Kinds of input: ELF objects, compressed modules, symbol maps (text, binary), kallsyms dumps. */
export const caseKinds = ['elf', 'compressed', 'map', 'binary-map', 'kallsyms'] as const;
export type CaseKind = (typeof caseKinds)[number];
/** How often each kind comes up, out of their sum: mostly ELF, where most of the parsing is. */
const weights: Record<CaseKind, number> = { elf: 15, compressed: 2, map: 2, 'binary-map': 2, kallsyms: 1 };

/** Case `index` of the run seeded `seed` over `kinds`: the same three always give the same case. */
export function makeCase(seed: number, index: number, corpus: Corpus, kinds: readonly CaseKind[] = caseKinds): FuzzCase {
  const rng = caseRng(seed, index);
  let roll = rng.int(kinds.reduce((n, k) => n + weights[k], 0));
  const kind = kinds.find((k) => (roll -= weights[k]) < 0)!;
  if (kind === 'elf') return elfCase(index, rng, corpus);
  if (kind === 'compressed') {
    const c = rng.pick(corpus.compressed);
    const bytes = mutateBytes(Uint8Array.from(c.bytes), rng);
    const files = new Map<string, Uint8Array | string>([[`mods/${c.name}`, bytes]]);
    return {
      index,
      entry: 'symbols --modules',
      label: `${c.name} bytes`,
      files,
      argv: ['symbols', '--modules', '@mods', '-o', '@out.map'],
      output: 'out.map',
    };
  }
  if (kind === 'map' || kind === 'binary-map') {
    const seed = rng.pick(corpus.elves.slice(0, 4));
    const files = new Map<string, Uint8Array | string>([
      ['in.ko', seed.bytes],
      ['m.map', kind === 'map' ? mutateText(corpus.map, rng) : mutateBinaryMap(corpus.binaryMap, rng)],
    ]);
    const convert = rng.int(2) === 0;
    return {
      index,
      entry: convert ? 'convert' : 'verify',
      label: `${seed.name} with a mutated ${kind === 'map' ? 'text' : 'binary'} map`,
      files,
      argv: convert ? ['convert', '--symbols', '@m.map', '@in.ko', '@out.ko'] : ['verify', '@in.ko', '--symbols', '@m.map'],
      output: convert ? 'out.ko' : undefined,
      map: 'm.map',
      elfInput: 'in.ko',
    };
  }
  const files = new Map<string, Uint8Array | string>([['k.txt', mutateText(corpus.kallsyms, rng)]]);
  return {
    index,
    entry: 'symbols --kallsyms',
    label: 'mutated kallsyms dump',
    files,
    argv: ['symbols', '--kallsyms', '@k.txt', '-o', '@out.map'],
    output: 'out.map',
  };
}
