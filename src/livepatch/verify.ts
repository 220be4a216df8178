import { EM_X86_64, SHF_ALLOC, SHN_UNDEF, SHT_RELA, STB_WEAK } from '../elf/constants.js';
import type { ElfObject, ElfSymbol, RelocationSection, Section } from '../elf/object.js';
import {
  R_X86_64_32,
  R_X86_64_32S,
  R_X86_64_64,
  R_X86_64_NONE,
  R_X86_64_PC32,
  R_X86_64_PC64,
  R_X86_64_PLT32,
  relocationTypeName,
} from '../elf/relocation-types.js';
import type { KernelSymbolMap } from '../kernel/symbol-map.js';
import { VMLINUX } from '../kernel/symbol-map.js';
import type { Export } from '../kernel/symvers.js';
import {
  FILE_RELOCS_PREFIX,
  KLP_RELA_PREFIX,
  KLP_SYM_PREFIX,
  MAX_OBJECT_NAME,
  MAX_SYMBOL_NAME,
  MINIMAL_PREFIX,
  MODULE_RELOCS_PREFIX,
  SHF_RELA_LIVEPATCH,
  SHN_LIVEPATCH,
  type KlpSymbolName,
  parseKlpRelaSectionName,
  parseKlpSymbolName,
} from './klp-format.js';
import { type Lookup, findObjectSymbol } from './find-symbol.js';
import { describeEntry, isLoaderSection } from './loader-sections.js';
import { livepatchInfo } from './modinfo.js';
import { SiteNamer } from './sites.js';

/** One reason the module would not load, or would bind to something else than meant. */
export interface Finding {
  rule: Rule;
  message: string;
  /** `function+0xN (section+0xM)` or a section/symbol name. */
  site: string;
}

/** Every rule `verify` checks, in the README's order. */
export const RULES = [
  'modinfo',
  'section-name',
  'section-flags',
  'section-target',
  'symbol-shndx',
  'symbol-name',
  'vmlinux-from-module',
  'object',
  'symbol-missing',
  'sympos',
  'unresolved',
  'livepatch-symbol-outside',
  'loader-section',
  'relocation-type',
  'annotations-left',
] as const;

export type Rule = (typeof RULES)[number];

export interface VerifyResult {
  module: string;
  findings: Finding[];
  livepatchRelocations: number;
  livepatchSymbols: number;
}

export interface VerifyTarget {
  map: KernelSymbolMap;
  exports?: Map<string, Export>;
  maxSymbolName?: number;
}

/**
 * What x86_64's apply_relocate_add() handles (arch/x86/kernel/module.c, Linux 6.1); anything else
 * is "Unknown rela relocation". Other architectures are not checked.
 */
const X86_64_RELOCATIONS = new Set([R_X86_64_NONE, R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_32, R_X86_64_32S, R_X86_64_PC64]);

/**
 * Simulate loading and enabling a livepatch module on the target kernel: the module loader's and
 * livepatch's checks (kernel/module/main.c, kernel/livepatch/core.c), with the kernel's own wording
 * where it has one. Reports every problem, not just the first.
 */
export function verifyLivepatch(obj: ElfObject, target: VerifyTarget): VerifyResult {
  const findings: Finding[] = [];
  const add = (rule: Rule, site: string, message: string) => findings.push({ rule, site, message });
  const info = livepatchInfo(obj);
  // Sites are named only for findings, and most modules have none: the index is built on first use.
  let namer: SiteNamer | undefined;
  const site = (section: Section | null, offset: bigint) => (namer ??= new SiteNamer(obj)).describe(section, offset);
  const maxSymbol = target.maxSymbolName ?? MAX_SYMBOL_NAME;
  if (!info.livepatch)
    add(
      'modinfo',
      '.modinfo',
      'no livepatch= entry: the kernel loads it as an ordinary module, not a livepatch (MODULE_INFO(livepatch, "Y"))',
    );
  if (info.name.length > MAX_OBJECT_NAME)
    add('modinfo', '.modinfo', `module name '${info.name}' is longer than ${MAX_OBJECT_NAME} characters (MODULE_NAME_LEN)`);
  const symtab = obj.symtab;
  if (!symtab) {
    add('symbol-name', '.symtab', 'no symbol table');
    return { module: info.name, findings, livepatchRelocations: 0, livepatchSymbols: 0 };
  }

  for (const s of obj.sections) {
    if (s.name.startsWith(MODULE_RELOCS_PREFIX) || s.name.startsWith(FILE_RELOCS_PREFIX)) {
      add('annotations-left', s.name, 'annotation section still present: the module was not converted (klp-convert convert removes it)');
    }
  }

  const klpSections: RelocationSection[] = [];
  // Per livepatch symbol: the kernel's lookup, or null when its name does not parse.
  const resolved = new Map<ElfSymbol, Lookup | null>();
  // Per livepatch symbol: its name parsed once, null when it does not parse.
  const names = new Map<ElfSymbol, KlpSymbolName | null>();
  let relocations = 0;
  for (const rs of obj.relocationSections) {
    const isKlpName = rs.name.startsWith(KLP_RELA_PREFIX);
    const isKlpFlag = (rs.flags & SHF_RELA_LIVEPATCH) !== 0;
    if (!isKlpName && !isKlpFlag) {
      for (const r of rs.relocations) {
        if (r.symbol?.section === null && r.symbol.shndx === SHN_LIVEPATCH && rs.target && rs.target.flags & SHF_ALLOC) {
          add(
            'livepatch-symbol-outside',
            site(rs.target, r.offset),
            `ordinary relocation section ${rs.name} refers to livepatch symbol '${r.symbol.name}'; the module loader would apply it with value 0`,
          );
        }
      }
      continue;
    }
    klpSections.push(rs);
    const objname = parseKlpRelaSectionName(rs.name);
    if (!isKlpName || objname === undefined) {
      add(
        'section-name',
        rs.name,
        `section ${rs.name} has an incorrectly formatted name (the kernel reads .klp.rela.%${MAX_OBJECT_NAME}[^.])`,
      );
      continue;
    }
    if (rs.type !== SHT_RELA) add('section-flags', rs.name, 'livepatch relocation sections must be SHT_RELA');
    if ((rs.flags & (SHF_ALLOC | SHF_RELA_LIVEPATCH)) !== (SHF_ALLOC | SHF_RELA_LIVEPATCH)) {
      add(
        'section-flags',
        rs.name,
        `flags 0x${rs.flags.toString(16)} lack ${isKlpFlag ? 'SHF_ALLOC (the section would be gone when a late module needs it)' : 'SHF_RELA_LIVEPATCH (the loader would apply it as an ordinary relocation section)'}`,
      );
    }
    if (!rs.target || !(rs.target.flags & SHF_ALLOC)) {
      add('section-target', rs.name, `applies to ${rs.target?.name ?? 'no section'}, which is not SHF_ALLOC: the loader skips it`);
    }
    if (rs.symtab !== symtab) add('section-target', rs.name, 'sh_link is not the symbol table');
    if (objname !== VMLINUX && !target.map.object(objname))
      add('object', rs.name, `object '${objname}' does not exist in the target kernel: these relocations would never be applied`);
    const x86 = obj.header.machine === EM_X86_64;
    for (const r of rs.relocations) {
      relocations++;
      const y = r.symbol;
      if (x86 && !X86_64_RELOCATIONS.has(r.type)) {
        add(
          'relocation-type',
          site(rs.target, r.offset),
          `${relocationTypeName(obj.header.machine, r.type)} is not handled by x86_64 apply_relocate_add ("Unknown rela relocation: ${r.type}")`,
        );
      }
      if (!y || y.section !== null || y.shndx !== SHN_LIVEPATCH) {
        add(
          'symbol-shndx',
          site(rs.target, r.offset),
          `symbol ${y?.name || '(none)'} is not marked as a livepatch symbol (st_shndx must be SHN_LIVEPATCH)`,
        );
        continue;
      }
      let parsed = names.get(y);
      if (parsed === undefined) names.set(y, (parsed = parseKlpSymbolName(y.name, maxSymbol) ?? null));
      if (!parsed) {
        if (!resolved.has(y))
          add(
            'symbol-name',
            y.name,
            `symbol ${y.name} has an incorrectly formatted name (the kernel reads .klp.sym.%${MAX_OBJECT_NAME}[^.].%${maxSymbol}[^,],%lu)`,
          );
        resolved.set(y, null);
        continue;
      }
      if (objname !== VMLINUX && parsed.object === VMLINUX) {
        add(
          'vmlinux-from-module',
          site(rs.target, r.offset),
          `invalid access to vmlinux symbol '${parsed.symbol}' from module-specific livepatch relocation section ${rs.name}`,
        );
      }
      if (parsed.object !== VMLINUX && rs.target && isLoaderSection(rs.target.name)) {
        add(
          'loader-section',
          site(rs.target, r.offset),
          `${rs.target.name} ${describeEntry(rs.target.name, rs.target.entsize, r.offset, target.map.meta.get('version'))}: relocation to module ${parsed.object} is applied only when livepatch resolves that module, after the loader has processed ${rs.target.name}`,
        );
      }
      let lookup = resolved.get(y);
      if (!lookup) resolved.set(y, (lookup = findObjectSymbol(target.map, parsed.object, parsed.symbol, parsed.position)));
      if (!lookup.ok) add(lookup.rule, site(rs.target, r.offset), lookup.message);
    }
  }

  let livepatchSymbols = 0;
  for (const y of symtab.symbols.slice(1)) {
    if (y.section === null && y.shndx === SHN_LIVEPATCH) {
      livepatchSymbols++;
      if (!(names.get(y) ?? parseKlpSymbolName(y.name, maxSymbol)) && !resolved.has(y))
        add('symbol-name', y.name, `symbol ${y.name} has an incorrectly formatted name`);
      continue;
    }
    if (!isLoaderSymbol(y)) continue;
    if (y.name.startsWith(MINIMAL_PREFIX)) {
      add('annotations-left', y.name, 'KLP_RELOC_SYMBOL annotation not converted: the module loader fails with "Unknown symbol"');
      continue;
    }
    if (y.name.startsWith(KLP_SYM_PREFIX)) {
      add(
        'symbol-shndx',
        y.name,
        `livepatch symbol ${y.name} is SHN_UNDEF, not SHN_LIVEPATCH: the module loader fails with "Unknown symbol"`,
      );
      continue;
    }
    if (!unknownToLoader(y, target)) continue;
    add(
      'unresolved',
      y.name,
      `Unknown symbol ${y.name}: nothing exports it, so the module loader refuses the module (convert it to a livepatch relocation)`,
    );
  }
  return { module: info.name, findings, livepatchRelocations: relocations, livepatchSymbols };
}

/**
 * An undefined symbol the module loader resolves from the exports when the module loads
 * (simplify_symbols() in kernel/module/main.c): named, and not `.TOC.`, which the powerpc loader
 * provides. A weak one nothing exports is left 0; any other is "Unknown symbol".
 */
function isLoaderSymbol(y: ElfSymbol): boolean {
  return y.section === null && y.shndx === SHN_UNDEF && y.name !== '' && y.name !== '.TOC.';
}

/**
 * Whether the module loader refuses the module over `y` ("Unknown symbol", simplify_symbols() in
 * kernel/module/main.c, Linux 6.1-7.x): an undefined symbol it must resolve that nothing exports
 * and that is not weak.
 */
export function unknownToLoader(y: ElfSymbol, target: { map?: KernelSymbolMap; exports?: Map<string, Export> }): boolean {
  return isLoaderSymbol(y) && y.bind !== STB_WEAK && !isExported(target, y.name);
}

/** Exported by vmlinux or a module: from Module.symvers when given, else the map's export marks. */
function isExported(target: { map?: KernelSymbolMap; exports?: Map<string, Export> }, name: string): boolean {
  return (target.exports ? target.exports.get(name) : target.map?.exporter(name)) !== undefined;
}
