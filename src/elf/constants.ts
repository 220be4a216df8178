// ELF constants, spelled as in the System V ABI and <elf.h>, so code reads like the spec.

export const ELFMAG = [0x7f, 0x45, 0x4c, 0x46] as const;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const EV_CURRENT = 1;

export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;

export const EM_386 = 3;
export const EM_PPC = 20;
export const EM_PPC64 = 21;
export const EM_S390 = 22;
export const EM_ARM = 40;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_RISCV = 243;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_LOPROC = 0xff00;
export const SHN_HIPROC = 0xff1f;
export const SHN_LOOS = 0xff20;
export const SHN_HIOS = 0xff3f;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_HASH = 5;
export const SHT_DYNAMIC = 6;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHT_INIT_ARRAY = 14;
export const SHT_FINI_ARRAY = 15;
export const SHT_PREINIT_ARRAY = 16;
export const SHT_GROUP = 17;
export const SHT_SYMTAB_SHNDX = 18;

export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const SHF_MERGE = 0x10;
export const SHF_STRINGS = 0x20;
export const SHF_INFO_LINK = 0x40;
export const SHF_LINK_ORDER = 0x80;
export const SHF_OS_NONCONFORMING = 0x100;
export const SHF_GROUP = 0x200;
export const SHF_TLS = 0x400;
export const SHF_COMPRESSED = 0x800;
export const SHF_MASKOS = 0x0ff00000;
export const SHF_MASKPROC = 0xf0000000;
export const SHF_EXCLUDE = 0x80000000;

export const GRP_COMDAT = 0x1;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STB_GNU_UNIQUE = 10;

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STT_COMMON = 5;
export const STT_TLS = 6;
export const STT_GNU_IFUNC = 10;

export const STV_DEFAULT = 0;
export const STV_INTERNAL = 1;
export const STV_HIDDEN = 2;
export const STV_PROTECTED = 3;

/**
 * The on-disk records, by class: each record's size and its fields' offsets (Elf32_Ehdr/Elf64_Ehdr,
 * _Shdr, _Sym, _Rel, _Rela as <elf.h> declares them). The reader and the writer both use these, so a
 * layout is written down once. Address, offset and xword fields are `addr` bytes wide.
 */
export const sizes = {
  [ELFCLASS32]: {
    ehdr: 52,
    shdr: 40,
    sym: 16,
    rel: 8,
    rela: 12,
    addr: 4,
    Ehdr: {
      type: 16,
      machine: 18,
      version: 20,
      entry: 24,
      phoff: 28,
      shoff: 32,
      flags: 36,
      ehsize: 40,
      phentsize: 42,
      phnum: 44,
      shentsize: 46,
      shnum: 48,
      shstrndx: 50,
    },
    Shdr: { name: 0, type: 4, flags: 8, addr: 12, offset: 16, size: 20, link: 24, info: 28, addralign: 32, entsize: 36 },
    Sym: { name: 0, value: 4, size: 8, info: 12, other: 13, shndx: 14 },
    Rela: { offset: 0, info: 4, addend: 8 },
  },
  [ELFCLASS64]: {
    ehdr: 64,
    shdr: 64,
    sym: 24,
    rel: 16,
    rela: 24,
    addr: 8,
    Ehdr: {
      type: 16,
      machine: 18,
      version: 20,
      entry: 24,
      phoff: 32,
      shoff: 40,
      flags: 48,
      ehsize: 52,
      phentsize: 54,
      phnum: 56,
      shentsize: 58,
      shnum: 60,
      shstrndx: 62,
    },
    Shdr: { name: 0, type: 4, flags: 8, addr: 16, offset: 24, size: 32, link: 40, info: 44, addralign: 48, entsize: 56 },
    Sym: { name: 0, info: 4, other: 5, shndx: 6, value: 8, size: 16 },
    Rela: { offset: 0, info: 8, addend: 16 },
  },
} as const;

export type RecordLayout = (typeof sizes)[ElfClass];

export type ElfClass = typeof ELFCLASS32 | typeof ELFCLASS64;
