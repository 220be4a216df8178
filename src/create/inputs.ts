/**
 * What `create` needs of the target kernel besides its source tree: the vmlinux with its symbol
 * table (the -dbg package's), its shipped modules, the exports of Module.symvers, and the
 * whole-kernel symbol map the converter and verifier resolve against (built from that vmlinux and
 * the modules once, cached per release next to the trees).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTextInput } from '../io/read-file.js';
import { buildSymbolMap } from '../kernel/build-map.js';
import { cacheRoot } from '../kernel/cache.js';
import { loadMap, writeMap } from '../kernel/map-load.js';
import type { KernelSymbolMap } from '../kernel/symbol-map.js';
import { type Export, parseSymvers } from '../kernel/symvers.js';
import { CreateError, type KernelTarget, type Progress } from './tree.js';

export interface KernelInputs {
  vmlinux: string;
  /** Folder of the kernel's shipped modules, if there is one. */
  modules: string | undefined;
  exports: Map<string, Export>;
  /** Loaded (or built and cached) on first use: a dry run of a vmlinux patch never needs it. */
  loadMap: () => Promise<KernelSymbolMap>;
}

/**
 * `vmlinux`/`symbols` override where the vmlinux and the map come from; by default the vmlinux is
 * the one scripts/debian-kernel.sh --dbg fetched into the cache or the installed -dbg package's,
 * and the map is <cache>/<release>.map, built on first use.
 */
export function kernelInputs(target: KernelTarget, given: { vmlinux?: string; symbols?: string }, progress: Progress): KernelInputs {
  const rel = target.release;
  const kernelCache = join(cacheRoot(), 'debian', rel);
  const vmlinux = given.vmlinux ?? [join(kernelCache, 'vmlinux-dbg'), `/usr/lib/debug/boot/vmlinux-${rel}`].find((p) => existsSync(p));
  if (!vmlinux)
    throw new CreateError(
      `no vmlinux with symbols for ${rel}: run 'scripts/debian-kernel.sh --dbg ${rel}' or install linux-image-${rel}-dbg, or give --vmlinux`,
    );
  // 7.x's packages put the modules under /usr/lib/modules (the usr merge), 6.x's under /lib/modules.
  const places = [
    join(kernelCache, 'root', 'lib', 'modules', rel, 'kernel'),
    join(kernelCache, 'root', 'usr', 'lib', 'modules', rel, 'kernel'),
    `/lib/modules/${rel}/kernel`,
  ];
  const modules = places.find((p) => existsSync(p));
  const symversPath = join(target.headers, 'Module.symvers');
  const exports = parseSymvers(readTextInput(symversPath, 'Module.symvers'), symversPath);
  const map = async (): Promise<KernelSymbolMap> => {
    if (given.symbols) return loadMap(given.symbols);
    const cached = join(cacheRoot(), `${rel}.map`);
    if (existsSync(cached)) return loadMap(cached);
    // A map without the modules would be cached and send every module patch astray.
    if (!modules) throw new CreateError(`no modules of ${rel} (looked in ${places.join(', ')}): run scripts/debian-kernel.sh ${rel}`);
    progress(`building the symbol map of ${rel} (cached as ${cached})`);
    const built = await buildSymbolMap({ vmlinux, modules: [modules], symvers: symversPath, keepGoing: true });
    built.map.meta.set('release', rel);
    mkdirSync(cacheRoot(), { recursive: true });
    writeMap(built.map, cached, 'binary');
    return built.map;
  };
  return { vmlinux, modules, exports, loadMap: map };
}
