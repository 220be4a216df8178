import {
  SHF_INFO_LINK,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT_DYNSYM,
  SHT_GROUP,
  SHT_NOBITS,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_LOCAL,
} from './constants.js';
import { ElfError } from './errors.js';
import { BufferSource, ElfReader, type ElfHeader, type SectionHeader } from './reader.js';

/** Where an item was in the file it was read from: lets the writer keep what did not change. */
export interface Origin {
  index: number;
  offset: number;
  size: number;
  nameOffset: number;
  name: string;
}

export class ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
  bind: number;
  type: number;
  other: number;
  /** Defining section; null for undefined symbols and special indices (see `shndx`). */
  section: Section | null;
  /** st_shndx when `section` is null: SHN_UNDEF, SHN_ABS, SHN_COMMON or an OS/processor value. */
  shndx: number;
  /** Index and name offset in the file it came from (undefined for new symbols). */
  readonly origin: Origin | undefined;

  constructor(init: {
    name: string;
    value?: bigint;
    size?: bigint;
    bind: number;
    type: number;
    other?: number;
    section?: Section | null;
    shndx?: number;
    origin?: Origin;
  }) {
    this.name = init.name;
    this.value = init.value ?? 0n;
    this.size = init.size ?? 0n;
    this.bind = init.bind;
    this.type = init.type;
    this.other = init.other ?? 0;
    this.section = init.section ?? null;
    this.shndx = init.shndx ?? SHN_UNDEF;
    this.origin = init.origin;
  }

  get isLocal(): boolean {
    return this.bind === STB_LOCAL;
  }
  get isUndefined(): boolean {
    return this.section === null && this.shndx === SHN_UNDEF;
  }
}

export interface Relocation {
  offset: bigint;
  type: number;
  /** null for symbol index 0 (no symbol). */
  symbol: ElfSymbol | null;
  /** Always 0n in SHT_REL sections. */
  addend: bigint;
}

/** A section of any kind; kinds with cross-references have their own subclass. */
export class Section {
  name: string;
  type: number;
  flags: number;
  addr: bigint;
  addralign: number;
  entsize: number;
  /** sh_link as a section (null for 0). */
  link: Section | null = null;
  /** sh_info as stored, for kinds where it is a plain number. */
  info = 0;
  /** sh_info when it names a section (SHF_INFO_LINK). */
  infoSection: Section | null = null;
  readonly origin: Origin | undefined;
  private contents: Uint8Array;
  private nobitsSize: number;
  private changed = false;

  constructor(init: {
    name: string;
    type: number;
    flags?: number;
    addr?: bigint;
    addralign?: number;
    entsize?: number;
    data?: Uint8Array;
    size?: number;
    origin?: Origin;
  }) {
    this.name = init.name;
    this.type = init.type;
    this.flags = init.flags ?? 0;
    this.addr = init.addr ?? 0n;
    this.addralign = init.addralign ?? 1;
    this.entsize = init.entsize ?? 0;
    this.contents = init.data ?? new Uint8Array(0);
    this.nobitsSize = init.size ?? 0;
    this.origin = init.origin;
    this.changed = init.origin === undefined;
  }

  /** Contents as in the file (a view over the input until replaced). */
  get data(): Uint8Array {
    return this.contents;
  }
  set data(bytes: Uint8Array) {
    this.contents = bytes;
    this.changed = true;
  }
  /** sh_size: the contents' length, or the declared size of a NOBITS section. */
  get size(): number {
    return this.type === SHT_NOBITS ? this.nobitsSize : this.contents.length;
  }
  /** Whether contents may differ from the file's; the writer regenerates derived kinds anyway. */
  get isChanged(): boolean {
    return this.changed;
  }
}

export class SymbolTable extends Section {
  /** All symbols, index 0 (the null symbol) included; the writer puts locals first. */
  symbols: ElfSymbol[] = [];

  add(symbol: ElfSymbol): ElfSymbol {
    this.symbols.push(symbol);
    return symbol;
  }
}

export class RelocationSection extends Section {
  /** The section these relocations apply to (sh_info); null when sh_info is 0. */
  target: Section | null = null;
  private decoded: Relocation[] | undefined;
  private decode: (() => Relocation[]) | undefined;

  get isRela(): boolean {
    return this.type === SHT_RELA;
  }
  get symtab(): SymbolTable | null {
    return this.link instanceof SymbolTable ? this.link : null;
  }
  /** Entries, decoded on first use (most sections of a module are never looked at). */
  get relocations(): Relocation[] {
    if (!this.decoded) {
      this.decoded = this.decode ? this.decode() : [];
      this.decode = undefined;
    }
    return this.decoded;
  }
  set relocations(list: Relocation[]) {
    this.decoded = list;
    this.decode = undefined;
  }
  /** True while the entries are still the file's bytes, untouched. */
  get isDecoded(): boolean {
    return this.decoded !== undefined;
  }
  /** @internal used by the parser */
  setLazy(decode: () => Relocation[]): void {
    this.decode = decode;
  }
}

export class GroupSection extends Section {
  groupFlags = 0;
  members: Section[] = [];
  signature: ElfSymbol | null = null;
}

/** SHT_SYMTAB_SHNDX: always regenerated from the symbol table it belongs to. */
export class SymbolIndexSection extends Section {}

/**
 * An ELF relocatable object held for editing: sections as a list (index 0 is the null section),
 * cross-references as objects. Indices, sh_link/sh_info, st_shndx and r_info are derived from the
 * list when writing, in one place (writer.ts), so edits never touch a number.
 */
export class ElfObject {
  header: ElfHeader;
  sections: Section[];
  /** Section name string table (e_shstrndx). */
  shstrtab: Section | null;
  readonly fileName: string | undefined;

  constructor(header: ElfHeader, sections: Section[], shstrtab: Section | null, fileName?: string) {
    this.header = header;
    this.sections = sections;
    this.shstrtab = shstrtab;
    this.fileName = fileName;
  }

  static parse(bytes: Uint8Array, fileName?: string): ElfObject {
    return parseObject(new ElfReader(new BufferSource(bytes), fileName));
  }

  get symtab(): SymbolTable | undefined {
    return this.sections.find((s): s is SymbolTable => s instanceof SymbolTable && s.type === SHT_SYMTAB);
  }

  get relocationSections(): RelocationSection[] {
    return this.sections.filter((s): s is RelocationSection => s instanceof RelocationSection);
  }

  sectionByName(name: string): Section | undefined {
    return this.sections.find((s) => s.name === name);
  }

  indexOf(section: Section): number {
    return this.sections.indexOf(section);
  }

  fail(detail: string, section?: Section): never {
    throw new ElfError('modify', detail, { file: this.fileName, section: section?.name });
  }

  /** Insert a section after `after` (default: at the end). */
  addSection<T extends Section>(section: T, after?: Section): T {
    const at = after ? this.indexOf(after) + 1 : this.sections.length;
    if (after && at === 0) this.fail('cannot insert after a section that is not in the object', after);
    this.sections.splice(at, 0, section);
    return section;
  }

  /**
   * Remove sections. Refuses (typed error) when something left behind still refers to one of them:
   * a symbol defined in it, a relocation section applying to it, a group or sh_link naming it.
   */
  removeSections(doomed: Set<Section>): void {
    for (const s of this.sections) {
      if (doomed.has(s)) continue;
      if (s.link && doomed.has(s.link)) this.fail(`sh_link refers to removed section ${s.link.name}`, s);
      if (s.infoSection && doomed.has(s.infoSection)) this.fail(`sh_info refers to removed section ${s.infoSection.name}`, s);
      if (s instanceof RelocationSection && s.target && doomed.has(s.target)) {
        this.fail(`applies to removed section ${s.target.name}`, s);
      }
      if (s instanceof GroupSection) {
        s.members = s.members.filter((m) => !doomed.has(m));
      }
      if (s instanceof SymbolTable) {
        const sym = s.symbols.find((y) => y.section && doomed.has(y.section));
        if (sym) this.fail(`symbol '${sym.name}' is defined in removed section ${sym.section!.name}`, s);
      }
    }
    if (this.shstrtab && doomed.has(this.shstrtab)) this.fail('cannot remove the section name table', this.shstrtab);
    this.sections = this.sections.filter((s) => !doomed.has(s));
  }

  /** Remove symbols; refuses when a remaining relocation or group still uses one of them. */
  removeSymbols(doomed: Set<ElfSymbol>): void {
    for (const s of this.sections) {
      if (s instanceof RelocationSection) {
        const r = s.relocations.find((x) => x.symbol && doomed.has(x.symbol));
        if (r) this.fail(`relocation at 0x${r.offset.toString(16)} refers to removed symbol '${r.symbol!.name}'`, s);
      } else if (s instanceof GroupSection && s.signature && doomed.has(s.signature)) {
        this.fail(`group signature '${s.signature.name}' was removed`, s);
      }
    }
    const symtab = this.symtab;
    if (symtab) symtab.symbols = symtab.symbols.filter((y) => !doomed.has(y));
  }
}

function parseObject(r: ElfReader): ElfObject {
  const h = r.header;
  const shdrs = r.sections;
  const sections: Section[] = shdrs.map((sh) => makeSection(r, sh));
  const at = (i: number): Section | null => (i === 0 ? null : (sections[i] ?? null));

  for (const sh of shdrs) {
    const s = sections[sh.index];
    if (sh.index === 0) {
      s.info = sh.info;
      continue;
    }
    s.link = at(sh.link);
    if (s instanceof SymbolTable || s instanceof GroupSection) continue;
    if (s instanceof RelocationSection || sh.flags & SHF_INFO_LINK) {
      if (sh.info >= shdrs.length) r.fail(`sh_info ${sh.info} is not a section index (${shdrs.length} sections)`, sh);
      if (s instanceof RelocationSection) s.target = at(sh.info);
      else s.infoSection = at(sh.info);
    } else {
      s.info = sh.info;
    }
  }

  const originals = new Map<SymbolTable, ElfSymbol[]>();
  for (const sh of shdrs) {
    const s = sections[sh.index];
    if (s instanceof SymbolTable) originals.set(s, readSymbols(r, sh, s, sections));
  }
  for (const sh of shdrs) {
    const s = sections[sh.index];
    if (s instanceof RelocationSection) wireRelocations(r, sh, s, originals);
    else if (s instanceof GroupSection) wireGroup(r, sh, s, sections, originals);
  }
  const shstrtab = h.shstrndx !== 0 && h.shstrndx < sections.length ? sections[h.shstrndx] : null;
  return new ElfObject({ ...h }, sections, shstrtab, r.fileName);
}

function makeSection(r: ElfReader, sh: SectionHeader): Section {
  const origin: Origin = { index: sh.index, offset: sh.offset, size: sh.size, nameOffset: sh.nameOffset, name: sh.name };
  const init = {
    name: sh.name,
    type: sh.type,
    flags: sh.flags,
    addr: sh.addr,
    addralign: sh.addralign,
    entsize: sh.entsize,
    data: sh.type === SHT_NOBITS || sh.type === SHT_NULL ? undefined : r.data(sh),
    size: sh.size,
    origin,
  };
  switch (sh.type) {
    case SHT_SYMTAB:
    case SHT_DYNSYM:
      return new SymbolTable(init);
    case SHT_REL:
    case SHT_RELA:
      return new RelocationSection(init);
    case SHT_GROUP:
      return new GroupSection(init);
    case SHT_SYMTAB_SHNDX:
      return new SymbolIndexSection(init);
    default:
      return new Section(init);
  }
}

function readSymbols(r: ElfReader, sh: SectionHeader, table: SymbolTable, sections: Section[]): ElfSymbol[] {
  const v = r.symbols(sh);
  const list: ElfSymbol[] = new Array(v.count);
  for (let i = 0; i < v.count; i++) {
    const raw = v.rawShndx(i);
    const idx = v.shndx(i);
    const defined = raw === SHN_XINDEX || (raw !== SHN_UNDEF && raw < SHN_LORESERVE);
    const name = v.name(i);
    list[i] = new ElfSymbol({
      name,
      value: v.value(i),
      size: v.size(i),
      bind: v.bind(i),
      type: v.type(i),
      other: v.other(i),
      section: defined ? sections[idx] : null,
      shndx: defined ? 0 : raw,
      origin: { index: i, offset: 0, size: 0, nameOffset: v.nameOffset(i), name },
    });
  }
  table.symbols = list.slice();
  return list;
}

function wireRelocations(r: ElfReader, sh: SectionHeader, s: RelocationSection, originals: Map<SymbolTable, ElfSymbol[]>): void {
  const symtab = s.link;
  const view = r.relocations(sh);
  if (view.count === 0) return;
  if (!(symtab instanceof SymbolTable)) r.fail(`sh_link ${sh.link} does not point to a symbol table`, sh);
  const symbols = originals.get(symtab)!;
  for (let i = 0; i < view.count; i++) {
    const idx = view.symbol(i);
    if (idx >= symbols.length) {
      r.fail(
        `relocation ${i} at offset 0x${view.offset(i).toString(16)} refers to symbol ${idx}, but ${symtab.name} has ${symbols.length} symbols`,
        sh,
      );
    }
  }
  s.setLazy(() => {
    const out: Relocation[] = new Array(view.count);
    for (let i = 0; i < view.count; i++) {
      const idx = view.symbol(i);
      out[i] = { offset: view.offset(i), type: view.type(i), symbol: idx === 0 ? null : symbols[idx], addend: view.addend(i) };
    }
    return out;
  });
}

function wireGroup(r: ElfReader, sh: SectionHeader, g: GroupSection, sections: Section[], originals: Map<SymbolTable, ElfSymbol[]>): void {
  const d = r.decoder(r.data(sh));
  if (sh.size < 4 || sh.size % 4 !== 0) r.fail(`group section size ${sh.size} is not a positive multiple of 4`, sh);
  g.groupFlags = d.u32(0);
  for (let o = 4; o < sh.size; o += 4) {
    const idx = d.u32(o);
    if (idx === 0 || idx >= sections.length) r.fail(`group member ${idx} is not a section index`, sh);
    g.members.push(sections[idx]);
  }
  const symtab = g.link;
  if (!(symtab instanceof SymbolTable)) r.fail(`sh_link ${sh.link} does not point to a symbol table`, sh);
  const symbols = originals.get(symtab)!;
  if (sh.info >= symbols.length) r.fail(`signature symbol ${sh.info} is out of range (${symbols.length} symbols)`, sh);
  g.signature = symbols[sh.info];
}
