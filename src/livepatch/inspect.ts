import { SHN_UNDEF, STB_WEAK } from '../elf/constants.js';
import type { ElfObject, ElfSymbol } from '../elf/object.js';
import { relocationTypeName } from '../elf/relocation-types.js';
import { readAnnotations } from './annotations.js';
import { KLP_RELA_PREFIX, SHF_RELA_LIVEPATCH, SHN_LIVEPATCH, parseKlpRelaSectionName, parseKlpSymbolName } from './klp-format.js';
import { livepatchInfo } from './modinfo.js';
import { SiteNamer } from './sites.js';

/** The shape of `klp-convert inspect --json` (documented in the README; fields are only added). */
export interface Inspection {
  file: string;
  module: string;
  livepatch: boolean;
  vermagic: string;
  objects: {
    object: string;
    sections: {
      name: string;
      appliesTo: string;
      flags: string;
      relocations: {
        site: string;
        offset: number;
        type: string;
        symbol: string;
        /** null when the symbol name does not parse as the kernel reads it */
        target: { object: string; symbol: string; position: number } | null;
        addend: number;
      }[];
    }[];
  }[];
  loaderSymbols: { name: string; weak: boolean; relocations: number; sites: string[] }[];
  annotations: { section: string; object: string; symbol: string; position: number | null; file: string | null }[];
}

export function inspectLivepatch(obj: ElfObject, file: string): Inspection {
  const info = livepatchInfo(obj);
  const sites = new SiteNamer(obj);
  const objects = new Map<string, Inspection['objects'][number]>();
  const loader = new Map<ElfSymbol, { relocations: number; sites: string[] }>();
  for (const rs of obj.relocationSections) {
    const klp = rs.name.startsWith(KLP_RELA_PREFIX) || (rs.flags & SHF_RELA_LIVEPATCH) !== 0;
    if (!klp) {
      for (const r of rs.relocations) {
        if (!r.symbol || r.symbol.section !== null || r.symbol.shndx !== SHN_UNDEF) continue;
        const entry = loader.get(r.symbol) ?? { relocations: 0, sites: [] };
        entry.relocations++;
        if (entry.sites.length < 3) entry.sites.push(sites.describe(rs.target, r.offset));
        loader.set(r.symbol, entry);
      }
      continue;
    }
    const objname = parseKlpRelaSectionName(rs.name) ?? '(unparsable)';
    const group = objects.get(objname) ?? { object: objname, sections: [] };
    objects.set(objname, group);
    group.sections.push({
      name: rs.name,
      appliesTo: rs.target?.name ?? '(none)',
      flags: `0x${rs.flags.toString(16)}`,
      relocations: rs.relocations.map((r) => ({
        site: sites.describe(rs.target, r.offset),
        offset: Number(r.offset),
        type: relocationTypeName(obj.header.machine, r.type),
        symbol: r.symbol?.name ?? '',
        target: r.symbol && r.symbol.shndx === SHN_LIVEPATCH ? (parseKlpSymbolName(r.symbol.name) ?? null) : null,
        addend: Number(r.addend),
      })),
    });
  }
  for (const y of obj.symtab?.symbols.slice(1) ?? []) {
    if (y.section === null && y.shndx === SHN_UNDEF && y.name !== '' && !loader.has(y)) loader.set(y, { relocations: 0, sites: [] });
  }
  const annotations = readAnnotations(obj).list.map((a) => ({
    section: a.where,
    object: a.object,
    symbol: a.symbol.name,
    position: a.position ?? null,
    file: a.file ?? null,
  }));
  return {
    file,
    module: info.name,
    livepatch: info.livepatch,
    vermagic: info.vermagic,
    objects: [...objects.values()],
    loaderSymbols: [...loader]
      .map(([y, e]) => ({ name: y.name, weak: y.bind === STB_WEAK, ...e }))
      .sort((a, b) => (a.name < b.name ? -1 : 1)),
    annotations,
  };
}
