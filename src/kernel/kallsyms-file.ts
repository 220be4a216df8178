import { KernelDataError } from './errors.js';
import { type KallsymsRules, compareSameAddress } from './kallsyms-rules.js';
import { type MemorySymbolMap, VMLINUX } from './symbol-map.js';

/**
 * Add a `/proc/kallsyms` dump: `ADDR TYPE NAME` for vmlinux, `ADDR TYPE NAME\t[MODULE]` for modules.
 * Its order is the kernel's own order, so positions are read straight off it; addresses may be
 * zero (dumped without root) without harm. Pseudo-modules (`[bpf]`, `[__builtin__ftrace]`, ...) are
 * not objects a livepatch can target and are left out.
 */
export function addKallsyms(map: MemorySymbolMap, text: string, source: string): void {
  let added = 0;
  let lineNo = 0;
  let start = 0;
  const vmlinux = map.objectFor(VMLINUX);
  if (vmlinux.length > 0) throw new KernelDataError(`${source}: vmlinux symbols were already given by another source`);
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') continue;
    const sp1 = line.indexOf(' ');
    const sp2 = line.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 !== sp1 + 2 || !/^[0-9a-fA-F]+$/.test(line.slice(0, sp1))) {
      throw new KernelDataError(`${source}:${lineNo}: not a kallsyms line (expected 'ADDRESS TYPE NAME [MODULE]'): ${line.slice(0, 80)}`);
    }
    const type = line[sp1 + 1];
    const tab = line.indexOf('\t', sp2 + 1);
    const name = tab < 0 ? line.slice(sp2 + 1) : line.slice(sp2 + 1, tab);
    // The kernel prints no empty name; a symbol with none could never be asked for.
    if (name === '') throw new KernelDataError(`${source}:${lineNo}: empty symbol name: ${line.slice(0, 80)}`);
    if (tab < 0) {
      vmlinux.add(name, type, -1, true);
      added++;
      continue;
    }
    const mod = line.slice(tab + 1);
    if (!mod.startsWith('[') || !mod.endsWith(']'))
      throw new KernelDataError(`${source}:${lineNo}: module field must be [NAME]: ${line.slice(0, 80)}`);
    const modName = mod.slice(1, -1);
    if (modName === 'bpf' || modName.startsWith('__builtin__')) continue;
    // Livepatch modules keep undefined and livepatch symbols in their table; they are no definitions.
    if (type === 'U' || name.startsWith('.klp.sym.')) continue;
    map.objectFor(modName).add(name, type, -1, true);
    added++;
  }
  if (added === 0) throw new KernelDataError(`${source}: no symbols (empty kallsyms dump)`);
}

/**
 * Add a System.map (vmlinux only): `nm -n` output filtered by scripts/mksysmap, the input
 * scripts/kallsyms sorts again with its same-address rules (compareSameAddress: a weak
 * `crc32_le` after `crc32_le_base`, `__per_cpu_start` after `fixed_percpu_data`), so the listed
 * symbols are put in that order; symbols kallsyms would drop (by the rules of the kernel's version)
 * follow, kept but not counted.
 */
export function addSystemMap(map: MemorySymbolMap, text: string, source: string, rules: KallsymsRules): number {
  const vmlinux = map.objectFor(VMLINUX);
  if (vmlinux.length > 0) throw new KernelDataError(`${source}: vmlinux symbols were already given by another source`);
  if (text.length < 4096 && text.includes('The real System.map is in')) {
    throw new KernelDataError(
      `${source}: not a real System.map but a placeholder; the real one is in the -dbg package (or use a kallsyms dump)`,
    );
  }
  const lines = text.split('\n');
  // The rules read names as bytes: each name is written here first (latin1, as the text was read).
  let name = new Uint8Array(256);
  const listed: string[][] = [];
  const unlisted: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line === '') continue;
    const f = line.split(' ');
    if (f.length !== 3 || f[1].length !== 1 || !/^[0-9a-fA-F]+$/.test(f[0])) {
      throw new KernelDataError(`${source}:${i + 1}: not a System.map line (expected 'ADDRESS TYPE NAME'): ${line.slice(0, 80)}`);
    }
    if (f[2] === '') throw new KernelDataError(`${source}:${i + 1}: empty symbol name: ${line.slice(0, 80)}`);
    if (f[2].length > name.length) name = new Uint8Array(f[2].length);
    for (let k = 0; k < f[2].length; k++) name[k] = f[2].charCodeAt(k);
    if (!rules.listed(name, 0, f[2].length, f[1].charCodeAt(0))) {
      unlisted.push(f);
      continue;
    }
    // Hex addresses compared as numbers without parsing them: no leading zeros, one case.
    f[0] = f[0].replace(/^0+(?=.)/, '').toLowerCase();
    listed.push(f);
  }
  // A stable sort: what compareSameAddress leaves tied keeps its nm -n order.
  listed.sort(
    (a, b) => a[0].length - b[0].length || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) || compareSameAddress(a[2], a[1], b[2], b[1]),
  );
  for (const f of listed) vmlinux.add(f[2], f[1], -1, true);
  for (const f of unlisted) vmlinux.add(f[2], f[1], -1, false);
  const n = listed.length + unlisted.length;
  if (n === 0) throw new KernelDataError(`${source}: no symbols (empty System.map)`);
  return n;
}
