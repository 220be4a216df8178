import { type Stats, statSync } from 'node:fs';
import { describe } from '../io/atomic-write.js';
import { readTextInput } from '../io/read-file.js';
import { readSymbolFiles } from './symbol-files.js';
import { KernelDataError } from './errors.js';
import { addKallsyms, addSystemMap } from './kallsyms-file.js';
import { kallsymsRulesFor, kernelVersionOf } from './kallsyms-rules.js';
import { findModules } from './module-files.js';
import { MemorySymbolMap } from './symbol-map.js';
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

/** A module that cannot be read, where the caller did not ask for such modules to be skipped (keepGoing). */
export class UnreadableModuleError extends KernelDataError {}

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
  if (given.length > 1) throw new KernelDataError(`give one source of vmlinux symbols, not ${given.join(' and ')}`);
  let release = src.release;
  const read = readSymbolFiles(src.vmlinux, release, () => modulePaths(src.modules), !!src.keepGoing, src.progress);
  // Settled below; a failure of the text sources first must not leave it unhandled.
  read.catch(() => {});
  if (src.kallsyms) {
    addKallsyms(map, readTextInput(src.kallsyms, 'kallsyms dump'), src.kallsyms);
  }
  if (src.systemMap) {
    addSystemMap(map, readTextInput(src.systemMap, 'System.map'), src.systemMap, kallsymsRulesFor(release));
  }

  const { vmlinux, files, modules } = await read;
  if (vmlinux) {
    map.adopt(vmlinux.symbols);
    release = vmlinux.release;
  }
  const fromFile = new Map<string, string>();
  for (let i = 0; i < files.length; i++) {
    const path = files[i];
    const m = modules[i];
    // Not reached: an earlier module failed (and that one is reported).
    if (!m) continue;
    if ('problem' in m) {
      if (!src.keepGoing) throw new UnreadableModuleError(m.problem);
      problems.push(m.problem);
      continue;
    }
    const earlier = fromFile.get(m.name);
    if (earlier) {
      const problem = `${path}: module '${m.name}' was already read from ${earlier}`;
      if (!src.keepGoing) throw new UnreadableModuleError(problem);
      problems.push(problem);
      continue;
    }
    fromFile.set(m.name, path);
    // A module file knows more (types, sizes, source files) than a kallsyms dump.
    map.adopt(m);
  }

  if (src.symvers) {
    for (const exp of parseSymvers(readTextInput(src.symvers, 'Module.symvers'), src.symvers).values()) {
      map.object(exp.object)?.exports.set(exp.name, exp.exportType);
    }
  }
  if (map.objects.size === 0) throw new KernelDataError('no symbols: no source of vmlinux symbols and no modules');
  // What the map was made for: the release, and the version whose kallsyms rules counted vmlinux.
  if (release) map.meta.set('release', release);
  const version = release && kernelVersionOf(release);
  if (version) map.meta.set('version', `${version.major}.${version.minor}`);
  return { map, problems };
}
