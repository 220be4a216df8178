import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { SHF_ALLOC, SHF_INFO_LINK } from '../src/elf/constants.js';
import { ElfObject, type RelocationSection } from '../src/elf/object.js';
import { writeElf } from '../src/elf/writer.js';
import { parseMap } from '../src/kernel/map-format.js';
import { ConversionError, type ConvertReport, convertLivepatch } from '../src/livepatch/convert.js';
import { SHF_RELA_LIVEPATCH, SHN_LIVEPATCH } from '../src/livepatch/klp-format.js';
import { verifyLivepatch } from '../src/livepatch/verify.js';
import { brokenVariants } from './broken-variants.js';
import { type Fixtures, buildFixtures } from './kbuild-fixtures.js';
import { compile, readelf, repoRoot, requireDebianKernel, runCliInProcess, tempDir } from './helpers.js';

const dir = tempDir();
let fx: Fixtures;

before(async () => {
  fx = await buildFixtures();
});

interface Converted {
  report: ConvertReport;
  file: string;
  input: ElfObject;
  output: ElfObject;
}

/** Convert a fixture and check the output the way the kernel will (the verifier is the oracle). */
function convert(name: string): Converted {
  const path = fx.modules.get(name)!;
  const obj = ElfObject.parse(readFileSync(path), path);
  const report = convertLivepatch(obj, { map: fx.map, exports: fx.exports });
  const file = join(dir, `${name}.out.ko`);
  writeFileSync(file, writeElf(obj));
  const output = ElfObject.parse(readFileSync(file), file);
  const check = verifyLivepatch(output, { map: fx.map, exports: fx.exports });
  assert.deepEqual(check.findings, [], `${name}: the converted module must verify clean`);
  return { report, file, input: ElfObject.parse(readFileSync(path), path), output };
}

function klpSection(obj: ElfObject, name: string): RelocationSection {
  const s = obj.relocationSections.find((r) => r.name === name);
  assert.ok(s, `${name} missing; have ${obj.relocationSections.map((r) => r.name).join(', ')}`);
  return s;
}

function conversionError(name: string): ConversionError {
  const path = fx.modules.get(name)!;
  try {
    convertLivepatch(ElfObject.parse(readFileSync(path), path), { map: fx.map, exports: fx.exports });
  } catch (e) {
    assert.ok(e instanceof ConversionError, String(e));
    return e;
  }
  assert.fail(`${name} converted, but should have been refused`);
}

/** K8/K9 of the reference: contents intact, every input relocation exactly once in the output. */
function assertNothingLost(c: Converted): void {
  const key = (sec: string, r: { offset: bigint; type: number; addend: bigint }) => `${sec}:${r.offset}:${r.type}:${r.addend}`;
  const inputRelocs = c.input.relocationSections
    .filter(
      (s) => !s.name.includes('.klp.module_relocs.') && !s.name.includes('.klp.file_relocs.') && s.target && s.target.flags & SHF_ALLOC,
    )
    .flatMap((s) => s.relocations.map((r) => key(s.target!.name, r)))
    .sort();
  const outputRelocs = c.output.relocationSections
    .filter((s) => s.target && s.target.flags & SHF_ALLOC)
    .flatMap((s) => s.relocations.map((r) => key(s.target!.name, r)))
    .sort();
  assert.deepEqual(outputRelocs, inputRelocs);
  for (const s of c.output.sections) {
    const before = c.input.sectionByName(s.name);
    if (before && s.type === 1)
      assert.ok(Buffer.compare(Buffer.from(s.data), Buffer.from(before.data)) === 0, `${s.name} contents changed`);
  }
}

describe('the three use-cases of the original cover letter, built against Debian headers', () => {
  test('1: unique non-exported symbols convert automatically (sympos 0)', () => {
    const c = convert('klp_sample_auto');
    assert.deepEqual(c.report.conversions.map((x) => [x.klpName, x.how]).sort(), [
      ['.klp.sym.vmlinux.nr_processes,0', 'unique'],
      ['.klp.sym.vmlinux.saved_command_line,0', 'unique'],
    ]);
    const klp = klpSection(c.output, '.klp.rela.vmlinux..text');
    assert.equal(klp.flags, SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH);
    assert.equal(klp.target?.name, '.text');
    assert.ok(klp.relocations.every((r) => r.symbol?.shndx === SHN_LIVEPATCH));
    assertNothingLost(c);
    const sections = readelf('-SW', c.file);
    assert.match(sections, /\.klp\.rela\.vmlinux\.\.text\s+RELA\s+.* AIo /);
    assert.match(readelf('-sW', c.file), /NOTYPE\s+GLOBAL DEFAULT OS \[0xff20\] \.klp\.sym\.vmlinux\.saved_command_line,0/);
  });

  test('2: a name defined twice resolves through KLP_MODULE_RELOC/KLP_SYMPOS; the annotation is removed', () => {
    const c = convert('klp_sample_annotated');
    assert.deepEqual(
      c.report.conversions.map((x) => [x.klpName, x.how]),
      [['.klp.sym.vmlinux.ucode_path,2', 'annotation']],
    );
    assert.deepEqual(c.report.removedSections.sort(), ['.klp.module_relocs.vmlinux', '.rela.klp.module_relocs.vmlinux']);
    assert.ok(!c.output.symtab!.symbols.some((y) => y.name === 'vmlinux_relocs'), 'the annotation array symbol goes too');
    assertNothingLost(c);
  });

  test('3: the same without annotation is refused, listing every candidate, with the referencing site', () => {
    const e = conversionError('klp_sample_ambiguous');
    assert.equal(e.problems.length, 1);
    assert.match(e.message, /'ucode_path' is defined 2 times in the target kernel; annotate which one it is:/);
    assert.match(e.message, /referenced at livepatch_cmdline_proc_show\+0x[0-9a-f]+ \(\.text\+0x[0-9a-f]+\)/);
    assert.match(e.message, /vmlinux ucode_path,1[\s\S]*vmlinux ucode_path,2/);
    assert.match(e.message, /KLP_SYMPOS\(ucode_path, 1\)/);
  });
});

describe('equivalents of the upstream selftests', () => {
  test('one symbol from several text sections and from data: one klp section per section, one symbol', () => {
    const c = convert('klp_t_sections');
    const names = c.report.klpSections.sort();
    const count = (sec: string, sym: string) => klpSection(c.output, sec).relocations.filter((r) => r.symbol?.name === sym).length;
    if (c.input.sections.some((x) => x.name === '.text.klp_a')) {
      assert.deepEqual(names, ['.klp.rela.vmlinux..data', '.klp.rela.vmlinux..text.klp_a', '.klp.rela.vmlinux..text.klp_b']);
      assert.equal(count('.klp.rela.vmlinux..text.klp_a', '.klp.sym.vmlinux.saved_command_line,0'), 1);
      assert.ok(count('.klp.rela.vmlinux..text.klp_b', '.klp.sym.vmlinux.saved_command_line,0') >= 1);
      assert.equal(count('.klp.rela.vmlinux..text.klp_b', '.klp.sym.vmlinux.nr_processes,0'), 1);
    } else {
      // 7.3's module linker script (scripts/module.lds) merges .text.* into .text; 6.12's does not.
      assert.deepEqual(names, ['.klp.rela.vmlinux..data', '.klp.rela.vmlinux..text']);
      assert.ok(count('.klp.rela.vmlinux..text', '.klp.sym.vmlinux.saved_command_line,0') >= 2);
      assert.equal(count('.klp.rela.vmlinux..text', '.klp.sym.vmlinux.nr_processes,0'), 1);
    }
    assert.equal(count('.klp.rela.vmlinux..data', '.klp.sym.vmlinux.saved_command_line,0'), 1);
    assert.equal(count('.klp.rela.vmlinux..data', '.klp.sym.vmlinux.nr_processes,0'), 1);
    assert.equal(c.output.symtab!.symbols.filter((y) => y.name === '.klp.sym.vmlinux.saved_command_line,0').length, 1);
    // Relocations against section symbols (string literals, local data) stay where they were.
    assert.ok(c.output.relocationSections.some((s) => !s.name.startsWith('.klp') && s.relocations.some((r) => r.symbol?.type === 3)));
    assertNothingLost(c);
  });

  test("symbols with '.' in their names (foo.part.0, var.0)", () => {
    const c = convert('klp_t_dotted');
    assert.deepEqual(c.report.conversions.map((x) => x.klpName).sort(), [
      '.klp.sym.vmlinux.ZSTD_DCtx_refDDict.part.0,0',
      '.klp.sym.vmlinux.lvltxt.0,0',
    ]);
    assertNothingLost(c);
  });

  test('references into modules: a static of overlay, a symbol exported by ni_routing', () => {
    const c = convert('klp_t_modtarget');
    const how = Object.fromEntries(c.report.conversions.map((x) => [x.klpName, x.how]));
    assert.deepEqual(how, {
      '.klp.sym.overlay.ovl_dir_llseek,0': 'unique',
      '.klp.sym.ni_routing.ni_count_valid_routes,0': 'module-export',
    });
    assert.deepEqual(c.report.klpSections.sort(), ['.klp.rela.ni_routing..text', '.klp.rela.overlay..text']);
    assertNothingLost(c);
  });

  test('__jump_table entries for a vmlinux key are converted (applied before the loader reads them)', () => {
    const c = convert('klp_t_jump');
    assert.ok(c.report.klpSections.includes('.klp.rela.vmlinux.__jump_table'), c.report.klpSections.join(', '));
    assertNothingLost(c);
  });

  test('a module symbol in __jump_table is refused, naming the section, the entry and the symbol', () => {
    const e = conversionError('klp_t_special_bad');
    assert.match(e.message, /cannot convert the reference to 'ovl_dir_llseek' \(module overlay\) in __jump_table entry 0 \(offset 0x8\)/);
  });
});

test('a module with .klp.sym.* symbols left SHN_UNDEF (formed by hand) is repaired: validated and marked', () => {
  const path = fx.modules.get('klp_sample_annotated')!;
  const obj = ElfObject.parse(readFileSync(path), path);
  convertLivepatch(obj, { map: fx.map, exports: fx.exports });
  const broken = brokenVariants(writeElf(obj)).find((v) => v.name === 'symbol-not-livepatch')!;
  const again = ElfObject.parse(broken.bytes, 'handmade.ko');
  const report = convertLivepatch(again, { map: fx.map, exports: fx.exports });
  assert.deepEqual(
    report.conversions.map((c) => [c.klpName, c.how]),
    [['.klp.sym.vmlinux.ucode_path,2', 'preformed']],
  );
  assert.deepEqual(verifyLivepatch(ElfObject.parse(writeElf(again), 'repaired.ko'), { map: fx.map, exports: fx.exports }).findings, []);
});

describe('refusals: every problem of a module in one run, no output', () => {
  test('three ambiguous names and one unknown name', () => {
    const e = conversionError('klp_t_ambiguous_many');
    assert.equal(e.problems.length, 4, e.message);
    for (const name of ['ucode_path', 'default_attrs', 'sig_enforce'])
      assert.match(e.message, new RegExp(`'${name}' is defined \\d+ times`));
    assert.match(e.message, /'no_such_symbol_anywhere' is not defined in the target kernel's symbol map/);
  });

  test('annotations the target kernel contradicts', () => {
    const e = conversionError('klp_t_badannot');
    assert.equal(e.problems.length, 3, e.message);
    assert.match(e.message, /vmlinux defines 'ucode_path' 2 times, so there is no position 3/);
    assert.match(e.message, /position 0 means unique, but vmlinux defines 'default_attrs' 3 times/);
    assert.match(e.message, /object 'no_such_module' is not in the target kernel's symbol map/);
  });

  test('a module without MODULE_INFO(livepatch, "Y") is not converted', () => {
    const e = conversionError('klp_t_notlp');
    assert.match(e.message, /not a livepatch module: \.modinfo has no livepatch=Y/);
  });
});

describe('convert command', () => {
  let mapFile: string;
  before(() => {
    mapFile = fx.kallsymsMapFile;
  });

  test('the upstream invocation `klp-convert MAP IN OUT`, then again on its own output: nothing to do', async () => {
    const out = join(dir, 'upstream-form.ko');
    let r = await runCliInProcess([mapFile, fx.modules.get('klp_sample_auto')!, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 symbols and 4 relocations converted \(\.klp\.rela\.vmlinux\.\.text\)/);
    const again = join(dir, 'again.ko');
    r = await runCliInProcess(['convert', '-s', mapFile, out, again]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /already converted, nothing to do/);
    assert.ok(Buffer.compare(readFileSync(out), readFileSync(again)) === 0, 'converting a converted module changes nothing');
  });

  test('--json reports every conversion with its relocation sites; --symvers is honoured', async () => {
    const r = await runCliInProcess([
      'convert',
      '-s',
      mapFile,
      '--symvers',
      requireDebianKernel().symvers,
      '--json',
      fx.modules.get('klp_sample_annotated')!,
      join(dir, 'j.ko'),
    ]);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.conversions[0].klpSymbol, '.klp.sym.vmlinux.ucode_path,2');
    assert.equal(report.conversions[0].resolvedBy, 'annotation');
    assert.match(report.conversions[0].relocations[0].site, /^livepatch_cmdline_proc_show\+0x/);
  });

  test('input may be the output (written atomically)', async () => {
    const copy = join(dir, 'inplace.ko');
    writeFileSync(copy, readFileSync(fx.modules.get('klp_t_dotted')!));
    const r = await runCliInProcess(['convert', '-s', mapFile, copy, copy]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(readelf('-sW', copy), /\.klp\.sym\.vmlinux\.lvltxt\.0,0/);
  });

  test('refused modules: every problem on stderr, exit 1, no output file', async () => {
    const out = join(dir, 'refused.ko');
    const r = await runCliInProcess(['convert', '-s', mapFile, fx.modules.get('klp_t_ambiguous_many')!, out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /klp_t_ambiguous_many\.ko: 4 problems:/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.ok(!existsSync(out));
  });

  test('bad input: one line, exit code, no output', async () => {
    const out = join(dir, 'bad.ko');
    for (const args of [
      ['convert', '-s', mapFile, '/etc/passwd', out],
      ['convert', '-s', '/etc/passwd', fx.modules.get('klp_sample_auto')!, out],
      ['convert', fx.modules.get('klp_sample_auto')!, out],
    ]) {
      const r = await runCliInProcess(args);
      assert.ok(r.status === 1 || r.status === 2, `${args.join(' ')}: ${r.status}`);
      assert.ok(r.stderr.split('\n').filter(Boolean).length <= 2, r.stderr);
      assert.ok(!existsSync(out));
    }
  });
});

describe('other architectures and byte orders (cross-compiled fixtures)', () => {
  const map = parseMap(
    ['klp-convert-symbols 1', '*vmlinux', 'saved_value\t1\tD\t4\t-\t-', 'homonym\t1\td\t4\t-\t-', 'homonym\t2\td\t4\t-\t-', ''].join('\n'),
    'map',
  );
  for (const arch of ['aarch64', 'powerpc64le', 's390x', 's390']) {
    test(`${arch}: annotation read in the file's byte order, entries sized for its class`, () => {
      const path = join(repoRoot, 'test', 'fixtures', 'cross', `fixture-${arch}.o`);
      const obj = ElfObject.parse(readFileSync(path), path);
      const report = convertLivepatch(obj, { map });
      assert.deepEqual(report.conversions.map((c) => c.klpName).sort(), ['.klp.sym.vmlinux.homonym,2', '.klp.sym.vmlinux.saved_value,0']);
      const out = ElfObject.parse(writeElf(obj), `${arch}.out`);
      const is64 = out.header.elfClass === 2;
      for (const s of out.relocationSections.filter((r) => r.name.startsWith('.klp.rela.'))) {
        assert.equal(s.entsize, is64 ? 24 : 12, s.name);
        assert.ok(s.relocations.every((r) => r.symbol?.shndx === SHN_LIVEPATCH));
      }
      // ppc64 modules reference .TOC., which the loader provides: it stays undefined.
      if (arch === 'powerpc64le') assert.ok(out.symtab!.symbols.some((y) => y.name === '.TOC.' && y.isUndefined));
      assert.deepEqual(verifyLivepatch(out, { map }).findings, []);
      const file = join(dir, `${arch}.out.o`);
      writeFileSync(file, writeElf(out));
      assert.match(readelf('-sW', file), /\.klp\.sym\.vmlinux\.homonym,2/);
    });
  }
});

test("a module symbol also defined in that module's init sections gets a late-patching warning", () => {
  const map = parseMap(
    [
      'klp-convert-symbols 1',
      '*vmlinux',
      'homonym\t1\td\t4\t-\t-',
      'homonym\t2\td\t4\t-\t-',
      '*mymod',
      'saved_value\t-\tt\t4\t-\t-',
      'saved_value\t1\td\t4\t-\t-',
      '',
    ].join('\n'),
    'map',
  );
  const path = join(repoRoot, 'test', 'fixtures', 'cross', 'fixture-s390x.o');
  const report = convertLivepatch(ElfObject.parse(readFileSync(path), path), { map });
  assert.ok(report.conversions.some((c) => c.klpName === '.klp.sym.mymod.saved_value,0'));
  assert.deepEqual(report.warnings, [
    "'saved_value' in mymod has 1 more definition the kernel drops after the module's init (init sections); while mymod is still loading (late module patching) the kernel counts it too, so position 0 may name another symbol then",
  ]);
});

describe('the upstream minimal series annotations (KLP_RELOC_SYMBOL)', () => {
  const map = parseMap(
    [
      'klp-convert-symbols 1',
      '*vmlinux',
      'saved_command_line\t1\tB\t8\t-\t-',
      'lvltxt.0\t1\td\t4\t-\t-',
      '*test_klp_extern_hello',
      'hello_msg\t1\tD\t8\t-\t-',
      '',
    ].join('\n'),
    'map',
  );
  const source = `
static const char lp[] __attribute__((section(".modinfo"), used)) = "livepatch=Y";
extern char *saved_command_line __asm__("\\".klp.sym.rela.vmlinux.vmlinux.saved_command_line,0\\"");
extern const char lvltxt[] __asm__("\\".klp.sym.rela.vmlinux.vmlinux.lvltxt.0.0\\"");
extern const char *hello_msg __asm__("\\".klp.sym.rela.test_klp_extern_hello.test_klp_extern_hello.hello_msg.0\\"");
const char *use(void) { return saved_command_line + lvltxt[0]; }
const char *hello(void) { return hello_msg; }
`;

  test("v2 ',' and v3 '.' forms; the position is split at the last separator, so dotted names survive", () => {
    const path = compile(dir, 'minimal', source, ['-mcmodel=kernel', '-fno-pic']);
    const obj = ElfObject.parse(readFileSync(path), path);
    const report = convertLivepatch(obj, { map });
    assert.deepEqual(report.conversions.map((c) => [c.klpName, c.how]).sort(), [
      ['.klp.sym.test_klp_extern_hello.hello_msg,0', 'minimal-annotation'],
      ['.klp.sym.vmlinux.lvltxt.0,0', 'minimal-annotation'],
      ['.klp.sym.vmlinux.saved_command_line,0', 'minimal-annotation'],
    ]);
    assert.deepEqual(report.klpSections.sort(), ['.klp.rela.test_klp_extern_hello..text', '.klp.rela.vmlinux..text']);
    assert.deepEqual(verifyLivepatch(ElfObject.parse(writeElf(obj), 'out'), { map }).findings, []);
  });

  test('a vmlinux symbol for a module-specific section is refused, as the kernel would', () => {
    const path = compile(
      dir,
      'minimal_bad',
      `
static const char lp[] __attribute__((section(".modinfo"), used)) = "livepatch=Y";
extern char *saved_command_line __asm__("\\".klp.sym.rela.test_klp_extern_hello.vmlinux.saved_command_line,0\\"");
char *use(void) { return saved_command_line; }
`,
      ['-mcmodel=kernel', '-fno-pic'],
    );
    assert.throws(
      () => convertLivepatch(ElfObject.parse(readFileSync(path), path), { map }),
      /the kernel refuses vmlinux symbols in relocations for module test_klp_extern_hello/,
    );
  });
});

describe("convert checks its own output with verify's rules", () => {
  const map = parseMap(['klp-convert-symbols 1', '*vmlinux', 'saved_value\t1\tD\t4\t-\t-', ''].join('\n'), 'map');
  const header = 'static const char lp[] __attribute__((section(".modinfo"), used)) = "livepatch=Y";\nextern char saved_value[];\n';

  test('a GOT-relative reference to a converted symbol: apply_relocate_add (x86_64) does not handle it, so no output', async () => {
    // arch/x86/kernel/module.c, Linux 6.1: R_X86_64_{NONE,64,32,32S,PC32,PLT32,PC64} only; GOTPCREL is type 9.
    // .reloc writes the relocation alone: an instruction would make the assembler want a GOT too.
    const got = 'asm(".pushsection .data.klp_got, \\"aw\\"\\n.reloc ., R_X86_64_GOTPCREL, saved_value - 4\\n.long 0\\n.popsection");';
    const path = compile(dir, 'gotpcrel', `${header}${got}\n`, ['-mcmodel=kernel', '-fno-pic']);
    assert.throws(
      () => convertLivepatch(ElfObject.parse(readFileSync(path), path), { map }),
      (e: unknown) =>
        e instanceof ConversionError &&
        /the converted module would fail verify's relocation-type rule at \.data\.klp_got\+0x0: R_X86_64_GOTPCREL is not handled/.test(
          e.message,
        ),
    );
    const out = join(dir, 'gotpcrel.ko');
    const mapFile = join(dir, 'gotpcrel.map');
    writeFileSync(mapFile, 'klp-convert-symbols 1\n*vmlinux\nsaved_value\t1\tD\t4\t-\t-\n');
    const r = await runCliInProcess(['convert', '-s', mapFile, path, out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /relocation-type rule/);
    assert.ok(!existsSync(out));
  });

  test('a reference nothing exports and the map lacks: refused, naming it', () => {
    const path = compile(dir, 'unknown', `${header}extern int klp_nowhere;\nint get(void) { return klp_nowhere + saved_value[0]; }\n`, [
      '-mcmodel=kernel',
      '-fno-pic',
    ]);
    assert.throws(
      () => convertLivepatch(ElfObject.parse(readFileSync(path), path), { map }),
      /'klp_nowhere' is not defined in the target kernel's symbol map/,
    );
  });
});
