import { crc32 } from 'node:zlib';
import { KernelDataError } from './errors.js';
import { IndexedSymbolMap, bucketCount } from './map-index.js';
import { bytesEqual, hashString } from './name-hash.js';
import { TextWriter } from './map-format.js';
import type { MemorySymbolMap } from './symbol-map.js';

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

export function formatBinaryMap(map: MemorySymbolMap): Buffer {
  const objects = map.orderedObjects;
  const columns = objects.map((o) => o.columns);
  let symbols = 0;
  let exports = 0;
  let files = 0;
  let nameBytes = 0;
  objects.forEach((o, r) => {
    symbols += o.length;
    exports += o.exports.size;
    files += o.files.length;
    nameBytes += columns[r].names.length;
  });
  // Symbol names first, back to back (copied from the objects' columns), then everything else.
  const strings = new TextWriter();
  /** Append a string's offset and length to `fields`, and its bytes to the string table. */
  const str = (fields: number[], v: string): void => {
    fields.push(nameBytes + strings.length, v.length);
    strings.text(v);
  };
  /** The same, for strings many records share (export types): written once. */
  const shared = new Map<string, number>();
  const sharedStr = (fields: number[], v: string): void => {
    let at = shared.get(v);
    if (at === undefined) {
      at = nameBytes + strings.length;
      shared.set(v, at);
      strings.text(v);
    }
    fields.push(at, v.length);
  };
  const objectFields: number[] = [];
  const fileFields: number[] = [];
  const expFields: number[] = [];
  const expNames: string[] = [];
  let firstSym = 0;
  let firstFile = 0;
  let firstExp = 0;
  objects.forEach((o, id) => {
    str(objectFields, o.name);
    objectFields.push(firstSym, o.length, firstFile, o.files.length, firstExp, o.exports.size);
    for (const f of o.files) str(fileFields, f);
    for (const [name, type] of o.exports) {
      str(expFields, name);
      sharedStr(expFields, type);
      expFields.push(id);
      expNames.push(name);
    }
    firstSym += o.length;
    firstFile += o.files.length;
    firstExp += o.exports.size;
  });
  const metaFields: number[] = [];
  for (const [k, v] of map.meta) {
    str(metaFields, k);
    str(metaFields, v);
  }
  const otherStrings = strings.finish();

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
    strings: nameBytes + otherStrings.length,
  };
  const l = layout(c);
  if (l.end > 0xffffffff) throw new KernelDataError(`the symbol map is too large for the binary format (${l.end} bytes)`);
  const out = Buffer.alloc(l.end);
  const u32 = (at: number, n: number) => new Uint32Array(out.buffer, out.byteOffset + at, n);
  const i32 = (at: number, n: number) => new Int32Array(out.buffer, out.byteOffset + at, n);
  u32(l.objects, objectFields.length).set(objectFields);
  u32(l.files, fileFields.length).set(fileFields);
  u32(l.meta, metaFields.length).set(metaFields);
  const symName = u32(l.symName, symbols + 1);
  const next = i32(l.symNext, symbols);
  const file = i32(l.symFile, symbols);
  const size = new Float64Array(out.buffer, out.byteOffset + l.symSize, symbols);
  const heads = i32(l.symHeads, c.symBuckets).fill(-1);
  let s = 0;
  let nameAt = 0;
  for (const col of columns) {
    out.set(col.names, l.strings + nameAt);
    for (let i = 0; i < col.types.length; i++) symName[s + i] = nameAt + col.nameStarts[i];
    file.set(col.files, s);
    size.set(col.sizes, s);
    out.set(col.types, l.symType + s);
    // A listed symbol's column value is LISTED, the flag itself.
    out.set(col.listed, l.symFlags + s);
    s += col.types.length;
    nameAt += col.names.length;
  }
  symName[s] = nameAt;
  // Chains built back to front, each symbol put before the later ones of its bucket: one random
  // access per symbol instead of a head and a tail (the tables are megabytes, the accesses misses).
  const mask = c.symBuckets - 1;
  s = symbols;
  for (let r = objects.length - 1; r >= 0; r--) {
    const hashes = columns[r].hashes;
    for (let i = hashes.length - 1; i >= 0; i--) {
      const b = hashes[i] & mask;
      next[--s] = heads[b];
      heads[b] = s;
    }
  }
  u32(l.expFields, expFields.length).set(expFields);
  const expNext = i32(l.expNext, exports);
  const expHeads = i32(l.expHeads, c.expBuckets).fill(-1);
  const expTails = new Int32Array(c.expBuckets);
  expNames.forEach((name, e) => {
    expNext[e] = -1;
    const b = hashString(name) & (c.expBuckets - 1);
    if (expHeads[b] < 0) expHeads[b] = e;
    else expNext[expTails[b]] = e;
    expTails[b] = e;
  });
  out.set(otherStrings, l.strings + nameBytes);
  out.write(MAGIC, 0, 'latin1');
  u32(8, 12).set([BINARY_VERSION, l.end, 0, c.objects, c.symbols, c.exports, c.files, c.meta, c.symBuckets, c.expBuckets, c.strings, 0]);
  out.writeUInt32LE(crc32(out.subarray(20)), 16);
  return out;
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
