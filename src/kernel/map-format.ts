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

function checkName(name: string, object: string): void {
  if (/[\t\n\r]/.test(name)) throw new KernelDataError(`symbol name in ${object} contains a tab or line break: ${JSON.stringify(name)}`);
}

export function formatMap(map: KernelSymbolMap, format: MapFormat): string {
  const out: string[] = [];
  if (format === 'upstream') {
    out.push(UPSTREAM_HEADER);
    for (const o of map.orderedObjects) {
      out.push(`*${o.name}`);
      for (let i = 0; i < o.length; i++) if (o.listed[i]) out.push(o.names[i]);
    }
    return `${out.join('\n')}\n`;
  }
  out.push(`${MAP_HEADER} ${MAP_VERSION}`);
  for (const [k, v] of map.meta) out.push(`# ${k}: ${v}`);
  for (const o of map.orderedObjects) {
    out.push(`*${o.name}`);
    o.files.forEach((f, id) => out.push(`@${id}\t${f}`));
    for (let i = 0; i < o.length; i++) {
      const name = o.names[i];
      checkName(name, o.name);
      const pos = o.listed[i] ? String(o.position(i)) : '-';
      const size = o.sizes[i] < 0 ? '-' : String(o.sizes[i]);
      const exp = o.exports.get(name) ?? '-';
      const file = o.fileIndex[i] < 0 ? '-' : String(o.fileIndex[i]);
      out.push(`${name}\t${pos}\t${o.types[i]}\t${size}\t${exp}\t${file}`);
    }
    // Exports the map has no symbol for (Module.symvers names them) are kept as their own lines.
    for (const [name, type] of o.exports) if (o.indicesOf(name).length === 0) out.push(`!${name}\t${type}`);
  }
  return `${out.join('\n')}\n`;
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
