import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runKbuild } from '../src/build/kbuild.js';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import { loadMap, writeMap } from '../src/kernel/map-load.js';
import type { KernelSymbolMap } from '../src/kernel/symbol-map.js';
import { type Export, parseSymvers } from '../src/kernel/symvers.js';
import { copySources, repoRoot, requireDebianKernel } from './helpers.js';

export interface Fixtures {
  /** name → path of the module kbuild built (unconverted); shared between test files: read only */
  modules: Map<string, string>;
  map: KernelSymbolMap;
  /** The map as a file. */
  mapFile: string;
  /**
   * The map of the kallsyms dump alone (vmlinux and the few modules loaded then), for the commands
   * whose modules use only vmlinux: a fifth of the size, so each command run loads it faster.
   */
  kallsymsMapFile: string;
  exports: Map<string, Export>;
}

const samples = ['auto-resolved/klp_sample_auto.c', 'annotated/klp_sample_annotated.c', 'ambiguous/klp_sample_ambiguous.c'];

/** Every file under `dir` (recursively), for the cache key. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/**
 * What the fixtures are made from: the module sources, klp-convert.h, and every source file of the
 * code that builds them (src/, which holds kbuild.ts and the map builder and format), plus the
 * kernel data by size and time. Any change makes a new key, so a stale build is never used.
 */
function cacheKey(kernel: ReturnType<typeof requireDebianKernel>): string {
  const h = createHash('sha256');
  const inputs = [
    ...files(join(repoRoot, 'test', 'modules', 'convert')).filter((f) => /\.c$|Makefile$/.test(f)),
    ...samples.map((s) => join(repoRoot, 'samples', s)),
    join(repoRoot, 'include', 'klp-convert.h'),
    join(repoRoot, 'test', 'kbuild-fixtures.ts'),
    ...files(join(repoRoot, 'src')),
  ];
  for (const f of inputs)
    h.update(`${relative(repoRoot, f)}\0`)
      .update(readFileSync(f))
      .update('\0');
  for (const f of [kernel.kallsyms, kernel.symvers, kernel.modules, join(kernel.kdir, 'Makefile')]) {
    const st = statSync(f);
    h.update(`${f}\0${st.size}\0${st.mtimeMs}\0`);
  }
  return h.digest('hex').slice(0, 16);
}

async function build(dir: string, kernel: ReturnType<typeof requireDebianKernel>): Promise<void> {
  const src = join(dir, 'kbuild');
  copySources(join(repoRoot, 'test', 'modules', 'convert'), src);
  for (const s of samples) cpSync(join(repoRoot, 'samples', s), join(src, basename(s)));
  const makefile = join(src, 'Makefile');
  writeFileSync(makefile, `${readFileSync(makefile, 'utf8')}obj-m += ${samples.map((s) => basename(s).replace(/\.c$/, '.o')).join(' ')}\n`);
  const built = runKbuild(src, kernel.kdir, join(repoRoot, 'include'));
  writeFileSync(join(dir, 'modules.json'), JSON.stringify(built.modules.map((m) => relative(dir, m))));
  const { map } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers });
  writeMap(map, join(dir, 'map'));
  writeMap((await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [], symvers: kernel.symvers })).map, join(dir, 'kallsyms.map'));
}

/** Fixtures of other inputs, unused for a week (other checkouts may share .cache), go. */
function prune(root: string, keep: string): void {
  for (const d of readdirSync(root)) {
    const path = join(root, d);
    if (path !== keep && Date.now() - statSync(path).mtimeMs > 7 * 86_400_000) rmSync(path, { recursive: true, force: true });
  }
}

/**
 * The test livepatch modules of test/modules/convert and the single-file samples, built in one
 * kbuild run against Debian's headers, and the symbol map of Debian's kernel (4,023 modules).
 * Built once per change of their inputs and kept under .cache/test-fixtures/<key>: node runs each
 * test file in its own process, and they would otherwise each build the same thing. A lock
 * (mkdir is atomic) makes concurrent test files wait for the one building.
 */
export async function buildFixtures(): Promise<Fixtures> {
  const kernel = requireDebianKernel();
  const root = join(repoRoot, '.cache', 'test-fixtures');
  const dir = join(root, cacheKey(kernel));
  const lock = `${dir}.lock`;
  mkdirSync(root, { recursive: true });
  while (!existsSync(dir)) {
    try {
      mkdirSync(lock);
    } catch {
      // Another test file is building it; a lock older than any build is a crashed builder's.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      await sleep(200);
      continue;
    }
    const tmp = `${dir}.${process.pid}.tmp`;
    try {
      rmSync(tmp, { recursive: true, force: true });
      await build(tmp, kernel);
      renameSync(tmp, dir);
      prune(root, dir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      rmSync(lock, { recursive: true, force: true });
    }
  }
  const modules = (JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8')) as string[]).map((m) => join(dir, m));
  const mapFile = join(dir, 'map');
  return {
    modules: new Map(modules.map((m) => [basename(m, '.ko'), m])),
    map: loadMap(mapFile),
    mapFile,
    kallsymsMapFile: join(dir, 'kallsyms.map'),
    exports: parseSymvers(readFileSync(kernel.symvers, 'latin1'), kernel.symvers),
  };
}
