import { KernelDataError } from './errors.js';
import { IndexedSymbolMap, bucketCount } from './map-index.js';
import { hashString } from './name-hash.js';
import type { MemorySymbolMap } from './symbol-map.js';

/**
 * Our map format (documented in README "Symbol map format"): a versioned header, then per object a
 * `*NAME` line, its source-file table (`@ID<TAB>PATH`) and one line per symbol:
 * `NAME<TAB>POSITION<TAB>TYPE<TAB>SIZE<TAB>EXPORT<TAB>FILE-ID`, with `-` for "none".
 */
export const MAP_HEADER = 'klp-convert-symbols';
export const MAP_VERSION = 1;
/** What the kernel's klp-convert patch series reads (scripts/livepatch/klp-convert.c, v3 to v7). */
export const UPSTREAM_HEADER = 'klp-convert-symbol-data.0.1';

const TAB = 9;
const NL = 10;
const DASH = 45;

export type TextMapFormat = 'klp-convert' | 'upstream';

/**
 * Names are data: any byte but NUL can be in an ELF or kallsyms name. Our format escapes what would
 * change the line structure: `\\`, tab, line feed and carriage return as `\\`, `\t`, `\n`, `\r`, and a
 * leading `*`, `#`, `@` or `!` (which would start another kind of line) with a `\\` before it. An
 * empty name is an empty field. Names without these characters are written as they are, so maps of
 * ordinary kernels are unchanged and still version 1.
 */
function needsEscape(s: string, lineStart: boolean): boolean {
  if (lineStart && s.length > 0) {
    const c = s.charCodeAt(0);
    if (c === 0x2a || c === 0x23 || c === 0x40 || c === 0x21) return true;
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c || c === TAB || c === NL || c === 0x0d) return true;
  }
  return false;
}

/** needsEscape for a name at the start of a line, on its bytes [start, end). */
function nameNeedsEscape(b: Uint8Array, start: number, end: number): boolean {
  if (end > start) {
    const c = b[start];
    if (c === 0x2a || c === 0x23 || c === 0x40 || c === 0x21) return true;
  }
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 0x5c || c === TAB || c === NL || c === 0x0d) return true;
  }
  return false;
}

export function escapeField(s: string, lineStart: boolean): string {
  if (!needsEscape(s, lineStart)) return s;
  let out = lineStart && '*#@!'.includes(s[0]) ? '\\' : '';
  for (const ch of s) out += ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : ch === '\r' ? '\\r' : ch;
  return out;
}

/** The inverse of escapeField; undefined for a dangling `\\`. */
export function unescapeField(s: string): string | undefined {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') {
      out += s[i];
      continue;
    }
    const c = s[++i];
    if (c === undefined) return undefined;
    out += c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c;
  }
  return out;
}

/**
 * Text appended straight into a growing byte buffer: formatting a million lines through strings
 * spends seconds in garbage collection.
 */
class TextWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private len = 0;

  text(s: string): this {
    if (this.len + s.length > this.buf.length) this.grow(s.length);
    if (s.length > 48) {
      this.len += this.buf.write(s, this.len, 'latin1');
      return this;
    }
    // A call into Buffer.write costs more than copying a short name byte by byte.
    const buf = this.buf;
    let o = this.len;
    for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i);
    this.len = o;
    return this;
  }
  /** Bytes [start, end) of `src`, copied as they are. */
  bytes(src: Uint8Array, start: number, end: number): this {
    if (this.len + end - start > this.buf.length) this.grow(end - start);
    const buf = this.buf;
    let o = this.len;
    for (let i = start; i < end; i++) buf[o++] = src[i];
    this.len = o;
    return this;
  }
  byte(c: number): this {
    if (this.len + 1 > this.buf.length) this.grow(1);
    this.buf[this.len++] = c;
    return this;
  }
  int(n: number): this {
    if (n < 10 && n >= 0) return this.byte(48 + n);
    return this.text(String(n));
  }
  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + need));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  get length(): number {
    return this.len;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

export function formatMap(map: MemorySymbolMap, format: TextMapFormat): Buffer {
  const w = new TextWriter();
  if (format === 'upstream') {
    w.text(UPSTREAM_HEADER).byte(NL);
    for (const o of map.orderedObjects) {
      if (o.name.includes('\n')) cannotCarry(o.name, 'object name');
      w.byte(42).text(o.name).byte(NL);
      // Names are copied from the object's bytes: no string is made per symbol.
      const { names, nameStarts } = o.columns;
      for (let i = 0; i < o.length; i++) {
        if (!o.isListed(i)) continue;
        const start = nameStarts[i];
        const end = nameStarts[i + 1];
        let carried = start < end && names[start] !== 42;
        for (let k = start; k < end && carried; k++) carried = names[k] !== NL;
        if (!carried) cannotCarry(o.symbolName(i), `symbol name in ${o.name}`);
        w.bytes(names, start, end).byte(NL);
      }
    }
    return w.finish();
  }
  w.text(`${MAP_HEADER} ${MAP_VERSION}\n`);
  for (const [k, v] of map.meta) w.text(`# ${k}: ${escapeField(v, false)}\n`);
  for (const o of map.orderedObjects) {
    w.byte(42).text(escapeField(o.name, false)).byte(NL);
    o.files.forEach((f, id) => {
      w.text(`@${id}\t${escapeField(f, false)}\n`);
    });
    const { names, nameStarts } = o.columns;
    for (let i = 0; i < o.length; i++) {
      // Names are copied from the object's bytes; a string is made only to escape one or look
      // up its export.
      const start = nameStarts[i];
      const end = nameStarts[i + 1];
      let name: string | undefined;
      if (nameNeedsEscape(names, start, end)) {
        name = o.symbolName(i);
        w.text(escapeField(name, true));
      } else w.bytes(names, start, end);
      w.byte(TAB);
      if (o.isListed(i)) w.int(o.position(i));
      else w.byte(DASH);
      w.byte(TAB)
        .text(escapeField(o.type(i), false))
        .byte(TAB);
      const size = o.size(i);
      if (size < 0) w.byte(DASH);
      else w.int(size);
      w.byte(TAB);
      const exp = o.exports.size === 0 ? undefined : o.exports.get(name ?? o.symbolName(i));
      if (exp === undefined) w.byte(DASH);
      else w.text(escapeField(exp, false));
      w.byte(TAB);
      const file = o.fileOf(i);
      if (file < 0) w.byte(DASH);
      else w.int(file);
      w.byte(NL);
    }
    // Exports the map has no symbol for (Module.symvers names them) are kept as their own lines.
    for (const [name, type] of o.exports) if (!o.has(name)) w.text(`!${escapeField(name, true)}\t${escapeField(type, false)}\n`);
  }
  return w.finish();
}

/** The upstream format cannot escape: a name it would read back as something else is refused. */
function cannotCarry(name: string, what: string): never {
  throw new KernelDataError(
    `the upstream map format cannot carry the ${what} ${JSON.stringify(name)} (a line break, a leading '*' or an empty name); write --format klp-convert or binary`,
  );
}

const latin1 = (b: Uint8Array, start: number, end: number): string =>
  Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');

/**
 * Read a text map in either format (told apart by the first line), checking every line: what tests
 * and tools that want the whole map checked use. loadMap() reads the same text lazily.
 */
export function parseMap(text: string | Uint8Array, source: string): TextSymbolMap {
  const map = TextSymbolMap.read(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, source);
  map.checkAll();
  return map;
}

/**
 * A text map queried in place. One pass over the bytes finds the objects, metadata and file
 * tables, checks the line structure, and chains each symbol line to the previous line whose name
 * has the same hash; the fields of a line are read, and checked, when a query reaches it.
 */
export class TextSymbolMap extends IndexedSymbolMap {
  private readonly upstream: boolean;
  /** Per record: where its line starts, and its object. */
  private starts: Int32Array;
  private objectOfRecord: Int32Array;
  /** Per record: the hash of its name, and the previous record in its hash bucket (-1: none). */
  private hashes: Int32Array;
  private previous: Int32Array;
  /**
   * Each bucket's last record. One bucket per sixteen records (of the size the file allows): the
   * table stays in cache while the scan fills it, where one bucket per record cost a cache miss
   * per line; a query then compares about sixteen hashes.
   */
  private readonly lastOfBucket: Int32Array;
  private count = 0;
  /** Each object's source-file table (our format). */
  private readonly files: string[][] = [];

  private constructor(
    private readonly bytes: Uint8Array,
    source: string,
    upstream: boolean,
  ) {
    super(source);
    this.upstream = upstream;
    // A symbol line is at least 12 bytes in our format ("x\t1\tT\t-\t-\t-\n"), 2 in upstream's.
    const estimate = Math.ceil(bytes.length / (upstream ? 12 : 16)) + 16;
    this.starts = new Int32Array(estimate);
    this.objectOfRecord = new Int32Array(estimate);
    this.hashes = new Int32Array(estimate);
    this.previous = new Int32Array(estimate);
    this.lastOfBucket = new Int32Array(bucketCount(estimate >> 4)).fill(-1);
  }

  static read(bytes: Uint8Array, source: string): TextSymbolMap {
    if (bytes.length === 0) throw new KernelDataError(`${source}: empty file, not a symbol map`);
    let firstEnd = bytes.indexOf(NL);
    if (firstEnd < 0) firstEnd = bytes.length;
    const first = latin1(bytes, 0, firstEnd).replace(/\r$/, '');
    if (first.startsWith(UPSTREAM_HEADER)) {
      const map = new TextSymbolMap(bytes, source, true);
      map.scan(firstEnd + 1);
      return map;
    }
    const m = /^klp-convert-symbols (\d+)$/.exec(first);
    if (!m) {
      throw new KernelDataError(
        `${source}: unknown symbol map format (first line '${first.slice(0, 60)}'; expected '${MAP_HEADER} ${MAP_VERSION}', '${UPSTREAM_HEADER}' or a binary map)`,
      );
    }
    if (Number(m[1]) !== MAP_VERSION) {
      throw new KernelDataError(
        `${source}: symbol map version ${m[1]} is not supported (this klp-convert reads version ${MAP_VERSION}); rebuild it with 'klp-convert symbols'`,
      );
    }
    const map = new TextSymbolMap(bytes, source, false);
    map.scan(firstEnd + 1);
    return map;
  }

  private bad(offset: number, why: string): never {
    let line = 1;
    for (let i = 0; i < offset && i < this.bytes.length; i++) if (this.bytes[i] === NL) line++;
    throw new KernelDataError(`${this.source}:${line}: corrupt symbol map: ${why}`);
  }

  /**
   * The one pass: every symbol line (and export line), its object and the hash of its name. Kept to local
   * variables and bytes, as it runs once per line of a million-line file; the rare object, metadata
   * and file lines go to line().
   */
  private scan(start: number): void {
    const b = this.bytes;
    const n = b.length;
    if (start < n && b[n - 1] !== NL) this.bad(n - 1, 'the last line has no line break: the file is truncated');
    const upstream = this.upstream;
    const keyEnd = upstream ? NL : TAB;
    let starts = this.starts;
    let objects = this.objectOfRecord;
    let hashes = this.hashes;
    let previous = this.previous;
    const last = this.lastOfBucket;
    const mask = last.length - 1;
    let count = 0;
    let object = -1;
    let i = start;
    while (i < n) {
      const lineStart = i;
      let c = b[i];
      if (c === 0x2a /* * */ || (!upstream && (c === 0x23 /* # */ || c === 0x40 /* @ */ || c === NL))) {
        const end = b.indexOf(NL, i);
        if (c !== NL) object = this.line(lineStart, end, object);
        i = end + 1;
        continue;
      }
      if (object < 0) this.bad(lineStart, 'symbol line before the first *OBJECT line');
      if (c === 0x21 /* ! */ && !upstream) c = b[++i];
      // Start as an int32 (the constant alone is a double), so the loop stays in integer registers.
      let h = 0x811c9dc5 | 0;
      // The file ends with a line feed, so these loops stop inside it.
      while (c !== keyEnd && c !== NL) {
        h = Math.imul(h ^ c, 0x01000193);
        c = b[++i];
      }
      if (c !== keyEnd) this.bad(lineStart, b[lineStart] === 0x21 ? 'export line needs NAME<TAB>TYPE' : 'expected 6 tab-separated fields');
      while (c !== NL) c = b[++i];
      i++;
      if (count === starts.length) {
        const more = (a: Int32Array) => {
          const bigger = new Int32Array(a.length * 2);
          bigger.set(a);
          return bigger;
        };
        starts = more(starts);
        objects = more(objects);
        hashes = more(hashes);
        previous = more(previous);
      }
      starts[count] = lineStart;
      objects[count] = object;
      hashes[count] = h;
      previous[count] = last[h & mask];
      last[h & mask] = count;
      count++;
    }
    this.starts = starts;
    this.objectOfRecord = objects;
    this.hashes = hashes;
    this.previous = previous;
    this.count = count;
  }

  /** An object, metadata or file-table line; returns the current object. */
  private line(start: number, end: number, object: number): number {
    const b = this.bytes;
    const c = b[start];
    if (c === 0x2a /* * */) {
      const name = this.upstream ? latin1(b, start + 1, end) : this.unescape(latin1(b, start + 1, end), start);
      // The upstream format may list an object twice; its symbols then continue the first list.
      if (!this.upstream && (name === '' || this.hasObject(name)))
        this.bad(start, name === '' ? 'empty object name' : `object ${name} appears twice`);
      const id = this.objectId(name);
      this.files[id] ??= [];
      return id;
    }
    const line = latin1(b, start, end);
    if (c === 0x23 /* # */) {
      const colon = line.indexOf(': ');
      if (colon > 2) this.meta.set(line.slice(2, colon), this.unescape(line.slice(colon + 2), start));
      return object;
    }
    if (object < 0) this.bad(start, 'symbol line before the first *OBJECT line');
    const tab = line.indexOf('\t');
    const files = this.files[object];
    if (tab < 0 || Number(line.slice(1, tab)) !== files.length) this.bad(start, 'file table entries must be numbered 0, 1, 2, ...');
    files.push(this.unescape(line.slice(tab + 1), start));
    return object;
  }

  private unescape(s: string, at: number): string {
    const u = unescapeField(s);
    if (u === undefined) this.bad(at, `a '\\' ends the field '${s.slice(0, 60)}'`);
    return u;
  }

  /** Every record whose name is `name` (export lines included), in file order. */
  private records(name: string): number[] {
    const key = this.upstream ? name : escapeField(name, true);
    const out: number[] = [];
    const h = hashString(key) | 0;
    const hashes = this.hashes;
    const previous = this.previous;
    for (let r = this.lastOfBucket[h & (this.lastOfBucket.length - 1)]; r >= 0; r = previous[r])
      if (hashes[r] === h && this.named(r, key)) out.push(r);
    return out.reverse();
  }

  /** Whether record r's name field is `key` (escaped as written). */
  private named(r: number, key: string): boolean {
    const b = this.bytes;
    let s = this.starts[r];
    if (!this.upstream && b[s] === 0x21) s++;
    if (s + key.length >= b.length || b[s + key.length] !== (this.upstream ? NL : TAB)) return false;
    for (let i = 0; i < key.length; i++) if (b[s + i] !== key.charCodeAt(i)) return false;
    return true;
  }

  /** The six fields of a symbol line of our format, checked. */
  private fields(r: number): { name: string; position: number; type: string; size: number; exportType: string; file: string } {
    const start = this.starts[r];
    const line = latin1(this.bytes, start, this.bytes.indexOf(NL, start));
    const f = line.split('\t');
    if (f.length !== 6) this.bad(start, 'expected 6 tab-separated fields');
    const [nameField, pos, type, size, exp, file] = f;
    const position = pos === '-' ? 0 : Number(pos);
    if (!/^(-|[1-9][0-9]*)$/.test(pos) || !Number.isSafeInteger(position)) this.bad(start, `bad position '${pos}'`);
    const typeU = this.unescape(type, start);
    if (typeU.length !== 1) this.bad(start, `bad type '${type}'`);
    const sizeN = size === '-' ? -1 : Number(size);
    if (!/^(-|[0-9]+)$/.test(size) || !Number.isSafeInteger(sizeN)) this.bad(start, `bad size '${size}'`);
    const files = this.files[this.objectOfRecord[r]];
    const fileId = file === '-' ? -1 : Number(file);
    if (!/^(-|[0-9]+)$/.test(file) || fileId >= files.length) this.bad(start, `file id ${file} is not in the object's file table`);
    const name = this.unescape(nameField.charCodeAt(0) === 0x5c && '*#@!'.includes(nameField[1]) ? nameField.slice(1) : nameField, start);
    return {
      name,
      position,
      type: typeU,
      size: sizeN,
      exportType: exp === '-' ? '' : this.unescape(exp, start),
      file: fileId < 0 ? '' : files[fileId],
    };
  }

  private isExportLine(r: number): boolean {
    return !this.upstream && this.bytes[this.starts[r]] === 0x21;
  }

  /** An export line of our format: `!NAME<TAB>TYPE`. */
  private exportLine(r: number): { name: string; exportType: string } {
    const start = this.starts[r];
    const line = latin1(this.bytes, start + 1, this.bytes.indexOf(NL, start));
    const tab = line.indexOf('\t');
    const nameField = line.slice(0, tab);
    return {
      name: this.unescape(nameField.charCodeAt(0) === 0x5c && '*#@!'.includes(nameField[1]) ? nameField.slice(1) : nameField, start),
      exportType: this.unescape(line.slice(tab + 1), start),
    };
  }

  protected symbolRecords(name: string): number[] {
    return this.records(name).filter((r) => !this.isExportLine(r));
  }

  protected recordObject(r: number): number {
    return this.objectOfRecord[r];
  }

  protected recordName(r: number): string {
    if (this.upstream) {
      const s = this.starts[r];
      return latin1(this.bytes, s, this.bytes.indexOf(NL, s));
    }
    return this.fields(r).name;
  }

  protected recordListed(r: number): boolean {
    return this.upstream || this.fields(r).position > 0;
  }

  protected recordType(r: number): string {
    return this.upstream ? '?' : this.fields(r).type;
  }

  protected recordSize(r: number): number {
    return this.upstream ? -1 : this.fields(r).size;
  }

  protected recordFile(r: number): string {
    return this.upstream ? '' : this.fields(r).file;
  }

  protected recordClaim(r: number): number | undefined {
    return this.upstream ? undefined : this.fields(r).position;
  }

  protected exportsOf(name: string): [number, string][] {
    // Upstream maps say only that a `__ksymtab_<name>` symbol exists.
    if (this.upstream) return this.records(`__ksymtab_${name}`).map((r) => [this.objectOfRecord[r], 'EXPORT']);
    const out: [number, string][] = [];
    for (const r of this.records(name)) {
      const exportType = this.isExportLine(r) ? this.exportLine(r).exportType : this.fields(r).exportType;
      if (exportType !== '') out.push([this.objectOfRecord[r], exportType]);
    }
    return out;
  }

  /** Read and check every line, and every name's positions: what parseMap() promises. */
  checkAll(): void {
    const seen = new Set<string>();
    for (let r = 0; r < this.count; r++) {
      const name = this.isExportLine(r) ? this.exportLine(r).name : this.recordName(r);
      if (seen.has(name)) continue;
      seen.add(name);
      this.positioned(name, -1);
    }
  }
}
