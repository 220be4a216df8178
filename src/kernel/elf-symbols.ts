import {
  SHF_ALLOC,
  SHN_ABS,
  SHN_COMMON,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHT_NOBITS,
  STB_LOCAL,
  STT_FILE,
  STT_SECTION,
} from '../elf/constants.js';
import type { ElfReader, SymbolTableView } from '../elf/reader.js';
import { KernelDataError } from './errors.js';
import { type KallsymsRules, compareNmOrder, compareSameAddress, isModuleCoreSymbol, nmType } from './kallsyms-rules.js';
import { modinfoValue, moduleNameFromPath } from './modinfo.js';
import { type ColumnArena, ObjectSymbols } from './symbol-map.js';

function symtabOf(reader: ElfReader, what: string): SymbolTableView {
  const sh = reader.symtab;
  if (!sh) throw new KernelDataError(`${reader.fileName}: no symbol table (.symtab); ${what}`);
  return reader.symbols(sh);
}

function typeLetter(reader: ElfReader, v: SymbolTableView, i: number): string {
  const shndx = v.shndx(i);
  const raw = v.rawShndx(i);
  const special = raw >= SHN_LORESERVE && raw !== 0xffff;
  const sec = special ? undefined : reader.sections[shndx];
  return nmType({
    bind: v.bind(i),
    type: v.type(i),
    undefined: shndx === SHN_UNDEF,
    absolute: raw === SHN_ABS,
    common: raw === SHN_COMMON,
    sectionFlags: sec?.flags ?? 0,
    sectionNobits: sec?.type === SHT_NOBITS,
    sectionName: sec?.name ?? '',
  });
}

/**
 * typeLetter, computed once per (section, binding, type): the letter depends on nothing else, and a
 * whole kernel has 730,000 symbols in a few thousand such classes.
 */
function typeLetters(reader: ElfReader, v: SymbolTableView): (i: number) => string {
  const known = new Map<number, string>();
  return (i) => {
    // The resolved index can pass 16 bits (SHN_XINDEX); a raw special index stays itself.
    const key = v.shndx(i) * 256 + v.info(i);
    let letter = known.get(key);
    if (letter === undefined) {
      letter = typeLetter(reader, v, i);
      known.set(key, letter);
    }
    return letter;
  };
}

/** Whether the NUL-terminated name at `bytes[at]` starts with `prefix`. */
function nameStartsWith(bytes: Uint8Array, at: number, prefix: string): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let k = 0; k < prefix.length; k++) if (bytes[at + k] !== prefix.charCodeAt(k)) return false;
  return true;
}

/** Export flavour from the section a `__ksymtab_<name>` entry sits in (Linux < 6.5 layout). */
function exportTypeOf(sectionName: string): string {
  return sectionName.startsWith('__ksymtab_gpl') || sectionName.startsWith('___ksymtab_gpl') ? 'EXPORT_SYMBOL_GPL' : 'EXPORT_SYMBOL';
}

/**
 * vmlinux symbols in kallsyms order: those kallsyms lists (by the rules of the kernel's version)
 * sorted by address with scripts/kallsyms.c's tie rules and then `nm -n` order (NOT symbol table
 * order: the two differ for ~190 duplicated names of Debian's 6.1), then the ones it leaves out,
 * which take no position.
 */
export function addVmlinuxSymbols(reader: ElfReader, into: ObjectSymbols, rules: KallsymsRules): void {
  const v = symtabOf(reader, "a stripped vmlinux has no symbols; use the -dbg package's vmlinux, a System.map or a kallsyms dump");
  const strtab = v.strtabBytes;
  into.reserve(v.count, strtab.length);
  const letterOf = typeLetters(reader, v);
  const listed: number[] = [];
  const unlisted: number[] = [];
  const types: string[] = new Array(v.count);
  const files = new Int32Array(v.count).fill(-1);
  // Addresses as two 32-bit halves: the sort compares them ~2 million times.
  const hi = new Uint32Array(v.count);
  const lo = new Uint32Array(v.count);
  let file = -1;
  for (let i = 1; i < v.count; i++) {
    const t = v.type(i);
    if (t === STT_FILE) {
      file = into.fileId(v.name(i));
      continue;
    }
    if (t === STT_SECTION || v.shndx(i) === SHN_UNDEF) continue;
    const name = v.name(i);
    if (name === '') continue;
    const letter = letterOf(i);
    types[i] = letter;
    hi[i] = v.valueHi(i);
    lo[i] = v.valueLo(i);
    if (v.bind(i) === STB_LOCAL) files[i] = file;
    if (name.startsWith('__ksymtab_')) {
      const sec = reader.sections[v.shndx(i)];
      if (sec) into.exports.set(name.slice('__ksymtab_'.length), exportTypeOf(sec.name));
    }
    (rules.listed(name, letter) ? listed : unlisted).push(i);
  }
  sortKallsyms(v, listed, types, hi, lo);
  for (const [list, isListed] of [
    [listed, true],
    [unlisted, false],
  ] as const) {
    for (const i of list) into.addFromStrtab(strtab, v.nameOffset(i), types[i].charCodeAt(0), v.sizeNumber(i), isListed, files[i]);
  }
}

/**
 * Put listed vmlinux symbols (symbol-table indices) in kallsyms order: by address, then
 * scripts/kallsyms.c's tie rules, then `nm -n` order. Addresses come as two 32-bit halves: the sort
 * compares them ~2 million times.
 */
function sortKallsyms(v: SymbolTableView, listed: number[], types: string[], hi: Uint32Array, lo: Uint32Array): void {
  listed.sort((a, b) => {
    const ha = hi[a];
    const hb = hi[b];
    if (ha !== hb) return ha - hb;
    const la = lo[a];
    const lb = lo[b];
    if (la !== lb) return la - lb;
    const na = v.name(a);
    const nb = v.name(b);
    return compareSameAddress(na, types[a], nb, types[b]) || compareNmOrder(na, nb) || a - b;
  });
}

/**
 * The symbol-table indices of the vmlinux symbols kallsyms lists, in its order: what sympos counts
 * for a vmlinux symbol (klp_find_object_symbol walks kallsyms). For callers that need addresses,
 * which a symbol map does not keep.
 */
export function vmlinuxKallsymsOrder(reader: ElfReader, rules: KallsymsRules): { view: SymbolTableView; order: number[] } {
  const v = symtabOf(reader, "a stripped vmlinux has no symbols; use the -dbg package's vmlinux");
  const letterOf = typeLetters(reader, v);
  const listed: number[] = [];
  const types: string[] = new Array(v.count);
  const hi = new Uint32Array(v.count);
  const lo = new Uint32Array(v.count);
  for (let i = 1; i < v.count; i++) {
    const t = v.type(i);
    if (t === STT_FILE || t === STT_SECTION || v.shndx(i) === SHN_UNDEF) continue;
    const name = v.name(i);
    if (name === '') continue;
    types[i] = letterOf(i);
    if (!rules.listed(name, types[i])) continue;
    hi[i] = v.valueHi(i);
    lo[i] = v.valueLo(i);
    listed.push(i);
  }
  sortKallsyms(v, listed, types, hi, lo);
  return { view: v, order: listed };
}

/**
 * The release a vmlinux was built as, from its `linux_banner` ("Linux version <release> (...)"),
 * so a map made from it gets that version's kallsyms rules without being told.
 */
export function vmlinuxRelease(reader: ElfReader): string | undefined {
  const sh = reader.symtab;
  if (!sh) return undefined;
  const v = reader.symbols(sh);
  for (let i = 1; i < v.count; i++) {
    if (v.name(i) !== 'linux_banner') continue;
    const sec = reader.sections[v.shndx(i)];
    if (!sec || sec.type === SHT_NOBITS) return undefined;
    const at = Number(v.value(i) - sec.addr);
    if (at < 0 || at >= sec.size) return undefined;
    const bytes = reader.source.read(sec.offset + at, Math.min(256, sec.size - at));
    return /^Linux version (\S+)/.exec(Buffer.from(bytes).toString('latin1'))?.[1];
  }
  return undefined;
}

/**
 * Whether the module symbol at a symbol-table index stays in the module's kallsyms once its init
 * has run (isModuleCoreSymbol, from the raw 16-bit st_shndx the kernel tests in
 * kernel/module/kallsyms.c, escapes included).
 */
function moduleCoreTest(reader: ElfReader, v: SymbolTableView): (i: number) => boolean {
  const shnum = reader.header.shnum;
  const percpu = reader.sections.find((s) => s.name === '.data..percpu' && s.flags & SHF_ALLOC)?.index ?? -1;
  // Per section index: 1 if its named symbols stay, 0 if not, -1 not asked yet. The rule depends on
  // a name only by its being there, and a whole kernel's modules have 580,000 named symbols.
  const known = new Int8Array(shnum).fill(-1);
  return (i) => {
    const nameOffset = v.nameOffset(i);
    const raw = v.rawShndx(i);
    const cached = nameOffset !== 0 && raw < shnum;
    if (cached && known[raw] >= 0) return known[raw] === 1;
    const sec = raw < shnum ? reader.sections[raw] : undefined;
    const core = isModuleCoreSymbol({
      nameOffset,
      shndx: raw,
      shnum,
      sectionFlags: sec?.flags ?? 0,
      sectionName: sec?.name ?? '',
      isPercpu: raw === percpu,
    });
    if (cached) known[raw] = core ? 1 : 0;
    return core;
  };
}

/**
 * A module's defined symbols in symbol table order, which is the order the kernel walks when it
 * counts positions; the ones that do not survive the module's init (see isModuleCoreSymbol) are
 * kept with no position. The table is named as the kernel names the module: .modinfo `name=`, else
 * from the file name.
 */
export function readModuleSymbols(reader: ElfReader, path: string, arena?: ColumnArena): ObjectSymbols {
  const modinfo = reader.sectionByName('.modinfo');
  const out = new ObjectSymbols((modinfo && modinfoValue(reader.data(modinfo), 'name')) || moduleNameFromPath(path), arena);
  const v = symtabOf(reader, 'kernel modules always have one');
  const strtab = v.strtabBytes;
  out.reserve(v.count, strtab.length);
  const letterOf = typeLetters(reader, v);
  const isCore = moduleCoreTest(reader, v);
  let file = '';
  // The current source file's id, given when a symbol first names it: the table lists no file
  // without symbols.
  let fileId = -1;
  for (let i = 1; i < v.count; i++) {
    const t = v.type(i);
    if (t === STT_FILE) {
      file = v.name(i);
      fileId = -1;
      continue;
    }
    const shndx = v.shndx(i);
    if (t === STT_SECTION || shndx === SHN_UNDEF) continue;
    const nameOffset = v.nameOffset(i);
    if (nameOffset === 0 || strtab[nameOffset] === 0) continue;
    const raw = v.rawShndx(i);
    const sec = raw < reader.header.shnum ? reader.sections[raw] : undefined;
    if (sec && nameStartsWith(strtab, nameOffset, '__ksymtab_'))
      out.exports.set(v.name(i).slice('__ksymtab_'.length), exportTypeOf(sec.name));
    const local = v.bind(i) === STB_LOCAL && file !== '';
    if (local && fileId < 0) fileId = out.fileId(file);
    out.addFromStrtab(strtab, nameOffset, letterOf(i).charCodeAt(0), v.sizeNumber(i), isCore(i), local ? fileId : -1);
  }
  return out;
}

/**
 * The symbol-table indices of the module symbols its kallsyms keeps after init, in the order the
 * kernel walks them: add_kallsyms() in kernel/module/kallsyms.c copies the core symbols in symbol
 * table order, and module_kallsyms_on_each_symbol() walks that copy (6.1 to 7.3). What sympos
 * counts for a symbol of a live module; for callers that need the ELF symbols themselves, which a
 * symbol map does not keep.
 */
export function moduleKallsymsOrder(reader: ElfReader): { view: SymbolTableView; order: number[] } {
  const v = symtabOf(reader, 'kernel modules always have one');
  const isCore = moduleCoreTest(reader, v);
  const order: number[] = [];
  for (let i = 1; i < v.count; i++) if (isCore(i)) order.push(i);
  return { view: v, order };
}
