import { existsSync, mkdirSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { buildSymbolMap } from './build-map.js';
import { cacheRoot } from './cache.js';
import { KernelDataError } from './errors.js';
import { loadMap, writeMap } from './map-load.js';
import { kernelRelease } from './release.js';
import { runningKernelSources } from './running-kernel.js';
import type { KernelSymbolMap } from './symbol-map.js';

/**
 * The symbol map of the kernel KDIR builds for: cached per release in
 * the cache (cacheRoot); built from the running kernel when
 * that is the one, else an error telling how to make it.
 */
export async function kernelMapFor(kdir: string): Promise<KernelSymbolMap> {
  const rel = kernelRelease(kdir);
  const cacheDir = cacheRoot();
  const cached = join(cacheDir, `${rel}.map`);
  if (existsSync(cached)) return loadMap(cached);
  if (rel !== release()) {
    throw new KernelDataError(
      `no symbol map for kernel ${rel}, which is not the running kernel (${release()}): build one with ` +
        `'klp-convert symbols --kallsyms KALLSYMS --modules /lib/modules/${rel} -o MAP' and pass --symbols MAP (or save it as ${cached})`,
    );
  }
  // Module.symvers marks vmlinux's exports too, which a kallsyms dump does not say.
  const symvers = join(kdir, 'Module.symvers');
  const { map } = await buildSymbolMap({ ...runningKernelSources(), symvers: existsSync(symvers) ? symvers : undefined });
  mkdirSync(cacheDir, { recursive: true });
  writeMap(map, cached, 'binary');
  return map;
}
