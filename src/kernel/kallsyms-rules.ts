import { SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, STB_GNU_UNIQUE, STB_LOCAL, STB_WEAK, STT_GNU_IFUNC, STT_OBJECT } from '../elf/constants.js';
import { bytesEqual, bytesStartWith as startsWith } from './name-hash.js';

/**
 * Which symbols the running kernel lists in kallsyms, and in which order: the rules that decide
 * the `sympos` livepatch uses. Each rule names the kernel source it reproduces and the versions it
 * holds for.
 */

/**
 * nm's one-letter type for a defined symbol, as `scripts/mksysmap` and `scripts/kallsyms` see it
 * (binutils `bfd_decode_symclass`): lower case for local symbols.
 */
export function nmType(opts: {
  bind: number;
  type: number;
  undefined: boolean;
  absolute: boolean;
  common: boolean;
  sectionFlags: number;
  sectionNobits: boolean;
  sectionName: string;
}): string {
  if (opts.undefined) return opts.bind === STB_WEAK ? (opts.type === STT_OBJECT ? 'v' : 'w') : 'U';
  if (opts.bind === STB_WEAK) return opts.type === STT_OBJECT ? 'V' : 'W';
  if (opts.bind === STB_GNU_UNIQUE) return 'u';
  if (opts.common) return 'C';
  let c: string;
  if (opts.absolute) c = 'a';
  else if (opts.type === STT_GNU_IFUNC) return 'i';
  else if (!(opts.sectionFlags & SHF_ALLOC)) c = opts.sectionName.startsWith('.debug') ? 'N' : 'n';
  else if (opts.sectionFlags & SHF_EXECINSTR) c = 't';
  else if (opts.sectionNobits) c = 'b';
  else if (!(opts.sectionFlags & SHF_WRITE)) c = 'r';
  else c = 'd';
  if (c === 'N') return c;
  return opts.bind === STB_LOCAL ? c : c.toUpperCase();
}

/**
 * The kernel version a release string names (`6.12.95+deb12-amd64` -> 6.12): Debian's and
 * upstream's releases all start with the upstream major.minor.
 */
export function kernelVersionOf(release: string): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/**
 * Which symbols a kernel's build lists in kallsyms: the rules of one range of kernel versions. A
 * name is the latin1 bytes `b[start, end)` (a string table's, without a string per symbol: a
 * vmlinux has 130,000 to 210,000 of them) and a type is nm's letter as a character code.
 */
export interface KallsymsRules {
  /** The oldest kernel version these rules hold for ("6.1", "6.4", "6.18"). */
  readonly since: string;
  listed(b: Uint8Array, start: number, end: number, type: number): boolean;
}

/** Whether the name `b[start, end)` ends with `suffix`. */
function endsWith(b: Uint8Array, start: number, end: number, suffix: string): boolean {
  return end - start >= suffix.length && startsWith(b, end - suffix.length, end, suffix);
}

/** Whether the name `b[start, end)` is one of `names`. */
function oneOf(b: Uint8Array, start: number, end: number, names: readonly string[]): boolean {
  for (let k = 0; k < names.length; k++) if (bytesEqual(b, start, end, names[k])) return true;
  return false;
}

/** Strings by one of their bytes (first or last): the only ones a name can match at that byte. */
function byByte(strings: readonly string[], at: (s: string) => number): string[][] {
  const none: string[] = [];
  const table: string[][] = new Array(256).fill(none);
  for (const s of strings) {
    const c = at(s);
    table[c] = table[c] === none ? [s] : [...table[c], s];
  }
  return table;
}

/**
 * One version's name filters (whole names, prefixes, suffixes, parts anywhere), kept by the byte
 * each must find first: a vmlinux's names mostly start, end and go on with bytes no filter has
 * there, so they pass after a few lookups rather than a test of every filter.
 */
class NameFilters {
  private readonly names: string[][];
  private readonly prefixes: string[][];
  private readonly suffixes: string[][];
  private readonly parts: string[][];
  private readonly anyParts: boolean;

  constructor(filters: {
    names?: readonly string[];
    prefixes?: readonly string[];
    suffixes?: readonly string[];
    parts?: readonly string[];
  }) {
    const first = (s: string) => s.charCodeAt(0);
    this.names = byByte(filters.names ?? [], first);
    this.prefixes = byByte(filters.prefixes ?? [], first);
    this.suffixes = byByte(filters.suffixes ?? [], (s) => s.charCodeAt(s.length - 1));
    this.parts = byByte(filters.parts ?? [], first);
    this.anyParts = (filters.parts ?? []).length > 0;
  }

  /** Whether the name `b[start, end)` (not empty) matches a filter. */
  match(b: Uint8Array, start: number, end: number): boolean {
    const names = this.names[b[start]];
    for (let k = 0; k < names.length; k++) if (bytesEqual(b, start, end, names[k])) return true;
    const prefixes = this.prefixes[b[start]];
    for (let k = 0; k < prefixes.length; k++) if (startsWith(b, start, end, prefixes[k])) return true;
    const suffixes = this.suffixes[b[end - 1]];
    for (let k = 0; k < suffixes.length; k++) if (endsWith(b, start, end, suffixes[k])) return true;
    if (!this.anyParts) return false;
    for (let at = start; at < end; at++) {
      const parts = this.parts[b[at]];
      for (let k = 0; k < parts.length; k++) if (startsWith(b, at, end, parts[k])) return true;
    }
    return false;
  }
}

/** Suffixes and parts of ARM and PowerPC linker stubs' names, dropped by every version here. */
const ignoredSuffixes = ['_from_arm', '_from_thumb', '_veneer'];
const ignoredParts = ['.long_branch.', '.plt_branch.'];
const keptAbsolute = ['__kernel_syscall_via_break', '__kernel_syscall_via_epc', '__kernel_sigtramp', '__gp'];

/**
 * Linux 6.1 to 6.3: `scripts/mksysmap` is a grep dropping nm types a, N, U, w and names starting
 * with `$`, `.L`, `__crc_`, `__kstrtab_`, `__kstrtabns_` or equal to `L0`; then
 * `is_ignored_symbol()` in `scripts/kallsyms.c` drops its name lists (among them the `kallsyms_*`
 * tables the build adds), undefined and debugging types, and absolute symbols but four. With
 * CONFIG_KALLSYMS_ALL (which CONFIG_LIVEPATCH requires) `symbol_valid()` keeps everything else,
 * data included. Checked against Debian's 6.1.0-56 (e2e suite).
 */
const dropped61 = new NameFilters({
  names: [
    // mksysmap
    'L0',
    // is_ignored_symbol()
    'kallsyms_addresses',
    'kallsyms_offsets',
    'kallsyms_relative_base',
    'kallsyms_num_syms',
    'kallsyms_names',
    'kallsyms_markers',
    'kallsyms_token_table',
    'kallsyms_token_index',
    'kallsyms_seqs_of_names',
    '_SDA_BASE_',
    '_SDA2_BASE_',
  ],
  prefixes: [
    // mksysmap
    '$',
    '.L',
    '__crc_',
    '__kstrtab_',
    '__kstrtabns_',
    // is_ignored_symbol()
    '__efistub_',
    '__kvm_nvhe_$',
    '__kvm_nvhe_.L',
    '__AArch64ADRPThunk_',
    '__ARMV5PILongThunk_',
    '__ARMV7PILongThunk_',
    '__ThumbV7PILongThunk_',
    '__LA25Thunk_',
    '__microLA25Thunk_',
    '__kcfi_typeid_',
  ],
  suffixes: ignoredSuffixes,
  parts: ignoredParts,
});

/** nm type letters as the rules get them: character codes. */
const typeCode = (letter: string): number => letter.charCodeAt(0);
const localAbsolute = typeCode('a');
const globalAbsolute = typeCode('A');
const debugging = typeCode('N');
const undefinedType = typeCode('U');
const nonAllocated = typeCode('n');
const uniqueGlobal = typeCode('u');
const weakUndefined = typeCode('w');

/** Undefined, debugging and absolute symbols: mksysmap's type filter, the same in every version here. */
function droppedType(type: number): boolean {
  return type === localAbsolute || type === debugging || type === undefinedType || type === weakUndefined;
}

/** The last step of `is_ignored_symbol()` in every version here: types u, n, and absolute symbols but four. */
function ignoredKind(b: Uint8Array, start: number, end: number, type: number): boolean {
  return (
    type === uniqueGlobal ||
    type === nonAllocated ||
    ((type === globalAbsolute || type === localAbsolute) && !oneOf(b, start, end, keptAbsolute))
  );
}

const rules61: KallsymsRules = {
  since: '6.1',
  listed(b, start, end, type) {
    return !droppedType(type) && start !== end && !dropped61.match(b, start, end) && !ignoredKind(b, start, end, type);
  },
};

/**
 * `/ __[[:alnum:]]*Thunk_/d` of mksysmap from 6.4: lld's thunks, any `__<letters/digits>Thunk_`
 * prefix (the space before it is the one before the name).
 */
function thunk(b: Uint8Array, start: number, end: number): boolean {
  if (!startsWith(b, start, end, '__')) return false;
  // `Thunk_` is alphanumeric itself: it may start anywhere in the run of alphanumerics after `__`.
  for (let at = start + 2; at < end; at++) {
    if (startsWith(b, at, end, 'Thunk_')) return true;
    const c = b[at];
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum) return false;
  }
  return false;
}

/**
 * Name filters of `scripts/mksysmap` from Linux 6.4, when it became a sed script and took over the
 * name lists of `is_ignored_symbol()` (which keeps only its type checks); its thunk filter is
 * thunk(). The build no longer hides the `kallsyms_*` tables: kallsyms lists them. Checked against
 * Debian's 6.12.95 (e2e suite).
 */
const dropped64 = new NameFilters({
  names: ['L0', '_SDA_BASE_', '_SDA2_BASE_'],
  prefixes: [
    '$',
    '.L',
    '__efistub_',
    '__kvm_nvhe_$',
    '__kvm_nvhe_.L',
    '__pi_.L',
    '__kcfi_typeid_',
    '__kvm_nvhe___kcfi_typeid_',
    '__pi___kcfi_typeid_',
    '__crc_',
    '__kstrtab_',
    '__kstrtabns_',
  ],
  suffixes: ignoredSuffixes,
  parts: ignoredParts,
});

const rules64: KallsymsRules = {
  since: '6.4',
  listed(b, start, end, type) {
    // 6.4 to 6.12's `/ __pi_\\$/d` asks for a backslash after `__pi_`: no x86 name has one.
    return (
      !droppedType(type) && start !== end && !dropped64.match(b, start, end) && !thunk(b, start, end) && !ignoredKind(b, start, end, type)
    );
  },
};

/** `/ __UNIQUE_ID_modinfo_[0-9]*$/d` of mksysmap from 6.18. */
function uniqueModinfo(b: Uint8Array, start: number, end: number): boolean {
  const prefix = '__UNIQUE_ID_modinfo_';
  if (!startsWith(b, start, end, prefix)) return false;
  for (let at = start + prefix.length; at < end; at++) if (b[at] < 0x30 || b[at] > 0x39) return false;
  return true;
}

/**
 * From Linux 6.18 mksysmap also drops `__mod_device_table__*` (vmlinux now keeps them for builtin
 * modaliases: "modpost: Create modalias for builtin modules") and `__UNIQUE_ID_modinfo_<n>`
 * (uniqueModinfo()), and its `__pi_$` filter matches the `$` it meant. Checked against Debian's
 * 7.3.4 (trixie-backports) kbuild scripts; 6.12.95's have none of the three.
 */
const dropped618 = new NameFilters({ prefixes: ['__mod_device_table__', '__pi_$'] });
const rules618: KallsymsRules = {
  since: '6.18',
  listed(b, start, end, type) {
    if (start !== end && (dropped618.match(b, start, end) || uniqueModinfo(b, start, end))) return false;
    return rules64.listed(b, start, end, type);
  },
};

/**
 * The kallsyms rules of a kernel release (or version); without one, the 6.1 rules of Debian 12's
 * own kernel, which this tool first targeted.
 */
export function kallsymsRulesFor(release: string | undefined): KallsymsRules {
  const v = release === undefined ? undefined : kernelVersionOf(release);
  if (!v) return rules61;
  const n = v.major * 1000 + v.minor;
  if (n >= 6018) return rules618;
  if (n >= 6004) return rules64;
  return rules61;
}

/** `may_be_linker_script_provide_symbol()` in scripts/kallsyms.c. */
function linkerProvided(name: string): boolean {
  if (name.length < 8 || !name.startsWith('__')) return false;
  return (
    name.startsWith('__start_') ||
    name.startsWith('__stop_') ||
    name.startsWith('__end_') ||
    name.endsWith('_start') ||
    name.endsWith('_end')
  );
}

function leadingUnderscores(name: string): number {
  let n = 0;
  while (name.charCodeAt(n) === 0x5f) n++;
  return n;
}

/**
 * Tie-break of `compare_symbols()` in scripts/kallsyms.c for symbols at the same address: non-weak
 * first, then not linker-provided first, then fewer leading underscores, then input order, which
 * is `nm -n` order (see compareNmOrder). The same from 6.1 through 7.3. (Up to 6.12, x86_64's
 * CONFIG_KALLSYMS_ABSOLUTE_PERCPU makes per-cpu symbols 'A' in /proc/kallsyms before this sort;
 * 7.x dropped the option. The listing and order of vmlinux's names do not change with it.)
 */
export function compareSameAddress(aName: string, aType: string, bName: string, bType: string): number {
  const wa = aType === 'w' || aType === 'W' ? 1 : 0;
  const wb = bType === 'w' || bType === 'W' ? 1 : 0;
  if (wa !== wb) return wa - wb;
  const la = linkerProvided(aName) ? 1 : 0;
  const lb = linkerProvided(bName) ? 1 : 0;
  if (la !== lb) return la - lb;
  return leadingUnderscores(aName) - leadingUnderscores(bName);
}

/**
 * `nm -n` order of two symbols at the same address, which `scripts/mksysmap` hands to
 * `scripts/kallsyms`: binutils' `numeric_forward()` falls back to `non_numeric_forward()`, a
 * `strcoll()` of the names, and kbuild runs it with LC_COLLATE=C, so byte order. Symbols of one
 * name keep their symbol table order (glibc's qsort is a merge sort).
 */
export function compareNmOrder(aName: string, bName: string): number {
  return aName < bName ? -1 : aName > bName ? 1 : 0;
}

/**
 * Whether a module symbol stays in the module's kallsyms once its init has run:
 * `is_core_symbol()` in kernel/module/kallsyms.c with CONFIG_KALLSYMS_ALL. Named, defined in a real
 * section, and that section is the per-cpu one or allocated and not an init section
 * (`module_init_layout_section()`: names starting with `.init`). `.modinfo` and `__versions` lose
 * SHF_ALLOC when the module loads ("Track but don't keep modinfo and version sections",
 * kernel/module/main.c), so their symbols are not listed either. The kernel walks the rest in
 * symbol table order when it looks for the n-th symbol of a name in a module.
 */
export function isModuleCoreSymbol(opts: {
  nameOffset: number;
  shndx: number;
  shnum: number;
  sectionFlags: number;
  sectionName: string;
  isPercpu: boolean;
}): boolean {
  if (opts.shndx === 0 || opts.shndx >= opts.shnum || opts.nameOffset === 0) return false;
  if (opts.isPercpu) return true;
  if (!(opts.sectionFlags & SHF_ALLOC) || opts.sectionName === '.modinfo' || opts.sectionName === '__versions') return false;
  return !opts.sectionName.startsWith('.init');
}
