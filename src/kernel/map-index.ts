import { KernelDataError } from './errors.js';
import { type KernelSymbolMap, type ObjectQueries, type SymbolEntry, VMLINUX } from './symbol-map.js';

/**
 * A map file queried in place: its records (one per symbol, and per export the map has no symbol
 * for) are chained by a hash of their name, so a query walks the few records of that name and
 * nothing else. The text reader (map-format.ts) builds the chains in one pass over the file; the
 * binary format (map-binary.ts) stores them. No JavaScript value is made per record.
 */

/** Hash table size for n keys: a power of two, about one key per bucket. */
export function bucketCount(n: number): number {
  return 2 ** Math.max(4, 32 - Math.clz32(Math.max(1, n) - 1));
}

export abstract class IndexedSymbolMap implements KernelSymbolMap {
  readonly meta = new Map<string, string>();
  /** Object names by id (ids are the order objects appear in the file). */
  protected readonly objectNames: string[] = [];
  private readonly objectIds = new Map<string, number>();
  /** definitions() order of each object id: vmlinux first, then modules by name. */
  private ranks: Int32Array | undefined;
  private readonly views = new Map<number, ObjectView>();

  constructor(protected readonly source: string) {}

  /** Register an object (or find it again: the upstream format may list one twice). */
  protected objectId(name: string): number {
    let id = this.objectIds.get(name);
    if (id === undefined) {
      id = this.objectNames.length;
      this.objectNames.push(name);
      this.objectIds.set(name, id);
    }
    return id;
  }

  protected hasObject(name: string): boolean {
    return this.objectIds.has(name);
  }

  /** Symbol records named `name`, in file order. */
  protected abstract symbolRecords(name: string): number[];
  protected abstract recordObject(r: number): number;
  protected abstract recordName(r: number): string;
  protected abstract recordListed(r: number): boolean;
  protected abstract recordType(r: number): string;
  protected abstract recordSize(r: number): number;
  protected abstract recordFile(r: number): string;
  /** The position the file states for a record, when it states one (checked against the order). */
  protected abstract recordClaim(r: number): number | undefined;
  /** Every object exporting `name`, with the export type (any order). */
  protected abstract exportsOf(name: string): [number, string][];

  private rank(id: number): number {
    if (!this.ranks) {
      const ids = this.objectNames.map((_, i) => i);
      const key = (i: number) => (this.objectNames[i] === VMLINUX ? '' : `.${this.objectNames[i]}`);
      ids.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
      this.ranks = new Int32Array(ids.length);
      ids.forEach((id2, r) => {
        this.ranks![id2] = r;
      });
    }
    return this.ranks[id];
  }

  /**
   * The records named `name` in one object (or all, object -1) with their positions, counted in
   * file order as the kernel counts, and checked against the positions the file states.
   */
  protected positioned(name: string, object: number): { records: number[]; positions: number[]; counts: Map<number, number> } {
    const all = this.symbolRecords(name);
    const records: number[] = [];
    const positions: number[] = [];
    const counts = new Map<number, number>();
    for (const r of all) {
      const o = this.recordObject(r);
      let position = 0;
      if (this.recordListed(r)) {
        position = (counts.get(o) ?? 0) + 1;
        counts.set(o, position);
      }
      const claim = this.recordClaim(r);
      if (claim !== undefined && claim !== position) {
        throw new KernelDataError(
          `${this.source}: corrupt symbol map: ${this.objectNames[o]} '${name}' claims position ${claim || '-'}, but its order gives ${position || '-'}`,
        );
      }
      if (object >= 0 && o !== object) continue;
      records.push(r);
      positions.push(position);
    }
    return { records, positions, counts };
  }

  protected entryOf(r: number, position: number, count: number, exportType: string): SymbolEntry {
    return {
      object: this.objectNames[this.recordObject(r)],
      name: this.recordName(r),
      position,
      count,
      type: this.recordType(r),
      size: this.recordSize(r),
      exportType,
      file: this.recordFile(r),
    };
  }

  exportOf(object: number, name: string): string {
    for (const [o, type] of this.exportsOf(name)) if (o === object) return type;
    return '';
  }

  object(name: string): ObjectQueries | undefined {
    const id = this.objectIds.get(name);
    if (id === undefined) return undefined;
    let view = this.views.get(id);
    if (!view) this.views.set(id, (view = new ObjectView(this, id, name)));
    return view;
  }

  definitions(name: string): SymbolEntry[] {
    const { records, positions, counts } = this.positioned(name, -1);
    const out: SymbolEntry[] = [];
    for (let k = 0; k < records.length; k++) {
      if (positions[k] === 0) continue;
      const o = this.recordObject(records[k]);
      out.push(this.entryOf(records[k], positions[k], counts.get(o)!, this.exportOf(o, name)));
    }
    // Stable: same-object entries keep their order.
    return out
      .map((e, k) => [e, k] as const)
      .sort((a, b) => this.rank(this.objectIds.get(a[0].object)!) - this.rank(this.objectIds.get(b[0].object)!) || a[1] - b[1])
      .map(([e]) => e);
  }

  exporter(name: string): { object: string; exportType: string } | undefined {
    let best: [number, string] | undefined;
    for (const e of this.exportsOf(name)) if (!best || this.rank(e[0]) < this.rank(best[0])) best = e;
    return best && { object: this.objectNames[best[0]], exportType: best[1] };
  }

  /** For ObjectView: what it needs of one record, with the same checks as definitions(). */
  viewIndices(object: number, name: string): number[] {
    return this.positioned(name, object).records;
  }

  viewCount(object: number, name: string): number {
    return this.positioned(name, object).counts.get(object) ?? 0;
  }

  viewEntry(object: number, r: number): SymbolEntry {
    const name = this.recordName(r);
    const { records, positions, counts } = this.positioned(name, object);
    const k = records.indexOf(r);
    if (k < 0) throw new RangeError(`symbol ${r} is not one of ${this.objectNames[object]}'s`);
    return this.entryOf(r, positions[k], counts.get(object) ?? 0, this.exportOf(object, name));
  }

  viewListed(r: number): boolean {
    return this.recordListed(r);
  }

  viewType(r: number): string {
    return this.recordType(r);
  }
}

/** One object of an IndexedSymbolMap; its indices are the map's record numbers. */
class ObjectView implements ObjectQueries {
  constructor(
    private readonly map: IndexedSymbolMap,
    private readonly id: number,
    readonly name: string,
  ) {}

  indicesOf(name: string): number[] {
    return this.map.viewIndices(this.id, name);
  }
  entry(i: number): SymbolEntry {
    return this.map.viewEntry(this.id, i);
  }
  count(name: string): number {
    return this.map.viewCount(this.id, name);
  }
  has(name: string): boolean {
    return this.indicesOf(name).length > 0;
  }
  position(i: number): number {
    return this.entry(i).position;
  }
  isListed(i: number): boolean {
    return this.map.viewListed(i);
  }
  type(i: number): string {
    return this.map.viewType(i);
  }
}
