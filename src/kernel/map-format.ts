import { KernelDataError } from './errors.js';
import { KernelSymbolMap, type ObjectSymbols } from './symbol-map.js';

/**
 * Our map format (documented in README "Symbol map format"): a versioned header, then per object a
 * `*NAME` line, its source-file table (`@ID<TAB>PATH`) and one line per symbol:
 * `NAME<TAB>POSITION<TAB>TYPE<TAB>SIZE<TAB>EXPORT<TAB>FILE-ID`, with `-` for "none".
 */
export const MAP_HEADER = 'klp-convert-symbols';
export const MAP_VERSION = 1;
/** What the kernel's klp-convert patch series reads (scripts/livepatch/klp-convert.c, v3 to v7). */
export const UPSTREAM_HEADER = 'klp-convert-symbol-data.0.1';

export type MapFormat = 'klp-convert' | 'upstream';

function checkName(name: string, object: string): never {
  throw new KernelDataError(`symbol name in ${object} contains a tab or line break: ${JSON.stringify(name)}`);
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
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

const TAB = 9;
const NL = 10;
const DASH = 45;

export function formatMap(map: KernelSymbolMap, format: MapFormat): Buffer {
  const w = new TextWriter();
  if (format === 'upstream') {
    w.text(UPSTREAM_HEADER).byte(NL);
    for (const o of map.orderedObjects) {
      w.byte(42).text(o.name).byte(NL);
      for (let i = 0; i < o.length; i++) if (o.listed[i]) w.text(o.names[i]).byte(NL);
    }
    return w.finish();
  }
  w.text(`${MAP_HEADER} ${MAP_VERSION}\n`);
  for (const [k, v] of map.meta) w.text(`# ${k}: ${v}\n`);
  for (const o of map.orderedObjects) {
    w.byte(42).text(o.name).byte(NL);
    o.files.forEach((f, id) => w.text(`@${id}\t${f}\n`));
    for (let i = 0; i < o.length; i++) {
      const name = o.names[i];
      if (name.includes('\t') || name.includes('\n')) checkName(name, o.name);
      w.text(name).byte(TAB);
      if (o.listed[i]) w.int(o.position(i));
      else w.byte(DASH);
      w.byte(TAB).text(o.types[i]).byte(TAB);
      if (o.sizes[i] < 0) w.byte(DASH);
      else w.int(o.sizes[i]);
      w.byte(TAB);
      const exp = o.exports.get(name);
      if (exp === undefined) w.byte(DASH);
      else w.text(exp);
      w.byte(TAB);
      if (o.fileIndex[i] < 0) w.byte(DASH);
      else w.int(o.fileIndex[i]);
      w.byte(NL);
    }
    // Exports the map has no symbol for (Module.symvers names them) are kept as their own lines.
    for (const [name, type] of o.exports) if (!o.has(name)) w.text(`!${name}\t${type}\n`);
  }
  return w.finish();
}

/** Read a map in either format, telling them apart by the first line. */
export function parseMap(text: string, source: string): KernelSymbolMap {
  const firstEnd = text.indexOf('\n');
  const first = (firstEnd < 0 ? text : text.slice(0, firstEnd)).replace(/\r$/, '');
  if (text.length === 0) throw new KernelDataError(`${source}: empty file, not a symbol map`);
  if (first.startsWith(UPSTREAM_HEADER)) return parseUpstream(text, source);
  const m = /^klp-convert-symbols (\d+)$/.exec(first);
  if (!m) {
    throw new KernelDataError(`${source}: unknown symbol map format (first line '${first.slice(0, 60)}'; expected '${MAP_HEADER} ${MAP_VERSION}' or '${UPSTREAM_HEADER}')`);
  }
  if (Number(m[1]) !== MAP_VERSION) {
    throw new KernelDataError(`${source}: symbol map version ${m[1]} is not supported (this klp-convert reads version ${MAP_VERSION}); rebuild it with 'klp-convert symbols'`);
  }
  return parseOurs(text, source, firstEnd + 1);
}

function parseOurs(text: string, source: string, start: number): KernelSymbolMap {
  const map = new KernelSymbolMap();
  let obj: ObjectSymbols | undefined;
  let lineNo = 1;
  const bad = (why: string): never => {
    throw new KernelDataError(`${source}:${lineNo}: corrupt symbol map: ${why}`);
  };
  const claimed: number[] = [];
  const finish = (): void => {
    if (!obj) return;
    for (let i = 0; i < obj.length; i++) {
      if (claimed[i] !== (obj.listed[i] ? obj.position(i) : 0)) {
        throw new KernelDataError(`${source}: corrupt symbol map: ${obj.name} '${obj.names[i]}' claims position ${claimed[i] || '-'}, but its order gives ${obj.listed[i] ? obj.position(i) : '-'}`);
      }
    }
    claimed.length = 0;
  };
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (line === '') continue;
    const c = line.charCodeAt(0);
    if (c === 0x23 /* # */) {
      const colon = line.indexOf(': ');
      if (colon > 2) map.meta.set(line.slice(2, colon), line.slice(colon + 2));
      continue;
    }
    if (c === 0x2a /* * */) {
      finish();
      const name = line.slice(1);
      if (name === '' || map.objects.has(name)) bad(name === '' ? 'empty object name' : `object ${name} appears twice`);
      obj = map.objectFor(name);
      continue;
    }
    if (!obj) bad('symbol line before the first *OBJECT line');
    const o = obj!;
    if (c === 0x40 /* @ */) {
      const tab = line.indexOf('\t');
      if (tab < 0 || Number(line.slice(1, tab)) !== o.files.length) bad('file table entries must be numbered 0, 1, 2, ...');
      o.fileId(line.slice(tab + 1));
      continue;
    }
    if (c === 0x21 /* ! */) {
      const tab = line.indexOf('\t');
      if (tab < 0) bad('export line needs NAME<TAB>TYPE');
      o.exports.set(line.slice(1, tab), line.slice(tab + 1));
      continue;
    }
    const t1 = line.indexOf('\t');
    const t2 = line.indexOf('\t', t1 + 1);
    const t3 = line.indexOf('\t', t2 + 1);
    const t4 = line.indexOf('\t', t3 + 1);
    const t5 = line.indexOf('\t', t4 + 1);
    if (t1 <= 0 || t2 < 0 || t3 < 0 || t4 < 0 || t5 < 0 || line.indexOf('\t', t5 + 1) >= 0) bad('expected 6 tab-separated fields');
    const name = line.slice(0, t1);
    const pos = line.slice(t1 + 1, t2);
    const type = line.slice(t2 + 1, t3);
    const size = line.slice(t3 + 1, t4);
    const exp = line.slice(t4 + 1, t5);
    const file = line.slice(t5 + 1);
    const position = pos === '-' ? 0 : Number(pos);
    if (!Number.isInteger(position) || position < 0 || (pos !== '-' && position === 0)) bad(`bad position '${pos}'`);
    if (type.length !== 1) bad(`bad type '${type}'`);
    const sizeN = size === '-' ? -1 : Number(size);
    if (!Number.isInteger(sizeN)) bad(`bad size '${size}'`);
    const fileId = file === '-' ? -1 : Number(file);
    if (!Number.isInteger(fileId) || fileId >= o.files.length) bad(`file id ${file} is not in the object's file table`);
    o.add(name, type, sizeN, pos !== '-', fileId < 0 ? '' : o.files[fileId]);
    claimed.push(position);
    if (exp !== '-') o.exports.set(name, exp);
  }
  finish();
  return map;
}

/**
 * The upstream format: `*OBJECT` lines, each followed by its symbol names. It has no types or
 * sizes; positions are taken from the order, as upstream counts them.
 */
function parseUpstream(text: string, source: string): KernelSymbolMap {
  const map = new KernelSymbolMap();
  const lines = text.split('\n');
  let obj: ObjectSymbols | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === '' && i === lines.length - 1) break;
    if (line.startsWith('*')) {
      obj = map.objectFor(line.slice(1));
      continue;
    }
    if (!obj) throw new KernelDataError(`${source}:${i + 1}: symbol line before the first *OBJECT line`);
    if (line.startsWith('__ksymtab_')) obj.exports.set(line.slice('__ksymtab_'.length), 'EXPORT');
    obj.add(line, '?', -1, true);
  }
  return map;
}
