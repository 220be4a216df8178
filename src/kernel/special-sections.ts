/**
 * Sections whose entries describe code (x86_64): the entries that describe a function the
 * livepatch carries go with it, the rest stay behind. Entry sizes are the kernel's structures;
 * ORC's two tables are parallel arrays.
 */
import { KernelDataError } from './errors.js';

export interface SpecialSection {
  name: string;
  entrySize: number;
  /** `.orc_unwind` follows `.orc_unwind_ip` entry for entry and has no relocations of its own. */
  pairedWith?: string;
}

/** The series whose layouts below were checked against the kernel's source. */
const LAYOUTS_KNOWN = [6001, 6012, 7003];
const versionNumber = (kernelVersion: string): number => {
  const m = /^(\d+)\.(\d+)/.exec(kernelVersion);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : 0;
};
const versionText = (v: number): string => `${Math.floor(v / 1000)}.${v % 1000}`;

/** The series above, for messages: "6.1, 6.12, 7.3". */
export const knownSeries = (): string => LAYOUTS_KNOWN.map(versionText).join(', ');

export function layoutsKnown(kernelVersion: string): boolean {
  return LAYOUTS_KNOWN.includes(versionNumber(kernelVersion));
}

/**
 * x86_64 with Debian's configs of Linux 6.1, 6.12 and 7.3 (CONFIG_GENERIC_BUG_RELATIVE_POINTERS,
 * DEBUG_BUGVERBOSE, UNWINDER_ORC, MITIGATION_RETHUNK/RETPOLINE, HAVE_STATIC_CALL_INLINE,
 * FTRACE_MCOUNT_RECORD with -mrecord-mcount; CALL_DEPTH_TRACKING from 6.2). Sizes, identical in
 * 6.1, 6.12 and 7.3 unless said: struct bug_entry (include/asm-generic/bug.h, 12 bytes; 16 in 7.3,
 * whose x86_64 arch/x86/include/asm/bug.h defines HAVE_ARCH_BUG_FORMAT and so a format_disp), struct
 * exception_table_entry (arch/x86/include/asm/extable.h, 12), struct jump_entry
 * (include/linux/jump_label.h, relative: 16), struct alt_instr (arch/x86/include/asm/alternative.h:
 * 12 in 6.1; 14 from 6.3, when cpuid/flags became the u32 ft_flags), struct static_call_site
 * (include/linux/static_call_types.h, 8), struct paravirt_patch_site
 * (arch/x86/include/asm/paravirt_types.h, 16; the section is gone from 6.8, when paravirt calls
 * became alternatives), s32 arrays for .return_sites, .retpoline_sites, .call_sites (6.2+) and
 * .smp_locks (none in 7.3: arch/x86 no longer emits it), unsigned long for __mcount_loc, struct
 * orc_entry (arch/x86/include/asm/orc_types.h, 6) paired with s32 .orc_unwind_ip. The same list as
 * kpatch's special_sections[] and klp-build's is_special_section() (7.3's
 * tools/objtool/klp-diff.c; its .kcfi_traps is CONFIG_CFI_CLANG's, which GCC-built Debian kernels
 * lack). .ibt_endbr_seal (CONFIG_X86_KERNEL_IBT, 6.2+) is left out on purpose: its entries only ask
 * the loader to seal an ENDBR, and an unsealed one is always safe.
 */
export function specialSections(kernelVersion: string): SpecialSection[] {
  const v = versionNumber(kernelVersion);
  if (!LAYOUTS_KNOWN.includes(v)) {
    throw new KernelDataError(`special-section layouts are known for Linux ${knownSeries()} only, not ${kernelVersion}`);
  }
  return [
    { name: '__bug_table', entrySize: v >= 7003 ? 16 : 12 },
    { name: '__ex_table', entrySize: 12 },
    { name: '__jump_table', entrySize: 16 },
    { name: '.altinstructions', entrySize: v >= 6003 ? 14 : 12 },
    { name: '.static_call_sites', entrySize: 8 },
    ...(v < 6008 ? [{ name: '.parainstructions', entrySize: 16 }] : []),
    { name: '.return_sites', entrySize: 4 },
    { name: '.retpoline_sites', entrySize: 4 },
    { name: '.call_sites', entrySize: 4 },
    { name: '.smp_locks', entrySize: 4 },
    { name: '__mcount_loc', entrySize: 8 },
    { name: '.orc_unwind_ip', entrySize: 4 },
    { name: '.orc_unwind', entrySize: 6, pairedWith: '.orc_unwind_ip' },
  ];
}

/**
 * The size of one entry of a special section on this kernel version, when its layout is known
 * (for naming an entry in messages); undefined otherwise.
 */
export function specialEntrySize(section: string, kernelVersion: string | undefined): number | undefined {
  if (kernelVersion === undefined || !layoutsKnown(kernelVersion)) return undefined;
  return specialSections(kernelVersion).find((s) => s.name === section)?.entrySize;
}
