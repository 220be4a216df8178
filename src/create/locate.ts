/**
 * Find a translation unit's symbols in the target vmlinux (the -dbg package's, with its symbol
 * table) and the livepatch position (`sympos`) of each. vmlinux keeps only basenames in its FILE
 * symbols (Debian's 6.1 has five files called cpu.c), so the unit is identified by its whole set
 * of local symbol names, as kpatch's lookup.c find_local_syms does.
 */
import { SHF_ALLOC, SHN_ABS, SHN_UNDEF, STB_LOCAL, STT_FILE, STT_FUNC, STT_OBJECT, STT_SECTION, SHT_NOBITS } from '../elf/constants.js';
import { FileSource } from '../elf/file-source.js';
import { ElfReader, type SymbolTableView } from '../elf/reader.js';
import { vmlinuxKallsymsOrder } from '../kernel/elf-symbols.js';
import type { KallsymsRules } from '../kernel/kallsyms-rules.js';
import { CreateError } from './tree.js';

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

  /** Symbols kallsyms can list: defined in an allocated section, neither FILE nor SECTION. */
  private listable(i: number): boolean {
    const v = this.v;
    const t = v.type(i);
    if (t === STT_FILE || t === STT_SECTION || v.rawShndx(i) === SHN_UNDEF || v.rawShndx(i) === SHN_ABS) return false;
    const sec = this.reader.sections[v.shndx(i)];
    return !!sec && (sec.flags & SHF_ALLOC) !== 0;
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
      this.listedByName = new Map();
      for (const i of order) {
        const n = view.name(i);
        const list = this.listedByName.get(n);
        if (list) list.push(view.value(i));
        else this.listedByName.set(n, [view.value(i)]);
      }
    }
    const addrs = this.listedByName.get(name) ?? [];
    const k = addrs.indexOf(address);
    if (k < 0) throw new CreateError(`${name} at 0x${address.toString(16)} is not among the symbols kallsyms lists in ${this.path}`);
    return { position: addrs.length === 1 ? 0 : k + 1, count: addrs.length };
  }

  /** The shipped bytes of a symbol (what the compiler and objtool produced, before boot). */
  bytesAt(address: bigint, size: number): Uint8Array | undefined {
    const sec = this.reader.sections.find(
      (s) => s.flags & SHF_ALLOC && s.type !== SHT_NOBITS && s.addr <= address && address + BigInt(size) <= s.addr + BigInt(s.size),
    );
    if (!sec) return undefined;
    return this.source.read(sec.offset + Number(address - sec.addr), size);
  }
}
