/**
 * `klp-convert create` timings (read, not asserted): a one-function vmlinux patch
 * (test/modules/create/cmdline-string.patch) to a verified .ko,
 *  1. with the prepared kernel tree cached (target < 20 s on 2 cores), median of 3;
 *  2. with BENCH_CREATE_COLD=1, from nothing cached: a fresh KLP_CACHE, so the run downloads
 *     linux-source (140 MB), extracts, configures and prepares the tree, then records the unit's
 *     compile command with make (target < 3 min on 2 cores). Opt-in: it downloads, and writes 1.5 GB.
 * The load average is printed beside each figure: the machine is shared.
 * Run: [KVER=REL] node --import tsx bench/create.ts (npm run bench runs it after bench/run.ts); KVER picks
 * the Debian kernel as in the tests (6.1: 75-127 s cold, 4.4 s warm; 6.12: 43.7 s cold, 3.9 s warm).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRoot } from '../src/kernel/cache.js';
import { debianKernel, repoRoot } from '../test/helpers.js';

const kernel = debianKernel();
if (!kernel) {
  console.log('create bench: no Debian kernel in .cache/debian (run scripts/setup-debian.sh)');
  process.exit(0);
}
const patch = join(repoRoot, 'test', 'modules', 'create', 'cmdline-string.patch');
const bin = join(repoRoot, 'src', 'cli', 'bin.ts');
const out = mkdtempSync(join(tmpdir(), 'klpc-bench-create-'));
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

function create(env: NodeJS.ProcessEnv): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', 'tsx', bin, 'create', '--kernel', kernel!.kver, '-o', join(out, 'lp.ko'), patch], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`create failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

try {
  const warm = [create({}), create({}), create({})].sort((a, b) => a - b)[1];
  console.log(`create, prepared tree cached: ${warm.toFixed(1)} s (median of 3; load ${load()})`);
  if (process.env.BENCH_CREATE_COLD) {
    const cold = mkdtempSync(join(tmpdir(), 'klpc-cold-cache-'));
    try {
      // The kernel's packages (-dbg vmlinux, modules) and its symbol map are inputs of every
      // create, not what the first run prepares: linked in, not rebuilt.
      const home = cacheRoot();
      mkdirSync(join(cold, 'debian'), { recursive: true });
      if (existsSync(join(home, 'debian', kernel.kver))) symlinkSync(join(home, 'debian', kernel.kver), join(cold, 'debian', kernel.kver));
      if (existsSync(join(home, `${kernel.kver}.map`))) symlinkSync(join(home, `${kernel.kver}.map`), join(cold, `${kernel.kver}.map`));
      const before = load();
      console.log(
        `create, nothing cached (download, extract, prepare): ${create({ KLP_CACHE: cold }).toFixed(1)} s (load before ${before}, after ${load()})`,
      );
    } finally {
      rmSync(cold, { recursive: true, force: true });
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
