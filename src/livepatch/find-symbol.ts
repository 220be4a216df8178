import type { KernelSymbolMap, SymbolEntry } from '../kernel/symbol-map.js';

/** Why the kernel would not bind a livepatch symbol, as `verify` names the rule. */
export type LookupRule = 'object' | 'symbol-missing' | 'sympos';

export type Lookup =
  | { ok: true; entry: SymbolEntry; definitions: SymbolEntry[] }
  | { ok: false; rule: LookupRule; message: string; definitions: SymbolEntry[] };

/**
 * `klp_find_object_symbol()` of kernel/livepatch/core.c (Linux 5.x to 7.x) over the map: counts
 * the listed symbols named `name` in `object`; position 0 takes the name only when it is unique,
 * position n only when there are at least n (the kernel stops counting at the n-th). An object
 * the map lacks is one the target kernel does not have. `message` is the kernel's pr_err text.
 */
export function findObjectSymbol(map: KernelSymbolMap, object: string, name: string, position: number): Lookup {
  const o = map.object(object);
  if (!o) return { ok: false, rule: 'object', message: `object '${object}' does not exist in the target kernel`, definitions: [] };
  const definitions = o.indicesOf(name).map((i) => o.entry(i)).filter((e) => e.position > 0);
  const count = definitions.length;
  if (count === 0) return { ok: false, rule: 'symbol-missing', message: `symbol '${name}' not found in symbol table (object ${object})`, definitions };
  if (position === 0 && count > 1) {
    return { ok: false, rule: 'sympos', message: `unresolvable ambiguity for symbol '${name}' in object '${object}' (${count} definitions; give a position 1..${count})`, definitions };
  }
  if (position > count) {
    return { ok: false, rule: 'sympos', message: `symbol position ${position} for symbol '${name}' in object '${object}' not found (${count} definition${count > 1 ? 's' : ''})`, definitions };
  }
  return { ok: true, entry: definitions[Math.max(0, position - 1)], definitions };
}
