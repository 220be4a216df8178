import type { KernelSymbolMap, ObjectQueries, SymbolEntry } from '../kernel/symbol-map.js';

/** Why the kernel would not bind a livepatch symbol, as `verify` names the rule. */
export type LookupRule = 'object' | 'symbol-missing' | 'sympos';

export type Lookup =
  | { ok: true; object: ObjectQueries /** The chosen symbol, for object.entry(). */; index: number }
  | { ok: false; rule: LookupRule; message: string; definitions: SymbolEntry[] };

/**
 * `klp_find_object_symbol()` of kernel/livepatch/core.c (Linux 5.x to 7.x) over the map: counts
 * the listed symbols named `name` in `object`; position 0 takes the name only when it is unique,
 * position n only when there are at least n (the kernel stops counting at the n-th). An object
 * the map lacks is one the target kernel does not have. `message` is the kernel's pr_err text.
 * Entries are made only for the candidates of a failure: verify asks this of every symbol.
 */
export function findObjectSymbol(map: KernelSymbolMap, object: string, name: string, position: number): Lookup {
  const o = map.object(object);
  if (!o) return { ok: false, rule: 'object', message: `object '${object}' does not exist in the target kernel`, definitions: [] };
  const listed = o.indicesOf(name).filter((i) => o.position(i) > 0);
  const count = listed.length;
  const fail = (rule: LookupRule, message: string): Lookup => ({ ok: false, rule, message, definitions: listed.map((i) => o.entry(i)) });
  if (count === 0) return fail('symbol-missing', `symbol '${name}' not found in symbol table (object ${object})`);
  if (position === 0 && count > 1) {
    return fail(
      'sympos',
      `unresolvable ambiguity for symbol '${name}' in object '${object}' (${count} definitions; give a position 1..${count})`,
    );
  }
  if (position > count) {
    return fail(
      'sympos',
      `symbol position ${position} for symbol '${name}' in object '${object}' not found (${count} definition${count > 1 ? 's' : ''})`,
    );
  }
  return { ok: true, object: o, index: listed[Math.max(0, position - 1)] };
}
