import { existsSync, mkdirSync } from 'node:fs';
import { homedir, release } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-write.js';
import { readTextInput } from '../io/read-file.js';
import { buildSymbolMap } from './build-map.js';
import { KernelDataError } from './errors.js';
import { formatMap, parseMap } from './map-format.js';
import { kernelRelease } from './release.js';
import { runningKernelSources } from './running-kernel.js';
import type { KernelSymbolMap } from './symbol-map.js';

/** A symbol map file, in whichever format it was written. Every map file is read here. */
export function readMapFile(path: string): KernelSymbolMap {
  return parseMap(readTextInput(path, 'symbol map'), path);
}

/** Keep a map for later runs (the cache, test fixtures); `readMapFile` reads it back. */
export function writeMapFile(map: KernelSymbolMap, path: string): void {
  writeFileAtomic(path, formatMap(map, 'klp-convert'));
}

/**
 * The symbol map of the kernel KDIR builds for: cached per release in
 * $XDG_CACHE_HOME/klp-convert (default ~/.cache/klp-convert); built from the running kernel when
 * that is the one, else an error telling how to make it.
 */
export async function kernelMapFor(kdir: string): Promise<KernelSymbolMap> {
  const rel = kernelRelease(kdir);
  const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'klp-convert');
  const cached = join(cacheDir, `${rel}.map`);
  if (existsSync(cached)) return readMapFile(cached);
  if (rel !== release()) {
    throw new KernelDataError(
      `no symbol map for kernel ${rel}, which is not the running kernel (${release()}): build one with ` +
        `'klp-convert symbols --kallsyms KALLSYMS --modules /lib/modules/${rel} -o MAP' and pass --symbols MAP (or save it as ${cached})`,
    );
  }
  const { map } = await buildSymbolMap(runningKernelSources());
  map.meta.set('release', rel);
  mkdirSync(cacheDir, { recursive: true });
  writeMapFile(map, cached);
  return map;
}
