import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { parseModpostLine } from '../src/build/kbuild.js';
import { type CliResult, copySources, listDir, readelf, repoRoot, requireDebianKernel, runCliInProcess, tempDir } from './helpers.js';
import { buildFixtures } from './kbuild-fixtures.js';

const dir = tempDir();
const kernel = requireDebianKernel();
const kdir = kernel.kdir;
let map: string;

before(async () => {
  // The kallsyms dump's map with Module.symvers, built once per run for every test file.
  map = (await buildFixtures()).kallsymsMapFile;
});

/**
 * The CLI in this process with another working folder and environment (make inherits both), put
 * back afterwards: a process of its own would cost a node and tsx start.
 */
async function runCliWith(args: string[], opts: { cwd?: string; env: Record<string, string> }): Promise<CliResult> {
  const cwd = process.cwd();
  const saved = Object.keys(opts.env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, opts.env);
  if (opts.cwd) process.chdir(opts.cwd);
  try {
    return await runCliInProcess(args);
  } finally {
    process.chdir(cwd);
    for (const [k, v] of saved)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

interface SharedBuild {
  src: string;
  out: string;
  r: CliResult;
  /** The fixture's vmlinux statics and the names they became for the selected kernel. */
  names: Map<string, string>;
}
let shared: Promise<SharedBuild> | undefined;

/**
 * One `build` of the folder the successful-build tests share, run once per test file (kbuild is
 * what this file spends its time on): the auto-resolved sample, a module that is no livepatch
 * (with a compiler warning), and klp_t_many, a livepatch with 13 unresolved references. modpost
 * (Linux 6.1) sees 16 undefined symbols in all, prints 10, suppresses 6, and reports lvltxt.0 as
 * "lvltxt".
 */
function sharedBuild(): Promise<SharedBuild> {
  shared ??= (async () => {
    const src = join(dir, 'shared');
    const names = unresolvedFor(src);
    cpSync(join(repoRoot, 'samples', 'auto-resolved', 'klp_sample_auto.c'), join(src, 'klp_sample_auto.c'));
    writeFileSync(
      join(src, 'klp_t_notlp.c'),
      `${readFileSync(join(repoRoot, 'test', 'modules', 'convert', 'klp_t_notlp.c'), 'utf8')}static int unused_on_purpose;\n`,
    );
    writeFileSync(join(src, 'Makefile'), `${readFileSync(join(src, 'Makefile'), 'utf8')}obj-m += klp_sample_auto.o klp_t_notlp.o\n`);
    const out = join(dir, 'out');
    return { src, out, names, r: await runCliInProcess(['build', src, '--kdir', kdir, '-s', map, '-o', out]) };
  })();
  return shared;
}

test('build: converts the livepatch, hides the modpost warnings it resolved, warns about a module missing MODULE_INFO(livepatch)', async () => {
  const { out, r } = await sharedBuild();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /klp_sample_auto\.ko: 2 symbols, 4 relocations converted/);
  assert.doesNotMatch(r.stdout + r.stderr, /modpost: "(saved_command_line|nr_processes)"/);
  // Compiler diagnostics stay; kbuild's progress lines go.
  assert.match(r.stderr, /warning: 'unused_on_purpose' defined but not used|warning: ‘unused_on_purpose’ defined but not used/);
  assert.doesNotMatch(r.stderr, /CC \[M\]|Entering directory/);
  assert.match(
    r.stderr,
    /warning: .*klp_t_notlp\.ko references symbols the module loader cannot resolve \(saved_command_line\) but has no MODULE_INFO\(livepatch, "Y"\); not converted/,
  );
  assert.ok(existsSync(join(out, 'klp_sample_auto.ko')) && existsSync(join(out, 'klp_t_notlp.ko')));
  const v = await runCliInProcess(['verify', join(out, 'klp_sample_auto.ko'), '-s', map, '--symvers', kernel.symvers]);
  assert.equal(v.status, 0, v.stdout);
});

test('build: no kernel tree, no Makefile, a kernel with no map: one line each, exit 1', async () => {
  let r = await runCliInProcess(['build', dir, '--kdir', '/nonexistent/build']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^klp-convert: no kernel build tree at \/nonexistent\/build: install the headers of that kernel/);
  r = await runCliInProcess(['build', join(dir, 'empty-nothing-here'), '--kdir', kdir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /has no Makefile or Kbuild file naming the modules to build/);
  // The shared folder, already built: kbuild has nothing to redo, the livepatches in it need a map.
  const { src } = await sharedBuild();
  r = await runCliWith(['build', src, '--kdir', kdir], { env: { XDG_CACHE_HOME: join(dir, 'cache') } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`no symbol map for kernel ${kernel.kver.replace(/[.+]/g, '\\$&')}, which is not the running kernel`));
});

/**
 * Copies test/modules/unresolved to `to`, made for the selected kernel: the vmlinux statics it
 * references (named for 6.1) become ones that kernel has. A name that kernel's /proc/kallsyms lists
 * once in vmlinux stays; another (`dummy_vm_ops.252` is 6.1's, gone from 6.12) becomes a name of
 * the same stem listed once, else another name with a suffix of 3 digits listed once. Returns each
 * fixture name with the name it became.
 */
function unresolvedFor(to: string): Map<string, string> {
  copySources(join(repoRoot, 'test', 'modules', 'unresolved'), to);
  const counts = new Map<string, number>();
  for (const line of readFileSync(kernel.kallsyms, 'latin1').split('\n')) {
    const [, , name, module] = line.split(/\s+/);
    if (name && !module) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const once = [...counts]
    .filter(([n, c]) => c === 1 && /\.\d+$/.test(n))
    .map(([n]) => n)
    .sort();
  const file = join(to, 'klp_t_many_refs.c');
  const source = readFileSync(file, 'utf8');
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const [, name] of source.matchAll(/__asm__\("([^"]+\.\d+)"\)/g)) {
    const stem = name.slice(0, name.lastIndexOf('.'));
    const chosen =
      counts.get(name) === 1
        ? name
        : (once.find((n) => n.startsWith(`${stem}.`) && /^\d+$/.test(n.slice(stem.length + 1)) && !used.has(n)) ??
          once.find((n) => /\.\d{3}$/.test(n) && !used.has(n) && !source.includes(`"${n}"`)));
    assert.ok(chosen, `kernel ${kernel.kver} lists no vmlinux static to stand for ${name}`);
    used.add(chosen);
    names.set(name, chosen);
  }
  writeFileSync(
    file,
    source.replace(/__asm__\("([^"]+)"\)/g, (all, name: string) => (names.has(name) ? `__asm__("${names.get(name)}")` : all)),
  );
  return names;
}

test('build judges the converted module, not modpost: 13 unresolved references, names ending in .<digits>, a static and a global of one name', async () => {
  const { out, r, names } = await sharedBuild();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /klp_t_many\.ko: 13 symbols, 13 relocations converted/);
  assert.doesNotMatch(r.stderr, /undefined!|suppressed \d+ unresolved/);
  const ko = join(out, 'klp_t_many.ko');
  const syms = readelf('-sW', ko);
  for (const name of [...['nhm_magic.1', 'lvltxt.0', 'dummy_vm_ops.252', '__flags.424'].map((n) => names.get(n)!), 'nr_threads'])
    assert.ok(syms.includes(` .klp.sym.vmlinux.${name},0\n`), name);
  assert.match(syms, /OBJECT +LOCAL +DEFAULT +\d+ nr_threads\n/, "the module's own static stays");
  const v = await runCliInProcess(['verify', ko, '-s', map, '--symvers', kernel.symvers]);
  assert.equal(v.status, 0, v.stdout);
});

test('build: a reference nothing resolves fails the module, naming the symbol', async () => {
  // The shared folder with one more reference: kbuild rebuilds klp_t_many alone.
  const { src } = await sharedBuild();
  writeFileSync(
    join(src, 'klp_t_many_static.c'),
    `${readFileSync(join(src, 'klp_t_many_static.c'), 'utf8')}extern int klp_no_such_symbol_anywhere;\nint klp_t_many_missing(void) { return klp_no_such_symbol_anywhere; }\n`,
  );
  const r = await runCliInProcess(['build', src, '--kdir', kdir, '-s', map, '-o', join(dir, 'out-missing')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /klp_t_many\.ko: 'klp_no_such_symbol_anywhere' is not defined in the target kernel's symbol map/);
  assert.ok(!existsSync(join(dir, 'out-missing', 'klp_t_many.ko')));
});

test("modpost's unresolved-symbol lines: the wording up to 6.x, the 7.x one, the suppressed count; other lines are not", () => {
  // scripts/mod/modpost.c: check_exports() of 6.1 ("\"%s\" [%s.ko] undefined!"), of 7.x ("%s.ko: symbol '%s' undefined!").
  assert.deepEqual(parseModpostLine('WARNING: modpost: "lvltxt" [/tmp/x/klp_t_many.ko] undefined!'), {
    symbol: 'lvltxt',
    module: '/tmp/x/klp_t_many.ko',
  });
  assert.deepEqual(parseModpostLine('ERROR: modpost: "nr_threads" [e2e/klp_e2e.ko] undefined!'), {
    symbol: 'nr_threads',
    module: 'e2e/klp_e2e.ko',
  });
  assert.deepEqual(parseModpostLine("WARNING: modpost: /tmp/x/klp_t_many.ko: symbol 'lvltxt' undefined!"), {
    symbol: 'lvltxt',
    module: '/tmp/x/klp_t_many.ko',
  });
  assert.deepEqual(parseModpostLine("ERROR: modpost: e2e/klp_e2e.ko: symbol 'nr_threads' undefined!"), {
    symbol: 'nr_threads',
    module: 'e2e/klp_e2e.ko',
  });
  assert.deepEqual(parseModpostLine('WARNING: modpost: suppressed 3 unresolved symbol warnings because there were too many)'), {
    suppressed: 3,
  });
  for (const other of [
    '  MODPOST /tmp/x/Module.symvers',
    'WARNING: modpost: missing MODULE_DESCRIPTION() in /tmp/x/klp_t_many.o',
    'make[1]: Leaving directory',
  ]) {
    assert.equal(parseModpostLine(other), undefined, other);
  }
});

test('build: folder names kbuild would run as make or shell code are refused before make runs', async () => {
  const home = join(dir, 'home');
  const work = join(dir, 'inject');
  mkdirSync(home);
  for (const name of ['x$(shell cd;touch klp-pwned-make)', 'semi;touch$${IFS}klp-pwned-semi;x']) {
    const src = join(work, name);
    copySources(join(repoRoot, 'samples', 'auto-resolved'), src);
    const r = await runCliWith(['build', src, '--kdir', kdir, '-s', map], { cwd: work, env: { HOME: home } });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^klp-convert: cannot build with the module folder ".*": kbuild would run its characters .* as make or shell code/,
    );
    assert.ok(!existsSync(join(src, 'klp_sample_auto.ko')));
  }
  for (const place of [home, work, dir, kdir, repoRoot])
    assert.deepEqual(
      listDir(place).filter((f) => f.startsWith('klp-pwned')),
      [],
      place,
    );
});
