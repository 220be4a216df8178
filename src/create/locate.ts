/**
 * Find a translation unit's symbols in the target kernel, vmlinux (the -dbg package's, with its
 * symbol table) or the shipped module, and the livepatch position (`sympos`) of each. vmlinux
 * keeps only basenames in its FILE symbols (Debian's 6.1 has five files called cpu.c) and
 * Debian's modules none at all (installed with `strip --strip-debug`), so the unit is identified
 * by its whole set of local symbol names, as kpatch's lookup.c find_local_syms does.
 */
import {
  SHF_ALLOC,
  SHN_ABS,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_REL,
  SHT_RELA,
  STB_LOCAL,
  STT_FILE,
  STT_FUNC,
  STT_OBJECT,
  STT_SECTION,
} from '../elf/constants.js';
import { FileSource } from '../elf/file-source.js';
import { basename } from 'node:path';
import { ElfReader, type SymbolTableView } from '../elf/reader.js';
import { moduleKallsymsOrder, vmlinuxKallsymsOrder } from '../kernel/elf-symbols.js';
import type { KallsymsRules } from '../kernel/kallsyms-rules.js';
import { openModule } from '../kernel/module-files.js';
import { CreateError } from './tree.js';

/**
 * Per name, `key` of each of its symbols in the kernel's order (`order`, symbol-table indices as the
 * kernel layer gives them): the lists a sympos counts in.
 */
function byNameInOrder<T>(view: SymbolTableView, order: Iterable<number>, key: (i: number) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const i of order) {
    const n = view.name(i);
    const list = out.get(n);
    if (list) list.push(key(i));
    else out.set(n, [key(i)]);
  }
  return out;
}

/** sympos of `item` in its name's list (0 when the name is unique), or undefined when it is not there. */
function rankAmong<T>(list: T[] | undefined, item: T): { position: number; count: number } | undefined {
  const k = list ? list.indexOf(item) : -1;
  if (!list || k < 0) return undefined;
  return { position: list.length === 1 ? 0 : k + 1, count: list.length };
}

/**
 * Locals the final link may drop or the kernel never lists (kpatch lookup.c maybe_discarded_sym):
 * they take no part in identifying a unit.
 */
function mayBeDiscarded(name: string): boolean {
  return (
    /^(__exitcall_|__brk_reservation_fn_|__func_stack_frame_non_standard_|__trace_check|__initcall__|__initstub__|\.L)/.test(name) ||
    name.includes('__addressable_') ||
    name.includes('__UNIQUE_ID_') ||
    name.startsWith('__pfx_')
  );
}

/** Symbol i names something kallsyms can list: defined in an allocated section, neither FILE nor SECTION. */
function listable(reader: ElfReader, v: SymbolTableView, i: number): boolean {
  const t = v.type(i);
  if (t === STT_FILE || t === STT_SECTION || v.rawShndx(i) === SHN_UNDEF || v.rawShndx(i) === SHN_ABS) return false;
  const sec = reader.sections[v.shndx(i)];
  return !!sec && (sec.flags & SHF_ALLOC) !== 0;
}

/** The shipped bytes of a function, and where relocations still apply to them (none in a linked vmlinux). */
export interface ShippedCode {
  bytes: Uint8Array;
  /** Offset from the function's start and type of each relocation whose site is in it. */
  relocations: { offset: number; type: number }[];
}

export interface UnitLocation {
  /** FILE symbol name the unit's run starts with. */
  file: string;
  /** Local name -> address in vmlinux. */
  locals: Map<string, bigint>;
}

export class VmlinuxSymbols {
  private readonly reader: ElfReader;
  private readonly v: SymbolTableView;
  private readonly source: FileSource;
  private byName: Map<string, number[]> | undefined;
  private listedByName: Map<string, bigint[]> | undefined;

  constructor(
    readonly path: string,
    private readonly rules: KallsymsRules,
  ) {
    this.source = new FileSource(path);
    this.reader = new ElfReader(this.source, path);
    const sh = this.reader.symtab;
    if (!sh)
      throw new CreateError(
        `${path}: no symbol table: give the -dbg package's vmlinux (linux-image-<release>-dbg, usr/lib/debug/boot/vmlinux-<release>)`,
      );
    this.v = this.reader.symbols(sh);
  }

  close(): void {
    this.source.close();
  }

  private listable(i: number): boolean {
    return listable(this.reader, this.v, i);
  }

  /**
   * The run of local symbols after a FILE symbol named `basename` whose names best cover
   * `locals` (the unit's own, from its rebuilt object). Refused when no run, or two runs equally
   * well, match.
   */
  locate(basename: string, locals: string[]): UnitLocation {
    const v = this.v;
    const wanted = new Set(locals.filter((n) => !mayBeDiscarded(n)));
    let best: { file: string; locals: Map<string, bigint>; score: number } | undefined;
    let tie = false;
    for (let i = 1; i < v.count; i++) {
      if (v.type(i) !== STT_FILE || v.name(i) !== basename) continue;
      const run = new Map<string, bigint>();
      let j = i + 1;
      for (; j < v.count && v.type(j) !== STT_FILE && v.bind(j) === STB_LOCAL; j++) {
        const t = v.type(j);
        if ((t === STT_FUNC || t === STT_OBJECT) && this.listable(j)) run.set(v.name(j), v.value(j));
      }
      let score = 0;
      for (const n of wanted) if (run.has(n)) score++;
      // Every listed local of the run must be one of the unit's: a superset is another file.
      const foreign = [...run.keys()].filter((n) => !wanted.has(n) && !mayBeDiscarded(n)).length;
      const net = score - foreign;
      if (!best || net > best.score) {
        best = { file: basename, locals: run, score: net };
        tie = false;
      } else if (net === best.score) tie = true;
      i = j - 1;
    }
    if (!best) throw new CreateError(`${this.path} has no FILE symbol '${basename}': the unit is not built into this vmlinux`);
    if (tie && wanted.size > 0)
      throw new CreateError(
        `two files named ${basename} in ${this.path} match the unit's local symbols equally: cannot tell which one is patched`,
      );
    if (wanted.size > 0 && best.score <= 0)
      throw new CreateError(
        `no ${basename} in ${this.path} has the unit's local symbols (${[...wanted].slice(0, 5).join(', ')}...): was the kernel built from this source?`,
      );
    return best;
  }

  /** Address of the global (or only) definition of `name`, if vmlinux has one. */
  globalAddress(name: string): bigint | undefined {
    for (const i of this.indices(name)) if (this.v.bind(i) !== STB_LOCAL) return this.v.value(i);
    return undefined;
  }

  private indices(name: string): number[] {
    if (!this.byName) {
      const m = new Map<string, number[]>();
      for (let i = 1; i < this.v.count; i++) {
        if (!this.listable(i)) continue;
        const n = this.v.name(i);
        const l = m.get(n);
        if (l) l.push(i);
        else m.set(n, [i]);
      }
      this.byName = m;
    }
    return this.byName.get(name) ?? [];
  }

  /**
   * sympos of the symbol `name` at `address`: its rank among the same-named symbols kallsyms lists,
   * in kallsyms order (the kernel layer's rules for this kernel's version); 0 when the name is
   * unique.
   */
  position(name: string, address: bigint): { position: number; count: number } {
    if (!this.listedByName) {
      const { view, order } = vmlinuxKallsymsOrder(this.reader, this.rules);
      this.listedByName = byNameInOrder(view, order, (i) => view.value(i));
    }
    const rank = rankAmong(this.listedByName.get(name), address);
    if (!rank) throw new CreateError(`${name} at 0x${address.toString(16)} is not among the symbols kallsyms lists in ${this.path}`);
    return rank;
  }

  /** The shipped bytes of a symbol (what the compiler and objtool produced, before boot). */
  code(address: bigint, size: number): ShippedCode | undefined {
    const sec = this.reader.sections.find(
      (s) => s.flags & SHF_ALLOC && s.type !== SHT_NOBITS && s.addr <= address && address + BigInt(size) <= s.addr + BigInt(s.size),
    );
    if (!sec) return undefined;
    return { bytes: this.source.read(sec.offset + Number(address - sec.addr), size), relocations: [] };
  }
}

/** Where a unit's locals are in a module: symbol-table indices of the shipped .ko. */
export interface ModuleUnitLocation {
  /** The unit's source path, for messages. */
  unit: string;
  /** Local name -> index, for the names every best stretch places alike. */
  locals: Map<string, number>;
  /** Names that equally good stretches place differently -> the indices they give. */
  ambiguous: Map<string, number[]>;
}

/**
 * A module as shipped (the .ko, decompressed): where a unit's symbols are in it, their sympos
 * (the kernel layer's module kallsyms order), and a function's bytes with its relocations.
 */
export class ShippedModule {
  private readonly v: SymbolTableView;
  private listedByName: Map<string, number[]> | undefined;
  private globals: Map<string, number> | undefined;

  private constructor(
    readonly path: string,
    private readonly reader: ElfReader,
    private readonly closeFile: () => void,
  ) {
    const sh = reader.symtab;
    if (!sh) throw new CreateError(`${path}: no symbol table`);
    this.v = reader.symbols(sh);
  }

  static async open(path: string): Promise<ShippedModule> {
    const { reader, close } = await openModule(path);
    try {
      return new ShippedModule(path, reader, close);
    } catch (e) {
      close();
      throw e;
    }
  }

  close(): void {
    this.closeFile();
  }

  /**
   * The unit's run of locals. `ld -r` puts each object's locals together, in the order of the
   * objects, so the unit's are one stretch of the module's symbol table; without FILE symbols to
   * mark where it starts, it is the stretch that best covers `locals` (the unit's own, from its
   * rebuilt object): each of them counts for it once, every other named local (another file's, or
   * a homonym seen again) against it. Between stretches that cover as well (a unit whose few
   * locals another file also has, side by side), the one with more of the unit's sizes wins. A
   * FILE symbol, where the module kept them, ends a stretch, and only those after a FILE symbol
   * named after the unit's file count. A name the best stretches place differently (two files
   * with the same locals) is left ambiguous, with its candidates.
   */
  locate(unit: string, locals: { name: string; size: number }[]): ModuleUnitLocation {
    const file = basename(unit);
    const v = this.v;
    const unitLocals = locals.filter((l) => !mayBeDiscarded(l.name));
    const sizes = new Map(unitLocals.map((l) => [l.name, l.size]));
    const rank = new Map<string, number>();
    for (const l of unitLocals) if (!rank.has(l.name)) rank.set(l.name, rank.size);
    let hasFiles = false;
    for (let i = 1; i < v.count && !hasFiles; i++) hasFiles = v.type(i) === STT_FILE;
    // The module's named locals in order, null where a FILE symbol ends a stretch; `start` where a
    // stretch may begin: one of the unit's names (after a FILE symbol of the unit's name, if any).
    const slots: ({ index: number; name: string; start: boolean; sized: boolean } | null)[] = [];
    let current: string | undefined;
    for (let i = 1; i < v.count; i++) {
      const t = v.type(i);
      if (t === STT_FILE) {
        current = v.name(i);
        slots.push(null);
        continue;
      }
      if (v.bind(i) !== STB_LOCAL || (t !== STT_FUNC && t !== STT_OBJECT) || !listable(this.reader, v, i)) continue;
      const name = v.name(i);
      if (mayBeDiscarded(name)) continue;
      slots.push({
        index: i,
        name,
        start: rank.has(name) && (!hasFiles || current === file),
        sized: v.sizeNumber(i) === sizes.get(name),
      });
    }
    // A stretch counts the unit's names in the unit's own order (`ld -r` keeps an object's locals in
    // the order they have in it): from `last`, the rank of the last one counted, only a later one
    // counts for it; anything else, a homonym seen again included, counts against it.
    let best = 0;
    let bestSized = 0;
    let windows: [number, number][] = [];
    for (let s = 0; s < slots.length; s++) {
      if (!slots[s]?.start) continue;
      let last = -1;
      let score = 0;
      let sized = 0;
      for (let e = s; e < slots.length; e++) {
        const slot = slots[e];
        if (!slot) break;
        const k = rank.get(slot.name) ?? -1;
        if (k > last) {
          last = k;
          score++;
          if (slot.sized) sized++;
          if (score > best || (score === best && sized > bestSized)) {
            best = score;
            bestSized = sized;
            windows = [[s, e]];
          } else if (score === best && sized === bestSized) windows.push([s, e]);
        } else if (--score + (rank.size - 1 - last) < best) break;
      }
    }
    if (rank.size > 0 && best === 0)
      throw new CreateError(
        `${unit}: no stretch of ${this.path}'s symbols has the unit's local symbols (${[...rank.keys()].slice(0, 5).join(', ')}...): was the module built from this source?`,
      );
    const placed = new Map<string, Set<number>>();
    for (const [s, e] of windows) {
      let last = -1;
      for (let k = s; k <= e; k++) {
        const slot = slots[k]!;
        const r = rank.get(slot.name) ?? -1;
        if (r <= last) continue;
        last = r;
        const at = placed.get(slot.name) ?? new Set<number>();
        at.add(slot.index);
        placed.set(slot.name, at);
      }
    }
    const out: ModuleUnitLocation = { unit, locals: new Map(), ambiguous: new Map() };
    for (const [name, at] of placed) {
      const list = [...at].sort((a, b) => a - b);
      if (list.length === 1) out.locals.set(name, list[0]);
      else out.ambiguous.set(name, list);
    }
    return out;
  }

  /**
   * Index of the unit's local `name` in `location`; undefined when no stretch has it. Refused,
   * with the positions, when equally good stretches each have their own.
   */
  unitLocal(location: ModuleUnitLocation, name: string): number | undefined {
    const candidates = location.ambiguous.get(name);
    if (candidates)
      throw new CreateError(
        `${location.unit}: '${name}': ${candidates.length} stretches of ${this.path}'s symbols match the unit equally well, each with its own '${name}' (positions ${candidates.map((i) => this.position(i).position).join(', ')}): cannot tell which one is the unit's`,
      );
    return location.locals.get(name);
  }

  /** Index of the module's global (or weak) definition of `name`, if it has one. */
  globalIndex(name: string): number | undefined {
    if (!this.globals) {
      const v = this.v;
      this.globals = new Map();
      for (let i = 1; i < v.count; i++) if (v.bind(i) !== STB_LOCAL && listable(this.reader, v, i)) this.globals.set(v.name(i), i);
    }
    return this.globals.get(name);
  }

  /**
   * sympos of the symbol at `index`: its rank among the same-named symbols the module keeps in
   * kallsyms after its init, in the kernel's order; 0 when the name is unique there.
   */
  position(index: number): { position: number; count: number } {
    if (!this.listedByName) {
      const { view, order } = moduleKallsymsOrder(this.reader);
      this.listedByName = byNameInOrder(view, order, (i) => i);
    }
    const name = this.v.name(index);
    const rank = rankAmong(this.listedByName.get(name), index);
    if (!rank) throw new CreateError(`${name} (symbol ${index} of ${this.path}) is not among the symbols the module keeps after its init`);
    return rank;
  }

  /** The shipped bytes of the function at `index` (at its offset in its section), with the relocations that apply to them. */
  code(index: number): ShippedCode | undefined {
    const v = this.v;
    const sec = this.reader.sections[v.shndx(index)];
    if (!sec || sec.type === SHT_NOBITS || !listable(this.reader, v, index)) return undefined;
    const start = Number(v.value(index));
    const size = v.sizeNumber(index);
    if (start + size > sec.size) return undefined;
    const relocations: { offset: number; type: number }[] = [];
    for (const rs of this.reader.sections) {
      if ((rs.type !== SHT_RELA && rs.type !== SHT_REL) || rs.info !== sec.index) continue;
      const view = this.reader.relocations(rs);
      for (let j = 0; j < view.count; j++) {
        const at = Number(view.offset(j)) - start;
        if (at >= 0 && at < size) relocations.push({ offset: at, type: view.type(j) });
      }
    }
    return { bytes: this.reader.data(sec).subarray(start, start + size), relocations };
  }
}
