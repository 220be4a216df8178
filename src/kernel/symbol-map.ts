/**
 * Every symbol of a kernel, per object (vmlinux and each module), in the order the running kernel
 * counts them. Held column-wise: a distribution kernel has close to a million symbols.
 */

export const VMLINUX = 'vmlinux';

/** One symbol of one object, as a query returns it. */
export interface SymbolEntry {
  object: string;
  name: string;
  /** 1-based rank among the same-named listed symbols of the object; 0 when kallsyms does not list it. */
  position: number;
  /** How many listed symbols of this name the object has. */
  count: number;
  /** nm-style type letter (T/t, D/d, R/r, B/b, W, V, ...); lower case is local. */
  type: string;
  /** st_size; -1 when the source does not say (kallsyms, System.map). */
  size: number;
  /** EXPORT_SYMBOL, EXPORT_SYMBOL_GPL, ... or '' when not exported. */
  exportType: string;
  /** Source file from the STT_FILE symbol before it, or '' when unknown. */
  file: string;
}

/**
 * What conversion and verification ask of one object. Indices are whatever the map uses to name a
 * symbol: pass back to entry(), isListed(), type() and position() only what indicesOf() returned.
 */
export interface ObjectQueries {
  readonly name: string;
  /** Every symbol named `name` (listed or not), in the object's order. */
  indicesOf(name: string): number[];
  entry(i: number): SymbolEntry;
  /** Number of listed symbols named `name`. */
  count(name: string): number;
  /** Whether the object defines `name` at all (listed or not). */
  has(name: string): boolean;
  /** Position (1-based) of symbol i among listed symbols of its name; 0 if not listed. */
  position(i: number): number;
  isListed(i: number): boolean;
  type(i: number): string;
}

/**
 * A kernel's symbols as conversion, verification and the CLI query them: built in memory
 * (MemorySymbolMap) or answered in place from a map file (map-load.ts), without a JavaScript value
 * per symbol.
 */
export interface KernelSymbolMap {
  /** Free-form facts about where the map came from (kernel release, sources). */
  readonly meta: Map<string, string>;
  object(name: string): ObjectQueries | undefined;
  /** Every listed definition of `name` in the whole kernel: vmlinux first, then modules by name. */
  definitions(name: string): SymbolEntry[];
  /** Who exports `name`, if anyone: the first object in that order exporting it, and the export type. */
  exporter(name: string): { object: string; exportType: string } | undefined;
}

/** The symbols of one object, in kallsyms order for vmlinux and symbol-table order for modules. */
export class ObjectSymbols implements ObjectQueries {
  readonly name: string;
  readonly names: string[] = [];
  readonly types: string[] = [];
  readonly sizes: number[] = [];
  readonly listed: boolean[] = [];
  readonly fileIndex: number[] = [];
  readonly files: string[] = [];
  readonly exports = new Map<string, string>();
  private positions: Int32Array | undefined;
  private counts: Map<string, number> | undefined;
  private byName: Map<string, number[]> | undefined;
  private readonly fileIds = new Map<string, number>();

  constructor(name: string) {
    this.name = name;
  }

  get length(): number {
    return this.names.length;
  }

  add(name: string, type: string, size: number, listed: boolean, file = ''): void {
    this.names.push(name);
    this.types.push(type);
    this.sizes.push(size);
    this.listed.push(listed);
    this.fileIndex.push(file === '' ? -1 : this.fileId(file));
    this.positions = undefined;
    this.counts = undefined;
    this.byName = undefined;
  }

  fileId(file: string): number {
    let id = this.fileIds.get(file);
    if (id === undefined) {
      id = this.files.length;
      this.files.push(file);
      this.fileIds.set(file, id);
    }
    return id;
  }

  /** Position (1-based) of symbol i among listed symbols of its name; 0 if not listed. */
  position(i: number): number {
    this.index();
    return this.positions![i];
  }

  /** Number of listed symbols named `name`. */
  count(name: string): number {
    this.index();
    return this.counts!.get(name) ?? 0;
  }

  /** Whether the object defines `name` at all (listed or not). */
  has(name: string): boolean {
    this.index();
    return this.counts!.has(name);
  }

  /** Indices of every symbol named `name` (listed or not), in order. */
  indicesOf(name: string): number[] {
    if (!this.byName) {
      const byName = new Map<string, number[]>();
      for (let i = 0; i < this.names.length; i++) {
        const list = byName.get(this.names[i]);
        if (list) list.push(i);
        else byName.set(this.names[i], [i]);
      }
      this.byName = byName;
    }
    return this.byName.get(name) ?? [];
  }

  isListed(i: number): boolean {
    return this.listed[i];
  }

  type(i: number): string {
    return this.types[i];
  }

  entry(i: number): SymbolEntry {
    const name = this.names[i];
    return {
      object: this.name, name, position: this.position(i), count: this.count(name), type: this.types[i],
      size: this.sizes[i], exportType: this.exports.get(name) ?? '', file: this.fileIndex[i] < 0 ? '' : this.files[this.fileIndex[i]],
    };
  }

  private index(): void {
    if (this.positions && this.counts) return;
    const positions = new Int32Array(this.names.length);
    const counts = new Map<string, number>();
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i];
      const n = counts.get(name) ?? 0;
      if (!this.listed[i]) {
        if (n === 0) counts.set(name, 0);
        continue;
      }
      counts.set(name, n + 1);
      positions[i] = n + 1;
    }
    this.positions = positions;
    this.counts = counts;
  }
}

/** A map held in memory, as `symbols` builds it and the writers format it. */
export class MemorySymbolMap implements KernelSymbolMap {
  readonly objects = new Map<string, ObjectSymbols>();
  readonly meta = new Map<string, string>();
  private ordered: ObjectSymbols[] | undefined;
  /** name -> every (object rank, index) holding it, in definitions() order; built on first query. */
  private nameIndex: Map<string, number[]> | undefined;
  private exportIndex: Map<string, { object: string; exportType: string }> | undefined;

  object(name: string): ObjectSymbols | undefined {
    return this.objects.get(name);
  }

  /** The object's table, created when missing. */
  objectFor(name: string): ObjectSymbols {
    let o = this.objects.get(name);
    if (!o) {
      o = new ObjectSymbols(name);
      this.objects.set(name, o);
      this.changed();
    }
    return o;
  }

  /** Remove an object (a module file replacing what a kallsyms dump said of it). */
  drop(name: string): void {
    if (this.objects.delete(name)) this.changed();
  }

  /**
   * The query indexes are built on first use, after the map is complete; a map being built must not
   * be queried (ObjectSymbols.add does not reach back here), so only object changes reset them.
   */
  private changed(): void {
    this.ordered = undefined;
    this.nameIndex = undefined;
    this.exportIndex = undefined;
  }

  /** vmlinux first, then modules by name: the order both file formats use. */
  get orderedObjects(): ObjectSymbols[] {
    if (!this.ordered) {
      const mods = [...this.objects.values()].filter((o) => o.name !== VMLINUX).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const v = this.objects.get(VMLINUX);
      this.ordered = v ? [v, ...mods] : mods;
    }
    return this.ordered;
  }

  definitions(name: string): SymbolEntry[] {
    if (!this.nameIndex) {
      // One pass over every listed symbol, so each query costs its answer, not the kernel's size.
      const index = new Map<string, number[]>();
      const objects = this.orderedObjects;
      for (let r = 0; r < objects.length; r++) {
        const o = objects[r];
        for (let i = 0; i < o.names.length; i++) {
          if (!o.listed[i]) continue;
          const list = index.get(o.names[i]);
          if (list) list.push(r, i);
          else index.set(o.names[i], [r, i]);
        }
      }
      this.nameIndex = index;
    }
    const hits = this.nameIndex.get(name);
    if (!hits) return [];
    const out: SymbolEntry[] = [];
    for (let k = 0; k < hits.length; k += 2) out.push(this.ordered![hits[k]].entry(hits[k + 1]));
    return out;
  }

  exporter(name: string): { object: string; exportType: string } | undefined {
    if (!this.exportIndex) {
      this.exportIndex = new Map();
      for (const o of this.orderedObjects) {
        for (const [sym, exportType] of o.exports) if (!this.exportIndex.has(sym)) this.exportIndex.set(sym, { object: o.name, exportType });
      }
    }
    return this.exportIndex.get(name);
  }

  get symbolCount(): number {
    let n = 0;
    for (const o of this.objects.values()) n += o.length;
    return n;
  }
}
