import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runKbuild } from '../src/build/kbuild.js';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import type { KernelSymbolMap } from '../src/kernel/symbol-map.js';
import { type Export, parseSymvers } from '../src/kernel/symvers.js';
import { copySources, repoRoot, requireDebianKernel } from './helpers.js';

export interface Fixtures {
  /** name → path of the module kbuild built (unconverted) */
  modules: Map<string, string>;
  map: KernelSymbolMap;
  exports: Map<string, Export>;
  dir: string;
}

/**
 * The test livepatch modules of test/modules/convert and the single-file samples, built in one
 * kbuild run against Debian's headers, and the symbol map of Debian's kernel.
 */
export async function buildFixtures(dir: string): Promise<Fixtures> {
  const kernel = requireDebianKernel();
  copySources(join(repoRoot, 'test', 'modules', 'convert'), dir);
  const samples = ['auto-resolved/klp_sample_auto.c', 'annotated/klp_sample_annotated.c', 'ambiguous/klp_sample_ambiguous.c'];
  for (const s of samples) cpSync(join(repoRoot, 'samples', s), join(dir, basename(s)));
  const makefile = join(dir, 'Makefile');
  writeFileSync(makefile, `${readFileSync(makefile, 'utf8')}obj-m += ${samples.map((s) => basename(s).replace(/\.c$/, '.o')).join(' ')}\n`);
  const built = runKbuild(dir, kernel.kdir, join(repoRoot, 'include'));
  const modules = new Map(built.modules.map((m) => [basename(m, '.ko'), m]));
  const { map } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers });
  const exports = parseSymvers(readFileSync(kernel.symvers, 'latin1'), kernel.symvers);
  return { modules, map, exports, dir };
}
