import { Encoder, alignUp } from './bytes.js';
import {
  ELFCLASS64,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB_SHNDX,
  STB_LOCAL,
  sizes,
  type RecordLayout,
} from './constants.js';
import { ElfError } from './errors.js';
import {
  type ElfObject,
  type ElfSymbol,
  GroupSection,
  RelocationSection,
  type Section,
  SymbolIndexSection,
  SymbolTable,
} from './object.js';

interface HeaderFields {
  name: number;
  link: number;
  info: number;
  entsize: number;
  offset: number;
  size: number;
}

interface Plan {
  sections: Section[];
  index: Map<Section, number>;
  symbolIndex: Map<ElfSymbol, number>;
  /** Final bytes of every section that occupies file space. */
  contents: Map<Section, Uint8Array>;
  fields: Map<Section, HeaderFields>;
  shoff: number;
  fileSize: number;
}

/**
 * Serialise an object. All index bookkeeping lives here: section indices from list order, symbol
 * indices with locals first, sh_link/sh_info/st_shndx/r_info and group members from references,
 * the SHN_XINDEX and e_shnum/e_shstrndx escapes. Sections keep their file offsets where nothing
 * before them grew, so an unchanged object writes back byte for byte.
 */
export function writeElf(obj: ElfObject): Uint8Array {
  const fail = (detail: string): never => {
    throw new ElfError('write', detail, { file: obj.fileName });
  };
  if (obj.header.phnum > 0) fail('objects with program headers (executables, shared objects) cannot be written, only relocatable objects');
  if (obj.sections.length === 0 || obj.sections[0].type !== SHT_NULL) fail('section 0 must be the null section');
  const plan = planWrite(obj, fail);
  return emit(obj, plan);
}

function planWrite(obj: ElfObject, fail: (d: string) => never): Plan {
  const sections = withIndexSections(obj.sections);
  const index = new Map<Section, number>();
  sections.forEach((s, i) => {
    index.set(s, i);
  });
  const idx = (s: Section | null): number => {
    if (s === null) return 0;
    const i = index.get(s);
    if (i === undefined) fail(`a reference points to section '${s.name}', which is not in the object`);
    return i;
  };

  const symbolIndex = new Map<ElfSymbol, number>();
  const localCount = new Map<SymbolTable, number>();
  const orderUnchanged = new Map<SymbolTable, boolean>();
  // The order written: the caller's symbol list stays as the caller made it.
  const symbolOrder = new Map<SymbolTable, ElfSymbol[]>();
  for (const s of sections) {
    if (!(s instanceof SymbolTable)) continue;
    const [first, ...rest] = s.symbols;
    if (first?.name !== '' || first.section !== null || first.shndx !== SHN_UNDEF) {
      fail(`${s.name}: symbol 0 must be the null symbol`);
    }
    // ELF requires every local symbol before the first global one; sh_info counts the locals.
    const locals = rest.filter((y) => y.bind === STB_LOCAL);
    const order = [first, ...locals, ...rest.filter((y) => y.bind !== STB_LOCAL)];
    let same = true;
    order.forEach((y, i) => {
      symbolIndex.set(y, i);
      if (y.origin && y.origin.index !== i) same = false;
    });
    symbolOrder.set(s, order);
    localCount.set(s, locals.length + 1);
    orderUnchanged.set(s, same);
  }
  const symIdx = (y: ElfSymbol | null, where: Section): number => {
    if (y === null) return 0;
    const i = symbolIndex.get(y);
    if (i === undefined) fail(`${where.name}: refers to symbol '${y.name}', which is in no symbol table`);
    return i;
  };

  const strings = buildStringTables(obj, sections, fail);
  const contents = new Map<Section, Uint8Array>();
  const fields = new Map<Section, HeaderFields>();
  const rec = sizes[obj.header.elfClass];
  const le = obj.header.littleEndian;
  const is64 = obj.header.elfClass === ELFCLASS64;
  const nameOf = (s: Section): number => strings.sectionNames.get(s) ?? 0;

  sections.forEach((s, i) => {
    let data = s.data;
    let link = idx(s.link);
    let info = s.infoSection ? idx(s.infoSection) : s.info;
    let entsize = s.entsize;
    if (i === 0) {
      link = idx(obj.shstrtab) >= SHN_LORESERVE ? idx(obj.shstrtab) : 0;
      info = 0;
    } else if (strings.tables.has(s)) {
      data = strings.tables.get(s)!;
    } else if (s instanceof SymbolTable) {
      data = encodeSymbols(symbolOrder.get(s)!, strings.symbolNames, idx, rec, le, is64);
      info = localCount.get(s)!;
      entsize = rec.sym;
    } else if (s instanceof SymbolIndexSection) {
      const table = s.link;
      if (!(table instanceof SymbolTable)) fail(`${s.name}: SHT_SYMTAB_SHNDX must link to a symbol table`);
      data = encodeSymbolIndices(symbolOrder.get(table) ?? table.symbols, idx, le);
      entsize = 4;
    } else if (s instanceof RelocationSection) {
      entsize = s.type === SHT_RELA ? rec.rela : rec.rel;
      info = idx(s.target);
      const table = s.symtab;
      if (s.isDecoded || !table || !orderUnchanged.get(table)) {
        data = encodeRelocations(s, (y) => symIdx(y, s), rec, le, is64);
      }
    } else if (s instanceof GroupSection) {
      data = encodeGroup(s, idx, le);
      info = symIdx(s.signature, s);
    }
    contents.set(s, data);
    const size = i === 0 ? (sections.length >= SHN_LORESERVE ? sections.length : 0) : s.type === SHT_NOBITS ? s.size : data.length;
    fields.set(s, { name: nameOf(s), link, info, entsize, offset: 0, size });
  });

  const { shoff, fileSize } = layout(obj, sections, fields, fail);
  return { sections, index, symbolIndex, contents, fields, shoff, fileSize };
}

/** A symbol table whose symbols need section indices ≥ SHN_LORESERVE must have an SHT_SYMTAB_SHNDX. */
function withIndexSections(list: Section[]): Section[] {
  const sections = list.slice();
  for (const table of list.filter((s): s is SymbolTable => s instanceof SymbolTable)) {
    if (sections.some((s) => s instanceof SymbolIndexSection && s.link === table)) continue;
    // Indices as they will be once the table's SHT_SYMTAB_SHNDX follows it (one lookup, not a scan per symbol).
    const at = sections.indexOf(table);
    const index = new Map(sections.map((s, i) => [s, i > at ? i + 1 : i]));
    if (!table.symbols.some((y) => y.section !== null && (index.get(y.section) ?? 0) >= SHN_LORESERVE)) continue;
    const shndx = new SymbolIndexSection({ name: '.symtab_shndx', type: SHT_SYMTAB_SHNDX, addralign: 4, entsize: 4 });
    shndx.link = table;
    sections.splice(at + 1, 0, shndx);
  }
  return sections;
}

interface StringPlan {
  tables: Map<Section, Uint8Array>;
  sectionNames: Map<Section, number>;
  symbolNames: Map<ElfSymbol, number>;
}

/**
 * String tables keep their original bytes and offsets; names that are new are appended. Unchanged
 * objects thus keep identical tables, and edited ones differ only by what was added.
 */
function buildStringTables(obj: ElfObject, sections: Section[], fail: (d: string) => never): StringPlan {
  const builders = new Map<Section, StringTableBuilder>();
  const builder = (s: Section): StringTableBuilder => {
    let b = builders.get(s);
    if (!b) {
      if (s.type !== SHT_STRTAB) fail(`${s.name}: names must live in a string table (SHT_STRTAB)`);
      b = new StringTableBuilder(s.origin && !s.isChanged ? s.data : undefined);
      builders.set(s, b);
    }
    return b;
  };
  const sectionNames = new Map<Section, number>();
  const symbolNames = new Map<ElfSymbol, number>();
  if (obj.shstrtab) {
    const b = builder(obj.shstrtab);
    for (const s of sections) {
      const reuse = s.origin && s.origin.name === s.name ? s.origin.nameOffset : undefined;
      sectionNames.set(s, s === sections[0] ? 0 : b.add(s.name, reuse));
    }
  }
  for (const s of sections) {
    if (!(s instanceof SymbolTable) || !s.link) continue;
    const b = builder(s.link);
    for (const y of s.symbols) {
      const reuse = y.origin && y.origin.name === y.name ? y.origin.nameOffset : undefined;
      symbolNames.set(y, b.add(y.name, reuse));
    }
  }
  const tables = new Map<Section, Uint8Array>();
  for (const [s, b] of builders) tables.set(s, b.finish());
  return { tables, sectionNames, symbolNames };
}

export class StringTableBuilder {
  private readonly original: Uint8Array | undefined;
  private readonly added: string[] = [];
  private readonly offsets = new Map<string, number>();
  private size: number;
  private originalIndex: Map<string, number> | undefined;

  constructor(original?: Uint8Array) {
    this.original = original && original.length > 0 ? original : undefined;
    this.size = this.original ? this.original.length : 1;
  }

  /** Offset of `name`; `reuse` is its offset in the original table when it is known to be there. */
  add(name: string, reuse?: number): number {
    if (name.includes('\0')) throw new ElfError('write', `name contains a NUL byte: ${JSON.stringify(name)}`);
    if (reuse !== undefined && this.original && reuse < this.original.length) return reuse;
    if (name === '') return 0;
    const known = this.offsets.get(name) ?? this.lookupOriginal(name);
    if (known !== undefined) return known;
    const off = this.size;
    this.added.push(name);
    this.offsets.set(name, off);
    this.size += name.length + 1;
    return off;
  }

  private lookupOriginal(name: string): number | undefined {
    if (!this.original) return undefined;
    if (!this.originalIndex) {
      this.originalIndex = new Map();
      const text = Buffer.from(this.original.buffer, this.original.byteOffset, this.original.length).toString('latin1');
      let start = 0;
      for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) !== 0) continue;
        if (!this.originalIndex.has(text.slice(start, i))) this.originalIndex.set(text.slice(start, i), start);
        start = i + 1;
      }
    }
    return this.originalIndex.get(name);
  }

  finish(): Uint8Array {
    if (this.added.length === 0 && this.original) return this.original;
    const out = new Uint8Array(this.size);
    if (this.original) out.set(this.original);
    let o = this.original ? this.original.length : 1;
    for (const name of this.added) {
      out.set(Buffer.from(name, 'latin1'), o);
      o += name.length + 1;
    }
    return out;
  }
}

function encodeSymbols(
  symbols: ElfSymbol[],
  names: Map<ElfSymbol, number>,
  idx: (s: Section | null) => number,
  rec: RecordLayout,
  le: boolean,
  is64: boolean,
): Uint8Array {
  const f = rec.Sym;
  const out = new Uint8Array(symbols.length * rec.sym);
  const e = new Encoder(out, le, is64);
  symbols.forEach((y, i) => {
    const o = i * rec.sym;
    const secIdx = y.section ? idx(y.section) : y.shndx;
    e.u32(o + f.name, names.get(y) ?? 0);
    e.u8(o + f.info, ((y.bind & 0xf) << 4) | (y.type & 0xf));
    e.u8(o + f.other, y.other);
    e.u16(o + f.shndx, y.section && secIdx >= SHN_LORESERVE ? SHN_XINDEX : secIdx);
    e.addr(o + f.value, y.value);
    e.addr(o + f.size, y.size);
  });
  return out;
}

function encodeSymbolIndices(symbols: ElfSymbol[], idx: (s: Section | null) => number, le: boolean): Uint8Array {
  const out = new Uint8Array(symbols.length * 4);
  const e = new Encoder(out, le, false);
  symbols.forEach((y, i) => {
    const secIdx = y.section ? idx(y.section) : 0;
    e.u32(i * 4, secIdx >= SHN_LORESERVE ? secIdx : 0);
  });
  return out;
}

function encodeRelocations(
  s: RelocationSection,
  symIdx: (y: ElfSymbol | null) => number,
  rec: RecordLayout,
  le: boolean,
  is64: boolean,
): Uint8Array {
  const rela = s.type === SHT_RELA;
  if (!rela && s.type !== SHT_REL) throw new ElfError('write', 'relocation section of unknown type', { section: s.name });
  const size = rela ? rec.rela : rec.rel;
  // Rel is Rela without the addend: the same offsets serve both.
  const f = rec.Rela;
  const list = s.relocations;
  const out = new Uint8Array(list.length * size);
  const e = new Encoder(out, le, is64);
  list.forEach((r, i) => {
    const o = i * size;
    const sym = symIdx(r.symbol);
    e.addr(o + f.offset, r.offset);
    if (is64) {
      // r_info = sym << 32 | type, written as two words in the file's byte order.
      e.u32(o + f.info + (le ? 0 : 4), r.type);
      e.u32(o + f.info + (le ? 4 : 0), sym);
      if (rela) e.i64(o + f.addend, r.addend);
    } else {
      e.u32(o + f.info, ((sym << 8) | (r.type & 0xff)) >>> 0);
      if (rela) e.view.setInt32(o + f.addend, Number(BigInt.asIntN(32, r.addend)), le);
    }
  });
  return out;
}

function encodeGroup(g: GroupSection, idx: (s: Section | null) => number, le: boolean): Uint8Array {
  const out = new Uint8Array(4 + g.members.length * 4);
  const e = new Encoder(out, le, false);
  e.u32(0, g.groupFlags);
  g.members.forEach((m, i) => {
    e.u32(4 + i * 4, idx(m));
  });
  return out;
}

/**
 * The largest sh_addralign written. Real objects ask for at most a page (64 KiB on arm64 and
 * ppc64 kernels); more only pads the output with zeros the loader never reads.
 */
export const MAX_ALIGN = 0x10000;

/**
 * File offsets: items (sections, then the section header table) in their original file order,
 * each at its old offset when that is still free, else packed after the previous one at its
 * alignment. New sections go at the end. The output thus grows only by what changed, and by the
 * padding that aligns what had to move.
 */
function layout(
  obj: ElfObject,
  sections: Section[],
  fields: Map<Section, HeaderFields>,
  fail: (d: string) => never,
): { shoff: number; fileSize: number } {
  const rec = sizes[obj.header.elfClass];
  const shTable = { offset: obj.header.shoff, size: sections.length * rec.shdr, align: rec.addr };
  type Item = { section: Section | null; origin: number | undefined; align: number; size: number };
  const old: Item[] = [];
  const fresh: Item[] = [];
  let contents = rec.ehdr + shTable.size;
  for (const s of sections.slice(1)) {
    if (s.addralign > MAX_ALIGN) fail(`section ${s.name}: sh_addralign ${s.addralign} is beyond the ${MAX_ALIGN} bytes an object needs`);
    const f = fields.get(s)!;
    const item: Item = { section: s, origin: s.origin?.offset, align: Math.max(1, s.addralign), size: s.type === SHT_NOBITS ? 0 : f.size };
    contents += item.size;
    (s.origin && s.type !== SHT_NULL ? old : fresh).push(item);
  }
  old.sort((a, b) => a.origin! - b.origin!);
  const items: Item[] = [...old];
  const header: Item = { section: null, origin: shTable.offset || undefined, align: shTable.align, size: shTable.size };
  const at = header.origin === undefined ? items.length : items.findIndex((i) => i.origin! > header.origin!);
  items.splice(at < 0 ? items.length : at, 0, header);
  // New sections go before the header table when it was last, as compilers and linkers lay out.
  const headerLast = items[items.length - 1] === header;
  items.splice(headerLast ? items.length - 1 : items.length, 0, ...fresh);

  let cursor = rec.ehdr;
  let shoff = 0;
  let padding = 0;
  for (const item of items) {
    // An old offset that is free is kept even if the file had it unaligned: copying adds nothing.
    const keep = item.origin !== undefined && item.origin >= cursor;
    const offset = keep ? item.origin! : alignUp(cursor, item.align);
    if (!keep) padding += offset - cursor;
    if (item.section) {
      fields.get(item.section)!.offset = offset;
      if (item.section.type === SHT_NOBITS) continue;
    } else {
      shoff = offset;
    }
    cursor = offset + item.size;
  }
  // Each alignment is bounded, not their number: many moved sections could still multiply the size.
  if (padding > contents + MAX_ALIGN) fail(`alignment padding of ${padding} bytes for ${contents} bytes of contents`);
  return { shoff, fileSize: cursor };
}

function emit(obj: ElfObject, plan: Plan): Uint8Array {
  const h = obj.header;
  const is64 = h.elfClass === ELFCLASS64;
  const rec = sizes[h.elfClass];
  const out = new Uint8Array(plan.fileSize);
  const e = new Encoder(out, h.littleEndian, is64);
  const count = plan.sections.length;
  const shstrndx = obj.shstrtab ? plan.index.get(obj.shstrtab)! : 0;

  const eh = rec.Ehdr;
  out.set(h.ident.subarray(0, 16), 0);
  e.u16(eh.type, h.type);
  e.u16(eh.machine, h.machine);
  e.u32(eh.version, h.version);
  e.addr(eh.entry, h.entry);
  e.word(eh.phoff, 0);
  e.word(eh.shoff, plan.shoff);
  e.u32(eh.flags, h.flags);
  e.u16(eh.ehsize, rec.ehdr);
  e.u16(eh.phentsize, h.phentsize);
  e.u16(eh.phnum, 0);
  e.u16(eh.shentsize, rec.shdr);
  e.u16(eh.shnum, count >= SHN_LORESERVE ? 0 : count);
  e.u16(eh.shstrndx, shstrndx >= SHN_LORESERVE ? SHN_XINDEX : shstrndx);

  const sf = rec.Shdr;
  plan.sections.forEach((s, i) => {
    const f = plan.fields.get(s)!;
    const data = plan.contents.get(s)!;
    if (i > 0 && s.type !== SHT_NOBITS && data.length > 0) out.set(data, f.offset);
    const o = plan.shoff + i * rec.shdr;
    e.u32(o + sf.name, f.name);
    e.u32(o + sf.type, s.type);
    e.word(o + sf.flags, s.flags);
    e.addr(o + sf.addr, s.addr);
    e.word(o + sf.offset, i === 0 ? 0 : f.offset);
    e.word(o + sf.size, f.size);
    e.u32(o + sf.link, f.link);
    e.u32(o + sf.info, f.info);
    e.word(o + sf.addralign, s.addralign);
    e.word(o + sf.entsize, f.entsize);
  });
  return out;
}
