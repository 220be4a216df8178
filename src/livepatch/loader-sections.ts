import { specialEntrySize } from '../kernel/special-sections.js';

/**
 * Sections the module loader acts on while loading a module (module_finalize(), jump labels, static
 * calls, ftrace, exception and bug tables, constructors, exports), before livepatch applies
 * relocations for module targets: those wait for klp_init_object_loaded(). vmlinux targets are
 * safe there: their livepatch relocations are applied while the module loads, first (Linux ≥ 5.8).
 * Value: the size of one entry on x86_64 where it is the same in every kernel version, to name the
 * entry in messages; 0 where it changed (the kernel layer's special-section layouts know those).
 */
export const LOADER_SECTIONS = new Map<string, number>([
  ['.altinstructions', 0],
  ['.altinstr_replacement', 0],
  ['.parainstructions', 0],
  ['__jump_table', 16],
  ['.static_call_sites', 8],
  ['.smp_locks', 4],
  ['.retpoline_sites', 4],
  ['.return_sites', 4],
  ['.ibt_endbr_seal', 4],
  ['.orc_unwind_ip', 4],
  ['.orc_unwind', 6],
  ['__mcount_loc', 8],
  ['__patchable_function_entries', 8],
  ['__ex_table', 12],
  ['__bug_table', 0],
  ['.init_array', 8],
  ['.ctors', 8],
  ['.kcfi_traps', 4],
  ['__ksymtab', 12],
  ['__ksymtab_gpl', 12],
]);

/**
 * Whether livepatch relocations for a module target may not go into `section`: a loader-processed
 * section, or an init section, which is freed before a late relocation would be written.
 */
export function isLoaderSection(section: string): boolean {
  return LOADER_SECTIONS.has(section) || section === '.init' || section.startsWith('.init.') || section.startsWith('.init_array');
}

/** `entry N (offset 0xM)` for a place in a loader section of a kernel of `kernelVersion` (a map's). */
export function describeEntry(section: string, entsize: number, offset: bigint, kernelVersion: string | undefined): string {
  const size = entsize || specialEntrySize(section, kernelVersion) || LOADER_SECTIONS.get(section) || 0;
  return size ? `entry ${offset / BigInt(size)} (offset 0x${offset.toString(16)})` : `offset 0x${offset.toString(16)}`;
}
