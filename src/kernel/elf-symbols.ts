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
import { bytesStartWith } from './name-hash.js';
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

/** Export flavour from the section a `__ksymtab_<name>` entry sits in (Linux < 6.5 layout). */
function exportTypeOf(sectionName: string): string {
  return sectionName.startsWith('__ksymtab_gpl') || sectionName.startsWith('___ksymtab_gpl') ? 'EXPORT_SYMBOL_GPL' : 'EXPORT_SYMBOL';
}

/** vmlinux's named, defined symbols by symbol-table index, split by whether kallsyms lists them. */
interface VmlinuxSymbolOrder {
  /** The listed ones in kallsyms order. */
  listed: Int32Array;
  /** The others, in symbol table order. */
  unlisted: Int32Array;
  /** Per symbol-table index: nm's type letter as a character code. */
  types: Uint8Array;
  /** Per symbol-table index: the id (in `into`) of a local symbol's source file, else -1. */
  files: Int32Array;
}

/**
 * vmlinux's symbols in kallsyms order (see addVmlinuxSymbols). With `into`, also each local
 * symbol's source file and the exports go there. One pass over the symbol table on its bytes: a
 * vmlinux has 130,000 to 210,000 symbols, read once per process, so no string is made for a name
 * the rules and the sort do not need as one.
 */
function orderVmlinuxSymbols(reader: ElfReader, v: SymbolTableView, rules: KallsymsRules, into?: ObjectSymbols): VmlinuxSymbolOrder {
  const strtab = v.strtabBytes;
  const count = v.count;
  const letterOf = typeLetters(reader, v);
  const listed = new Int32Array(count);
  const unlisted = new Int32Array(count);
  let nListed = 0;
  let nUnlisted = 0;
  const types = new Uint8Array(count);
  const files = new Int32Array(count).fill(-1);
  // Addresses as two 32-bit halves: no bigint per symbol.
  const hi = new Uint32Array(count);
  const lo = new Uint32Array(count);
  let file = -1;
  for (let i = 1; i < count; i++) {
    const info = v.info(i);
    const t = info & 0xf;
    if (t === STT_FILE) {
      if (into) file = into.fileId(v.name(i));
      continue;
    }
    if (t === STT_SECTION || v.shndx(i) === SHN_UNDEF) continue;
    const start = v.nameOffset(i);
    if (start === 0) continue;
    // The string table ends in NUL (SymbolTableView checks it).
    const end = strtab.indexOf(0, start);
    if (end === start) continue;
    const type = letterOf(i).charCodeAt(0);
    types[i] = type;
    if (info >> 4 === STB_LOCAL) files[i] = file;
    if (into && bytesStartWith(strtab, start, end, '__ksymtab_')) {
      const sec = reader.sections[v.shndx(i)];
      if (sec) into.exports.set(v.name(i).slice('__ksymtab_'.length), exportTypeOf(sec.name));
    }
    if (rules.listed(strtab, start, end, type)) {
      hi[i] = v.valueHi(i);
      lo[i] = v.valueLo(i);
      listed[nListed++] = i;
    } else unlisted[nUnlisted++] = i;
  }
  const order = listed.subarray(0, nListed);
  sortKallsyms(v, order, types, hi, lo);
  return { listed: order, unlisted: unlisted.subarray(0, nUnlisted), types, files };
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
  const { listed, unlisted, types, files } = orderVmlinuxSymbols(reader, v, rules, into);
  for (let k = 0; k < listed.length; k++) {
    const i = listed[k];
    into.addFromStrtab(strtab, v.nameOffset(i), types[i], v.sizeNumber(i), true, files[i]);
  }
  for (let k = 0; k < unlisted.length; k++) {
    const i = unlisted[k];
    into.addFromStrtab(strtab, v.nameOffset(i), types[i], v.sizeNumber(i), false, files[i]);
  }
}

/**
 * Put listed vmlinux symbols (symbol-table indices) in kallsyms order: by address, then
 * scripts/kallsyms.c's tie rules, then `nm -n` order, then symbol table order: a stable radix
 * sort by address on typed arrays (a comparator sort called its comparator some 2 million times,
 * slow while the code is cold), then each run of one address sorted by the tie rules, on its
 * names decoded (runs are few and short).
 */
function sortKallsyms(v: SymbolTableView, order: Int32Array, types: Uint8Array, hi: Uint32Array, lo: Uint32Array): void {
  const n = order.length;
  let from: Int32Array = order;
  let to: Int32Array = new Int32Array(n);
  const counts = new Int32Array(0x10000);
  // Least significant 16 bits first; the input is in symbol table order, and each pass is stable.
  for (const [key, shift] of [
    [lo, 0],
    [lo, 16],
    [hi, 0],
    [hi, 16],
  ] as const) {
    if (!radixPass(from, to, key, shift, counts)) continue;
    const t = from;
    from = to;
    to = t;
  }
  if (from !== order) order.set(from);
  let run = 0;
  for (let k = 1; k <= n; k++) {
    if (k < n && hi[order[k]] === hi[order[run]] && lo[order[k]] === lo[order[run]]) continue;
    if (k - run > 1) sortSameAddress(v, order.subarray(run, k), types);
    run = k;
  }
}

/**
 * One stable counting pass of the radix sort: `from` into `to` by the 16 bits of `key[i]` at
 * `shift`. False, with `to` untouched, when every key has the same digit there (the high half of
 * most kernel addresses).
 */
function radixPass(from: Int32Array, to: Int32Array, key: Uint32Array, shift: number, counts: Int32Array): boolean {
  const n = from.length;
  counts.fill(0);
  for (let k = 0; k < n; k++) counts[(key[from[k]] >>> shift) & 0xffff]++;
  if (n === 0 || counts[(key[from[0]] >>> shift) & 0xffff] === n) return false;
  let sum = 0;
  for (let d = 0; d < 0x10000; d++) {
    const c = counts[d];
    counts[d] = sum;
    sum += c;
  }
  for (let k = 0; k < n; k++) {
    const i = from[k];
    to[counts[(key[i] >>> shift) & 0xffff]++] = i;
  }
  return true;
}

/** Symbols at one address in kallsyms order: compareSameAddress, then nm -n order, then table order. */
function sortSameAddress(v: SymbolTableView, run: Int32Array, types: Uint8Array): void {
  const ties = Array.from(run, (i) => ({ i, name: v.name(i), type: String.fromCharCode(types[i]) }));
  ties.sort((a, b) => compareSameAddress(a.name, a.type, b.name, b.type) || compareNmOrder(a.name, b.name) || a.i - b.i);
  for (let k = 0; k < ties.length; k++) run[k] = ties[k].i;
}

/**
 * The symbol-table indices of the vmlinux symbols kallsyms lists, in its order: what sympos counts
 * for a vmlinux symbol (klp_find_object_symbol walks kallsyms). For callers that need addresses,
 * which a symbol map does not keep.
 */
export function vmlinuxKallsymsOrder(reader: ElfReader, rules: KallsymsRules): { view: SymbolTableView; order: Int32Array } {
  const v = symtabOf(reader, "a stripped vmlinux has no symbols; use the -dbg package's vmlinux");
  return { view: v, order: orderVmlinuxSymbols(reader, v, rules).listed };
}

/**
 * The release a vmlinux was built as, from its `linux_banner` ("Linux version <release> (...)"),
 * so a map made from it gets that version's kallsyms rules without being told.
 */
export function vmlinuxRelease(reader: ElfReader): string | undefined {
  const sh = reader.symtab;
  if (!sh) return undefined;
  const v = reader.symbols(sh);
  const strtab = v.strtabBytes;
  for (let i = 1; i < v.count; i++) {
    // The name's bytes, NUL included: no string per symbol before it.
    if (!bytesStartWith(strtab, v.nameOffset(i), strtab.length, 'linux_banner\0')) continue;
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
    if (sec && bytesStartWith(strtab, nameOffset, strtab.length, '__ksymtab_'))
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
