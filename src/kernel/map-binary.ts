import { crc32 } from 'node:zlib';
import { writeAll, writeFileAtomicWith } from '../io/atomic-write.js';
import { KernelDataError } from './errors.js';
import { IndexedSymbolMap, bucketCount } from './map-index.js';
import { bytesEqual, hashString } from './name-hash.js';
import type { MemorySymbolMap, ObjectSymbols } from './symbol-map.js';

/**
 * The binary map format: what `symbols` and the per-release cache write by default, read in one
 * read and queried in place (a whole Debian kernel: 36 MB, against 24 MB of text that must be
 * scanned). Little-endian; every array starts at a multiple of 8 so it is viewed, not copied.
 *
 *   header (56 bytes): magic "klpcmap\0", u32 version, u32 file length, u32 CRC-32 of the bytes
 *     after this field, then u32 counts: objects, symbols, exports, files, metadata pairs, symbol
 *     buckets, export buckets, string bytes, and a zero word
 *   objects   u32[8] each: name offset, name length, first symbol, symbols, first file, files,
 *             first export, exports (objects in map order: vmlinux, then modules by name; an
 *             object's symbols, files and exports are contiguous and follow the previous object's)
 *   files     u32[2] each: offset, length
 *   meta      u32[4] each: key offset, key length, value offset, value length
 *   symbols   u32 name offsets (count + 1: names lie back to back in symbol order at the start of
 *             the string bytes, so a name ends where the next begins), i32 next symbol with a
 *             name of the same hash (-1 at the end; always a later symbol), i32 file id within
 *             the object (-1: none), f64 size (-1: unknown), u8 nm type letter, u8 flags (1: kallsyms
 *             lists it); i32 bucket heads (first symbol of each FNV-1a hash modulo the count)
 *   exports   u32 each: name offset, name length, type offset, type length, object; i32 next; i32
 *             bucket heads
 *   strings   latin1 bytes
 *
 * Positions are not stored: they are counted from the order, as the kernel counts them.
 */
const MAGIC = 'klpcmap\0';
export const BINARY_VERSION = 1;
const HEADER = 56;
const LISTED = 1;

export function isBinaryMap(bytes: Uint8Array): boolean {
  return bytes.length >= MAGIC.length && bytesEqual(bytes, 0, MAGIC.length, MAGIC);
}

interface Counts {
  objects: number;
  symbols: number;
  exports: number;
  files: number;
  meta: number;
  symBuckets: number;
  expBuckets: number;
  strings: number;
}

/** Where each array lies, from the counts: the writer and the reader compute the same layout. */
function layout(c: Counts) {
  let at = HEADER;
  const take = (bytes: number) => {
    const start = at;
    at = Math.ceil((at + bytes) / 8) * 8;
    return start;
  };
  const l = {
    objects: take(c.objects * 32),
    files: take(c.files * 8),
    meta: take(c.meta * 16),
    symName: take((c.symbols + 1) * 4),
    symNext: take(c.symbols * 4),
    symFile: take(c.symbols * 4),
    symSize: take(c.symbols * 8),
    symType: take(c.symbols),
    symFlags: take(c.symbols),
    symHeads: take(c.symBuckets * 4),
    expFields: take(c.exports * 20),
    expNext: take(c.exports * 4),
    expHeads: take(c.expBuckets * 4),
    strings: take(c.strings),
    end: 0,
  };
  l.end = at;
  return l;
}

/** A map's tables other than the per-symbol ones, which are streamed from the objects' columns. */
interface Plan {
  columns: ObjectSymbols['columns'][];
  c: Counts;
  l: ReturnType<typeof layout>;
  objectTable: Uint32Array;
  fileTable: Uint32Array;
  metaTable: Uint32Array;
  expTable: Uint32Array;
  expNext: Int32Array;
  expHeads: Int32Array;
  /** Object names, file names, exports' names and types, metadata: what follows the symbol names. */
  otherStrings: Buffer;
}

function plan(map: MemorySymbolMap): Plan {
  const objects = map.orderedObjects;
  const columns = objects.map((o) => o.columns);
  let symbols = 0;
  let exports = 0;
  let files = 0;
  let nameBytes = 0;
  for (let r = 0; r < objects.length; r++) {
    const o = objects[r];
    symbols += o.length;
    exports += o.exports.size;
    files += o.files.length;
    nameBytes += columns[r].names.length;
  }
  const c: Counts = {
    objects: objects.length,
    symbols,
    exports,
    files,
    meta: map.meta.size,
    // A bucket per four symbols: the head table, filled in random order, stays a quarter of the
    // size (a megabyte for a whole kernel), and a query reads about four names.
    symBuckets: bucketCount(symbols >> 2),
    expBuckets: bucketCount(exports),
    strings: 0,
  };
  // Symbol names first, back to back (copied from the objects' columns), then everything else,
  // gathered as strings and encoded in one call: a string table of 30,000 short strings for a
  // whole kernel, each otherwise a call copying a few bytes.
  const strings: string[] = [];
  let stringEnd = nameBytes;
  /** Put a string's offset and length at table[at], and the string in the string table. */
  const str = (table: Uint32Array, at: number, v: string): void => {
    table[at] = stringEnd;
    table[at + 1] = v.length;
    strings.push(v);
    stringEnd += v.length;
  };
  /** Export types, which many exports share: each written once. */
  const shared = new Map<string, number>();
  const objectTable = new Uint32Array(objects.length * 8);
  const fileTable = new Uint32Array(files * 2);
  const expTable = new Uint32Array(exports * 5);
  const expNext = new Int32Array(exports);
  const expHeads = new Int32Array(c.expBuckets).fill(-1);
  const expTails = new Int32Array(c.expBuckets);
  const expMask = c.expBuckets - 1;
  let firstSym = 0;
  let f = 0;
  let e = 0;
  let id = 0;
  // A callback for Map.forEach rather than a for-of over entries: no entry array per export
  // (24,000 for a whole kernel), and one small function for the engine to compile early.
  const addExport = (type: string, name: string): void => {
    str(expTable, e * 5, name);
    let at = shared.get(type);
    if (at === undefined) {
      at = stringEnd;
      shared.set(type, at);
      strings.push(type);
      stringEnd += type.length;
    }
    expTable[e * 5 + 2] = at;
    expTable[e * 5 + 3] = type.length;
    expTable[e * 5 + 4] = id;
    // Chains in export order: each export after the earlier ones of its bucket.
    const b = hashString(name) & expMask;
    expNext[e] = -1;
    if (expHeads[b] < 0) expHeads[b] = e;
    else expNext[expTails[b]] = e;
    expTails[b] = e++;
  };
  for (; id < objects.length; id++) {
    const o = objects[id];
    const t = id * 8;
    str(objectTable, t, o.name);
    objectTable[t + 2] = firstSym;
    objectTable[t + 3] = o.length;
    objectTable[t + 4] = f;
    objectTable[t + 5] = o.files.length;
    objectTable[t + 6] = e;
    objectTable[t + 7] = o.exports.size;
    firstSym += o.length;
    for (const file of o.files) str(fileTable, 2 * f++, file);
    o.exports.forEach(addExport);
  }
  const metaTable = new Uint32Array(map.meta.size * 4);
  let m = 0;
  for (const [k, v] of map.meta) {
    str(metaTable, m, k);
    str(metaTable, m + 2, v);
    m += 4;
  }
  // latin1: one byte per character, as the offsets count them.
  const otherStrings = Buffer.from(strings.join(''), 'latin1');
  c.strings = stringEnd;
  const l = layout(c);
  if (l.end > 0xffffffff) throw new KernelDataError(`the symbol map is too large for the binary format (${l.end} bytes)`);
  return { columns, c, l, objectTable, fileTable, metaTable, expTable, expNext, expHeads, otherStrings };
}

/** Bytes a block holds: small enough to stay in the cache from its copy in to its CRC and write. */
const BLOCK = 1 << 18;

/**
 * A file's bytes in order, through one block handed to `put` each time it fills (and reused once
 * `put` returns): no buffer the size of the file (34 MB for a whole kernel), whose pages would each
 * be faulted in and filled once, then copied again by the write. Keeps the CRC of what it passes on
 * after the header's CRC field.
 */
class BlockStream {
  /** Each byte is written before the block is passed on: padding is zeroed, not left as found. */
  private readonly block = Buffer.allocUnsafe(BLOCK);
  private at = 0;
  private passed = 0;
  private crc = 0;

  constructor(private readonly put: (chunk: Uint8Array) => void) {}

  /** A typed array's bytes as they lie in memory (little-endian, as the format is). */
  array(a: Uint8Array | Uint32Array | Int32Array | Float64Array): void {
    let src = a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    while (src.length > BLOCK - this.at) {
      const n = BLOCK - this.at;
      this.block.set(src.subarray(0, n), this.at);
      this.at = BLOCK;
      this.flush();
      src = src.subarray(n);
    }
    this.block.set(src, this.at);
    this.at += src.length;
  }

  /** Zeros up to the next multiple of 8, where every array starts. */
  align(): void {
    while ((this.passed + this.at) % 8 !== 0) {
      this.block[this.at++] = 0;
      if (this.at === BLOCK) this.flush();
    }
  }

  /** Pass on what is left; the length written and the CRC of the bytes after the CRC field. */
  finish(): { length: number; crc: number } {
    this.flush();
    return { length: this.passed, crc: this.crc };
  }

  private flush(): void {
    const chunk = this.block.subarray(0, this.at);
    this.crc = crc32(this.passed === 0 ? chunk.subarray(CRC_END) : chunk, this.crc);
    this.put(chunk);
    this.passed += this.at;
    this.at = 0;
  }
}

/** The header's CRC field, and the end of what the CRC does not cover. */
const CRC_AT = 16;
const CRC_END = 20;

/** Pass a planned map's bytes to `put` in file order, the CRC field zero; returns the CRC to put there. */
function emit(p: Plan, put: (chunk: Uint8Array) => void): number {
  const { c, l, columns } = p;
  const out = new BlockStream(put);
  const header = Buffer.alloc(HEADER);
  header.write(MAGIC, 0, 'latin1');
  const words = [BINARY_VERSION, l.end, 0, c.objects, c.symbols, c.exports, c.files, c.meta, c.symBuckets, c.expBuckets, c.strings, 0];
  for (let k = 0; k < words.length; k++) header.writeUInt32LE(words[k], 8 + 4 * k);
  out.array(header);
  for (const t of [p.objectTable, p.fileTable, p.metaTable]) {
    out.array(t);
    out.align();
  }
  // One table for the name offsets, then the same memory for the chains.
  const symName = new Uint32Array(c.symbols + 1);
  nameOffsets(columns, symName);
  out.array(symName);
  out.align();
  const next = new Int32Array(symName.buffer, 0, c.symbols);
  const heads = new Int32Array(c.symBuckets).fill(-1);
  hashChains(columns, next, heads);
  out.array(next);
  out.align();
  for (const col of columns) out.array(col.files);
  out.align();
  for (const col of columns) out.array(col.sizes);
  out.align();
  for (const col of columns) out.array(col.types);
  out.align();
  // A listed symbol's column value is LISTED, the flag itself.
  for (const col of columns) out.array(col.listed);
  out.align();
  for (const t of [heads, p.expTable, p.expNext, p.expHeads]) {
    out.array(t);
    out.align();
  }
  for (const col of columns) out.array(col.names);
  out.array(p.otherStrings);
  out.align();
  const { length, crc } = out.finish();
  // Every byte of the layout written, none twice: nothing of a reused block is left in the file.
  if (length !== l.end) throw new Error(`binary map: ${length} bytes written for a layout of ${l.end}`);
  return crc;
}

/**
 * Each symbol's name offset in the string table, where the objects' names lie back to back, and
 * the end of the last. (Hot loops are kept in small functions: run once per process, they are
 * compiled while they run, and a small function compiles in a fraction of the time.)
 */
function nameOffsets(columns: Plan['columns'], into: Uint32Array): void {
  let s = 0;
  let nameAt = 0;
  for (const col of columns) {
    const starts = col.nameStarts;
    const n = col.types.length;
    for (let i = 0; i < n; i++) into[s + i] = nameAt + starts[i];
    s += n;
    nameAt += col.names.length;
  }
  into[s] = nameAt;
}

/**
 * The symbol hash chains: per bucket (a hash modulo the bucket count) its first symbol, per
 * symbol the next of its bucket. Built back to front, each symbol put before the later ones of its
 * bucket: one random access per symbol instead of a head and a tail (the tables are megabytes,
 * the accesses misses).
 */
function hashChains(columns: Plan['columns'], next: Int32Array, heads: Int32Array): void {
  const mask = heads.length - 1;
  let s = next.length;
  for (let r = columns.length - 1; r >= 0; r--) {
    const hashes = columns[r].hashes;
    for (let i = hashes.length - 1; i >= 0; i--) {
      const b = hashes[i] & mask;
      next[--s] = heads[b];
      heads[b] = s;
    }
  }
}

/** The map file's bytes in memory (tests, benchmarks); writeBinaryMap writes them without holding them. */
export function formatBinaryMap(map: MemorySymbolMap): Buffer {
  const p = plan(map);
  const bytes = Buffer.allocUnsafe(p.l.end);
  let at = 0;
  const crc = emit(p, (chunk) => {
    bytes.set(chunk, at);
    at += chunk.length;
  });
  bytes.writeUInt32LE(crc, CRC_AT);
  return bytes;
}

/** Write the map file whole or not at all, a block at a time. */
export function writeBinaryMap(map: MemorySymbolMap, path: string): void {
  const p = plan(map);
  writeFileAtomicWith(path, (fd) => {
    const crc = emit(p, (chunk) => writeAll(fd, chunk));
    const field = Buffer.alloc(4);
    field.writeUInt32LE(crc);
    writeAll(fd, field, CRC_AT);
  });
}

/** A binary map, queried in place; checked whole by its CRC when read, and each access bounded. */
export class BinaryMap extends IndexedSymbolMap {
  private readonly bytes: Uint8Array;
  private readonly counts: Counts;
  private readonly l: ReturnType<typeof layout>;
  private readonly objectTable: Uint32Array;
  private readonly fileTable: Uint32Array;
  private readonly symName: Uint32Array;
  private readonly symNext: Int32Array;
  private readonly symFile: Int32Array;
  private readonly symSize: Float64Array;
  private readonly symHeads: Int32Array;
  private readonly expFields: Uint32Array;
  private readonly expNext: Int32Array;
  private readonly expHeads: Int32Array;

  constructor(bytes: Uint8Array, source: string) {
    super(source);
    // Typed views need 8-byte alignment; a buffer from a pool may not have it.
    this.bytes = bytes.byteOffset % 8 === 0 ? bytes : new Uint8Array(bytes);
    const b = this.bytes;
    if (b.length < HEADER) this.bad(`truncated: ${b.length} bytes, shorter than the header`);
    const h = new DataView(b.buffer, b.byteOffset, HEADER);
    const word = (i: number) => h.getUint32(i, true);
    if (word(8) !== BINARY_VERSION)
      this.bad(
        `version ${word(8)} is not supported (this klp-convert reads version ${BINARY_VERSION}); rebuild it with 'klp-convert symbols'`,
      );
    if (word(12) !== b.length)
      this.bad(word(12) > b.length ? `truncated: ${b.length} of its ${word(12)} bytes` : `${b.length - word(12)} bytes after its end`);
    if (crc32(b.subarray(20)) !== word(16)) this.bad('checksum mismatch: the file is corrupted');
    const c: Counts = {
      objects: word(20),
      symbols: word(24),
      exports: word(28),
      files: word(32),
      meta: word(36),
      symBuckets: word(40),
      expBuckets: word(44),
      strings: word(48),
    };
    this.counts = c;
    const l = layout(c);
    this.l = l;
    const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
    if (l.end !== b.length || !pow2(c.symBuckets) || !pow2(c.expBuckets)) this.bad('its tables do not fit its length');
    const u32 = (at: number, n: number) => new Uint32Array(b.buffer, b.byteOffset + at, n);
    const i32 = (at: number, n: number) => new Int32Array(b.buffer, b.byteOffset + at, n);
    this.objectTable = u32(l.objects, c.objects * 8);
    this.fileTable = u32(l.files, c.files * 2);
    this.symName = u32(l.symName, c.symbols + 1);
    this.symNext = i32(l.symNext, c.symbols);
    this.symFile = i32(l.symFile, c.symbols);
    this.symSize = new Float64Array(b.buffer, b.byteOffset + l.symSize, c.symbols);
    this.symHeads = i32(l.symHeads, c.symBuckets);
    this.expFields = u32(l.expFields, c.exports * 5);
    this.expNext = i32(l.expNext, c.exports);
    this.expHeads = i32(l.expHeads, c.expBuckets);
    // The objects must tile the symbol, file and export arrays in order.
    let sym = 0;
    let file = 0;
    let exp = 0;
    for (let o = 0; o < c.objects; o++) {
      const t = this.objectTable.subarray(o * 8, o * 8 + 8);
      if (t[2] !== sym || t[4] !== file || t[6] !== exp) this.bad(`object ${o}'s tables do not follow the previous object's`);
      sym += t[3];
      file += t[5];
      exp += t[7];
      const name = this.string(t[0], t[1]);
      if (this.hasObject(name)) this.bad(`object ${name} appears twice`);
      this.objectId(name);
    }
    if (sym !== c.symbols || file !== c.files || exp !== c.exports) this.bad('its objects do not account for every symbol');
    const meta = u32(l.meta, c.meta * 4);
    for (let m = 0; m < c.meta; m++)
      this.meta.set(this.string(meta[m * 4], meta[m * 4 + 1]), this.string(meta[m * 4 + 2], meta[m * 4 + 3]));
  }

  private bad(why: string): never {
    throw new KernelDataError(`${this.source}: corrupt binary symbol map: ${why}`);
  }

  private string(off: number, len: number): string {
    if (off + len > this.counts.strings) this.bad('a string lies outside the string table');
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.l.strings + off, len).toString('latin1');
  }

  /** Walk a hash chain: links must go forward, so a corrupt file cannot make a query loop. */
  private chain(heads: Int32Array, next: Int32Array, name: string, matches: (i: number) => boolean): number[] {
    const out: number[] = [];
    let prev = -1;
    for (let i = heads[hashString(name) & (heads.length - 1)]; i >= 0; i = next[i]) {
      if (i <= prev || i >= next.length) this.bad('a hash chain goes backwards or out of range');
      prev = i;
      if (matches(i)) out.push(i);
    }
    return out;
  }

  protected symbolRecords(name: string): number[] {
    const strings = this.l.strings;
    return this.chain(this.symHeads, this.symNext, name, (i) => {
      const start = this.symName[i];
      const end = this.symName[i + 1];
      if (start > end || end > this.counts.strings) this.bad(`symbol ${i}'s name lies outside the string table`);
      return bytesEqual(this.bytes, strings + start, strings + end, name);
    });
  }

  protected recordObject(r: number): number {
    // The object whose symbol range holds r (objects tile the symbols in order).
    let lo = 0;
    let hi = this.counts.objects - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.objectTable[mid * 8 + 2] <= r) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  protected recordName(r: number): string {
    return this.string(this.symName[r], this.symName[r + 1] - this.symName[r]);
  }

  protected recordListed(r: number): boolean {
    return (this.bytes[this.l.symFlags + r] & LISTED) !== 0;
  }

  protected recordType(r: number): string {
    return String.fromCharCode(this.bytes[this.l.symType + r]);
  }

  protected recordSize(r: number): number {
    return this.symSize[r];
  }

  protected recordFile(r: number): string {
    const id = this.symFile[r];
    if (id < 0) return '';
    const o = this.recordObject(r);
    if (id >= this.objectTable[o * 8 + 5]) this.bad(`symbol ${r}'s file id is not in its object's file table`);
    const f = this.objectTable[o * 8 + 4] + id;
    return this.string(this.fileTable[f * 2], this.fileTable[f * 2 + 1]);
  }

  protected recordClaim(): undefined {
    return undefined;
  }

  protected exportsOf(name: string): [number, string][] {
    const e = this.expFields;
    return this.chain(this.expHeads, this.expNext, name, (i) => this.string(e[i * 5], e[i * 5 + 1]) === name).map((i) => {
      if (e[i * 5 + 4] >= this.counts.objects) this.bad(`export ${i}'s object is out of range`);
      return [e[i * 5 + 4], this.string(e[i * 5 + 2], e[i * 5 + 3])];
    });
  }
}
