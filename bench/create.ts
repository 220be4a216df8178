/**
 * `klp-convert create` timings (read, not asserted): a one-function vmlinux patch
 * (test/modules/create/cmdline-string.patch) to a verified .ko,
 *  1. with the prepared kernel tree cached (target < 20 s on 2 cores), median of 3;
 *  2. with BENCH_CREATE_COLD=1, from nothing cached: a fresh KLP_CACHE, so the run downloads
 *     linux-source, extracts, configures and prepares the tree (target < 3 min on 2 cores).
 * Run: node --import tsx bench/create.ts
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianKernel, repoRoot } from '../test/helpers.js';

const kernel = debianKernel();
if (!kernel) {
  console.log('create bench: no Debian kernel in .cache/debian (run scripts/setup-debian.sh)');
  process.exit(0);
}
const patch = join(repoRoot, 'test', 'modules', 'create', 'cmdline-string.patch');
const cli = join(repoRoot, 'src', 'cli', 'main.ts');
const out = mkdtempSync(join(tmpdir(), 'klpc-bench-create-'));

function create(env: NodeJS.ProcessEnv): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', `import('${cli}').then(async (m) => { process.exitCode = await m.main(process.argv.slice(1)); })`, 'create', '--kernel', kernel!.kver, '-o', join(out, 'lp.ko'), patch], {
    encoding: 'utf8', env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`create failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const warm = [create({}), create({}), create({})].sort((a, b) => a - b)[1];
console.log(`create, prepared tree cached: ${warm.toFixed(1)} s (median of 3)`);
if (process.env.BENCH_CREATE_COLD) {
  const cold = mkdtempSync(join(tmpdir(), 'klpc-cold-cache-'));
  // The kernel packages and the symbol map are inputs, not the tree: keep them.
  const home = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'klp-convert');
  mkdirSync(join(cold, 'debian'), { recursive: true });
  if (existsSync(join(home, 'debian', kernel.kver))) cpSync(join(home, 'debian', kernel.kver), join(cold, 'debian', kernel.kver), { recursive: true });
  if (existsSync(join(home, `${kernel.kver}.map`))) cpSync(join(home, `${kernel.kver}.map`), join(cold, `${kernel.kver}.map`));
  console.log(`create, nothing cached (download, extract, prepare): ${create({ KLP_CACHE: cold }).toFixed(1)} s`);
  rmSync(cold, { recursive: true, force: true });
}
rmSync(out, { recursive: true, force: true });
