import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import { formatMap } from '../src/kernel/map-format.js';
import { copySources, repoRoot, requireDebianKernel, runCli, tempDir } from './helpers.js';

const dir = tempDir();
const kernel = requireDebianKernel();
const kdir = kernel.kdir;
const map = join(dir, 'map');

before(async () => {
  const { map: m } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [], symvers: kernel.symvers });
  writeFileSync(map, formatMap(m, 'klp-convert'));
});

test('build: converts the livepatch, hides the modpost warnings it resolved, warns about a module missing MODULE_INFO(livepatch)', () => {
  const src = join(dir, 'mixed');
  cpSync(join(repoRoot, 'samples', 'auto-resolved', 'klp_sample_auto.c'), join(src, 'klp_sample_auto.c'));
  cpSync(join(repoRoot, 'test', 'modules', 'convert', 'klp_t_notlp.c'), join(src, 'klp_t_notlp.c'));
  writeFileSync(join(src, 'Makefile'), 'obj-m := klp_sample_auto.o klp_t_notlp.o\n');
  writeFileSync(join(src, 'klp_t_notlp.c'), `${readFileSync(join(src, 'klp_t_notlp.c'), 'utf8')}static int unused_on_purpose;\n`);
  const out = join(dir, 'out');
  const r = runCli(['build', src, '--kdir', kdir, '-s', map, '-o', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /klp_sample_auto\.ko: 2 symbols, 4 relocations converted/);
  assert.doesNotMatch(r.stdout + r.stderr, /modpost: "(saved_command_line|nr_processes)"/);
  // Compiler diagnostics stay; kbuild's progress lines go.
  assert.match(r.stderr, /warning: 'unused_on_purpose' defined but not used|warning: ‘unused_on_purpose’ defined but not used/);
  assert.doesNotMatch(r.stderr, /CC \[M\]|Entering directory/);
  assert.match(r.stderr, /warning: .*klp_t_notlp\.ko references symbols the module loader cannot resolve \(saved_command_line\) but has no MODULE_INFO\(livepatch, "Y"\); not converted/);
  assert.ok(existsSync(join(out, 'klp_sample_auto.ko')) && existsSync(join(out, 'klp_t_notlp.ko')));
  const v = runCli(['verify', join(out, 'klp_sample_auto.ko'), '-s', map, '--symvers', kernel.symvers]);
  assert.equal(v.status, 0, v.stdout);
});

test('build: no kernel tree, no Makefile, a kernel with no map: one line each, exit 1', () => {
  let r = runCli(['build', dir, '--kdir', '/nonexistent/build']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^klp-convert: no kernel build tree at \/nonexistent\/build: install the headers of that kernel/);
  r = runCli(['build', join(dir, 'empty-nothing-here'), '--kdir', kdir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /has no Makefile or Kbuild file naming the modules to build/);
  const src = join(dir, 'nomap');
  copySources(join(repoRoot, 'samples', 'auto-resolved'), src);
  r = runCli(['build', src, '--kdir', kdir], { env: { XDG_CACHE_HOME: join(dir, 'cache') } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`no symbol map for kernel ${kernel.kver.replace(/[.+]/g, '\\$&')}, which is not the running kernel`));
});
