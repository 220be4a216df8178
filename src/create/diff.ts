/**
 * Compare the two compilations of one translation unit (original and patched, both with
 * -ffunction-sections -fdata-sections) and decide what the livepatch must carry: changed and new
 * functions, with the reason each is there, and what it cannot carry (refusals). x86_64 only: the
 * relocation arithmetic below assumes its PC-relative types.
 */
import { SHF_EXECINSTR, SHF_MERGE, SHF_STRINGS, SHT_NOBITS, STT_FUNC, STT_OBJECT } from '../elf/constants.js';
import { R_X86_64_PC32, R_X86_64_PC64, R_X86_64_PLT32 } from '../elf/relocation-types.js';
import type { ElfObject, ElfSymbol, Relocation, Section } from '../elf/object.js';

export type Reason = 'edited' | 'inlined-callee-changed' | 'clone-of-edited' | 'cold-part-changed' | 'new';

export interface FunctionChange {
  /** Symbol in the patched object. */
  symbol: ElfSymbol;
  /** Its name in the original object (the running kernel's name), null for a new function. */
  oldName: string | null;
  reason: Reason;
  /** For 'edited'/'clone-of-edited': the edited source function; for inlining: the edited functions that may be inlined into it. */
  via: string[];
  /** `.cold` parts that travel with it. */
  children: ElfSymbol[];
}

export interface Refusal {
  symbol: string;
  reason: string;
}

export interface TuDiff {
  orig: ElfObject;
  patched: ElfObject;
  /** Patched symbol -> original symbol. */
  twin: Map<ElfSymbol, ElfSymbol>;
  functions: FunctionChange[];
  refusals: Refusal[];
}

/**
 * GCC's renumbered suffixes (`.isra.N`, `.constprop.N`, `.part.N`, `.cold.N`, static locals
 * `var.N`): every `.<digits>` run is dropped, as kpatch's kpatch_mangled_strcmp does; clones of one
 * stem are then paired in symbol-table order.
 */
export function correlationKey(name: string): string {
  return name.replace(/\.\d+/g, '');
}

/** The source function a compiler symbol comes from: `foo.isra.0`, `foo.cold`, `foo.part.1` -> foo. */
export function sourceName(name: string): string {
  const dot = name.indexOf('.');
  return dot < 0 ? name : name.slice(0, dot);
}

/**
 * Statics the compiler or a macro creates per use site (WARN_ONCE flags, __func__, lockdep keys,
 * ratelimit state, switch tables, dynamic-debug descriptors): never matched to the running
 * kernel's, always copied into the livepatch (kpatch's is_special_static, klp-build's
 * dont_correlate).
 */
export function isPerSiteStatic(sym: ElfSymbol): boolean {
  const n = correlationKey(sym.name);
  const sec = sym.section?.name ?? '';
  if (
    sec === '.data.once' ||
    sec === '.data..once' ||
    sec.startsWith('__dyndbg') ||
    sec.startsWith('.rodata.str') ||
    sec.includes('.str1.')
  )
    return true;
  return (
    /^(__func__|__FUNCTION__|__PRETTY_FUNCTION__|__warned|__already_done|__print_once|__key|_rs|CSWTCH|__compound_literal|__UNIQUE_ID_|__tpstrtab_|__bpf_trace_tp_map_|descriptor)/.test(
      n,
    ) ||
    n.endsWith('.__key') ||
    /\.(__warned|__already_done|__key|_rs|__func__)$/.test(n)
  );
}

const PC_RELATIVE_X86_64 = new Set([R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_PC64]);

/**
 * Where in a section a relocation points. For PC-relative types GCC's addend is the target minus
 * the distance from the relocated field to the end of the instruction: 4 for the common
 * instructions whose displacement ends them. Instructions with an immediate after the
 * displacement are off by its size; see `containing`.
 */
export function targetOffset(r: Relocation, inCode: boolean): bigint {
  return inCode && PC_RELATIVE_X86_64.has(r.type) ? r.addend + 4n : r.addend;
}

/** Named functions and objects of an object, per section, sorted by address. */
export class SymbolIndex {
  readonly bySection = new Map<Section, ElfSymbol[]>();
  readonly defined: ElfSymbol[] = [];
  constructor(readonly obj: ElfObject) {
    for (const s of obj.symtab?.symbols ?? []) {
      if (!s.section || (s.type !== STT_FUNC && s.type !== STT_OBJECT) || s.name === '') continue;
      this.defined.push(s);
      const list = this.bySection.get(s.section) ?? [];
      list.push(s);
      this.bySection.set(s.section, list);
    }
    for (const list of this.bySection.values()) list.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  }

  /**
   * The named symbol a section-relative reference lands in. A reference whose PC-relative addend
   * also covers an immediate (1, 2 or 4 bytes) lands that many bytes early: a candidate starting
   * exactly there is preferred. Choosing a neighbour in the same input section is still
   * address-correct, since the kernel's linker keeps an input section contiguous.
   */
  containing(section: Section, r: Relocation, inCode: boolean): ElfSymbol | undefined {
    const list = this.bySection.get(section);
    if (!list) return undefined;
    const base = targetOffset(r, inCode);
    if (inCode && PC_RELATIVE_X86_64.has(r.type)) {
      for (const imm of [0n, 1n, 2n, 4n]) {
        const exact = list.find((s) => s.value === base + imm);
        if (exact) return exact;
      }
    }
    let best: ElfSymbol | undefined;
    for (const s of list) {
      if (s.value <= base && base < s.value + (s.size === 0n ? 1n : s.size)) best = s;
    }
    return best;
  }
}

function cString(data: Uint8Array, at: number): string {
  if (at < 0 || at >= data.length) return `@${at}`;
  let end = at;
  while (end < data.length && data[end] !== 0) end++;
  return Buffer.from(data.subarray(at, end)).toString('latin1');
}

/** Relocations applying to `section`, by section, decoded once. */
export function relocationsOf(obj: ElfObject): Map<Section, Relocation[]> {
  const out = new Map<Section, Relocation[]>();
  for (const rs of obj.relocationSections) if (rs.target) out.set(rs.target, rs.relocations);
  return out;
}

interface Side {
  obj: ElfObject;
  index: SymbolIndex;
  relocs: Map<Section, Relocation[]>;
  /** The name a symbol of this side stands for in the original object. */
  canon(sym: ElfSymbol): string;
}

/** A relocation as something comparable across the two compilations: never raw symbol indices. */
function normalise(side: Side, r: Relocation, inCode: boolean): string {
  const s = r.symbol;
  if (!s) return `-:${r.type}:${r.addend}`;
  if (!s.section) return `U:${s.name}:${r.type}:${r.addend}`;
  const sec = s.section;
  if (s.type === STT_FUNC || s.type === STT_OBJECT) {
    if (isPerSiteStatic(s)) return `S:${correlationKey(s.name)}:${r.type}:${r.addend}:${contentOf(s)}`;
    return `N:${side.canon(s)}:${r.type}:${r.addend}`;
  }
  // Section symbol: strings by content, constants by bytes, else the named symbol it lands in.
  const at = Number(targetOffset(r, inCode));
  if (sec.flags & SHF_STRINGS) return `STR:${r.type}:${JSON.stringify(cString(sec.data, at))}`;
  if (sec.flags & SHF_MERGE && sec.entsize > 0) {
    return `CST:${r.type}:${Buffer.from(sec.data.subarray(at, at + sec.entsize)).toString('hex')}`;
  }
  const inner = side.index.containing(sec, r, inCode);
  if (inner && !isPerSiteStatic(inner)) return `N:${side.canon(inner)}:${r.type}:${r.addend - inner.value}`;
  if (inner) return `S:${correlationKey(inner.name)}:${r.type}:${r.addend - inner.value}`;
  return `SEC:${correlationKey(sec.name)}:${r.type}:${r.addend}`;
}

function contentOf(s: ElfSymbol): string {
  const sec = s.section!;
  if (sec.type === SHT_NOBITS) return `bss${s.size}`;
  return Buffer.from(sec.data.subarray(Number(s.value), Number(s.value + s.size))).toString('hex');
}

/** Bytes plus normalised relocations of one symbol's range: equal iff the code/data is the same. */
function fingerprint(side: Side, s: ElfSymbol): string {
  const sec = s.section!;
  const start = s.value;
  const end = s.value + s.size;
  const parts = [`${s.size}`, sec.type === SHT_NOBITS ? '' : Buffer.from(sec.data.subarray(Number(start), Number(end))).toString('hex')];
  for (const r of side.relocs.get(sec) ?? []) {
    if (r.offset < start || r.offset >= end) continue;
    parts.push(`${r.offset - start}:${normalise(side, r, (sec.flags & SHF_EXECINSTR) !== 0)}`);
  }
  return parts.join('|');
}

/** Pair symbols by correlation key, type and binding class, in symbol-table order. */
function correlate(orig: SymbolIndex, patched: SymbolIndex): Map<ElfSymbol, ElfSymbol> {
  const groups = (idx: SymbolIndex) => {
    const m = new Map<string, ElfSymbol[]>();
    for (const s of idx.defined) {
      if (isPerSiteStatic(s)) continue;
      const k = `${s.type}:${correlationKey(s.name)}`;
      const list = m.get(k) ?? [];
      list.push(s);
      m.set(k, list);
    }
    return m;
  };
  const o = groups(orig);
  const twin = new Map<ElfSymbol, ElfSymbol>();
  for (const [k, plist] of groups(patched)) {
    const olist = o.get(k);
    if (!olist) continue;
    // Exact names first (most symbols), then the renumbered rest in order.
    const left = olist.filter((x) => !plist.some((p) => p.name === x.name));
    const pleft: ElfSymbol[] = [];
    for (const p of plist) {
      const exact = olist.find((x) => x.name === p.name);
      if (exact) twin.set(p, exact);
      else pleft.push(p);
    }
    pleft.forEach((p, i) => {
      if (left[i]) twin.set(p, left[i]);
    });
  }
  return twin;
}

const FENTRY_WINDOW = 16n; // endbr64 (4) or nothing, then the 5-byte `call __fentry__`

/** Whether ftrace can hook the function: a `call __fentry__` at its entry (-pg -mfentry; notrace and inline functions have none). */
function hasFentry(side: Side, s: ElfSymbol): boolean {
  return (side.relocs.get(s.section!) ?? []).some(
    (r) => r.symbol?.name === '__fentry__' && r.offset >= s.value && r.offset < s.value + FENTRY_WINDOW,
  );
}

/** Sections the kernel frees after boot or never keeps (include/linux/init.h). */
function isInitSection(name: string): boolean {
  return (
    name.startsWith('.init.') ||
    name.startsWith('.exit.') ||
    name === '.head.text' ||
    name.startsWith('.meminit.') ||
    name.startsWith('.ref.')
  );
}

export function diffUnit(orig: ElfObject, patched: ElfObject, edited: Set<string>): TuDiff {
  const oi = new SymbolIndex(orig);
  const pi = new SymbolIndex(patched);
  const twin = correlate(oi, pi);
  const oSide: Side = { obj: orig, index: oi, relocs: relocationsOf(orig), canon: (s) => s.name };
  const pSide: Side = { obj: patched, index: pi, relocs: relocationsOf(patched), canon: (s) => twin.get(s)?.name ?? `+${s.name}` };
  const refusals: Refusal[] = [];
  const changed = new Map<ElfSymbol, FunctionChange>();

  // Parents before `.cold` parts: when both changed, the parent's own reason (edited, a callee
  // inlined into it) is the one to report, not that its cold part changed.
  const isCold = (s: ElfSymbol) => /\.cold(\.\d+)?$/.test(s.name);
  for (const p of [...pi.defined.filter((s) => !isCold(s)), ...pi.defined.filter(isCold)]) {
    if (isPerSiteStatic(p)) continue;
    const o = twin.get(p);
    if (p.type === STT_OBJECT) {
      if (!o) continue; // new data: copied into the livepatch if the new code uses it
      if (fingerprint(oSide, o) !== fingerprint(pSide, p)) {
        refusals.push({
          symbol: o.name,
          reason: `changed initialised data (${o.section!.name}): a livepatch replaces functions, the running kernel keeps its data; change the code that uses it, or use a shadow variable`,
        });
      } else if (
        o.section!.name.replace(/\.\d+/g, '') !== p.section!.name.replace(/\.\d+/g, '') ||
        (o.value !== p.value && !isOwnSection(o) && !isOwnSection(p))
      ) {
        refusals.push({
          symbol: o.name,
          reason: `the layout of existing data changed (${o.section!.name}+0x${o.value.toString(16)} -> ${p.section!.name}+0x${p.value.toString(16)})`,
        });
      }
      continue;
    }
    if (!o) {
      if (/\.cold(\.\d+)?$/.test(p.name)) continue; // travels with its parent
      changed.set(p, { symbol: p, oldName: null, reason: 'new', via: [], children: [] });
      continue;
    }
    if (fingerprint(oSide, o) === fingerprint(pSide, p)) continue;
    if (isInitSection(o.section!.name)) {
      refusals.push({
        symbol: o.name,
        reason: `changes __init/__exit code (${o.section!.name}): it ran at boot or load and is gone; a livepatch cannot replace it`,
      });
      continue;
    }
    const cold = /^(.*)\.cold(\.\d+)?$/.exec(p.name);
    const target = cold ? pi.defined.find((x) => x.name === cold[1] && x.type === STT_FUNC) : p;
    if (!target) {
      refusals.push({ symbol: o.name, reason: 'changed .cold part whose parent function is not in the object' });
      continue;
    }
    const targetOld = twin.get(target);
    if (!targetOld) continue; // a new parent carries its parts anyway
    if (!hasFentry(oSide, targetOld)) {
      refusals.push({
        symbol: targetOld.name,
        reason:
          'has no ftrace site (notrace, or inline code the compiler emitted out of line): the kernel cannot redirect it; patch its callers instead',
      });
      continue;
    }
    const src = sourceName(targetOld.name);
    const prev = changed.get(target);
    if (prev) continue;
    let reason: Reason;
    let via: string[];
    if (cold && target !== p && !edited.has(src)) {
      reason = 'cold-part-changed';
      via = [p.name];
    } else if (edited.has(src)) {
      reason = targetOld.name === src ? 'edited' : 'clone-of-edited';
      via = [src];
    } else {
      reason = 'inlined-callee-changed';
      via = [...edited].filter((e) => !pi.defined.some((x) => x.type === STT_FUNC && sourceName(x.name) === e)).sort();
      if (via.length === 0) via = [...edited].sort();
    }
    changed.set(target, { symbol: target, oldName: targetOld.name, reason, via, children: [] });
  }
  // Every `.cold` part of an included function comes along.
  for (const f of changed.values()) {
    f.children = pi.defined.filter(
      (x) => x.type === STT_FUNC && new RegExp(`^${escapeRegExp(f.symbol.name)}\\.cold(\\.\\d+)?$`).test(x.name),
    );
  }
  const functions = [...changed.values()].filter((f) => f.symbol.section!.flags & SHF_EXECINSTR);
  return { orig, patched, twin, functions, refusals };
}

function isOwnSection(s: ElfSymbol): boolean {
  return /^\.(data|bss|rodata)(\.rel)?(\.ro)?(\.local)?\./.test(s.section!.name) && s.section!.name.endsWith(`.${s.name}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
