import { SHF_ALLOC, SHF_INFO_LINK, SHN_UNDEF, SHT_RELA, STB_WEAK, sizes } from '../elf/constants.js';
import { type ElfObject, type ElfSymbol, type Relocation, RelocationSection, type Section } from '../elf/object.js';
import { UserError } from '../errors.js';
import type { KernelSymbolMap, SymbolEntry } from '../kernel/symbol-map.js';
import { VMLINUX } from '../kernel/symbol-map.js';
import type { Export } from '../kernel/symvers.js';
import { type Annotation, readAnnotations } from './annotations.js';
import {
  KLP_RELA_PREFIX,
  KLP_SYM_PREFIX,
  MAX_OBJECT_NAME,
  MAX_SYMBOL_NAME,
  MINIMAL_PREFIX,
  SHF_RELA_LIVEPATCH,
  SHN_LIVEPATCH,
  klpRelaSectionName,
  klpSymbolName,
  objectNameProblem,
  parseKlpSymbolName,
  parseMinimalSymbolName,
  symbolNameProblem,
} from './klp-format.js';
import { findObjectSymbol } from './find-symbol.js';
import { describeEntry, isLoaderSection } from './loader-sections.js';
import { livepatchInfo } from './modinfo.js';
import { SiteNamer } from './sites.js';
import { verifyLivepatch } from './verify.js';

export interface ConvertOptions {
  map: KernelSymbolMap;
  /** Exports from Module.symvers; without it the map's own export marks are used. */
  exports?: Map<string, Export>;
  /** KSYM_NAME_LEN - 1 of the target kernel (511 from Linux 6.1, 127 before). */
  maxSymbolName?: number;
}

export type Resolution = 'unique' | 'annotation' | 'file-annotation' | 'module-export' | 'preformed' | 'minimal-annotation';

export interface Reference {
  /** `function+0xN (section+0xM)` */
  site: string;
  section: string;
  offset: bigint;
  type: number;
  addend: bigint;
}

export interface Conversion {
  /** The kernel's name of the symbol. */
  symbol: string;
  /** The undefined symbol's name in the input (differs for annotations carried in the name). */
  moduleSymbol: string;
  object: string;
  position: number;
  klpName: string;
  how: Resolution;
  /** Source file of the chosen definition, when the map knows it. */
  file: string;
  references: Reference[];
}

export interface ConvertReport {
  module: string;
  conversions: Conversion[];
  klpSections: string[];
  removedSections: string[];
  warnings: string[];
  /** The input had livepatch relocations already and nothing was left to convert. */
  alreadyConverted: boolean;
  changed: boolean;
}

export class ConversionError extends UserError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n${problems.map((p) => `  - ${p.replace(/\n/g, '\n    ')}`).join('\n')}`}`,
    );
    this.name = 'ConversionError';
  }
}

interface Target {
  object: string;
  /** The kernel's name for the symbol (the module's may carry an annotation in it). */
  symbol: string;
  position: number;
  how: Resolution;
  file: string;
  /** Object of the .klp.rela section, when not the symbol's (minimal annotations say it). */
  sectionObject?: string;
}

/** Position to annotate with: 0 for a name unique in its object. */
function annotationPosition(d: SymbolEntry): number {
  return d.count === 1 ? 0 : d.position;
}

function candidateList(defs: SymbolEntry[]): string {
  return defs
    .map((d) => `    ${d.object} ${d.name},${annotationPosition(d)}${d.file ? `  (${d.file})` : ''}${d.type ? `  [${d.type}]` : ''}`)
    .join('\n');
}

/** A C identifier for a symbol name, and how to declare it when C cannot spell it. */
function cName(name: string): { ident: string; hint: string } {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return { ident: name, hint: '' };
  const ident = `klp_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  return { ident, hint: ` (declare it as: extern char ${ident}[] __asm__("${name}");)` };
}

/**
 * Rewrite `obj` (a livepatch module built by kbuild) so that every reference the module loader
 * cannot resolve becomes a livepatch relocation, then check the result with `verify`'s rules: a
 * module the kernel would refuse is never handed over. Throws ConversionError listing every
 * problem found; `obj` must then be discarded.
 */
export function convertLivepatch(obj: ElfObject, opts: ConvertOptions): ConvertReport {
  const plan = planConversion(obj, opts);
  const report = rewrite(obj, plan);
  const findings = verifyLivepatch(obj, opts).findings;
  if (findings.length > 0) {
    throw new ConversionError(
      plan.file,
      findings.map((f) => `the converted module would fail verify's ${f.rule} rule at ${f.site}: ${f.message}`),
    );
  }
  return report;
}

/** One relocation that moves to a livepatch relocation section. */
interface Move {
  from: RelocationSection;
  reloc: Relocation;
  symbol: ElfSymbol;
  /** `.klp.rela.<object>.<section>` */
  section: string;
  site: string;
}

/** What the conversion will do, decided before anything changes. */
interface Plan {
  file: string;
  module: string;
  annotationSections: Set<Section>;
  targets: Map<ElfSymbol, Target>;
  moves: Move[];
  warnings: string[];
}

/**
 * Resolution: every undefined symbol the loader cannot resolve gets an object and position, every
 * relocation against one a livepatch section, or the problems are collected and thrown together.
 */
function planConversion(obj: ElfObject, opts: ConvertOptions): Plan {
  const file = obj.fileName ?? 'module';
  const info = livepatchInfo(obj);
  if (!info.livepatch) {
    throw new ConversionError(file, ['not a livepatch module: .modinfo has no livepatch=Y; add MODULE_INFO(livepatch, "Y") to its source']);
  }
  const symtab = obj.symtab;
  if (!symtab) throw new ConversionError(file, ['no symbol table (.symtab)']);
  const problems: string[] = [];
  const warnings: string[] = [];
  const maxSymbol = opts.maxSymbolName ?? MAX_SYMBOL_NAME;
  if (info.name.length > MAX_OBJECT_NAME) {
    problems.push(`module name '${info.name}' is ${info.name.length} characters; the kernel allows ${MAX_OBJECT_NAME} (MODULE_NAME_LEN)`);
  }
  const sites = new SiteNamer(obj);
  const annotations = readAnnotations(obj);
  problems.push(...annotations.problems);
  const byAnnotation = new Map<ElfSymbol, Annotation>();
  for (const a of annotations.list) {
    const prev = byAnnotation.get(a.symbol);
    if (prev && (prev.object !== a.object || prev.position !== a.position || prev.file !== a.file)) {
      problems.push(
        `conflicting annotations for '${a.symbol.name}': ${describeAnnotation(prev)} (${prev.where}) and ${describeAnnotation(a)} (${a.where})`,
      );
    }
    byAnnotation.set(a.symbol, a);
  }
  // Relocation sections the conversion reads: not the annotation arrays (which go away), not livepatch ones.
  const sources = obj.relocationSections.filter((rs) => !annotations.sections.has(rs) && !rs.name.startsWith(KLP_RELA_PREFIX));

  // Each symbol's first reference, for messages: found in one pass over the relocations, the first
  // time a message needs one.
  let firstReference: Map<ElfSymbol, string> | undefined;
  const firstSite = (y: ElfSymbol): string => {
    if (!firstReference) {
      firstReference = new Map();
      for (const rs of sources) {
        for (const r of rs.relocations) {
          if (r.symbol && !firstReference.has(r.symbol))
            firstReference.set(r.symbol, `referenced at ${sites.describe(rs.target, r.offset)}`);
        }
      }
    }
    return firstReference.get(y) ?? 'not referenced by any relocation';
  };

  const targets = new Map<ElfSymbol, Target>();
  for (const y of symtab.symbols.slice(1)) {
    if (y.section !== null || y.shndx !== SHN_UNDEF || y.name === '' || y.name === '.TOC.') continue;
    const annotation = byAnnotation.get(y);
    const result = annotation ? resolveAnnotation(y, annotation, opts.map) : resolve(y, opts);
    if (result === undefined) continue;
    if (typeof result === 'string') {
      const [head, ...rest] = result.split('\n');
      problems.push([head, `  ${firstSite(y)}`, ...rest].join('\n'));
      continue;
    }
    const naming =
      objectNameProblem(result.object) ??
      objectNameProblem(result.sectionObject ?? result.object) ??
      symbolNameProblem(result.symbol, maxSymbol);
    if (naming) {
      problems.push(`cannot name '${y.name}' in the livepatch format: ${naming}`);
      continue;
    }
    if (result.how === 'module-export' && !opts.map.object(result.object)) {
      warnings.push(`'${y.name}' is exported by module ${result.object}, which the symbol map does not hold; using position 0`);
    }
    const transient = initTimeHomonyms(opts.map, result.object, result.symbol);
    if (transient > 0) {
      warnings.push(
        `'${y.name}' in ${result.object} has ${transient} more definition${transient > 1 ? 's' : ''} the kernel drops after the module's init ` +
          `(init sections); while ${result.object} is still loading (late module patching) the kernel counts ${transient > 1 ? 'them' : 'it'} too, ` +
          `so position ${result.position} may name another symbol then`,
      );
    }
    targets.set(y, result);
  }
  const referenced = new Set<ElfSymbol>();
  const moves: Move[] = [];
  // In file order, so the livepatch sections list relocations as the compiler emitted them.
  for (const rs of sources) {
    const target = rs.target;
    for (const reloc of rs.relocations) {
      const y = reloc.symbol;
      if (!y || y.section !== null) continue;
      referenced.add(y);
      const t = targets.get(y);
      // The loader never applies relocations to non-allocated sections (debug info): leave them.
      if (!t || !target || !(target.flags & SHF_ALLOC)) continue;
      const site = sites.describe(target, reloc.offset);
      if (rs.type !== SHT_RELA) {
        problems.push(
          `'${y.name}' at ${site}: ${rs.name} is SHT_REL; the kernel applies livepatch relocations only from SHT_RELA sections`,
        );
        continue;
      }
      if (t.object !== VMLINUX && isLoaderSection(target.name)) {
        const entry = describeEntry(target.name, target.entsize, reloc.offset, opts.map.meta.get('version'));
        problems.push(
          `cannot convert the reference to '${y.name}' (module ${t.object}) in ${target.name} ${entry}: the module loader processes ${target.name} ` +
            `when the livepatch loads, before livepatch can resolve symbols of module ${t.object}; use it from ordinary code instead`,
        );
        continue;
      }
      moves.push({ from: rs, reloc, symbol: y, section: klpRelaSectionName(t.sectionObject ?? t.object, target.name), site });
    }
  }
  for (const a of annotations.list) {
    if (!referenced.has(a.symbol)) warnings.push(`annotated symbol '${a.symbol.name}' (${a.where}) is not referenced by any relocation`);
  }
  if (problems.length > 0) throw new ConversionError(file, problems);
  return { file, module: info.name, annotationSections: annotations.sections, targets, moves, warnings };
}

/**
 * The rewrite: relocations move to `.klp.rela.<object>.<section>` of the section they patch,
 * emptied relocation sections and the annotations go, and the symbols take their livepatch names.
 */
function rewrite(obj: ElfObject, plan: Plan): ConvertReport {
  const symtab = obj.symtab!;
  const conversions = new Map<ElfSymbol, Conversion>();
  for (const [y, t] of plan.targets) {
    conversions.set(y, {
      symbol: t.symbol,
      moduleSymbol: y.name,
      object: t.object,
      position: t.position,
      klpName: klpSymbolName(t.object, t.symbol, t.position),
      how: t.how,
      file: t.file,
      references: [],
    });
  }
  const klpSections = new Map<string, RelocationSection>();
  const moved = new Set<Relocation>();
  for (const m of plan.moves) {
    const target = m.from.target!;
    let klp = klpSections.get(m.section);
    if (!klp) {
      klp = new RelocationSection({
        name: m.section,
        type: SHT_RELA,
        flags: SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH,
        addralign: sizes[obj.header.elfClass].addr,
        entsize: sizes[obj.header.elfClass].rela,
      });
      klp.link = symtab;
      klp.target = target;
      klpSections.set(m.section, klp);
    }
    klp.relocations.push(m.reloc);
    moved.add(m.reloc);
    conversions
      .get(m.symbol)!
      .references.push({ site: m.site, section: target.name, offset: m.reloc.offset, type: m.reloc.type, addend: m.reloc.addend });
  }

  const alreadyConverted =
    obj.relocationSections.some((s) => s.flags & SHF_RELA_LIVEPATCH) ||
    symtab.symbols.some((y) => y.section === null && y.shndx === SHN_LIVEPATCH);
  const changed = plan.targets.size > 0 || plan.annotationSections.size > 0;
  const removedSections: string[] = [];
  if (changed) {
    const doomed = new Set<Section>(plan.annotationSections);
    for (const rs of obj.relocationSections) {
      if (!rs.relocations.some((r) => moved.has(r))) continue;
      rs.relocations = rs.relocations.filter((r) => !moved.has(r));
      if (rs.relocations.length === 0) doomed.add(rs);
    }
    removeAnnotationSymbols(obj, plan.annotationSections);
    for (const s of doomed) removedSections.push(s.name);
    obj.removeSections(doomed);
    for (const klp of klpSections.values()) obj.addSection(klp);
    for (const y of plan.targets.keys()) {
      y.name = conversions.get(y)!.klpName;
      y.shndx = SHN_LIVEPATCH;
    }
  }
  return {
    module: plan.module,
    conversions: [...conversions.values()],
    klpSections: [...klpSections.keys()],
    removedSections,
    warnings: plan.warnings,
    alreadyConverted: alreadyConverted && !changed,
    changed,
  };
}

function describeAnnotation(a: Annotation): string {
  return a.file !== undefined ? `${a.object} file ${a.file}` : `${a.object},${a.position}`;
}

/** Symbols defined in the annotation arrays (section symbols, the arrays themselves) go with them. */
function removeAnnotationSymbols(obj: ElfObject, sections: Set<Section>): void {
  const symbols = obj.symtab!.symbols.filter((y) => y.section && sections.has(y.section));
  if (symbols.length === 0) return;
  const doomed = new Set(symbols);
  for (const rs of obj.relocationSections) {
    // Relocations inside the removed sections do not count as uses; debug info describing the
    // arrays just loses its address.
    if (sections.has(rs)) rs.relocations = [];
    else if (rs.target && !(rs.target.flags & SHF_ALLOC) && rs.relocations.some((r) => r.symbol && doomed.has(r.symbol))) {
      rs.relocations = rs.relocations.filter((r) => !r.symbol || !doomed.has(r.symbol));
    }
  }
  obj.removeSymbols(doomed);
}

/** Where an unannotated undefined symbol lives; undefined when the module loader resolves it. */
function resolve(y: ElfSymbol, opts: ConvertOptions): Target | string | undefined {
  const { map } = opts;
  if (y.name.startsWith(MINIMAL_PREFIX)) {
    const parsed = parseMinimalSymbolName(y.name);
    if (!parsed) return `'${y.name}' is not a valid annotation (.klp.sym.rela.<patched object>.<object>.<symbol>,<position>)`;
    if (parsed.patchedObject !== VMLINUX && parsed.object === VMLINUX) {
      return `'${y.name}': the kernel refuses vmlinux symbols in relocations for module ${parsed.patchedObject} (invalid access to vmlinux symbol); use vmlinux as the patched object`;
    }
    const check = checkPosition(map, parsed.object, parsed.symbol, parsed.position, `'${y.name}'`);
    return typeof check === 'string'
      ? check
      : { ...parsed, how: 'minimal-annotation', file: check.file, sectionObject: parsed.patchedObject };
  }
  if (y.name.startsWith(KLP_SYM_PREFIX)) {
    const parsed = parseKlpSymbolName(y.name, opts.maxSymbolName);
    if (!parsed) return `'${y.name}' is not a valid livepatch symbol name (.klp.sym.<object>.<symbol>,<position>)`;
    const check = checkPosition(map, parsed.object, parsed.symbol, parsed.position, `'${y.name}'`);
    return typeof check === 'string' ? check : { ...parsed, how: 'preformed', file: check.file };
  }
  const exp = opts.exports ? opts.exports.get(y.name) : map.exporter(y.name);
  if (exp?.object === VMLINUX) return undefined;
  if (exp) {
    const mod = map.object(exp.object);
    const globals = mod
      ? mod
          .indicesOf(y.name)
          .map((i) => mod.entry(i))
          .filter((e) => e.position > 0)
      : [];
    const chosen = globals.find((e) => e.type === e.type.toUpperCase()) ?? globals[0];
    return {
      object: exp.object,
      symbol: y.name,
      position: !chosen || chosen.count === 1 ? 0 : chosen.position,
      how: 'module-export',
      file: chosen?.file ?? '',
    };
  }
  const defs = map.definitions(y.name);
  if (defs.length === 0) {
    if (y.bind === STB_WEAK) return undefined;
    return `'${y.name}' is not defined in the target kernel's symbol map (neither in vmlinux nor in a module, and not exported)`;
  }
  if (defs.length === 1) return { object: defs[0].object, symbol: y.name, position: 0, how: 'unique', file: defs[0].file };
  const { ident, hint } = cName(y.name);
  return (
    `'${y.name}' is defined ${defs.length} times in the target kernel; annotate which one it is:\n${candidateList(defs)}\n` +
    `  e.g. KLP_MODULE_RELOC(${defs[0].object}) relocs[] = { KLP_SYMPOS(${ident}, ${annotationPosition(defs[0])}) };` +
    (defs[0].file ? ` or KLP_FILE_RELOC(${defs[0].object}) ... KLP_SYMFILE(${ident}, "${defs[0].file}")` : '') +
    hint
  );
}

/**
 * Definitions of `name` in a module that kallsyms stops listing once the module's init has run.
 * klp_module_coming() resolves livepatch symbols before that, over the module's whole symbol table
 * (kernel/livepatch/core.c, kernel/module/kallsyms.c).
 */
function initTimeHomonyms(map: KernelSymbolMap, object: string, name: string): number {
  const o = object === VMLINUX ? undefined : map.object(object);
  if (!o) return 0;
  return o.indicesOf(name).filter((i) => !o.isListed(i) && o.type(i) !== '?').length;
}

/** Validate an explicit object and position as the kernel will (klp_find_object_symbol), in our words with the candidates. */
function checkPosition(map: KernelSymbolMap, object: string, name: string, position: number, what: string): SymbolEntry | string {
  const found = findObjectSymbol(map, object, name, position);
  if (found.ok) return found.object.entry(found.index);
  const defs = found.definitions;
  switch (found.rule) {
    case 'object':
      return `${what}: object '${object}' is not in the target kernel's symbol map`;
    case 'symbol-missing':
      return `${what}: '${name}' is not defined in ${object}`;
    case 'sympos':
      return position === 0
        ? `${what}: position 0 means unique, but ${object} defines '${name}' ${defs.length} times:\n${candidateList(defs)}`
        : `${what}: ${object} defines '${name}' ${defs.length} time${defs.length > 1 ? 's' : ''}, so there is no position ${position}:\n${candidateList(defs)}`;
  }
}

function resolveAnnotation(y: ElfSymbol, a: Annotation, map: KernelSymbolMap): Target | string {
  const what = `annotation ${a.where} for '${y.name}'`;
  if (a.position !== undefined) {
    const check = checkPosition(map, a.object, y.name, a.position, what);
    return typeof check === 'string'
      ? check
      : { object: a.object, symbol: y.name, position: a.position, how: 'annotation', file: check.file };
  }
  const o = map.object(a.object);
  if (!o) return `${what}: object '${a.object}' is not in the target kernel's symbol map`;
  const defs = o
    .indicesOf(y.name)
    .map((i) => o.entry(i))
    .filter((e) => e.position > 0);
  if (defs.length === 0) return `${what}: '${y.name}' is not defined in ${a.object}`;
  const file = a.file!;
  const inFile = defs.filter((d) => d.file === file || d.file.endsWith(`/${file}`));
  if (inFile.length === 1) {
    return {
      object: a.object,
      symbol: y.name,
      position: inFile[0].count === 1 ? 0 : inFile[0].position,
      how: 'file-annotation',
      file: inFile[0].file,
    };
  }
  if (defs.every((d) => d.file === ''))
    return `${what}: the symbol map has no source files for ${a.object} (build it from objects with STT_FILE symbols, e.g. a vmlinux with its symbol table or modules not stripped)`;
  return inFile.length === 0
    ? `${what}: no definition of '${y.name}' in ${a.object} comes from '${file}':\n${candidateList(defs)}`
    : `${what}: ${inFile.length} definitions of '${y.name}' in ${a.object} come from '${file}'; use KLP_SYMPOS:\n${candidateList(inFile)}`;
}
