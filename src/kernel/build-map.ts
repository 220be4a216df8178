import { type Stats, statSync } from 'node:fs';
import { ElfError } from '../elf/errors.js';
import { FileSource } from '../elf/file-source.js';
import { ElfReader } from '../elf/reader.js';
import { describe } from '../io/atomic-write.js';
import { readTextInput } from '../io/read-file.js';
import { addVmlinuxSymbols, readModuleSymbols, vmlinuxRelease } from './elf-symbols.js';
import { KernelDataError } from './errors.js';
import { addKallsyms, addSystemMap } from './kallsyms-file.js';
import { kallsymsRulesFor, kernelVersionOf } from './kallsyms-rules.js';
import { findModules, openModule } from './module-files.js';
import { MemorySymbolMap, VMLINUX } from './symbol-map.js';
import { parseSymvers } from './symvers.js';

export interface SymbolSources {
  vmlinux?: string;
  kallsyms?: string;
  systemMap?: string;
  /** Folders to search for modules, and module files. */
  modules: string[];
  symvers?: string;
  /**
   * The kernel release the sources are of; it selects the kallsyms rules of its version. A vmlinux
   * says it itself (linux_banner); without either, the 6.1 rules.
   */
  release?: string;
  /** Report unreadable modules and go on with the rest instead of stopping at the first. */
  keepGoing?: boolean;
  progress?: (done: number, total: number) => void;
}

export interface BuildResult {
  map: MemorySymbolMap;
  /** Modules that could not be read (only with keepGoing) and other things worth a warning. */
  problems: string[];
}

function modulePaths(entries: string[]): string[] {
  const out: string[] = [];
  for (const p of entries) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch (e) {
      throw new KernelDataError(`cannot read module ${p}: ${describe(e)}`);
    }
    // Anything else that is not a folder is refused by name when it is opened.
    if (st.isDirectory()) out.push(...findModules(p));
    else out.push(p);
  }
  return out;
}

export async function buildSymbolMap(src: SymbolSources): Promise<BuildResult> {
  const map = new MemorySymbolMap();
  const problems: string[] = [];
  const given = [src.vmlinux && 'vmlinux', src.kallsyms && 'kallsyms', src.systemMap && 'System.map'].filter(Boolean);
  let release = src.release;
  if (src.vmlinux) {
    let source: FileSource;
    try {
      source = new FileSource(src.vmlinux);
    } catch (e) {
      throw new KernelDataError(`cannot read vmlinux ${src.vmlinux}: ${describe(e)}`);
    }
    try {
      const reader = new ElfReader(source, src.vmlinux);
      release ??= vmlinuxRelease(reader);
      addVmlinuxSymbols(reader, map.objectFor(VMLINUX), kallsymsRulesFor(release));
    } finally {
      source.close();
    }
  }
  if (src.kallsyms) {
    if (src.vmlinux) throw new KernelDataError(`give one source of vmlinux symbols, not ${given.join(' and ')}`);
    addKallsyms(map, readTextInput(src.kallsyms, 'kallsyms dump'), src.kallsyms);
  }
  if (src.systemMap) {
    if (given.length > 1) throw new KernelDataError(`give one source of vmlinux symbols, not ${given.join(' and ')}`);
    addSystemMap(map, readTextInput(src.systemMap, 'System.map'), src.systemMap, kallsymsRulesFor(release));
  }

  const files = modulePaths(src.modules);
  const fromFile = new Map<string, string>();
  for (let i = 0; i < files.length; i++) {
    const path = files[i];
    try {
      const { reader, close } = await openModule(path);
      try {
        readModuleSymbols(reader, path, (name) => {
          const earlier = fromFile.get(name);
          if (earlier) throw new KernelDataError(`${path}: module '${name}' was already read from ${earlier}`);
          fromFile.set(name, path);
          // A module file knows more (types, sizes, source files) than a kallsyms dump.
          map.drop(name);
          return map.objectFor(name);
        });
      } finally {
        close();
      }
    } catch (e) {
      if (!(e instanceof ElfError || e instanceof KernelDataError)) throw e;
      const msg = e instanceof ElfError ? e.inFile(path).message : e.message;
      if (!src.keepGoing) throw new KernelDataError(`${msg} (use --keep-going to skip unreadable modules)`);
      problems.push(msg);
    }
    src.progress?.(i + 1, files.length);
  }

  if (src.symvers) {
    for (const exp of parseSymvers(readTextInput(src.symvers, 'Module.symvers'), src.symvers).values()) {
      map.object(exp.object)?.exports.set(exp.name, exp.exportType);
    }
  }
  if (map.objects.size === 0) throw new KernelDataError('no symbols: give --vmlinux, --kallsyms, --system-map or modules');
  // What the map was made for: the release, and the version whose kallsyms rules counted vmlinux.
  if (release) map.meta.set('release', release);
  const version = release && kernelVersionOf(release);
  if (version) map.meta.set('version', `${version.major}.${version.minor}`);
  return { map, problems };
}
