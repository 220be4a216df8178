import { EM_AARCH64, EM_PPC64, EM_S390, EM_X86_64 } from './constants.js';

// x86_64 relocation types the project acts on by number (psABI names).
export const R_X86_64_NONE = 0;
export const R_X86_64_64 = 1;
export const R_X86_64_PC32 = 2;
export const R_X86_64_PLT32 = 4;
export const R_X86_64_32 = 10;
export const R_X86_64_32S = 11;
export const R_X86_64_PC64 = 24;

/** Bytes an x86_64 relocation of `type` writes: 8 for the 64-bit kinds, else 4 (the kinds used here). */
export function x86_64FieldWidth(type: number): number {
  return type === R_X86_64_64 || type === R_X86_64_PC64 ? 8 : 4;
}

const x86_64: Record<number, string> = {
  0: 'R_X86_64_NONE',
  1: 'R_X86_64_64',
  2: 'R_X86_64_PC32',
  3: 'R_X86_64_GOT32',
  4: 'R_X86_64_PLT32',
  5: 'R_X86_64_COPY',
  6: 'R_X86_64_GLOB_DAT',
  7: 'R_X86_64_JUMP_SLOT',
  8: 'R_X86_64_RELATIVE',
  9: 'R_X86_64_GOTPCREL',
  10: 'R_X86_64_32',
  11: 'R_X86_64_32S',
  12: 'R_X86_64_16',
  13: 'R_X86_64_PC16',
  14: 'R_X86_64_8',
  15: 'R_X86_64_PC8',
  24: 'R_X86_64_PC64',
  41: 'R_X86_64_GOTPCRELX',
  42: 'R_X86_64_REX_GOTPCRELX',
};
const aarch64: Record<number, string> = {
  0: 'R_AARCH64_NONE',
  257: 'R_AARCH64_ABS64',
  258: 'R_AARCH64_ABS32',
  261: 'R_AARCH64_PREL32',
  275: 'R_AARCH64_ADR_PREL_PG_HI21',
  277: 'R_AARCH64_ADD_ABS_LO12_NC',
  282: 'R_AARCH64_JUMP26',
  283: 'R_AARCH64_CALL26',
  286: 'R_AARCH64_LDST64_ABS_LO12_NC',
  278: 'R_AARCH64_LDST8_ABS_LO12_NC',
  284: 'R_AARCH64_LDST16_ABS_LO12_NC',
  285: 'R_AARCH64_LDST32_ABS_LO12_NC',
};
const ppc64: Record<number, string> = {
  0: 'R_PPC64_NONE',
  1: 'R_PPC64_ADDR32',
  10: 'R_PPC64_REL24',
  26: 'R_PPC64_REL32',
  38: 'R_PPC64_ADDR64',
  50: 'R_PPC64_TOC16_HA',
  48: 'R_PPC64_TOC16_LO',
  63: 'R_PPC64_TOC16_LO_DS',
  51: 'R_PPC64_TOC',
  68: 'R_PPC64_REL16_HA',
  67: 'R_PPC64_REL16_LO',
  109: 'R_PPC64_ENTRY',
};
const s390: Record<number, string> = {
  0: 'R_390_NONE',
  4: 'R_390_32',
  5: 'R_390_PC32',
  19: 'R_390_PC32DBL',
  20: 'R_390_PLT32DBL',
  22: 'R_390_64',
  23: 'R_390_PC64',
};

const byMachine: Record<number, Record<number, string>> = {
  [EM_X86_64]: x86_64,
  [EM_AARCH64]: aarch64,
  [EM_PPC64]: ppc64,
  [EM_S390]: s390,
};

/** readelf's name for a relocation type, or the number when this table does not know it. */
export function relocationTypeName(machine: number, type: number): string {
  return byMachine[machine]?.[type] ?? `type ${type}`;
}
