import { SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, STB_GNU_UNIQUE, STB_LOCAL, STB_WEAK, STT_GNU_IFUNC, STT_OBJECT } from '../elf/constants.js';

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

/** Which symbols a kernel's build lists in kallsyms: the rules of one range of kernel versions. */
export interface KallsymsRules {
  /** The oldest kernel version these rules hold for ("6.1", "6.4", "6.18"). */
  readonly since: string;
  listed(name: string, type: string): boolean;
}

/**
 * Linux 6.1 to 6.3: `scripts/mksysmap` is a grep dropping nm types a, N, U, w and names starting
 * with `$`, `.L`, `__crc_`, `__kstrtab_`, `__kstrtabns_` or equal to `L0`; then
 * `is_ignored_symbol()` in `scripts/kallsyms.c` drops its name lists (among them the `kallsyms_*`
 * tables the build adds), undefined and debugging types, and absolute symbols but four. With
 * CONFIG_KALLSYMS_ALL (which CONFIG_LIVEPATCH requires) `symbol_valid()` keeps everything else,
 * data included. Checked against Debian's 6.1.0-56 (e2e suite).
 */
const ignoredNames61 = new Set([
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
]);
const ignoredPrefixes61 = [
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
];
const ignoredSuffixes = ['_from_arm', '_from_thumb', '_veneer'];
const ignoredMatches = ['.long_branch.', '.plt_branch.'];
const keptAbsolute = new Set(['__kernel_syscall_via_break', '__kernel_syscall_via_epc', '__kernel_sigtramp', '__gp']);

/** Undefined, debugging and absolute symbols: mksysmap's type filter, the same in every version here. */
function droppedType(type: string): boolean {
  return type === 'a' || type === 'N' || type === 'U' || type === 'w';
}

/** The last step of `is_ignored_symbol()` in every version here: types u, n, and absolute symbols but four. */
function ignoredKind(name: string, type: string): boolean {
  return type === 'u' || type === 'n' || (type.toUpperCase() === 'A' && !keptAbsolute.has(name));
}

const rules61: KallsymsRules = {
  since: '6.1',
  listed(name, type) {
    if (droppedType(type)) return false;
    if (
      name.startsWith('$') ||
      name.startsWith('.L') ||
      name.startsWith('__crc_') ||
      name.startsWith('__kstrtab_') ||
      name.startsWith('__kstrtabns_') ||
      name === 'L0' ||
      name === ''
    )
      return false;
    if (ignoredNames61.has(name)) return false;
    if (ignoredPrefixes61.some((p) => name.startsWith(p))) return false;
    if (ignoredSuffixes.some((x) => name.endsWith(x))) return false;
    if (ignoredMatches.some((m) => name.includes(m))) return false;
    return !ignoredKind(name, type);
  },
};

/** `/ __[[:alnum:]]*Thunk_/d` of mksysmap from 6.4: lld's thunks, any `__<letters/digits>Thunk_` prefix. */
const thunk = /^__[A-Za-z0-9]*Thunk_/;

/**
 * Name filters of `scripts/mksysmap` from Linux 6.4, when it became a sed script and took over the
 * name lists of `is_ignored_symbol()` (which keeps only its type checks). The build no longer hides
 * the `kallsyms_*` tables: kallsyms lists them. Checked against Debian's 6.12.95 (e2e suite).
 */
function mksysmapDrops64(name: string): boolean {
  return (
    name === '' ||
    name.startsWith('$') ||
    name.startsWith('.L') ||
    name.startsWith('__efistub_') ||
    name.startsWith('__kvm_nvhe_$') ||
    name.startsWith('__kvm_nvhe_.L') ||
    name.startsWith('__pi_.L') ||
    thunk.test(name) ||
    name.startsWith('__kcfi_typeid_') ||
    name.startsWith('__kvm_nvhe___kcfi_typeid_') ||
    name.startsWith('__pi___kcfi_typeid_') ||
    name.startsWith('__crc_') ||
    name.startsWith('__kstrtab_') ||
    name.startsWith('__kstrtabns_') ||
    ignoredSuffixes.some((x) => name.endsWith(x)) ||
    name === 'L0' ||
    name === '_SDA_BASE_' ||
    name === '_SDA2_BASE_' ||
    ignoredMatches.some((m) => name.includes(m))
  );
}

const rules64: KallsymsRules = {
  since: '6.4',
  listed(name, type) {
    // 6.4 to 6.12's `/ __pi_\\$/d` asks for a backslash after `__pi_`: no x86 name has one.
    return !droppedType(type) && !mksysmapDrops64(name) && !ignoredKind(name, type);
  },
};

/**
 * From Linux 6.18 mksysmap also drops `__mod_device_table__*` (vmlinux now keeps them for builtin
 * modaliases: "modpost: Create modalias for builtin modules") and `__UNIQUE_ID_modinfo_<n>`, and
 * its `__pi_$` filter matches the `$` it meant. Checked against Debian's 7.3.4 (trixie-backports)
 * kbuild scripts; 6.12.95's have none of the three.
 */
const uniqueModinfo = /^__UNIQUE_ID_modinfo_[0-9]*$/;
const rules618: KallsymsRules = {
  since: '6.18',
  listed(name, type) {
    if (name.startsWith('__mod_device_table__') || uniqueModinfo.test(name) || name.startsWith('__pi_$')) return false;
    return rules64.listed(name, type);
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
