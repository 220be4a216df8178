/**
 * Build the livepatch's code object from the patched translation unit: the functions to replace
 * and the new ones, with what they need copied along (their .cold parts, strings and constants,
 * new and per-site statics, the special-section entries that describe them). Every other
 * reference becomes an undefined symbol named by `external`: the plain name of an exported symbol,
 * or a `.klp.sym.<object>.<name>,<position>` name that the converter turns into a livepatch
 * relocation.
 */
import {
  SHF_EXECINSTR,
  SHF_INFO_LINK,
  SHF_MERGE,
  SHF_STRINGS,
  SHF_WRITE,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STT_FUNC,
  STT_NOTYPE,
  STT_OBJECT,
  STT_SECTION,
} from '../elf/constants.js';
import { ElfObject, ElfSymbol, type Relocation, RelocationSection, Section, SymbolTable } from '../elf/object.js';
import { type FunctionChange, isPerSiteStatic, relocationsOf, SymbolIndex, targetOffset, type TuDiff } from './diff.js';
import { specialSections } from '../kernel/special-sections.js';
import { CreateError } from './tree.js';

export interface Assembled {
  object: ElfObject;
  /** Per function to replace: the global symbol the glue's klp_func points new_func at. */
  entries: { change: FunctionChange; entry: string }[];
  /** Undefined symbols the object references (for the report). */
  externals: string[];
}

interface Range {
  srcStart: bigint;
  srcEnd: bigint;
  dstStart: bigint;
  isFunction: boolean;
}

interface Placement {
  dst: Section;
  secSym: ElfSymbol;
  ranges: Range[];
  relocs: Relocation[];
}

/**
 * @param external  name of the undefined symbol standing for `original` (the running kernel's
 *                  symbol of that name in this unit), or for an undefined symbol of the unit.
 */
export function assemble(diff: TuDiff, kernelVersion: string, external: (name: string, definedInUnit: boolean) => string): Assembled {
  const p = diff.patched;
  const index = new SymbolIndex(p);
  const relocs = relocationsOf(p);
  const strtab = new Section({ name: '.strtab', type: SHT_STRTAB });
  const shstrtab = new Section({ name: '.shstrtab', type: SHT_STRTAB });
  const symtab = new SymbolTable({ name: '.symtab', type: SHT_SYMTAB, addralign: 8, entsize: 24 });
  symtab.link = strtab;
  symtab.symbols = [new ElfSymbol({ name: '', bind: STB_LOCAL, type: STT_NOTYPE })];
  const nul = new Section({ name: '', type: 0 });
  const out = new ElfObject({ ...p.header, shnum: 0, shstrndx: 0, shoff: 0 }, [nul], shstrtab, 'livepatch code');
  const placements = new Map<Section, Placement>();
  const undef = new Map<string, ElfSymbol>();
  const work: { from: Section; range: Range; p: Placement }[] = [];

  const placementFor = (src: Section): Placement => {
    let pl = placements.get(src);
    if (!pl) {
      // Zero-initialised statics get file space: the loader treats the section alike, and sizes stay in `data`.
      const dst = new Section({
        name: src.name,
        type: src.type === SHT_NOBITS ? SHT_PROGBITS : src.type,
        flags: src.flags,
        addralign: src.addralign,
        entsize: src.entsize,
        data: new Uint8Array(0),
      });
      out.addSection(dst);
      const secSym = symtab.add(new ElfSymbol({ name: '', bind: STB_LOCAL, type: STT_SECTION, section: dst }));
      pl = { dst, secSym, ranges: [], relocs: [] };
      placements.set(src, pl);
    }
    return pl;
  };

  /** Copy [start, end) of `src` into its output section; its relocations are queued. */
  const place = (src: Section, start: bigint, end: bigint, isFunction: boolean, bytes?: Uint8Array): Range => {
    const pl = placementFor(src);
    const existing = pl.ranges.find((r) => r.srcStart === start && r.srcEnd === end);
    if (existing) return existing;
    const align = BigInt(Math.max(1, src.addralign));
    const cur = BigInt(pl.dst.size);
    const at = ((cur + align - 1n) / align) * align;
    const len = Number(end - start);
    const data = new Uint8Array(Number(at) + len);
    data.set(pl.dst.data);
    if (src.type !== SHT_NOBITS) data.set(bytes ?? src.data.subarray(Number(start), Number(end)), Number(at));
    pl.dst.data = data;
    const range = { srcStart: start, srcEnd: end, dstStart: at, isFunction };
    pl.ranges.push(range);
    if (!bytes) work.push({ from: src, range, p: pl });
    return range;
  };

  /**
   * Where a function's copy starts: with CONFIG_CALL_PADDING (6.2+, Debian's 6.12) GCC's
   * -fpatchable-function-entry=16,16 puts 16 NOPs before each function, where call-depth
   * tracking writes the call thunk at load time (arch/x86/kernel/callthunks.c patch_dest, which
   * refuses a padding that is not NOPs): the copy keeps them, so the function stays at the same
   * distance from its padding.
   */
  const copyStart = (sym: ElfSymbol): bigint => {
    const sec = sym.section!;
    if (sym.value === 0n || sym.value > 64n || sec.type === SHT_NOBITS) return sym.value;
    const pad = sec.data.subarray(0, Number(sym.value));
    if (!pad.every((b) => b === 0x90)) return sym.value;
    return (index.bySection.get(sec) ?? []).some((o) => o !== sym && o.value < sym.value) ? sym.value : 0n;
  };

  const inRange = (src: Section, point: bigint, functionsOnly = false): { pl: Placement; range: Range } | undefined => {
    const pl = placements.get(src);
    if (!pl) return undefined;
    const range =
      pl.ranges.find((r) => (!functionsOnly || r.isFunction) && r.srcStart <= point && point < r.srcEnd) ??
      pl.ranges.find((r) => (!functionsOnly || r.isFunction) && point === r.srcEnd);
    return range ? { pl, range } : undefined;
  };

  const undefinedSymbol = (name: string): ElfSymbol => {
    let s = undef.get(name);
    if (!s) {
      s = symtab.add(new ElfSymbol({ name, bind: STB_GLOBAL, type: STT_NOTYPE }));
      undef.set(name, s);
    }
    return s;
  };

  /** The output symbol and addend a relocation of the patched object becomes. */
  const resolve = (r: Relocation, inCode: boolean): { symbol: ElfSymbol; addend: bigint } | null => {
    const s = r.symbol;
    if (!s) return null;
    if (!s.section) return { symbol: undefinedSymbol(external(s.name, false)), addend: r.addend };
    const sec = s.section;
    const named = s.type === STT_FUNC || s.type === STT_OBJECT;
    const point = named ? s.value : targetOffset(r, inCode);
    const placed = inRange(sec, point);
    if (placed) return { symbol: placed.pl.secSym, addend: r.addend + s.value - placed.range.srcStart + placed.range.dstStart };
    // Strings and merged constants: copied whole, compared by content (kpatch includes them all).
    if (sec.flags & (SHF_STRINGS | SHF_MERGE) || sec.name.startsWith('.altinstr_replacement') || sec.name.startsWith('.altinstr_aux')) {
      const range = place(sec, 0n, BigInt(sec.size), false);
      return { symbol: placementFor(sec).secSym, addend: r.addend + s.value - range.srcStart + range.dstStart };
    }
    const t = named ? s : index.containing(sec, r, inCode);
    if (!t) {
      // Anonymous data of this unit (no symbol covers it): a copy is as good as the original, since unnamed data cannot be referenced from elsewhere.
      // Writable anonymous data only as UBSAN's per-site records (.data..Lubsan_data<N> with
      // -fdata-sections: a source_location whose `reported` flag lib/ubsan.c sets; GCC's
      // .Lubsan_type<N> descriptors), as kpatch's is_ubsan_sec() includes them.
      if (sec.flags & SHF_EXECINSTR || (sec.flags & SHF_WRITE && !/^\.data\.\.Lubsan_(data|type)\d+$/.test(sec.name))) {
        throw new CreateError(
          `a changed function references ${sec.name}+0x${point.toString(16)}, which no symbol covers: cannot tell what it is in the running kernel`,
        );
      }
      const range = place(sec, 0n, BigInt(sec.size), false);
      return { symbol: placementFor(sec).secSym, addend: r.addend + s.value - range.srcStart + range.dstStart };
    }
    const twin = diff.twin.get(t);
    if (!twin || isPerSiteStatic(t)) {
      if (t.type === STT_FUNC) {
        const range = place(sec, copyStart(t), t.value + t.size, true);
        return { symbol: placementFor(sec).secSym, addend: r.addend + s.value - range.srcStart + range.dstStart };
      }
      // New data, or a per-site static (WARN_ONCE flag, __func__, ratelimit state): the livepatch has its own.
      const range = place(sec, t.value, t.value + (t.size === 0n ? 1n : t.size), false);
      return { symbol: placementFor(sec).secSym, addend: r.addend + s.value - range.srcStart + range.dstStart };
    }
    return { symbol: undefinedSymbol(external(twin.name, true)), addend: r.addend + s.value - t.value };
  };

  // 1. The functions, with their .cold parts.
  const entries: { change: FunctionChange; entry: string }[] = [];
  const funcSyms: ElfSymbol[] = [];
  for (const f of diff.functions) {
    for (const sym of [f.symbol, ...f.children]) {
      const start = copyStart(sym);
      const range = place(sym.section!, start, sym.value + sym.size, true);
      const pl = placementFor(sym.section!);
      funcSyms.push(
        symtab.add(
          new ElfSymbol({
            name: sym.name,
            bind: STB_LOCAL,
            type: STT_FUNC,
            section: pl.dst,
            value: range.dstStart + sym.value - start,
            size: sym.size,
          }),
        ),
      );
    }
  }
  diff.functions.forEach((f, i) => {
    if (f.oldName === null) return;
    const local = funcSyms.find((s) => s.name === f.symbol.name)!;
    const entry = `__klp_new_${i}`;
    symtab.add(
      new ElfSymbol({ name: entry, bind: STB_GLOBAL, type: STT_FUNC, section: local.section, value: local.value, size: local.size }),
    );
    entries.push({ change: f, entry });
  });

  // 2. Relocations of everything copied, which may copy more (strings, statics, new functions).
  const drain = () => {
    while (work.length > 0) {
      const { from, range, p: pl } = work.shift()!;
      for (const r of relocs.get(from) ?? []) {
        if (r.offset < range.srcStart || r.offset >= range.srcEnd) continue;
        const to = resolve(r, (from.flags & SHF_EXECINSTR) !== 0);
        if (!to) continue;
        pl.relocs.push({ offset: r.offset - range.srcStart + range.dstStart, type: r.type, symbol: to.symbol, addend: to.addend });
      }
    }
  };
  drain();

  // 3. Special-section entries that describe copied functions.
  const specials = specialSections(kernelVersion);
  const keptBySection = new Map<string, number[]>();
  for (const sp of specials) {
    if (sp.pairedWith) continue;
    const sec = p.sectionByName(sp.name);
    if (!sec) continue;
    if (sec.size % sp.entrySize !== 0)
      throw new CreateError(
        `${sp.name} is ${sec.size} bytes, not a whole number of ${sp.entrySize}-byte entries: the kernel's layout differs from the one assumed for ${kernelVersion}`,
      );
    const kept = new Set<number>();
    for (const r of relocs.get(sec) ?? []) {
      const s = r.symbol;
      if (!s?.section) continue;
      // Entries are data: a relocation's addend is the exact offset it describes.
      const point = s.type === STT_FUNC || s.type === STT_OBJECT ? s.value + r.addend : r.addend;
      if (inRange(s.section, point, true)) kept.add((Number(r.offset) / sp.entrySize) | 0);
    }
    const list = [...kept].sort((a, b) => a - b);
    keptBySection.set(sp.name, list);
    for (const k of list) {
      const start = BigInt(k * sp.entrySize);
      place(sec, start, start + BigInt(sp.entrySize), false);
    }
  }
  for (const sp of specials) {
    if (!sp.pairedWith) continue;
    const sec = p.sectionByName(sp.name);
    const list = keptBySection.get(sp.pairedWith);
    if (!sec || !list) continue;
    for (const k of list) {
      const start = BigInt(k * sp.entrySize);
      place(sec, start, start + BigInt(sp.entrySize), false);
    }
  }
  drain();

  // 4. Relocation sections, then the tables.
  for (const pl of placements.values()) {
    if (pl.relocs.length === 0) continue;
    const rs = new RelocationSection({ name: `.rela${pl.dst.name}`, type: SHT_RELA, flags: SHF_INFO_LINK, addralign: 8, entsize: 24 });
    rs.link = symtab;
    rs.target = pl.dst;
    rs.relocations = pl.relocs;
    out.addSection(rs);
  }
  out.addSection(symtab);
  out.addSection(strtab);
  out.addSection(shstrtab);
  return { object: out, entries, externals: [...undef.keys()].sort() };
}
