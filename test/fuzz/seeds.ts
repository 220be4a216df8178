import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runKbuild } from '../../src/build/kbuild.js';
import { repoRoot, requireDebianKernel } from '../helpers.js';
import { seedsDir } from './corpus.js';

/**
 * Rebuilds test/fixtures/hostile/seeds: the single-file samples built by kbuild against Debian's
 * headers, debug info stripped (it is most of their size and none of what the fuzzer aims at).
 * Run `node --import tsx test/fuzz/seeds.ts` after changing a sample.
 */
const samples = [
  'annotated/klp_sample_annotated.c',
  'auto-resolved/klp_sample_auto.c',
  'by-file/klp_sample_byfile.c',
  'livepatch-sample/klp_sample_plain.c',
];
const kernel = requireDebianKernel();
const dir = mkdtempSync(join(tmpdir(), 'klpc-seeds-'));
try {
  for (const s of samples) cpSync(join(repoRoot, 'samples', s), join(dir, basename(s)));
  writeFileSync(join(dir, 'Makefile'), `obj-m := ${samples.map((s) => basename(s).replace(/\.c$/, '.o')).join(' ')}\n`);
  const built = runKbuild(dir, kernel.kdir, join(repoRoot, 'include'));
  for (const m of built.modules) {
    const to = join(seedsDir, basename(m));
    copyFileSync(m, to);
    execFileSync('strip', ['--strip-debug', to]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
