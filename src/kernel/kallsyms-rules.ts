import { SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, STB_GNU_UNIQUE, STB_LOCAL, STB_WEAK, STT_GNU_IFUNC, STT_OBJECT } from '../elf/constants.js';

/**
 * Which symbols the running kernel lists in kallsyms, and in which order: the rules that decide
 * the `sympos` livepatch uses. Each rule names the Linux 6.1 source it reproduces.
 */

/**
 * nm's one-letter type for a defined symbol, as `scripts/mksysmap` and `scripts/kallsyms` see it
 * (binutils `bfd_decode_symclass`): lower case for local symbols.
 */
export function nmType(opts: {
  bind: number; type: number; undefined: boolean; absolute: boolean; common: boolean;
  sectionFlags: number; sectionNobits: boolean; sectionName: string;
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

const ignoredNames = new Set([
  'kallsyms_addresses', 'kallsyms_offsets', 'kallsyms_relative_base', 'kallsyms_num_syms', 'kallsyms_names',
  'kallsyms_markers', 'kallsyms_token_table', 'kallsyms_token_index', 'kallsyms_seqs_of_names', '_SDA_BASE_',
  '_SDA2_BASE_',
]);
const ignoredPrefixes = [
  '__efistub_', '__kvm_nvhe_$', '__kvm_nvhe_.L', '__AArch64ADRPThunk_', '__ARMV5PILongThunk_', '__ARMV7PILongThunk_',
  '__ThumbV7PILongThunk_', '__LA25Thunk_', '__microLA25Thunk_', '__kcfi_typeid_',
];
const ignoredSuffixes = ['_from_arm', '_from_thumb', '_veneer'];
const ignoredMatches = ['.long_branch.', '.plt_branch.'];
const keptAbsolute = new Set(['__kernel_syscall_via_break', '__kernel_syscall_via_epc', '__kernel_sigtramp', '__gp']);

/**
 * Whether a vmlinux symbol reaches the kallsyms table: `scripts/mksysmap` first drops nm types
 * a, N, U, w and names starting with `$`, `.L`, `__crc_`, `__kstrtab_`, `__kstrtabns_` or equal to
 * `L0`; then `is_ignored_symbol()` in `scripts/kallsyms.c` drops its name lists, undefined and
 * debugging types, and absolute symbols but four. With CONFIG_KALLSYMS_ALL (which CONFIG_LIVEPATCH
 * requires) `symbol_valid()` keeps everything else, data included.
 */
export function isListedInKallsyms(name: string, type: string): boolean {
  if (type === 'a' || type === 'N' || type === 'U' || type === 'w') return false;
  if (name.startsWith('$') || name.startsWith('.L') || name.startsWith('__crc_') || name.startsWith('__kstrtab_')
    || name.startsWith('__kstrtabns_') || name === 'L0' || name === '') return false;
  if (ignoredNames.has(name)) return false;
  if (ignoredPrefixes.some((p) => name.startsWith(p))) return false;
  if (ignoredSuffixes.some((s) => name.endsWith(s))) return false;
  if (ignoredMatches.some((m) => name.includes(m))) return false;
  if (type === 'u' || type === 'n') return false;
  if (type === 'A' && !keptAbsolute.has(name)) return false;
  return true;
}

/** `may_be_linker_script_provide_symbol()` in scripts/kallsyms.c. */
function linkerProvided(name: string): boolean {
  if (name.length < 8 || !name.startsWith('__')) return false;
  return name.startsWith('__start_') || name.startsWith('__stop_') || name.startsWith('__end_')
    || name.endsWith('_start') || name.endsWith('_end');
}

function leadingUnderscores(name: string): number {
  let n = 0;
  while (name.charCodeAt(n) === 0x5f) n++;
  return n;
}

/**
 * Tie-break of `compare_symbols()` in scripts/kallsyms.c for symbols at the same address: non-weak
 * first, then not linker-provided first, then fewer leading underscores, then input (nm -n) order.
 * The caller sorts by address first and keeps input order last (a stable sort).
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
 * Whether a module symbol stays in the module's kallsyms once its init has run:
 * `is_core_symbol()` in kernel/module/kallsyms.c with CONFIG_KALLSYMS_ALL. Named, defined in a real
 * section, and that section is the per-cpu one or allocated and not an init section
 * (`module_init_layout_section()`: names starting with `.init`). `.modinfo` and `__versions` lose
 * SHF_ALLOC when the module loads ("Track but don't keep modinfo and version sections",
 * kernel/module/main.c), so their symbols are not listed either. The kernel walks the rest in
 * symbol table order when it looks for the n-th symbol of a name in a module.
 */
export function isModuleCoreSymbol(opts: {
  nameOffset: number; shndx: number; shnum: number; sectionFlags: number; sectionName: string; isPercpu: boolean;
}): boolean {
  if (opts.shndx === 0 || opts.shndx >= opts.shnum || opts.nameOffset === 0) return false;
  if (opts.isPercpu) return true;
  if (!(opts.sectionFlags & SHF_ALLOC) || opts.sectionName === '.modinfo' || opts.sectionName === '__versions') return false;
  return !opts.sectionName.startsWith('.init');
}
