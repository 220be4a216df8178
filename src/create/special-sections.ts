/**
 * Sections whose entries describe code (x86_64): the entries that describe a function the
 * livepatch carries go with it, the rest stay behind. Entry sizes are the kernel's structures;
 * ORC's two tables are parallel arrays.
 */
import { CreateError } from './tree.js';

export interface SpecialSection {
  name: string;
  entrySize: number;
  /** `.orc_unwind` follows `.orc_unwind_ip` entry for entry and has no relocations of its own. */
  pairedWith?: string;
}

/**
 * Linux 6.1 x86_64 with Debian's config (CONFIG_GENERIC_BUG_RELATIVE_POINTERS, DEBUG_BUGVERBOSE,
 * UNWINDER_ORC, RETHUNK, RETPOLINE, HAVE_STATIC_CALL_INLINE, FTRACE_MCOUNT_RECORD with
 * -mrecord-mcount): struct bug_entry (include/asm-generic/bug.h, 12 bytes), struct
 * exception_table_entry (arch/x86/include/asm/extable.h, 12), struct jump_entry
 * (include/linux/jump_label.h, relative: 16), struct alt_instr (arch/x86/include/asm/alternative.h,
 * 12; 14 from 6.3 when cpuid became u32 ft_flags), struct static_call_site
 * (include/linux/static_call_types.h, 8), struct paravirt_patch_site
 * (arch/x86/include/asm/paravirt_types.h, 16), s32 arrays for .return_sites, .retpoline_sites,
 * .call_sites and .smp_locks, unsigned long for __mcount_loc, struct orc_entry
 * (arch/x86/include/asm/orc_types.h, 6) paired with s32 .orc_unwind_ip. The same section list
 * as kpatch's special_sections[] and klp-build's is_special_section().
 */
export function specialSections(kernelVersion: string): SpecialSection[] {
  const m = /^(\d+)\.(\d+)/.exec(kernelVersion);
  if (!m || Number(m[1]) !== 6 || Number(m[2]) !== 1) {
    throw new CreateError(`special-section layouts are known for Linux 6.1 only, not ${kernelVersion}`);
  }
  return [
    { name: '__bug_table', entrySize: 12 },
    { name: '__ex_table', entrySize: 12 },
    { name: '__jump_table', entrySize: 16 },
    { name: '.altinstructions', entrySize: 12 },
    { name: '.static_call_sites', entrySize: 8 },
    { name: '.parainstructions', entrySize: 16 },
    { name: '.return_sites', entrySize: 4 },
    { name: '.retpoline_sites', entrySize: 4 },
    { name: '.call_sites', entrySize: 4 },
    { name: '.smp_locks', entrySize: 4 },
    { name: '__mcount_loc', entrySize: 8 },
    { name: '.orc_unwind_ip', entrySize: 4 },
    { name: '.orc_unwind', entrySize: 6, pairedWith: '.orc_unwind_ip' },
  ];
}
