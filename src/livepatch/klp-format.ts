/**
 * The livepatch module ELF format (Documentation/livepatch/module-elf-format.rst) and the exact
 * way Linux parses its names (kernel/livepatch/core.c, Linux 6.1).
 */

export const SHF_RELA_LIVEPATCH = 0x00100000;
export const SHN_LIVEPATCH = 0xff20;
export const KLP_RELA_PREFIX = '.klp.rela.';
export const KLP_SYM_PREFIX = '.klp.sym.';
/** Annotation sections of the upstream series (KLP_MODULE_RELOC) and of ours (KLP_FILE_RELOC). */
export const MODULE_RELOCS_PREFIX = '.klp.module_relocs.';
export const FILE_RELOCS_PREFIX = '.klp.file_relocs.';
export const MODULE_RELOC_SIZE = 12;
export const FILE_RELOC_SIZE = 128;

/** MODULE_NAME_LEN - 1 on 64-bit, the `%55[^.]` of every parser. */
export const MAX_OBJECT_NAME = 55;
/** KSYM_NAME_LEN - 1 since Linux 6.1 (`%511[^,]`); 127 before. */
export const MAX_SYMBOL_NAME = 511;

export interface KlpSymbolName {
  object: string;
  symbol: string;
  position: number;
}

export function klpSymbolName(object: string, symbol: string, position: number): string {
  return `${KLP_SYM_PREFIX}${object}.${symbol},${position}`;
}

/** `.klp.rela.<object>.<section>`: the kernel reads only the object; the rest is for people. */
export function klpRelaSectionName(object: string, section: string): string {
  return `${KLP_RELA_PREFIX}${object}.${section}`;
}

/** Why an object or symbol name cannot be written in the livepatch format, or undefined. */
export function objectNameProblem(object: string): string | undefined {
  if (object.length === 0) return 'the object name is empty';
  if (object.includes('.')) return `the object name '${object}' contains '.', which ends it for the kernel's parser`;
  if (object.length > MAX_OBJECT_NAME)
    return `the object name '${object}' is ${object.length} characters; the kernel reads at most ${MAX_OBJECT_NAME} (MODULE_NAME_LEN)`;
  return undefined;
}

export function symbolNameProblem(symbol: string, maxSymbol = MAX_SYMBOL_NAME): string | undefined {
  if (symbol.length === 0) return 'the symbol name is empty';
  if (symbol.includes(',')) return `the symbol name '${symbol}' contains ',', which ends it for the kernel's parser`;
  if (symbol.length > maxSymbol)
    return `the symbol name '${symbol.slice(0, 40)}...' is ${symbol.length} characters; the kernel reads at most ${maxSymbol} (KSYM_NAME_LEN)`;
  return undefined;
}

/**
 * Parse a livepatch symbol name as `klp_resolve_symbols()` does:
 * `sscanf(name, ".klp.sym.%55[^.].%511[^,],%lu", ...) == 3`. Kernel sscanf `%[` needs at least one
 * character, `%lu` skips blanks and needs a digit (no sign), and anything after the number is
 * ignored. Returns undefined where the kernel would say "has an incorrectly formatted name".
 */
export function parseKlpSymbolName(name: string, maxSymbol = MAX_SYMBOL_NAME): KlpSymbolName | undefined {
  if (!name.startsWith(KLP_SYM_PREFIX)) return undefined;
  let i = KLP_SYM_PREFIX.length;
  const objEnd = scanSet(name, i, MAX_OBJECT_NAME, '.');
  if (objEnd === i || name[objEnd] !== '.') return undefined;
  const object = name.slice(i, objEnd);
  i = objEnd + 1;
  const symEnd = scanSet(name, i, maxSymbol, ',');
  if (symEnd === i || name[symEnd] !== ',') return undefined;
  const symbol = name.slice(i, symEnd);
  i = symEnd + 1;
  while (i < name.length && /\s/.test(name[i])) i++;
  const digits = /^[0-9]+/.exec(name.slice(i));
  if (!digits) return undefined;
  return { object, symbol, position: Number(digits[0]) };
}

/** Prefix of the upstream "minimal" series' annotated symbols (KLP_RELOC_SYMBOL / _POS). */
export const MINIMAL_PREFIX = '.klp.sym.rela.';

export interface MinimalSymbolName extends KlpSymbolName {
  /** The object whose loading applies the relocation (LP_OBJ_NAME): names the .klp.rela section. */
  patchedObject: string;
}

/**
 * `.klp.sym.rela.<patched>.<object>.<symbol>,<position>` (minimal v2) or `....<symbol>.<position>`
 * (v3, because old binutils choke on ','). The position is split off at the last separator, so
 * symbols with dots keep them (v3's own parser took `foo.123.0` for `foo`, position 123).
 */
export function parseMinimalSymbolName(name: string): MinimalSymbolName | undefined {
  if (!name.startsWith(MINIMAL_PREFIX)) return undefined;
  const m = /^([^.]{1,55})\.([^.]{1,55})\.(.+)[,.]([0-9]+)$/.exec(name.slice(MINIMAL_PREFIX.length));
  if (!m || m[3].includes(',')) return undefined;
  return { patchedObject: m[1], object: m[2], symbol: m[3], position: Number(m[4]) };
}

/** `sscanf(name, ".klp.rela.%55[^.]", objname) == 1`: the object a livepatch relocation section is for. */
export function parseKlpRelaSectionName(name: string): string | undefined {
  if (!name.startsWith(KLP_RELA_PREFIX)) return undefined;
  const start = KLP_RELA_PREFIX.length;
  const end = scanSet(name, start, MAX_OBJECT_NAME, '.');
  return end === start ? undefined : name.slice(start, end);
}

/** End of a `%N[^stop]` conversion starting at `from`. */
function scanSet(s: string, from: number, width: number, stop: string): number {
  let i = from;
  while (i < s.length && i - from < width && s[i] !== stop) i++;
  return i;
}
