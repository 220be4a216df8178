import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import { formatMap, parseMap } from '../src/kernel/map-format.js';
import { loadMap } from '../src/kernel/map-load.js';
import { modinfoValue } from '../src/kernel/modinfo.js';
import { findModules } from '../src/kernel/module-files.js';
import { ColumnArena, type ObjectSymbols, VMLINUX } from '../src/kernel/symbol-map.js';
import { readModuleSymbols } from '../src/kernel/elf-symbols.js';
import { FileSource } from '../src/elf/file-source.js';
import { ElfReader } from '../src/elf/reader.js';
import { readSymbolFiles } from '../src/kernel/symbol-files.js';
import { compile, requireDebianKernel, runCliInProcess, tempDir } from './helpers.js';

const dir = tempDir();

/**
 * A two-file module as kbuild links it (`ld -r`), with the same static names in both files, an
 * init-only function, and a `.modinfo` naming it. Debian strips its modules' STT_FILE symbols;
 * ours keeps them, so source files can be checked.
 */
function buildModule(name: string): string {
  const a = compile(
    dir,
    `${name}_a`,
    `
static const char homonym[] __attribute__((used)) = "A";
static int __attribute__((noinline, used)) get_homonym(void) { return homonym[0]; }
int __attribute__((section(".init.text"), used)) init_only(void) { return 0; }
int shared_counter;
int *export_me = &shared_counter;
int use_a(void) { return get_homonym(); }
`,
  );
  const b = compile(
    dir,
    `${name}_b`,
    `
static const char homonym[] __attribute__((used)) = "B";
static int __attribute__((noinline, used)) get_homonym(void) { return homonym[0]; }
static int __attribute__((section(".init.text"), used)) init_local(void) { return 1; }
__attribute__((section(".modinfo"), used)) static const char modinfo_name[] = "name=${name}";
int use_b(void) { return get_homonym(); }
`,
  );
  const ko = join(dir, `${name.replace(/_/g, '-')}.ko`);
  execFileSync('ld', ['-r', a, b, '-o', ko]);
  return ko;
}

describe('modules: positions in symbol table order, core symbols only', () => {
  const ko = buildModule('test_dup_mod');

  test('duplicate statics get positions 1 and 2 in link order, with their source files', async () => {
    const { map } = await buildSymbolMap({ modules: [ko] });
    const mod = map.object('test_dup_mod');
    assert.ok(mod, 'module named from .modinfo name=');
    const defs = map.definitions('homonym');
    assert.deepEqual(
      defs.map((d) => [d.object, d.position, d.count, d.file]),
      [
        ['test_dup_mod', 1, 2, 'test_dup_mod_a.c'],
        ['test_dup_mod', 2, 2, 'test_dup_mod_b.c'],
      ],
    );
    assert.deepEqual(
      map.definitions('get_homonym').map((d) => d.type),
      ['t', 't'],
    );
    // Init sections are freed after the module's init: the kernel no longer counts their symbols.
    assert.deepEqual(map.definitions('init_only'), []);
    const init = mod.indicesOf('init_only').map((i) => mod.entry(i));
    assert.deepEqual(
      init.map((e) => e.position),
      [0],
    );
    // Both homonyms by index, in symbol table order: file a's, then file b's.
    assert.deepEqual(
      mod.indicesOf('homonym').map((i) => [mod.entry(i).position, mod.entry(i).file]),
      [
        [1, 'test_dup_mod_a.c'],
        [2, 'test_dup_mod_b.c'],
      ],
    );
    assert.deepEqual(mod.indicesOf('no_such_symbol'), []);
  });

  test('compressed modules (.ko.gz, .ko.xz, .ko.zst) read like plain ones', async () => {
    const compressed = join(dir, 'compressed');
    execFileSync('mkdir', ['-p', compressed]);
    const tools: [string, string[]][] = [
      ['gz', ['gzip', '-n', '-f']],
      ['xz', ['xz', '--check=crc32', '--lzma2=dict=1MiB', '-f']],
      ['zst', ['zstd', '-q', '-f', '--rm']],
    ];
    for (const [ext, cmd] of tools) {
      const copy = join(compressed, `${ext}-mod.ko`);
      copyFileSync(buildModule(`${ext}_mod`), copy);
      execFileSync(cmd[0], [...cmd.slice(1), copy]);
      assert.ok(existsSync(`${copy}.${ext}`));
    }
    const { map } = await buildSymbolMap({ modules: [compressed] });
    assert.deepEqual([...map.objects.keys()].sort(), ['gz_mod', 'xz_mod', 'zst_mod']);
    for (const mod of map.objects.keys()) {
      assert.deepEqual(
        map
          .object(mod)!
          .indicesOf('homonym')
          .map((i) => map.object(mod)!.position(i)),
        [1, 2],
        mod,
      );
    }
  });

  test('two files for one module name: an error, or a warning with keepGoing', async () => {
    const again = join(dir, 'again');
    execFileSync('mkdir', ['-p', again]);
    copyFileSync(ko, join(again, 'first.ko'));
    copyFileSync(ko, join(again, 'second.ko'));
    await assert.rejects(buildSymbolMap({ modules: [again] }), /second\.ko: module 'test_dup_mod' was already read from .*first\.ko/);
    const { map, problems } = await buildSymbolMap({ modules: [again], keepGoing: true });
    assert.equal(problems.length, 1);
    assert.deepEqual(
      map.definitions('homonym').map((d) => d.position),
      [1, 2],
    );
  });

  test('module name from the file name when .modinfo has none: - becomes _', async () => {
    const plain = compile(dir, 'plain', 'int plain_symbol;');
    const ko = join(dir, 'my-plain.ko');
    copyFileSync(plain, ko);
    const { map } = await buildSymbolMap({ modules: [ko] });
    assert.ok(map.object('my_plain'));
  });

  test('.modinfo name= is taken only at the start of an entry', () => {
    const modinfo = Buffer.from('license=GPL\0xname=wrong\0description=name=wrong too\0name=right\0', 'latin1');
    assert.equal(modinfoValue(modinfo, 'name'), 'right');
    assert.equal(modinfoValue(Buffer.from('name=first\0name=second\0', 'latin1'), 'name'), 'first');
    assert.equal(modinfoValue(Buffer.from('xname=a\0', 'latin1'), 'name'), undefined);
  });

  test('modules read one after the other into one ColumnArena: each table as when read alone', () => {
    const files = [
      buildModule('arena_one'),
      compile(dir, 'arena_two', 'int arena_counter; int arena_bump(void) { return ++arena_counter; }'),
    ];
    const read = (path: string, arena?: ColumnArena) => {
      const source = new FileSource(path);
      try {
        return readModuleSymbols(new ElfReader(source, path), path, arena);
      } finally {
        source.close();
      }
    };
    const arena = new ColumnArena();
    // Both read before either is looked at: a table whose views overlapped the next would show it.
    const shared = files.map((f) => read(f, arena));
    for (const [i, f] of files.entries()) {
      const alone = read(f);
      assert.deepEqual(shared[i].names, alone.names);
      assert.deepEqual({ ...shared[i].columns }, { ...alone.columns });
      assert.ok(alone.length > 1);
    }
  });

  test('module paths as path.join makes them, whatever the root looks like', () => {
    const root = join(dir, 'walk');
    mkdirSync(join(root, 'kernel', 'fs'), { recursive: true });
    writeFileSync(join(root, 'kernel', 'fs', 'a.ko'), '');
    writeFileSync(join(root, 'b.ko.xz'), '');
    const cwd = process.cwd();
    try {
      process.chdir(root);
      for (const given of ['.', './', 'kernel/', './kernel/fs/..', root, `${root}/`, `${root}//kernel/./`]) {
        const expected = given.includes('kernel')
          ? [join(given, 'fs', 'a.ko')]
          : [join(given, 'b.ko.xz'), join(given, 'kernel', 'fs', 'a.ko')];
        assert.deepEqual(findModules(given), expected, given);
      }
    } finally {
      process.chdir(cwd);
    }
  });

  test('a modules folder that cannot be read, with vmlinux already on the worker: its error, the worker stopped', async () => {
    // The worker starts on vmlinux before the modules are listed; the listing's failure must come
    // back as itself, and the worker must not outlive it: its port to this thread is closed once
    // it is terminated (left waiting for the module list, it would hold the process forever).
    const ports = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
    const before = ports();
    await assert.rejects(buildSymbolMap({ vmlinux: ko, modules: [join(dir, 'no-such-modules')] }), (e: Error) => {
      assert.equal(e.name, 'KernelDataError');
      assert.match(e.message, /^cannot read module .*no-such-modules: no such file or directory$/);
      return true;
    });
    // Termination is asynchronous: waited for, up to a bound far above what it takes.
    for (let k = 0; k < 100 && ports() > before; k++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(ports(), before, 'the worker was stopped');
  });

  test('vmlinux read on the worker thread (modules given too): its errors as when read here', async () => {
    // With a module to read, the worker reads vmlinux: its refusals must come back as they are.
    const notElf = join(dir, 'not-elf-vmlinux');
    writeFileSync(notElf, 'not an ELF file at all');
    await assert.rejects(buildSymbolMap({ vmlinux: notElf, modules: [ko] }), (e: Error) => {
      assert.equal(e.name, 'ElfError');
      assert.match(e.message, /^.*not-elf-vmlinux: not an ELF file \(bad magic number\)$/);
      return true;
    });
    await assert.rejects(buildSymbolMap({ vmlinux: join(dir, 'missing-vmlinux'), modules: [ko] }), (e: Error) => {
      assert.equal(e.name, 'KernelDataError');
      assert.match(e.message, /^cannot read vmlinux .*missing-vmlinux: no such file or directory$/);
      return true;
    });
  });
});

describe('vmlinux symbols: kallsyms order is address order, not symbol table order', () => {
  test('a linked executable whose symtab order differs from its address order', async () => {
    // Sections sorted by name put b's copy of `dup` first in memory, while the symbol table keeps
    // a's locals first: the kernel counts by address, so b's is position 1.
    const a = compile(dir, 'va', 'static int __attribute__((used, section(".text.zz"))) dup(void) { return 1; }\nvoid _start(void) {}', [
      '-O0',
    ]);
    const b = compile(dir, 'vb', 'static int __attribute__((used, section(".text.aa"))) dup(void) { return 2; }', ['-O0']);
    const exe = join(dir, 'vmlinux-like');
    execFileSync('ld', ['--sort-section=name', a, b, '-o', exe]);
    const symtabOrder = execFileSync('readelf', ['-sW', exe], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => / dup$/.test(l))
      .map((l) => l.trim().split(/\s+/)[1]);
    assert.ok(BigInt(`0x${symtabOrder[0]}`) > BigInt(`0x${symtabOrder[1]}`), 'fixture must have symtab order != address order');
    const { map } = await buildSymbolMap({ vmlinux: exe, modules: [] });
    const defs = map.definitions('dup');
    assert.deepEqual(
      defs.map((d) => [d.position, d.file]),
      [
        [1, 'vb.c'],
        [2, 'va.c'],
      ],
    );
  });
});

describe("Debian's kernel (kallsyms dumped from it under qemu, its modules and Module.symvers)", () => {
  const kernel = requireDebianKernel();

  test('vmlinux positions follow the kernel; modules and exports are all there', async () => {
    const { map } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [kernel.modules], symvers: kernel.symvers });
    const ucode = map.definitions('ucode_path');
    assert.deepEqual(
      ucode.map((d) => [d.object, d.position, d.count]),
      [
        [VMLINUX, 1, 2],
        [VMLINUX, 2, 2],
      ],
    );
    // The dump's own order, read independently.
    const lines = readFileSync(kernel.kallsyms, 'latin1')
      .split('\n')
      .filter((l) => l.endsWith(' ucode_path'));
    assert.equal(lines.length, 2);
    assert.ok(map.objects.size > 4000, `${map.objects.size} objects`);
    assert.equal(map.exporter('printk')?.object ?? map.exporter('_printk')?.object, VMLINUX);
    assert.equal(map.object(VMLINUX)!.exports.get('_printk'), 'EXPORT_SYMBOL');
    assert.equal(map.object('ext4')!.exports.get('ext4_fc_replay_cleanup') ?? 'none', 'none');
    // Every duplicated vmlinux name gets positions 1..n in dump order.
    const v = map.object(VMLINUX)!;
    let duplicated = 0;
    const seen = new Map<string, number>();
    for (let i = 0; i < v.length; i++) {
      const n = (seen.get(v.symbolName(i)) ?? 0) + 1;
      seen.set(v.symbolName(i), n);
      assert.equal(v.position(i), n);
    }
    for (const n of seen.values()) if (n > 1) duplicated++;
    assert.ok(duplicated > 1000, `${duplicated} duplicated vmlinux names`);
  });

  test('modules read on a worker thread: each module as read here, failures in file order', async () => {
    // 300 of Debian's modules with two broken files among them, all left to the worker.
    const all = findModules(kernel.modules)
      .filter((_, i) => i % 10 === 0)
      .slice(0, 300);
    assert.equal(all.length, 300);
    const broken = [join(dir, 'broken-a.ko'), join(dir, 'broken-b.ko')];
    writeFileSync(broken[0], 'not an elf');
    writeFileSync(broken[1], 'not an elf either');
    const files = [...all.slice(0, 100), broken[1], ...all.slice(100, 200), broken[0], ...all.slice(200)];
    const stopped = await readSymbolFiles(undefined, undefined, () => files, false, undefined, false);
    assert.match((stopped.modules[100] as { problem: string }).problem, /broken-b\.ko: not an ELF file/);
    assert.ok(
      stopped.modules.slice(0, 100).every((m) => m && !('problem' in m)),
      'every module before the failure is read',
    );
    const aside = await readSymbolFiles(undefined, undefined, () => files, true, undefined, false);
    const here = await readSymbolFiles(undefined, undefined, () => files, true);
    assert.deepEqual(
      aside.modules.map((m, i) => (m && 'problem' in m ? i : undefined)).filter((i) => i !== undefined),
      [100, 201],
    );
    for (const i of [0, 150, 301]) {
      const a = here.modules[i] as ObjectSymbols;
      const b = aside.modules[i] as ObjectSymbols;
      assert.equal(b.name, a.name);
      assert.deepEqual(b.names, a.names, a.name);
      assert.deepEqual([...b.listed], [...a.listed], a.name);
      assert.deepEqual([...b.exports], [...a.exports], a.name);
      assert.deepEqual(b.files, a.files, a.name);
    }
  });

  test('both formats round-trip; ours keeps positions, types, sizes, exports', async () => {
    const ko = buildModule('fmt_mod');
    const { map } = await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [ko], symvers: kernel.symvers });
    const ours = parseMap(formatMap(map, 'klp-convert').toString('latin1'), 'map');
    assert.deepEqual(ours.definitions('homonym'), map.definitions('homonym'));
    assert.deepEqual(ours.definitions('ucode_path'), map.definitions('ucode_path'));
    assert.deepEqual(ours.exporter('_printk'), { object: VMLINUX, exportType: 'EXPORT_SYMBOL' });
    const upstreamText = formatMap(map, 'upstream').toString('latin1');
    assert.ok(upstreamText.startsWith('klp-convert-symbol-data.0.1\n*vmlinux\n'));
    assert.ok(upstreamText.includes('\n*fmt_mod\n'));
    assert.ok(!upstreamText.includes('init_only'), 'upstream lists only what kallsyms lists');
    const upstream = parseMap(upstreamText, 'up');
    assert.deepEqual(
      upstream.definitions('homonym').map((d) => [d.object, d.position]),
      [
        ['fmt_mod', 1],
        ['fmt_mod', 2],
      ],
    );
  });
});

describe('symbols command', () => {
  const kernel = requireDebianKernel();

  test('writes a map from a kallsyms dump, modules and Module.symvers; --json summary', async () => {
    const ko = buildModule('cli_mod');
    const out = join(dir, 'cli.map');
    const r = await runCliInProcess([
      'symbols',
      '--kallsyms',
      kernel.kallsyms,
      '--symvers',
      kernel.symvers,
      ko,
      '-o',
      out,
      '--json',
      '--release',
      kernel.kver,
      '--format',
      'klp-convert',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.modules, 1);
    assert.ok(summary.vmlinuxSymbols > 90000);
    const text = readFileSync(out, 'latin1');
    assert.ok(text.startsWith(`klp-convert-symbols 1\n# release: ${kernel.kver}\n`));
    assert.match(text, /\nucode_path\t2\td\t-\t-\t-\n/);
    assert.match(text, /\nhomonym\t2\tr\t2\t-\t1\n/);
  });

  const failures: [string, string[], RegExp][] = [
    [
      'missing source file',
      ['--kallsyms', '/nonexistent/kallsyms'],
      /^klp-convert: cannot read kallsyms dump \/nonexistent\/kallsyms: no such file or directory\n$/,
    ],
    ['a folder given as a file', ['--kallsyms', '/etc'], /^klp-convert: cannot read kallsyms dump \/etc: is a directory\n$/],
    ['not a kallsyms dump', ['--kallsyms', '/etc/passwd'], /^klp-convert: \/etc\/passwd:1: not a kallsyms line/],
    ['System.map placeholder', ['--system-map', 'PLACEHOLDER'], /not a real System\.map .*-dbg package/],
    [
      'corrupt module among good ones',
      ['CORRUPT'],
      /corrupt\.ko: section header table .* \(use --keep-going to skip unreadable modules\)\n$/,
    ],
    ['two vmlinux sources', ['--kallsyms', 'KALLSYMS', '--system-map', 'PLACEHOLDER'], /give one source of vmlinux symbols/],
    ['unknown format', ['--kallsyms', 'KALLSYMS', '--format', 'nm'], /unknown --format 'nm'/],
  ];
  for (const [what, args, message] of failures) {
    test(`fails with one line and no output: ${what}`, async () => {
      const placeholder = join(dir, 'System.map-placeholder');
      writeFileSync(placeholder, 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n');
      const corrupt = join(dir, 'corrupt.ko');
      writeFileSync(corrupt, readFileSync(buildModule('corrupt_mod')).subarray(0, 2000));
      const out = join(dir, `fail-${what.replace(/\W/g, '_')}.map`);
      const resolved = args.map((a) =>
        a === 'PLACEHOLDER' ? placeholder : a === 'CORRUPT' ? corrupt : a === 'KALLSYMS' ? kernel.kallsyms : a,
      );
      const r = await runCliInProcess(['symbols', ...resolved, '-o', out]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(out), 'no output file');
    });
  }

  test('--keep-going skips a corrupt module, warns, writes the rest, exits 0', async () => {
    const good = buildModule('good_mod');
    const corrupt = join(dir, 'corrupt2.ko');
    writeFileSync(corrupt, 'not an elf');
    const out = join(dir, 'kg.map');
    const r = await runCliInProcess(['symbols', good, corrupt, '--keep-going', '-o', out]);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /warning: skipped .*corrupt2\.ko: not an ELF file/);
    assert.deepEqual(
      loadMap(out)
        .definitions('use_b')
        .map((d) => d.object),
      ['good_mod'],
    );
  });

  test('reading maps: unknown format, unsupported version, corrupt line', () => {
    assert.throws(() => parseMap('hello\n', 'm'), /m: unknown symbol map format \(first line 'hello'/);
    assert.throws(() => parseMap('klp-convert-symbols 9\n', 'm'), /m: symbol map version 9 is not supported/);
    assert.throws(
      () => parseMap('klp-convert-symbols 1\n*vmlinux\nfoo\t1\tT\n', 'm'),
      /m:3: corrupt symbol map: expected 6 tab-separated fields/,
    );
    assert.throws(
      () => parseMap('klp-convert-symbols 1\nfoo\t1\tT\t-\t-\t-\n', 'm'),
      /m:2: corrupt symbol map: symbol line before the first \*OBJECT line/,
    );
    assert.throws(
      () => parseMap('klp-convert-symbols 1\n*vmlinux\nfoo\t2\tT\t-\t-\t-\n', 'm'),
      /'foo' claims position 2, but its order gives 1/,
    );
    assert.throws(() => parseMap('', 'm'), /m: empty file, not a symbol map/);
  });
});

test('symbols with no source reads the running kernel, or says exactly what is missing', async () => {
  const dir2 = tempDir();
  const out = join(dir2, 'running.map');
  const r = await runCliInProcess(['symbols', '-o', out, '--json']);
  if (existsSync('/proc/kallsyms')) {
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.ok(summary.vmlinuxSymbols > 1000, r.stdout);
    assert.equal(loadMap(out).meta.get('release'), release());
    // The running kernel's version chose the kallsyms rules (uname -r begins MAJOR.MINOR).
    assert.equal(loadMap(out).meta.get('version'), /^\d+\.\d+/.exec(release())?.[0]);
  } else {
    assert.match(r.stderr, /^klp-convert: no symbols of the running kernel .*: no \/proc\/kallsyms/);
    assert.ok(!existsSync(out));
  }
});

test('/proc/kallsyms read without CAP_SYSLOG (addresses zero) makes the same map as read by root', async (t) => {
  // The kernel itself is the reference: the same file read by root and by an unprivileged user.
  if (process.getuid?.() !== 0 || !existsSync('/proc/kallsyms'))
    return t.skip('needs root (to read as root and as nobody) and /proc/kallsyms');
  const asRoot = readFileSync('/proc/kallsyms', 'latin1');
  const asNobody = execFileSync('runuser', ['-u', 'nobody', '--', 'cat', '/proc/kallsyms'], { encoding: 'latin1', maxBuffer: 1 << 28 });
  assert.ok(/^0+ /m.test(asNobody) && !/^(?!0+ )[0-9a-f]+ /m.test(asNobody), 'nobody sees every address as zero');
  const dir2 = tempDir();
  const maps = [asRoot, asNobody].map((text, k) => {
    const dump = join(dir2, `kallsyms.${k}`);
    writeFileSync(dump, text, 'latin1');
    return dump;
  });
  const built = await Promise.all(maps.map((kallsyms) => buildSymbolMap({ kallsyms, modules: [] })));
  assert.ok(built[0].map.object(VMLINUX)!.length > 1000);
  assert.ok(formatMap(built[1].map, 'klp-convert').equals(formatMap(built[0].map, 'klp-convert')), 'the same map');
});

describe('text sources', () => {
  const kernel = requireDebianKernel();

  test('a System.map gives the same vmlinux positions as the kallsyms dump of that kernel', async () => {
    // The kernel's System.map is nm -n output in the dump's format; Debian ships only a placeholder.
    const systemMap = join(dir, 'System.map');
    writeFileSync(systemMap, readFileSync(kernel.kallsyms, 'latin1'));
    const fromMap = (await buildSymbolMap({ systemMap, modules: [] })).map;
    const fromDump = (await buildSymbolMap({ kallsyms: kernel.kallsyms, modules: [] })).map;
    for (const name of ['ucode_path', 'default_attrs', 'sig_enforce'])
      assert.deepEqual(fromMap.definitions(name), fromDump.definitions(name));
  });

  test('kallsyms lines tagged [module] go to that module; pseudo-modules and livepatch entries do not count', async () => {
    const dump = join(dir, 'kallsyms-modules.txt');
    writeFileSync(
      dump,
      [
        'ffffffff81000000 T _stext',
        'ffffffffc0001000 t dup\t[mod_a]',
        'ffffffffc0002000 t dup\t[mod_a]',
        'ffffffffc0003000 U printk\t[mod_a]',
        'ffffffffc0004000 ? .klp.sym.vmlinux.foo,0\t[my_patch]',
        'ffffffffc0005000 t bpf_prog_x\t[bpf]',
        'ffffffffc0006000 t ftrace_trampoline\t[__builtin__ftrace]',
        '',
      ].join('\n'),
    );
    const { map } = await buildSymbolMap({ kallsyms: dump, modules: [] });
    assert.deepEqual([...map.objects.keys()].sort(), ['mod_a', 'vmlinux']);
    assert.deepEqual(
      map.definitions('dup').map((d) => [d.object, d.position]),
      [
        ['mod_a', 1],
        ['mod_a', 2],
      ],
    );
    assert.deepEqual(map.definitions('printk'), []);
  });
});
