/**
 * Every symbol of a kernel, per object (vmlinux and each module), in the order the running kernel
 * counts them. Held column-wise: a distribution kernel has close to a million symbols.
 */

import { bytesEqual, hashString } from './name-hash.js';

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

/** An ObjectSymbols' columns (see its fields). */
interface Columns {
  nameData: Uint8Array<ArrayBuffer>;
  starts: Uint32Array<ArrayBuffer>;
  types: Uint8Array<ArrayBuffer>;
  sizes: Float64Array<ArrayBuffer>;
  listed: Uint8Array<ArrayBuffer>;
  fileCol: Int32Array<ArrayBuffer>;
  hashes: Uint32Array<ArrayBuffer>;
}

/** An ObjectSymbols as data, to move between threads. */
export interface ObjectSymbolsData extends Columns {
  name: string;
  files: string[];
  exports: Map<string, string>;
  n: number;
}

/**
 * The initial, empty columns, shared by every table (a whole kernel has 4,000): nothing is ever
 * written to them, as reserve() replaces them before the first symbol.
 */
const noBytes = new Uint8Array(0);
const noStarts = new Uint32Array(1);
const noSizes = new Float64Array(0);
const noFiles = new Int32Array(0);
const noHashes = new Uint32Array(0);

/**
 * Column memory for the tables one thread builds one after the other (a whole kernel's 4,000
 * modules): each table's columns are views of one large block, where seven buffers of its own per
 * table cost more to allocate, collect and move between threads than their contents. A block is
 * never reused: the views stay valid for as long as their table.
 */
export class ColumnArena {
  private block = new ArrayBuffer(0);
  private used = 0;

  /** Columns for `symbols` symbols and `nameBytes` name bytes. */
  take(symbols: number, nameBytes: number): Columns {
    // The 8-byte column first, then the 4-byte ones, then bytes: every view starts aligned.
    const need = 8 * symbols + 4 * (symbols + 1) + 4 * symbols + 4 * symbols + 2 * symbols + nameBytes;
    if (this.used + need > this.block.byteLength) {
      this.block = new ArrayBuffer(Math.max(need, ColumnArena.BLOCK));
      this.used = 0;
    }
    const b = this.block;
    let at = this.used;
    const sizes = new Float64Array(b, at, symbols);
    at += 8 * symbols;
    const starts = new Uint32Array(b, at, symbols + 1);
    at += 4 * (symbols + 1);
    const hashes = new Uint32Array(b, at, symbols);
    at += 4 * symbols;
    const fileCol = new Int32Array(b, at, symbols);
    at += 4 * symbols;
    const types = new Uint8Array(b, at, symbols);
    at += symbols;
    const listed = new Uint8Array(b, at, symbols);
    at += symbols;
    const nameData = new Uint8Array(b, at, nameBytes);
    this.used = Math.ceil((at + nameBytes) / 8) * 8;
    return { nameData, starts, types, sizes, listed, fileCol, hashes };
  }

  /** 8 MiB: a whole Debian kernel's modules take a few blocks. */
  private static readonly BLOCK = 8 << 20;
}

/** The symbols of one object, in kallsyms order for vmlinux and symbol-table order for modules. */
export class ObjectSymbols implements ObjectQueries {
  readonly name: string;
  readonly files: string[] = [];
  readonly exports = new Map<string, string>();
  /**
   * Held as typed columns, names as latin1 bytes back to back (symbol i's name is
   * nameData[nameStart[i], nameStart[i + 1])): a whole kernel's 730,000 symbols read from ELF files
   * make no JavaScript string, and the binary writer copies the columns as they are.
   */
  private nameData = noBytes;
  private nameEnd = 0;
  private starts = noStarts;
  private typeCol = noBytes;
  private sizeCol = noSizes;
  private listedCol = noBytes;
  private fileCol = noFiles;
  /** Each name's hash (name-hash.ts), made while its bytes are copied in, for the indexes. */
  private hashCol = noHashes;
  private n = 0;
  /** Per symbol: its position; the first symbol of its name; per first symbol, its listed count. */
  private positions: Int32Array | undefined;
  private firstOf: Int32Array | undefined;
  private listedCount: Int32Array | undefined;
  /** Open addressing over names' bytes: each name's first symbol + 1, 0 for an empty slot. */
  private slots: Int32Array | undefined;
  /** Per symbol: the next symbol of its name, -1 after the last. */
  private nextSame: Int32Array | undefined;
  private readonly fileIds = new Map<string, number>();

  /** `arena`: where reserve() takes the first columns from (see ColumnArena), else their own buffers. */
  constructor(
    name: string,
    private readonly arena?: ColumnArena,
  ) {
    this.name = name;
  }

  get length(): number {
    return this.n;
  }

  /**
   * The table as structured-clonable data and the buffers to move rather than copy, for a table
   * built on another thread (see fromData).
   */
  toData(): { data: ObjectSymbolsData; transfer: ArrayBuffer[] } {
    const data: ObjectSymbolsData = {
      name: this.name,
      files: this.files,
      exports: this.exports,
      n: this.n,
      nameData: this.nameData.subarray(0, this.nameEnd),
      starts: this.starts.subarray(0, this.n + 1),
      types: this.typeCol.subarray(0, this.n),
      sizes: this.sizeCol.subarray(0, this.n),
      listed: this.listedCol.subarray(0, this.n),
      fileCol: this.fileCol.subarray(0, this.n),
      hashes: this.hashCol.subarray(0, this.n),
    };
    const columns = [data.nameData, data.starts, data.types, data.sizes, data.listed, data.fileCol, data.hashes];
    return { data, transfer: [...new Set(columns.map((c) => c.buffer))] };
  }

  static fromData(d: ObjectSymbolsData): ObjectSymbols {
    const o = new ObjectSymbols(d.name);
    for (const f of d.files) o.fileId(f);
    for (const [k, v] of d.exports) o.exports.set(k, v);
    o.use(d);
    o.n = d.n;
    o.nameEnd = d.nameData.length;
    return o;
  }

  private use(c: Columns): void {
    this.nameData = c.nameData;
    this.starts = c.starts;
    this.typeCol = c.types;
    this.sizeCol = c.sizes;
    this.listedCol = c.listed;
    this.fileCol = c.fileCol;
    this.hashCol = c.hashes;
  }

  /** Add a symbol (names are latin1: one byte per character); `file` is its source file or ''. */
  add(name: string, type: string, size: number, listed: boolean, file = ''): void {
    this.reserve(1, name.length);
    const d = this.nameData;
    const start = this.nameEnd;
    for (let k = 0; k < name.length; k++) d[start + k] = name.charCodeAt(k);
    this.push(start + name.length, hashString(name), type.charCodeAt(0), size, listed, file === '' ? -1 : this.fileId(file));
  }

  /**
   * Add a symbol whose name is the NUL-terminated string at `bytes[start]` (an ELF string table),
   * copied without making a string. The caller has checked that `start` lies in `bytes`.
   */
  addFromStrtab(bytes: Uint8Array, start: number, typeCode: number, size: number, listed: boolean, file: number): void {
    let end = bytes.indexOf(0, start);
    if (end < 0) end = bytes.length;
    this.reserve(1, end - start);
    const d = this.nameData;
    let o = this.nameEnd;
    // FNV-1a as hashString computes it, in the copy loop: the indexes need every name's hash.
    let h = 0x811c9dc5 | 0;
    for (let k = start; k < end; k++) {
      const c = bytes[k];
      d[o++] = c;
      h = Math.imul(h ^ c, 0x01000193);
    }
    this.push(o, h >>> 0, typeCode, size, listed, file);
  }

  /**
   * Room for `symbols` more symbols with `nameBytes` more name bytes. A reader that knows its table
   * sizes asks once, so each column is allocated once per object.
   */
  reserve(symbols: number, nameBytes: number): void {
    if (this.arena && this.n === 0 && this.typeCol.length === 0) {
      this.use(this.arena.take(symbols, nameBytes));
      return;
    }
    if (this.nameEnd + nameBytes > this.nameData.length) {
      const next = new Uint8Array(Math.max(this.nameData.length * 2, this.nameEnd + nameBytes, 256));
      next.set(this.nameData.subarray(0, this.nameEnd));
      this.nameData = next;
    }
    if (this.n + symbols > this.typeCol.length) {
      const cap = Math.max(this.n * 2, this.n + symbols, 16);
      const grow = <T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(a: T, make: (n: number) => T, len: number): T => {
        const next = make(len);
        next.set(a as never);
        return next;
      };
      this.starts = grow(this.starts, (k) => new Uint32Array(k), cap + 1);
      this.typeCol = grow(this.typeCol, (k) => new Uint8Array(k), cap);
      this.sizeCol = grow(this.sizeCol, (k) => new Float64Array(k), cap);
      this.listedCol = grow(this.listedCol, (k) => new Uint8Array(k), cap);
      this.fileCol = grow(this.fileCol, (k) => new Int32Array(k), cap);
      this.hashCol = grow(this.hashCol, (k) => new Uint32Array(k), cap);
    }
  }

  private push(nameEnd: number, hash: number, typeCode: number, size: number, listed: boolean, file: number): void {
    const i = this.n++;
    this.hashCol[i] = hash;
    this.nameEnd = nameEnd;
    this.starts[i + 1] = nameEnd;
    this.typeCol[i] = typeCode;
    this.sizeCol[i] = size;
    this.listedCol[i] = listed ? 1 : 0;
    this.fileCol[i] = file;
    this.positions = undefined;
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

  /** Symbol i's name. */
  symbolName(i: number): string {
    const s = this.starts[i];
    const e = this.starts[i + 1];
    if (e - s > 48) return Buffer.from(this.nameData.buffer, this.nameData.byteOffset + s, e - s).toString('latin1');
    return String.fromCharCode.apply(null, this.nameData.subarray(s, e) as unknown as number[]);
  }

  /** Every symbol's name, in order: made on each call (a string per symbol), for tests and tools. */
  get names(): string[] {
    return Array.from({ length: this.n }, (_, i) => this.symbolName(i));
  }

  /** 1 where kallsyms lists symbol i, else 0: a view, valid until the next add(). */
  get listed(): Uint8Array {
    return this.listedCol.subarray(0, this.n);
  }

  /** The columns, for writers: views valid until the next add(). */
  get columns(): {
    names: Uint8Array;
    nameStarts: Uint32Array;
    types: Uint8Array;
    sizes: Float64Array;
    listed: Uint8Array;
    files: Int32Array;
    hashes: Uint32Array;
  } {
    const n = this.n;
    return {
      names: this.nameData.subarray(0, this.nameEnd),
      nameStarts: this.starts.subarray(0, n + 1),
      types: this.typeCol.subarray(0, n),
      sizes: this.sizeCol.subarray(0, n),
      listed: this.listedCol.subarray(0, n),
      files: this.fileCol.subarray(0, n),
      hashes: this.hashCol.subarray(0, n),
    };
  }

  size(i: number): number {
    return this.sizeCol[i];
  }

  /** Source-file id of symbol i (an index into files), or -1. */
  fileOf(i: number): number {
    return this.fileCol[i];
  }

  /** Position (1-based) of symbol i among listed symbols of its name; 0 if not listed. */
  position(i: number): number {
    this.index();
    return this.positions![i];
  }

  /** Number of listed symbols named `name`. */
  count(name: string): number {
    const first = this.firstNamed(name);
    return first < 0 ? 0 : this.listedCount![first];
  }

  /** Whether the object defines `name` at all (listed or not). */
  has(name: string): boolean {
    return this.firstNamed(name) >= 0;
  }

  /** The first symbol named `name`, or -1. */
  private firstNamed(name: string): number {
    this.index();
    const slots = this.slots!;
    const mask = slots.length - 1;
    for (let k = hashString(name) & mask; slots[k] !== 0; k = (k + 1) & mask) {
      const f = slots[k] - 1;
      if (bytesEqual(this.nameData, this.starts[f], this.starts[f + 1], name)) return f;
    }
    return -1;
  }

  /** Indices of every symbol named `name` (listed or not), in order. */
  indicesOf(name: string): number[] {
    const out: number[] = [];
    for (let i = this.firstNamed(name); i >= 0; i = this.nextSame![i]) out.push(i);
    return out;
  }

  isListed(i: number): boolean {
    return this.listedCol[i] !== 0;
  }

  type(i: number): string {
    return String.fromCharCode(this.typeCol[i]);
  }

  entry(i: number): SymbolEntry {
    const name = this.symbolName(i);
    const f = this.fileCol[i];
    return {
      object: this.name,
      name,
      position: this.position(i),
      count: this.listedCount![this.firstOf![i]],
      type: this.type(i),
      size: this.sizeCol[i],
      exportType: this.exports.get(name) ?? '',
      file: f < 0 ? '' : this.files[f],
    };
  }

  /**
   * Positions, counted over the names' bytes (a table of first symbols by name), so writing a
   * map makes no string per symbol.
   */
  private index(): void {
    if (this.positions) return;
    const n = this.n;
    const d = this.nameData;
    const st = this.starts;
    let size = 16;
    while (size < 2 * n) size *= 2;
    const slots = new Int32Array(size);
    const mask = size - 1;
    const positions = new Int32Array(n);
    const firstOf = new Int32Array(n);
    const listedCount = new Int32Array(n);
    const nextSame = new Int32Array(n).fill(-1);
    // Per first symbol of a name: the last one seen so far.
    const lastOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const start = st[i];
      const len = st[i + 1] - start;
      let first = i;
      for (let k = this.hashCol[i] & mask; ; k = (k + 1) & mask) {
        const e = slots[k];
        if (e === 0) {
          slots[k] = i + 1;
          break;
        }
        const f = e - 1;
        const fs = st[f];
        if (st[f + 1] - fs !== len) continue;
        let same = true;
        for (let b = 0; b < len && same; b++) same = d[fs + b] === d[start + b];
        if (same) {
          first = f;
          break;
        }
      }
      firstOf[i] = first;
      if (first !== i) nextSame[lastOf[first]] = i;
      lastOf[first] = i;
      if (this.listedCol[i]) positions[i] = ++listedCount[first];
    }
    this.slots = slots;
    this.nextSame = nextSame;
    this.firstOf = firstOf;
    this.listedCount = listedCount;
    this.positions = positions;
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

  /** Put a table built elsewhere in, replacing any of the same name. */
  adopt(o: ObjectSymbols): void {
    this.objects.set(o.name, o);
    this.changed();
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
      // The default sort compares strings by UTF-16 code units, as < does, without calling back
      // into JavaScript for each of the 50,000 comparisons of a whole kernel's modules.
      const names = Array.from(this.objects.keys()).sort();
      const v = this.objects.get(VMLINUX);
      const ordered = v ? [v] : [];
      for (const name of names) if (name !== VMLINUX) ordered.push(this.objects.get(name)!);
      this.ordered = ordered;
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
        for (let i = 0; i < o.length; i++) {
          if (!o.isListed(i)) continue;
          const name = o.symbolName(i);
          const list = index.get(name);
          if (list) list.push(r, i);
          else index.set(name, [r, i]);
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
        for (const [sym, exportType] of o.exports)
          if (!this.exportIndex.has(sym)) this.exportIndex.set(sym, { object: o.name, exportType });
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
