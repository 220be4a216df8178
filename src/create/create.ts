/**
 * `klp-convert create`: from source patches to a verified livepatch module for a Debian kernel.
 * Rebuilds only the translation units the patches touch, original and patched, with the
 * kernel's own compiler, configuration and flags; diffs them; assembles the changed and new
 * functions into an object; builds the klp_patch glue with kbuild against the kernel's headers;
 * converts and verifies the result with the converter and verifier every other command uses.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { runKbuild } from '../build/kbuild.js';
import { STB_LOCAL, STT_FUNC, STT_OBJECT } from '../elf/constants.js';
import { x86_64FieldWidth } from '../elf/relocation-types.js';
import { ElfObject } from '../elf/object.js';
import { writeElf } from '../elf/writer.js';
import { kallsymsRulesFor } from '../kernel/kallsyms-rules.js';
import type { KernelSymbolMap } from '../kernel/symbol-map.js';
import { VMLINUX } from '../kernel/symbol-map.js';
import type { Export } from '../kernel/symvers.js';
import { convertLivepatch } from '../livepatch/convert.js';
import { MAX_OBJECT_NAME, klpSymbolName } from '../livepatch/klp-format.js';
import { assemble } from './assemble.js';
import { type Reason, diffUnit, relocationsOf } from './diff.js';
import { type ShippedCode, ShippedModule, VmlinuxSymbols } from './locate.js';
import { type FilePatch, editedOldLines, formatFilePatch, functionRanges, parsePatch, withLineDirectives } from './patch.js';
import { findModuleFile } from '../kernel/module-files.js';
import { knownSeries, layoutsKnown } from '../kernel/special-sections.js';
import {
  CreateError,
  type KernelTarget,
  type Progress,
  type Tree,
  compileUnit,
  compilerProblem,
  isGlobalHeader,
  objectOf,
  prepareTree,
  recordedCommand,
  treeFile,
  unitsIncluding,
} from './tree.js';

export interface CreateOptions {
  target: KernelTarget;
  /** Patch files and their text. */
  patches: { path: string; text: string }[];
  /** Module name; default livepatch-<first patch's name>. */
  name?: string;
  replace: boolean;
  dryRun: boolean;
  /** vmlinux with its symbol table (the -dbg package's). */
  vmlinux: string;
  /** Folder of the kernel's shipped modules (lib/modules/<release>/kernel), if there is one. */
  modules: string | undefined;
  /** Symbol map and exports of the target kernel, for the converter and verifier. */
  loadMap: () => Promise<KernelSymbolMap>;
  exports: Map<string, Export>;
  /** Folder of klp-convert.h, for kbuild. */
  includeDir: string;
  progress: Progress;
}

export interface FunctionReport {
  name: string;
  object: string;
  unit: string;
  oldName: string | null;
  sympos: number | null;
  reason: Reason;
  via: string[];
  /** Whether the rebuilt original is the shipped code (relocation fields masked). */
  shipped: 'identical' | 'differs' | 'not-checked';
}

export interface CreateReport {
  module: string;
  release: string;
  functions: FunctionReport[];
  externals: string[];
  output?: Uint8Array;
}

const FFLAGS = ['-ffunction-sections', '-fdata-sections'];

/** `livepatch-<name>`, in the characters kbuild and the kernel accept, within MODULE_NAME_LEN. */
export function moduleName(patchPath: string): string {
  const stem = basename(patchPath)
    .replace(/\.(patch|diff)$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '-');
  return `livepatch-${stem}`.slice(0, MAX_OBJECT_NAME);
}

/**
 * A name given with --name: it becomes the kbuild target (`obj-m := NAME.o`) and the module name,
 * so the same characters as moduleName() makes, within MODULE_NAME_LEN. Throws CreateError.
 */
export function checkModuleName(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new CreateError(`module name '${name}': use only letters, digits, '_' and '-'`);
  if (name.length > MAX_OBJECT_NAME) {
    throw new CreateError(`module name '${name}' is ${name.length} characters; the kernel allows ${MAX_OBJECT_NAME} (MODULE_NAME_LEN)`);
  }
  return name;
}

function applyPatch(dir: string, fp: FilePatch): void {
  const r = spawnSync('patch', ['-p1', '--no-backup-if-mismatch', '--fuzz=0', '-f', '-s', '-d', dir], {
    input: formatFilePatch(fp),
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new CreateError(`${fp.path}: the patch does not apply to the kernel's source:\n${`${r.stdout}${r.stderr}`.trim()}`);
}

/**
 * A unit of the tree copied to `overlay` (same layout) with `fp` applied, its __FILE__ kept the
 * tree's (WARN/BUG strings) by a leading #line. Returns the copy's path.
 */
export function patchedCopy(tree: Tree, overlay: string, path: string, fp: FilePatch | undefined): string {
  const origSrc = treeFile(tree, path);
  const patchedSrc = join(overlay, path);
  mkdirSync(dirname(patchedSrc), { recursive: true });
  copyFileSync(origSrc, patchedSrc);
  if (fp) applyPatch(overlay, fp);
  writeFileSync(patchedSrc, `#line 1 "${origSrc}"\n${readFileSync(patchedSrc, 'utf8')}`);
  return patchedSrc;
}

/**
 * The patch with each hunk moved to where it applies in the kernel's source: a patch written
 * against a nearby version applies at an offset (`patch` says "Hunk #N succeeded at L (offset K
 * lines)"), and the edited lines and the #line directives must use the source's numbering. No
 * fuzz: a hunk whose context differs is refused rather than guessed at.
 */
function locateHunks(src: string, fp: FilePatch): FilePatch {
  const r = spawnSync('patch', ['-p1', '--dry-run', '--fuzz=0', '-f', '-d', src], { input: formatFilePatch(fp), encoding: 'utf8' });
  if (r.status !== 0)
    throw new CreateError(`${fp.path}: the patch does not apply to the kernel's source:\n${`${r.stdout}${r.stderr}`.trim()}`);
  const offsets = new Map<number, number>();
  for (const m of r.stdout.matchAll(/^Hunk #(\d+) succeeded at \d+ \(offset (-?\d+) lines?\)/gm))
    offsets.set(Number(m[1]) - 1, Number(m[2]));
  if (offsets.size === 0) return fp;
  return {
    ...fp,
    hunks: fp.hunks.map((h, i) => ({ ...h, oldStart: h.oldStart + (offsets.get(i) ?? 0), newStart: h.newStart + (offsets.get(i) ?? 0) })),
  };
}

interface UnitInfo {
  source: string;
  object: string;
  module: boolean;
}

function unitInfo(tree: Tree, source: string, progress: Progress): UnitInfo {
  const cmd = recordedCommand(tree, source, progress);
  const modname = /-DKBUILD_MODNAME='"([^"]+)"'/.exec(cmd)?.[1];
  const isModule = /(^| )-DMODULE( |$)/.test(cmd);
  if (isModule && !modname) throw new CreateError(`${source}: the recorded command names no KBUILD_MODNAME`);
  return { source, object: isModule ? modname!.replace(/-/g, '_') : VMLINUX, module: isModule };
}

/**
 * Whether function `name` of the object compiled as the kernel was (`normalObj`, normal sections)
 * is the shipped code that `shipped` gives for its size: the same bytes, with the relocated fields
 * of both sides masked (a module's code is relocatable, so the .ko has relocations of its own).
 */
export function shippedMatch(
  normalObj: string,
  name: string,
  shipped: (size: number) => ShippedCode | undefined,
): 'identical' | 'differs' | 'not-checked' {
  if (!existsSync(normalObj)) return 'not-checked';
  const obj = ElfObject.parse(readFileSync(normalObj));
  const sym = obj.symtab?.symbols.find((s) => s.name === name && s.type === STT_FUNC && s.section);
  if (!sym) return 'not-checked';
  const start = Number(sym.value);
  const size = Number(sym.size);
  const theirs = shipped(size);
  if (!theirs) return 'not-checked';
  if (theirs.bytes.length !== size) return 'differs';
  const mine = Uint8Array.from(sym.section!.data.subarray(start, start + size));
  const copy = Uint8Array.from(theirs.bytes);
  const mask = (at: number, type: number) => {
    for (let k = at; k < Math.min(size, at + x86_64FieldWidth(type)); k++) mine[k] = copy[k] = 0;
  };
  for (const r of relocationsOf(obj).get(sym.section!) ?? []) {
    const at = Number(r.offset) - start;
    if (at >= 0 && at < size) mask(at, r.type);
  }
  for (const r of theirs.relocations) mask(r.offset, r.type);
  return Buffer.compare(Buffer.from(mine), Buffer.from(copy)) === 0 ? 'identical' : 'differs';
}

/**
 * The kernels create can target, checked before anything is downloaded: Debian's own compiler
 * for the kernel is on this machine or in the private root its headers build in (7.x's gcc-14:
 * scripts/debian-root.sh), and the special-section layouts of its series are known.
 * One line naming everything missing.
 */
export function checkSupported(target: KernelTarget): void {
  const missing: string[] = [];
  if (!layoutsKnown(target.series)) missing.push(`the special-section layouts of Linux ${target.series} (known: ${knownSeries()})`);
  const cc = compilerProblem(target);
  if (cc) missing.push(cc);
  if (missing.length > 0) throw new CreateError(`create cannot target kernel ${target.release}: missing ${missing.join('; ')}`);
}

export async function createLivepatch(opts: CreateOptions): Promise<CreateReport> {
  const { target, progress } = opts;
  const parsed: FilePatch[] = opts.patches.flatMap((p) => parsePatch(p.text, p.path));
  const problems: string[] = [];
  for (const f of parsed) {
    if (/\.(S|s)$/.test(f.path))
      problems.push(`${f.path}: assembly files cannot be livepatched (no ftrace sites, no function boundaries the diff can trust)`);
    else if (f.path.endsWith('.h') && isGlobalHeader(f.path))
      problems.push(
        `${f.path}: a header any part of the kernel may include: which units include it is known only from a whole kernel build's dependency files; move the change into the .c files that need it, or into a header of their folder`,
      );
    else if (!/\.[ch]$/.test(f.path)) problems.push(`${f.path}: only C source files can be patched (not build files or documentation)`);
    else if (f.oldPath === null || f.newPath === null) problems.push(`${f.path}: adding or removing a whole file is not supported`);
  }
  const seen = new Set<string>();
  for (const f of parsed) {
    if (seen.has(f.path)) problems.push(`${f.path}: patched by more than one patch; combine them`);
    seen.add(f.path);
  }
  if (problems.length > 0) throw new CreateError(`cannot create a livepatch:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const name = opts.name === undefined ? moduleName(opts.patches[0].path) : checkModuleName(opts.name);
  checkSupported(target);

  const tree = prepareTree(target, progress);
  const files = parsed.map((f) => locateHunks(tree.src, f));
  let vml: VmlinuxSymbols | undefined;
  const vmlinux = (): VmlinuxSymbols => (vml ??= new VmlinuxSymbols(opts.vmlinux, kallsymsRulesFor(target.release)));
  // The shipped modules the patched units belong to, opened once each.
  const kos = new Map<string, ShippedModule>();
  const shippedModule = async (name: string): Promise<ShippedModule> => {
    let ko = kos.get(name);
    if (!ko) {
      if (!opts.modules)
        throw new CreateError(`no modules of ${target.release} to find module ${name} in: run scripts/debian-kernel.sh ${target.release}`);
      const file = findModuleFile(opts.modules, name);
      if (!file) throw new CreateError(`module ${name} is not among the modules of ${target.release} (${opts.modules})`);
      ko = await ShippedModule.open(file);
      kos.set(name, ko);
    }
    return ko;
  };
  const work = mkdtempSync(join(tmpdir(), 'klp-create-'));
  try {
    const functions: FunctionReport[] = [];
    const externals = new Set<string>();
    const objects: { path: string; object: string; entries: { oldName: string; entry: string; sympos: number }[] }[] = [];

    // The units to rebuild: every patched C file, and every unit that includes a patched header.
    const units = new Map<string, FilePatch | undefined>(files.filter((f) => f.path.endsWith('.c')).map((f) => [f.path, f]));
    const headers = files.filter((f) => f.path.endsWith('.h'));
    for (const h of headers) {
      const including = unitsIncluding(tree, h.path, progress);
      if (including.length === 0)
        throw new CreateError(`${h.path}: no unit this kernel's configuration builds includes it: nothing to rebuild`);
      progress(`${h.path} is included by ${including.join(', ')}`);
      for (const u of including) if (!units.has(u)) units.set(u, undefined);
    }
    // Patched headers, with the other headers of their folders (a quoted #include looks in the
    // including file's folder first), in a copy of the tree's layout where the units are compiled.
    const overlay = join(work, 'tree');
    const headerEdits = new Set<string>();
    for (const h of headers) {
      const dir = dirname(h.path);
      mkdirSync(join(overlay, dir), { recursive: true });
      for (const f of readdirSync(join(tree.src, dir))) {
        if (f.endsWith('.h') && !existsSync(join(overlay, dir, f))) copyFileSync(join(tree.src, dir, f), join(overlay, dir, f));
      }
      applyPatch(overlay, withLineDirectives(h));
      const edits = editedOldLines(h);
      for (const r of functionRanges(readFileSync(treeFile(tree, h.path), 'utf8')))
        if ([...edits].some((l) => l >= r.first && l <= r.last)) headerEdits.add(r.name);
    }
    for (const rel of existsSync(overlay) ? readdirSync(overlay, { recursive: true, encoding: 'utf8' }) : []) {
      const h = join(overlay, rel);
      if (!statSync(h).isFile()) continue;
      // __FILE__ of every copied header stays the tree's (WARN/BUG strings).
      writeFileSync(h, `#line 1 "${join(tree.src, rel)}"\n${readFileSync(h, 'utf8')}`);
    }

    for (const [n, [path, fp]] of [...units.entries()].entries()) {
      const unit = unitInfo(tree, path, progress);
      const origSrc = treeFile(tree, path);
      const patchedSrc = patchedCopy(tree, overlay, path, fp && withLineDirectives(fp));
      const edits = fp ? editedOldLines(fp) : new Set<number>();
      const edited = new Set([
        ...headerEdits,
        ...functionRanges(readFileSync(origSrc, 'utf8'))
          .filter((r) => [...edits].some((l) => l >= r.first && l <= r.last))
          .map((r) => r.name),
      ]);

      progress(`compiling ${path}, original and patched`);
      const origObj = join(work, `orig${n}.o`);
      const patchedObj = join(work, `patched${n}.o`);
      compileUnit(tree, path, origSrc, origObj, FFLAGS, progress);
      compileUnit(tree, path, patchedSrc, patchedObj, FFLAGS, progress);
      const orig = ElfObject.parse(readFileSync(origObj), origObj);
      const patched = ElfObject.parse(readFileSync(patchedObj), patchedObj);
      const diff = diffUnit(orig, patched, edited);
      if (diff.refusals.length > 0) {
        throw new CreateError(
          `${path}: the patch changes what a livepatch cannot:\n${diff.refusals.map((r) => `  - ${r.symbol}: ${r.reason}`).join('\n')}`,
        );
      }
      if (diff.functions.length === 0) continue;

      // Where each original symbol is in the running kernel, and its sympos.
      const locals = (orig.symtab?.symbols ?? [])
        .filter((s) => s.bind === STB_LOCAL && (s.type === STT_FUNC || s.type === STT_OBJECT) && s.section)
        .map((s) => ({ name: s.name, size: Number(s.size) }));
      const ko = unit.module ? await shippedModule(unit.object) : undefined;
      const location = ko
        ? undefined
        : vmlinux().locate(
            basename(path),
            locals.map((l) => l.name),
          );
      const modLocation = ko?.locate(path, locals);
      const origByName = new Map((orig.symtab?.symbols ?? []).filter((s) => s.section && s.name).map((s) => [s.name, s]));
      const isLocal = (sym: string, definedInUnit: boolean) => definedInUnit && origByName.get(sym)?.bind === STB_LOCAL;
      /** The shipped module's symbol a name of the unit stands for: the unit's own local, else the module's global. */
      const moduleIndex = (sym: string, definedInUnit: boolean): number | undefined =>
        isLocal(sym, definedInUnit) ? ko!.unitLocal(modLocation!, sym) : ko!.globalIndex(sym);
      const positionOf = (sym: string, definedInUnit: boolean): number => {
        if (ko) {
          const index = moduleIndex(sym, definedInUnit);
          if (index === undefined)
            throw new CreateError(
              `${path}: '${sym}' is not in ${ko.path}'s symbols${isLocal(sym, definedInUnit) ? " among the unit's" : ''} (discarded or renamed at link time?)`,
            );
          return ko.position(index).position;
        }
        const local = isLocal(sym, definedInUnit);
        const addr = local ? location!.locals.get(sym) : vmlinux().globalAddress(sym);
        if (addr === undefined)
          throw new CreateError(
            `${path}: '${sym}' is not in ${opts.vmlinux}'s symbols${local ? ` for ${location!.file}` : ''} (discarded or renamed at link time?)`,
          );
        return vmlinux().position(sym, addr).position;
      };
      const external = (sym: string, definedInUnit: boolean): string => {
        const isGlobal = !isLocal(sym, definedInUnit);
        // A global of the module itself: `ld -r` bound the unit's references to it, whoever else exports the name.
        if (ko && isGlobal && ko.globalIndex(sym) !== undefined) return klpSymbolName(unit.object, sym, positionOf(sym, definedInUnit));
        const exp = opts.exports.get(sym);
        if (exp && isGlobal && exp.object === VMLINUX) return sym;
        // vmlinux's export, or another module's: the converter decides.
        if (!definedInUnit && (ko || vmlinux().globalAddress(sym) === undefined)) return sym;
        return klpSymbolName(unit.object, sym, positionOf(sym, definedInUnit));
      };

      const asm = assemble(diff, target.series, external);
      for (const e of asm.externals) externals.add(e);
      const entries = asm.entries.map((e) => ({ oldName: e.change.oldName!, entry: e.entry, sympos: positionOf(e.change.oldName!, true) }));
      const normalObj = join(tree.build, objectOf(path));
      /** The running kernel's code of a function of the unit, as shipped. */
      const shippedCode =
        (name: string) =>
        (size: number): ShippedCode | undefined => {
          if (ko) {
            const index = moduleIndex(name, true);
            return index === undefined ? undefined : ko.code(index);
          }
          const addr = location!.locals.get(name) ?? vmlinux().globalAddress(name);
          return addr === undefined ? undefined : vmlinux().code(addr, size);
        };
      for (const f of diff.functions) {
        const sympos = f.oldName === null ? null : entries.find((e) => e.oldName === f.oldName)!.sympos;
        functions.push({
          name: f.symbol.name,
          object: unit.object,
          unit: path,
          oldName: f.oldName,
          sympos,
          reason: f.reason,
          via: f.via,
          shipped: f.oldName === null ? 'not-checked' : shippedMatch(normalObj, f.oldName, shippedCode(f.oldName)),
        });
      }
      const codePath = join(work, `code${n}.o`);
      writeFileSync(codePath, writeElf(asm.object));
      objects.push({ path: codePath, object: unit.object, entries });
    }
    if (functions.length === 0) throw new CreateError('the patches change no function: nothing to livepatch');
    if (opts.dryRun) return { module: name, release: target.release, functions, externals: [...externals] };

    // The glue: one klp_object per patched object, built by kbuild against the kernel's headers.
    progress(`building ${name}.ko with kbuild`);
    const kmod = join(work, 'kmod');
    mkdirSync(kmod);
    const byObject = new Map<string, { oldName: string; entry: string; sympos: number }[]>();
    for (const o of objects) byObject.set(o.object, [...(byObject.get(o.object) ?? []), ...o.entries]);
    const decl = [...byObject.values()]
      .flat()
      .map((e) => `extern void ${e.entry}(void);`)
      .join('\n');
    const funcs = [...byObject.entries()]
      .map(
        ([obj, list], i) =>
          `static struct klp_func funcs${i}[] = { /* ${obj} */\n${list.map((e) => `\t{ .old_name = "${e.oldName}", .new_func = ${e.entry}, .old_sympos = ${e.sympos} },`).join('\n')}\n\t{ }\n};`,
      )
      .join('\n');
    const objs = [...byObject.keys()]
      .map((obj, i) => `\t{ .name = ${obj === VMLINUX ? 'NULL' : `"${obj}"`}, .funcs = funcs${i} },`)
      .join('\n');
    writeFileSync(
      join(kmod, 'glue.c'),
      `// Generated by klp-convert create.
#include <linux/module.h>
#include <linux/livepatch.h>

${decl}

${funcs}

static struct klp_object objs[] = {
${objs}
\t{ }
};

static struct klp_patch patch = {
\t.mod = THIS_MODULE,
\t.objs = objs,
\t.replace = ${opts.replace ? 'true' : 'false'},
};

static int __init livepatch_init(void)
{
\treturn klp_enable_patch(&patch);
}

static void __exit livepatch_exit(void)
{
}

module_init(livepatch_init);
module_exit(livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("livepatch generated by klp-convert create from ${opts.patches.map((p) => basename(p.path)).join(', ')}");
`,
    );
    objects.forEach((o, i) => {
      copyFileSync(o.path, join(kmod, `code${i}.o_shipped`));
      // modpost reads each object's .cmd (for its source list); a shipped object has none (klp-build writes an empty one too).
      writeFileSync(join(kmod, `.code${i}.o.cmd`), '');
    });
    // The objects come in as <name>_shipped, copied by an explicit rule: kbuild's own pattern rule
    // for them ($(obj)/%: $(src)/%_shipped, scripts/Makefile.lib) no longer matches in an external
    // module from 6.13 on, where obj is "." (scripts/Makefile.build of 7.3).
    writeFileSync(
      join(kmod, 'Kbuild'),
      `obj-m := ${name}.o\n${name}-y := glue.o ${objects.map((_, i) => `code${i}.o`).join(' ')}\n${objects
        .map((_, i) => `$(obj)/code${i}.o: $(src)/code${i}.o_shipped\n\t$(Q)cat $< > $@\n`)
        .join('')}`,
    );
    // The same patch gives the same bytes. The glue and the .mod.c are compiled with -g in this
    // temporary folder, whose name would reach DWARF (DW_AT_name, .debug_line_str) and the build
    // ID: mapped away. pahole encodes the module's BTF with -j, whose output order varies from run
    // to run (scripts/Makefile.btf of 6.12 says so, and drops -j only when KBUILD_BUILD_TIMESTAMP
    // is set and pahole is older than 1.27; 6.1's scripts/pahole-flags.sh always adds it): pahole
    // runs through a wrapper without it.
    const pahole = join(work, 'pahole');
    writeFileSync(
      pahole,
      '#!/bin/sh\n# pahole without -j (parallel encoding is not reproducible before pahole 1.27)\nfor a; do shift; case $a in -j|-j[0-9]*) ;; *) set -- "$@" "$a" ;; esac; done\nexec pahole "$@"\n',
      { mode: 0o755 },
    );
    const built = runKbuild(kmod, target.headers, opts.includeDir, 2, {
      // The folder itself (DW_AT_comp_dir) becomes ".": from 6.13 kbuild compiles an external
      // module in its own folder (7.3). GCC tries the last matching map first.
      cflags: [`-ffile-prefix-map=${kmod}=.`, `-ffile-prefix-map=${kmod}/=`],
      vars: [`PAHOLE=${pahole}`],
    });
    const ko = built.modules[0];
    if (!ko || !existsSync(ko)) throw new CreateError(`kbuild built no module in ${kmod}:\n${built.output}`);

    progress('converting and verifying');
    const map = await opts.loadMap();
    const obj = ElfObject.parse(readFileSync(ko), ko);
    // convertLivepatch checks its output with verify's rules and throws on any finding.
    convertLivepatch(obj, { map, exports: opts.exports });
    return { module: name, release: target.release, functions, externals: [...externals], output: writeElf(obj) };
  } finally {
    vml?.close();
    for (const ko of kos.values()) ko.close();
    if (!process.env.KLP_CREATE_KEEP) rmSync(work, { recursive: true, force: true });
    else progress(`work folder kept: ${work}`);
  }
}
