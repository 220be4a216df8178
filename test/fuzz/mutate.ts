import { crc32 } from 'node:zlib';
import {
  SHT_DYNSYM,
  SHT_GROUP,
  SHT_NOBITS,
  SHT_NULL,
  SHT_PROGBITS,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  SHN_XINDEX,
  sizes,
} from '../../src/elf/constants.js';
import { BufferSource, ElfReader, type SectionHeader } from '../../src/elf/reader.js';

/** A small seeded generator (mulberry32): each case is reproducible from (seed, case number). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
}

export function caseRng(seed: number, index: number): Rng {
  return new Rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

/** What a seed's layout looks like, read once from the pristine bytes. */
interface Anatomy {
  reader: ElfReader;
  sections: SectionHeader[];
}

const anatomies = new WeakMap<Uint8Array, Anatomy | null>();

function anatomy(bytes: Uint8Array): Anatomy | null {
  if (!anatomies.has(bytes)) {
    try {
      const reader = new ElfReader(new BufferSource(bytes));
      anatomies.set(bytes, { reader, sections: reader.sections });
    } catch {
      anatomies.set(bytes, null);
    }
  }
  return anatomies.get(bytes)!;
}

/** Values that sit on the edges parsers get wrong. */
function interesting(rng: Rng, fileSize: number, width: number): bigint {
  const list = [
    0n,
    1n,
    2n,
    3n,
    4n,
    7n,
    8n,
    0x7fn,
    0x80n,
    0xffn,
    0x100n,
    0xff00n,
    0xfff1n,
    0xffffn,
    0x10000n,
    0x7fffffffn,
    0x80000000n,
    0xffffffffn,
    1n << 32n,
    1n << 40n,
    1n << 52n,
    1n << 53n,
    1n << 60n,
    (1n << 64n) - 1n,
    BigInt(fileSize),
    BigInt(fileSize + 1),
    BigInt(Math.max(0, fileSize - 1)),
    BigInt(rng.int(fileSize + 1)),
    1n << BigInt(rng.int(64)),
    BigInt(rng.int(0x100000000)),
  ];
  return BigInt.asUintN(width * 8, rng.pick(list));
}

function put(bytes: Uint8Array, le: boolean, at: number, width: number, value: bigint): void {
  if (at < 0 || at + width > bytes.length) return;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 1) v.setUint8(at, Number(value & 0xffn));
  else if (width === 2) v.setUint16(at, Number(value & 0xffffn), le);
  else if (width === 4) v.setUint32(at, Number(value & 0xffffffffn), le);
  else v.setBigUint64(at, value, le);
}

type Field = [offset: number, width: number];

function recordFields(is64: boolean, kind: 'Ehdr' | 'Shdr' | 'Sym' | 'Rela'): Field[] {
  const rec = sizes[is64 ? 2 : 1];
  const w = rec.addr;
  switch (kind) {
    case 'Ehdr': {
      const f = rec.Ehdr;
      return [
        [f.type, 2],
        [f.machine, 2],
        [f.version, 4],
        [f.entry, w],
        [f.phoff, w],
        [f.shoff, w],
        [f.flags, 4],
        [f.ehsize, 2],
        [f.phentsize, 2],
        [f.phnum, 2],
        [f.shentsize, 2],
        [f.shnum, 2],
        [f.shstrndx, 2],
        [4, 1],
        [5, 1],
      ];
    }
    case 'Shdr': {
      const f = rec.Shdr;
      return [
        [f.name, 4],
        [f.type, 4],
        [f.flags, w],
        [f.addr, w],
        [f.offset, w],
        [f.size, w],
        [f.link, 4],
        [f.info, 4],
        [f.addralign, w],
        [f.entsize, w],
      ];
    }
    case 'Sym': {
      const f = rec.Sym;
      return [
        [f.name, 4],
        [f.info, 1],
        [f.other, 1],
        [f.shndx, 2],
        [f.value, w],
        [f.size, w],
      ];
    }
    case 'Rela': {
      const f = rec.Rela;
      return [
        [f.offset, w],
        [f.info, w],
        [f.addend, w],
      ];
    }
  }
}

export const elfStrategies = [
  'ehdr',
  'shdr',
  'shdr-type',
  'symbol',
  'relocation',
  'strtab-no-nul',
  'truncate',
  'symtab-shndx',
  'overlap',
  'huge',
  'bytes',
  'annotation',
] as const;
export type ElfStrategy = (typeof elfStrategies)[number];

/**
 * One mutation of an ELF object, by strategy: header and section-header fields, symbols,
 * relocations, string tables without their NUL, truncation at a boundary, SHT_SYMTAB_SHNDX tables,
 * overlapping sections, huge counts and alignments, flipped bytes, annotation sections.
 */
export function mutateElf(input: Uint8Array, pristine: Uint8Array, strategy: ElfStrategy, rng: Rng): Uint8Array {
  const a = anatomy(pristine);
  const bytes = input;
  if (!a) {
    for (let k = 1 + rng.int(4); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
    return bytes;
  }
  const { reader, sections } = a;
  const h = reader.header;
  const le = h.littleEndian;
  const is64 = reader.is64;
  const rec = sizes[h.elfClass];
  const shdrAt = (i: number) => h.shoff + i * rec.shdr;
  const setShdr = (i: number, field: keyof typeof rec.Shdr, value: bigint) => {
    const width = field === 'name' || field === 'type' || field === 'link' || field === 'info' ? 4 : rec.addr;
    put(bytes, le, shdrAt(i) + rec.Shdr[field], width, value);
  };
  const ofType = (...types: number[]) => sections.filter((s) => types.includes(s.type));
  const anySection = () => rng.pick(sections);
  switch (strategy) {
    case 'ehdr': {
      const [o, w] = rng.pick(recordFields(is64, 'Ehdr'));
      put(bytes, le, o, w, interesting(rng, bytes.length, w));
      return bytes;
    }
    case 'shdr': {
      const [o, w] = rng.pick(recordFields(is64, 'Shdr'));
      put(bytes, le, shdrAt(anySection().index) + o, w, interesting(rng, bytes.length, w));
      return bytes;
    }
    case 'shdr-type': {
      const types = [
        SHT_NULL,
        SHT_PROGBITS,
        SHT_SYMTAB,
        SHT_STRTAB,
        SHT_RELA,
        SHT_NOBITS,
        SHT_REL,
        SHT_GROUP,
        SHT_SYMTAB_SHNDX,
        SHT_DYNSYM,
      ];
      setShdr(anySection().index, 'type', BigInt(rng.pick(types)));
      return bytes;
    }
    case 'symbol': {
      const tables = ofType(SHT_SYMTAB);
      if (tables.length === 0) return mutateElf(bytes, pristine, 'shdr', rng);
      const t = rng.pick(tables);
      const count = Math.floor(t.size / rec.sym);
      const [o, w] = rng.pick(recordFields(is64, 'Sym'));
      const value =
        rng.int(4) === 0
          ? BigInt(rng.pick([0, 1, SHN_XINDEX, 0xfff1, 0xfff2, 0xff20, sections.length, sections.length - 1]))
          : interesting(rng, bytes.length, w);
      put(bytes, le, t.offset + rng.int(Math.max(1, count)) * rec.sym + o, w, value);
      return bytes;
    }
    case 'relocation': {
      const rels = ofType(SHT_RELA, SHT_REL).filter((s) => s.size > 0);
      if (rels.length === 0) return mutateElf(bytes, pristine, 'shdr', rng);
      const r = rng.pick(rels);
      const entsize = r.type === SHT_RELA ? rec.rela : rec.rel;
      const fields = recordFields(is64, 'Rela').slice(0, r.type === SHT_RELA ? 3 : 2);
      const [o, w] = rng.pick(fields);
      put(bytes, le, r.offset + rng.int(Math.floor(r.size / entsize)) * entsize + o, w, interesting(rng, bytes.length, w));
      return bytes;
    }
    case 'strtab-no-nul': {
      const tables = ofType(SHT_STRTAB).filter((s) => s.size > 0);
      if (tables.length === 0) return mutateElf(bytes, pristine, 'truncate', rng);
      const t = rng.pick(tables);
      bytes[t.offset + t.size - 1] = 0x41 + rng.int(26);
      return bytes;
    }
    case 'truncate': {
      const cuts = [h.shoff, h.shoff + rec.shdr * (1 + rng.int(Math.max(1, sections.length))), rec.ehdr, 16];
      for (const s of sections) cuts.push(s.offset, s.offset + s.size);
      const at = Math.max(0, Math.min(bytes.length, rng.pick(cuts) + rng.pick([-1, 0, 1])));
      return bytes.slice(0, at);
    }
    case 'symtab-shndx': {
      const symtab = ofType(SHT_SYMTAB)[0];
      if (!symtab || rng.int(2) === 0) {
        // A section retyped as the extended index table of the symbol table, well or badly shaped.
        const victim = anySection();
        setShdr(victim.index, 'type', BigInt(SHT_SYMTAB_SHNDX));
        if (symtab && rng.int(2) === 0) {
          setShdr(victim.index, 'link', BigInt(symtab.index));
          setShdr(victim.index, 'entsize', 4n);
        }
        return bytes;
      }
      const count = Math.floor(symtab.size / rec.sym);
      put(bytes, le, symtab.offset + rng.int(Math.max(1, count)) * rec.sym + rec.Sym.shndx, 2, BigInt(SHN_XINDEX));
      return bytes;
    }
    case 'overlap': {
      const x = anySection();
      const y = anySection();
      setShdr(x.index, 'offset', BigInt(y.offset + (rng.int(2) ? 0 : rng.int(Math.max(1, y.size)))));
      if (rng.int(2)) setShdr(x.index, 'size', BigInt(y.size));
      return bytes;
    }
    case 'huge': {
      const huge = () => rng.pick([1n << 30n, 1n << 31n, 1n << 32n, 1n << 40n, 1n << 60n, 0xffffffffn, 1n << 63n]);
      switch (rng.int(4)) {
        case 0:
          put(bytes, le, rec.Ehdr.shnum, 2, 0n);
          setShdr(0, 'size', huge());
          break;
        case 1:
          setShdr(anySection().index, 'size', huge());
          break;
        case 2:
          setShdr(anySection().index, 'addralign', rng.int(2) ? huge() : 1n << BigInt(10 + rng.int(22)));
          break;
        default:
          setShdr(anySection().index, 'entsize', rng.pick([0n, 1n, 3n, 5n, huge()]));
      }
      return bytes;
    }
    case 'bytes': {
      const regions: [number, number][] = [
        [0, rec.ehdr],
        [h.shoff, sections.length * rec.shdr],
      ];
      for (const s of ofType(SHT_SYMTAB, SHT_RELA, SHT_REL, SHT_GROUP, SHT_STRTAB)) regions.push([s.offset, Math.min(s.size, 4096)]);
      const [start, len] = rng.pick(regions);
      for (let k = 1 + rng.int(4); k > 0; k--) {
        const at = start + rng.int(Math.max(1, len));
        if (at < bytes.length) bytes[at] = rng.int(256);
      }
      return bytes;
    }
    case 'annotation': {
      const annotations = sections.filter((s) => s.name.startsWith('.klp.') && !s.name.startsWith('.klp.rela.'));
      if (annotations.length === 0) return mutateElf(bytes, pristine, 'huge', rng);
      const s = rng.pick(annotations);
      if (rng.int(2)) setShdr(s.index, 'type', BigInt(SHT_NOBITS));
      setShdr(s.index, 'size', rng.pick([BigInt(s.size * (1 + rng.int(1000))), BigInt(s.size + 1), 12n * 100000n, 1n << 31n, 0n]));
      return bytes;
    }
  }
}

/** Compressed files: their headers, checksums and lengths. */
export function mutateBytes(input: Uint8Array, rng: Rng): Uint8Array {
  const bytes = input;
  switch (rng.int(3)) {
    case 0:
      return bytes.slice(0, rng.int(bytes.length));
    case 1:
      // Frame and stream headers live in the first bytes, checksums and sizes in the last.
      for (let k = 1 + rng.int(2); k > 0; k--)
        bytes[rng.int(2) ? rng.int(Math.min(32, bytes.length)) : bytes.length - 1 - rng.int(Math.min(16, bytes.length))] = rng.int(256);
      return bytes;
    default:
      for (let k = 1 + rng.int(3); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
      return bytes;
  }
}

/**
 * A binary symbol map with a few 32-bit words (header counts, table entries, name offsets, chain
 * links) set to edge values, sometimes cut short, and its CRC made right again three times in four:
 * a map whose checksum holds but whose tables lie is what the reader's own checks must catch.
 */
export function mutateBinaryMap(input: Uint8Array, rng: Rng): Uint8Array {
  let bytes = Uint8Array.from(input);
  // Words after the CRC field: the header's counts (words 5 to 12) a third of the time.
  const words = bytes.length >> 2;
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const w = rng.int(3) === 0 ? 5 + rng.int(8) : 5 + rng.int(words - 5);
    put(bytes, true, 4 * w, 4, interesting(rng, bytes.length, 4));
  }
  if (rng.int(6) === 0) bytes = bytes.slice(0, rng.int(bytes.length));
  if (rng.int(4) !== 0 && bytes.length >= 20) put(bytes, true, 16, 4, BigInt(crc32(bytes.subarray(20))));
  return bytes;
}

/** Text inputs (symbol maps, kallsyms dumps): lines lost, doubled, reordered, cut, odd characters. */
export function mutateText(text: string, rng: Rng): string {
  const lines = text.split('\n');
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const i = rng.int(lines.length);
    switch (rng.int(8)) {
      case 0:
        lines.splice(i, 1);
        break;
      case 1:
        lines.splice(i, 0, lines[rng.int(lines.length)]);
        break;
      case 2:
        [lines[i], lines[(i + 1) % lines.length]] = [lines[(i + 1) % lines.length], lines[i]];
        break;
      case 3: {
        const l = lines[i];
        const at = rng.int(l.length + 1);
        lines[i] =
          l.slice(0, at) + rng.pick(['\t', ' ', '*', '-', ',', '.', '\0', '\r', '9999999999999999999', '', '@', '!', '#']) + l.slice(at);
        break;
      }
      case 4:
        lines[i] = lines[i].slice(0, rng.int(lines[i].length + 1));
        break;
      case 5:
        lines[i] = lines[i].replace(/\d+/, String(rng.pick([0, 1, 2, 3, 99, -1, 2 ** 53])));
        break;
      case 6:
        lines[i] = lines[i].replace(/[^\t ]+$/, '');
        break;
      default:
        return lines.slice(0, i).join('\n');
    }
  }
  return lines.join('\n');
}
