import { Decoder, latin1 } from './bytes.js';
import {
  ELFCLASS32,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  ELFMAG,
  type ElfClass,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  SHT_DYNSYM,
  sizes,
  type RecordLayout,
} from './constants.js';
import { ElfError } from './errors.js';

/** Where the bytes of an ELF file come from: a whole buffer, or ranges of a (large) file. */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes at `offset`; the caller has checked the range. Buffers return views, not copies. */
  read(offset: number, length: number): Uint8Array;
}

export class BufferSource implements ByteSource {
  constructor(readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.subarray(offset, offset + length);
  }
}

export interface ElfHeader {
  /** The 16 identification bytes, kept verbatim (OS ABI, ABI version, padding). */
  ident: Uint8Array;
  elfClass: ElfClass;
  littleEndian: boolean;
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  /** Number of sections, with the `e_shnum == 0` escape resolved. */
  shnum: number;
  /** Index of the section name table, with the `SHN_XINDEX` escape resolved. */
  shstrndx: number;
}

export interface SectionHeader {
  index: number;
  name: string;
  nameOffset: number;
  type: number;
  flags: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

/**
 * Read-only, zero-copy access to an ELF file: header and section headers on open, everything else
 * on demand, so a 600 MB vmlinux costs only the tables that are asked for.
 */
export class ElfReader {
  readonly header: ElfHeader;
  readonly sections: SectionHeader[];
  private readonly symtabCache = new Map<number, SymbolTableView>();

  constructor(
    readonly source: ByteSource,
    readonly fileName?: string,
  ) {
    this.header = this.readHeader();
    this.sections = this.readSectionHeaders();
  }

  get is64(): boolean {
    return this.header.elfClass === ELFCLASS64;
  }

  fail(detail: string, section?: SectionHeader | string): never {
    const name = typeof section === 'string' ? section : section ? sectionLabel(section) : undefined;
    throw new ElfError('format', detail, { file: this.fileName, section: name });
  }

  decoder(bytes: Uint8Array): Decoder {
    return new Decoder(bytes, this.header.littleEndian, this.is64);
  }

  private readHeader(): ElfHeader {
    const size = this.source.size;
    if (size === 0) this.fail('empty file, not an ELF object');
    const ident = this.source.read(0, Math.min(16, size));
    if (!ELFMAG.every((b, i) => i >= size || ident[i] === b)) this.fail('not an ELF file (bad magic number)');
    if (size < 16) this.fail(`truncated: ${size} bytes, too short for an ELF header`);
    const elfClass = ident[4];
    if (elfClass !== ELFCLASS32 && elfClass !== ELFCLASS64) this.fail(`unknown ELF class ${elfClass}`);
    const data = ident[5];
    if (data !== ELFDATA2LSB && data !== ELFDATA2MSB) this.fail(`unknown ELF data encoding ${data}`);
    const s = sizes[elfClass];
    if (size < s.ehdr) this.fail(`truncated: ${size} bytes, too short for an ELF${elfClass === ELFCLASS64 ? 64 : 32} header`);
    const d = new Decoder(this.source.read(0, s.ehdr), data === ELFDATA2LSB, elfClass === ELFCLASS64);
    const f = s.Ehdr;
    const h: ElfHeader = {
      ident: ident.slice(),
      elfClass,
      littleEndian: data === ELFDATA2LSB,
      type: d.u16(f.type),
      machine: d.u16(f.machine),
      version: d.u32(f.version),
      entry: d.addr(f.entry),
      phoff: d.word(f.phoff),
      shoff: d.word(f.shoff),
      flags: d.u32(f.flags),
      ehsize: d.u16(f.ehsize),
      phentsize: d.u16(f.phentsize),
      phnum: d.u16(f.phnum),
      shentsize: d.u16(f.shentsize),
      shnum: d.u16(f.shnum),
      shstrndx: d.u16(f.shstrndx),
    };
    if (Number.isNaN(h.shoff) || Number.isNaN(h.phoff)) this.fail('header offset beyond 2^53');
    return h;
  }

  private readSectionHeaders(): SectionHeader[] {
    const h = this.header;
    const s = sizes[h.elfClass];
    const size = this.source.size;
    if (h.shoff === 0) {
      if (h.shnum !== 0) this.fail(`e_shnum is ${h.shnum} but there is no section header table (e_shoff 0)`);
      return [];
    }
    if (h.shentsize !== s.shdr) this.fail(`section header size e_shentsize is ${h.shentsize}, expected ${s.shdr}`);
    if (h.shoff + s.shdr > size) {
      this.fail(`section header table at offset 0x${h.shoff.toString(16)} lies outside the file (${size} bytes)`);
    }
    // Section 0 carries the real count and string-table index when they do not fit in 16 bits.
    const f = s.Shdr;
    const first = this.decoder(this.source.read(h.shoff, s.shdr));
    if (first.u32(f.type) !== SHT_NULL) this.fail(`section 0 must be the null section (SHT_NULL), not type ${first.u32(f.type)}`, '[0]');
    if (h.shnum === 0) {
      const count = first.word(f.size);
      // Checked before anything is sized by it: the count comes from the file.
      if (!(count * s.shdr <= size - h.shoff)) {
        this.fail(
          `section count ${Number.isNaN(count) ? 'beyond 2^53' : count} (e_shnum 0, from section 0's sh_size) does not fit in the file (${size} bytes)`,
        );
      }
      h.shnum = count;
    }
    if (h.shstrndx === SHN_XINDEX) h.shstrndx = first.u32(f.link);
    const tableSize = h.shnum * s.shdr;
    if (h.shoff + tableSize > size) {
      this.fail(
        `section header table (${h.shnum} entries at offset 0x${h.shoff.toString(16)}) extends past the end of the file (${size} bytes)`,
      );
    }
    const d = this.decoder(this.source.read(h.shoff, tableSize));
    const out: SectionHeader[] = new Array(h.shnum);
    for (let i = 0; i < h.shnum; i++) {
      const o = i * s.shdr;
      const sh: SectionHeader = {
        index: i,
        name: '',
        nameOffset: d.u32(o + f.name),
        type: d.u32(o + f.type),
        flags: d.word(o + f.flags),
        addr: d.addr(o + f.addr),
        offset: d.word(o + f.offset),
        size: d.word(o + f.size),
        link: d.u32(o + f.link),
        info: d.u32(o + f.info),
        addralign: d.word(o + f.addralign),
        entsize: d.word(o + f.entsize),
      };
      out[i] = sh;
    }
    if (h.shnum > 0) this.nameSections(out);
    for (let i = 1; i < out.length; i++) this.checkSection(out[i]);
    for (let i = 1; i < out.length; i++) {
      const sh = out[i];
      if (sh.link >= h.shnum && sh.type !== SHT_NULL) this.fail(`sh_link ${sh.link} is not a section index (${h.shnum} sections)`, sh);
      if (sh.type === SHT_SYMTAB_SHNDX) this.checkIndexTable(sh, out[sh.link]);
    }
    return out;
  }

  /** Every number of a section header is checked before anything is sized or read by it. */
  private checkSection(sh: SectionHeader): void {
    // Spelled out, not an array per section: readers of thousands of objects pass here for each.
    if (
      Number.isNaN(sh.flags) ||
      Number.isNaN(sh.offset) ||
      Number.isNaN(sh.size) ||
      Number.isNaN(sh.addralign) ||
      Number.isNaN(sh.entsize)
    )
      this.fail('section header field beyond 2^53', sh);
    if (sh.type !== SHT_NOBITS && sh.type !== SHT_NULL && sh.offset + sh.size > this.source.size) {
      this.fail(
        `contents (offset 0x${sh.offset.toString(16)}, size 0x${sh.size.toString(16)}) extend past the end of the file (${this.source.size} bytes)`,
        sh,
      );
    }
    // The ABI allows 0, 1 and powers of two; anything else is not an alignment.
    if (sh.addralign > 1 && !Number.isInteger(Math.log2(sh.addralign))) this.fail(`sh_addralign ${sh.addralign} is not a power of two`, sh);
  }

  /**
   * An SHT_SYMTAB_SHNDX table is one 32-bit entry per symbol of the symbol table it links to; any
   * other shape means the section is something else (and the writer would regenerate it from the
   * symbols, losing its bytes).
   */
  private checkIndexTable(sh: SectionHeader, table: SectionHeader): void {
    if (table.type !== SHT_SYMTAB && table.type !== SHT_DYNSYM)
      this.fail(`SHT_SYMTAB_SHNDX links to ${sectionLabel(table)}, which is not a symbol table`, sh);
    if (sh.entsize !== 4) this.fail(`SHT_SYMTAB_SHNDX entry size sh_entsize is ${sh.entsize}, expected 4`, sh);
    const symbols = Math.floor(table.size / sizes[this.header.elfClass].sym);
    if (sh.size !== symbols * 4)
      this.fail(`SHT_SYMTAB_SHNDX sh_size is ${sh.size}, expected 4 x ${symbols} (the symbols of ${sectionLabel(table)})`, sh);
  }

  private nameSections(out: SectionHeader[]): void {
    const idx = this.header.shstrndx;
    if (idx === SHN_UNDEF) return;
    if (idx >= out.length) this.fail(`section name table index e_shstrndx ${idx} is not a section (${out.length} sections)`);
    const strtab = out[idx];
    if (strtab.type !== SHT_STRTAB) this.fail('section name table is not a string table (SHT_STRTAB)', `[${idx}]`);
    this.checkSection(strtab);
    const text = this.strings(strtab);
    for (const sh of out) {
      sh.name = stringAt(text, sh.nameOffset, () =>
        this.fail(`name offset ${sh.nameOffset} is outside the section name table (${text.length} bytes)`, `[${sh.index}]`),
      );
    }
  }

  /** Section contents as a view over the file (NOBITS: empty). */
  data(sh: SectionHeader): Uint8Array {
    if (sh.type === SHT_NOBITS || sh.type === SHT_NULL) return new Uint8Array(0);
    return this.source.read(sh.offset, sh.size);
  }

  sectionByName(name: string): SectionHeader | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The static symbol table (`.symtab`), if any. */
  get symtab(): SectionHeader | undefined {
    return this.sections.find((s) => s.type === SHT_SYMTAB);
  }

  /** Strings of a string table, decoded once. */
  strings(sh: SectionHeader): string {
    return latin1(this.stringBytes(sh));
  }

  /** A string table's bytes, checked to be one. */
  stringBytes(sh: SectionHeader): Uint8Array {
    if (sh.type !== SHT_STRTAB) this.fail('is not a string table (SHT_STRTAB)', sh);
    const bytes = this.data(sh);
    // Without its final NUL the last name would run into whatever follows, names added later included.
    if (bytes.length > 0 && bytes[bytes.length - 1] !== 0) this.fail('string table does not end with a NUL byte', sh);
    return bytes;
  }

  symbols(sh: SectionHeader): SymbolTableView {
    let view = this.symtabCache.get(sh.index);
    if (!view) {
      view = new SymbolTableView(this, sh);
      this.symtabCache.set(sh.index, view);
    }
    return view;
  }

  relocations(sh: SectionHeader): RelocationView {
    return new RelocationView(this, sh);
  }
}

export function sectionLabel(sh: SectionHeader): string {
  return sh.name !== '' ? sh.name : `[${sh.index}]`;
}

function stringAt(text: string, offset: number, onError: () => never): string {
  if (offset >= text.length) {
    if (offset === 0 && text.length === 0) return '';
    onError();
  }
  const end = text.indexOf('\0', offset);
  return text.slice(offset, end < 0 ? text.length : end);
}

/**
 * A symbol table read in place: fields are decoded when asked for, names from the string table's
 * bytes. Nothing is allocated per symbol unless a caller asks for a name.
 */
export class SymbolTableView {
  readonly count: number;
  readonly entsize: number;
  /** The string table's bytes, checked to end in NUL. */
  readonly strtabBytes: Uint8Array;
  private readonly strtabBuffer: Buffer;
  private readonly d: Decoder;
  private readonly xindex: Decoder | undefined;
  private readonly is64: boolean;
  private readonly f: RecordLayout['Sym'];

  constructor(
    readonly reader: ElfReader,
    readonly section: SectionHeader,
  ) {
    const s = sizes[reader.header.elfClass];
    if (section.type !== SHT_SYMTAB && section.type !== SHT_DYNSYM) reader.fail('is not a symbol table', section);
    if (section.entsize !== s.sym) reader.fail(`symbol entry size sh_entsize is ${section.entsize}, expected ${s.sym}`, section);
    if (section.size % s.sym !== 0) reader.fail(`size ${section.size} is not a multiple of the symbol entry size ${s.sym}`, section);
    const strSec = reader.sections[section.link];
    if (!strSec || strSec.type !== SHT_STRTAB) reader.fail(`sh_link ${section.link} does not point to a string table`, section);
    this.is64 = reader.is64;
    this.f = s.Sym;
    this.entsize = s.sym;
    this.count = section.size / s.sym;
    this.d = reader.decoder(reader.data(section));
    this.strtabBytes = reader.stringBytes(strSec);
    this.strtabBuffer = Buffer.from(this.strtabBytes.buffer, this.strtabBytes.byteOffset, this.strtabBytes.byteLength);
    // The reader checked every SHT_SYMTAB_SHNDX: one entry per symbol of the table it links to.
    const shndxSec = reader.sections.find((x) => x.type === SHT_SYMTAB_SHNDX && x.link === section.index);
    if (shndxSec) this.xindex = reader.decoder(reader.data(shndxSec));
    this.validate(strSec, shndxSec);
  }

  private validate(strSec: SectionHeader, shndxSec: SectionHeader | undefined): void {
    const limit = this.strtabBytes.length;
    const shnum = this.reader.header.shnum;
    for (let i = 0; i < this.count; i++) {
      const nameOff = this.nameOffset(i);
      if (nameOff !== 0 && nameOff >= limit) {
        this.reader.fail(
          `symbol ${i}: name offset ${nameOff} is outside string table ${sectionLabel(strSec)} (${limit} bytes)`,
          this.section,
        );
      }
      const raw = this.rawShndx(i);
      if (raw === SHN_XINDEX) {
        if (!shndxSec) this.reader.fail(`symbol ${i} uses SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section`, this.section);
        // 0 would turn a defined symbol into an undefined one.
        if (this.shndx(i) === SHN_UNDEF) this.reader.fail(`symbol ${i} uses SHN_XINDEX but its extended section index is 0`, this.section);
      }
      const idx = this.shndx(i);
      if ((raw < SHN_LORESERVE || raw === SHN_XINDEX) && idx >= shnum) {
        this.reader.fail(`symbol ${i}: section index ${idx} is not a section (${shnum} sections)`, this.section);
      }
    }
  }

  nameOffset(i: number): number {
    return this.d.u32(i * this.entsize + this.f.name);
  }
  name(i: number): string {
    const off = this.nameOffset(i);
    if (off === 0) return '';
    // Decoded name by name: callers ask for a few names of a table or for each once, and decoding
    // whole string tables up front cost more than that when thousands of objects are read.
    const b = this.strtabBuffer;
    return b.toString('latin1', off, b.indexOf(0, off));
  }
  info(i: number): number {
    return this.d.u8(i * this.entsize + this.f.info);
  }
  bind(i: number): number {
    return this.info(i) >> 4;
  }
  type(i: number): number {
    return this.info(i) & 0xf;
  }
  other(i: number): number {
    return this.d.u8(i * this.entsize + this.f.other);
  }
  /** st_shndx as stored (may be SHN_XINDEX). */
  rawShndx(i: number): number {
    return this.d.u16(i * this.entsize + this.f.shndx);
  }
  /** Section index with the SHN_XINDEX escape resolved; special indices (ABS, COMMON, ...) as is. */
  shndx(i: number): number {
    const raw = this.rawShndx(i);
    if (raw === SHN_XINDEX && this.xindex) return this.xindex.u32(i * 4);
    return raw;
  }
  value(i: number): bigint {
    return this.d.addr(i * this.entsize + this.f.value);
  }
  /** Low and high 32 bits of st_value, for hot loops that must not make a bigint per symbol. */
  valueLo(i: number): number {
    return this.d.u32(i * this.entsize + this.f.value + (this.is64 && !this.d.le ? 4 : 0));
  }
  valueHi(i: number): number {
    return this.is64 ? this.d.u32(i * this.entsize + this.f.value + (this.d.le ? 4 : 0)) : 0;
  }
  size(i: number): bigint {
    return this.d.addr(i * this.entsize + this.f.size);
  }
  /** st_size as a number: sizes of real symbols are far below 2^53, larger ones are refused. */
  sizeNumber(i: number): number {
    const size = this.d.word(i * this.entsize + this.f.size);
    if (Number.isNaN(size)) this.reader.fail(`symbol ${i}: st_size beyond 2^53`, this.section);
    return size;
  }
}

/** Entries of an SHT_REL or SHT_RELA section, decoded on demand. */
export class RelocationView {
  readonly count: number;
  readonly rela: boolean;
  readonly entsize: number;
  private readonly d: Decoder;
  private readonly is64: boolean;
  private readonly f: RecordLayout['Rela'];

  constructor(
    readonly reader: ElfReader,
    readonly section: SectionHeader,
  ) {
    const s = sizes[reader.header.elfClass];
    this.rela = section.type === SHT_RELA;
    if (!this.rela && section.type !== SHT_REL) reader.fail('is not a relocation section', section);
    this.entsize = this.rela ? s.rela : s.rel;
    if (section.entsize !== this.entsize) {
      reader.fail(`relocation entry size sh_entsize is ${section.entsize}, expected ${this.entsize}`, section);
    }
    if (section.size % this.entsize !== 0) reader.fail(`size ${section.size} is not a multiple of the entry size ${this.entsize}`, section);
    this.count = section.size / this.entsize;
    this.is64 = reader.is64;
    // Rel is Rela without the addend: the same offsets serve both.
    this.f = s.Rela;
    this.d = reader.decoder(reader.data(section));
  }

  offset(i: number): bigint {
    return this.d.addr(i * this.entsize + this.f.offset);
  }
  symbol(i: number): number {
    const o = i * this.entsize + this.f.info;
    return this.is64 ? this.d.u32(o + (this.d.le ? 4 : 0)) : this.d.u32(o) >>> 8;
  }
  type(i: number): number {
    const o = i * this.entsize + this.f.info;
    return this.is64 ? this.d.u32(o + (this.d.le ? 0 : 4)) : this.d.u32(o) & 0xff;
  }
  addend(i: number): bigint {
    if (!this.rela) return 0n;
    const o = i * this.entsize + this.f.addend;
    return this.is64 ? this.d.i64(o) : BigInt(this.d.view.getInt32(o, this.d.le));
  }
}
