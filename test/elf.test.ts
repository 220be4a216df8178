import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  EM_AARCH64,
  EM_PPC64,
  EM_S390,
  SHF_ALLOC,
  SHN_UNDEF,
  SHT_PROGBITS,
  SHT_RELA,
  STB_GLOBAL,
  STB_LOCAL,
  STT_NOTYPE,
  STT_OBJECT,
} from '../src/elf/constants.js';
import { ElfError } from '../src/elf/errors.js';
import { ElfObject, ElfSymbol, RelocationSection, Section } from '../src/elf/object.js';
import { BufferSource, ElfReader } from '../src/elf/reader.js';
import { writeElf } from '../src/elf/writer.js';
import { compile, debianKernel, readelf, readelfNoOffsets, repoRoot, tempDir } from './helpers.js';

const dir = tempDir();

const sample = `
static int counter;
static int __attribute__((noinline)) helper(int x) { return x + counter++; }
int __attribute__((weak)) weak_hook(void) { return 1; }
extern int ext_var;
static const char *const table[] = { "a", "b" };
int use(int a) { return helper(a) + ext_var + weak_hook() + table[a][0]; }
`;

function roundTrip(file: string): Uint8Array {
  return writeElf(ElfObject.parse(readFileSync(file), file));
}

function assertSameFile(original: string, bytes: Uint8Array): void {
  const out = join(dir, 'rt.o');
  writeFileSync(out, bytes);
  assert.equal(readelf('-hSsrW', out).replace(out, 'X'), readelf('-hSsrW', original).replace(original, 'X'));
  assert.ok(Buffer.compare(Buffer.from(bytes), readFileSync(original)) === 0, `${original}: bytes differ`);
}

describe('round trip of gcc-built objects', () => {
  test('many sections, local/global/weak symbols, .rela against section symbols', () => {
    const obj = compile(dir, 'sample', sample, ['-ffunction-sections', '-fdata-sections']);
    const parsed = ElfObject.parse(readFileSync(obj), obj);
    const syms = parsed.symtab!.symbols;
    assert.ok(syms.some((s) => s.name === 'helper' && s.bind === STB_LOCAL));
    assert.ok(syms.some((s) => s.name === 'weak_hook' && s.bind === 2));
    assert.ok(syms.some((s) => s.name === 'ext_var' && s.isUndefined));
    const sectionSymRelocs = parsed.relocationSections.flatMap((r) => r.relocations).filter((r) => r.symbol?.type === 3);
    assert.ok(sectionSymRelocs.length > 0, 'expected relocations against section symbols');
    assertSameFile(obj, roundTrip(obj));
  });

  test('COMDAT groups (C++ inline functions)', () => {
    const src = join(dir, 'comdat.cc');
    writeFileSync(src, 'inline int twice(int x) { return 2 * x; }\nint use(int a) { return twice(a); }\n');
    const obj = join(dir, 'comdat.o');
    execFileSync('g++', ['-c', '-O0', src, '-o', obj]);
    const parsed = ElfObject.parse(readFileSync(obj), obj);
    const group = parsed.sections.find((s) => s.type === 17);
    assert.ok(group, 'expected an SHT_GROUP section');
    assertSameFile(obj, roundTrip(obj));
  });

  test('more than 65280 sections use the e_shnum / e_shstrndx / SHN_XINDEX escapes', () => {
    const lines = ['int anchor;'];
    for (let i = 0; i < 66000; i++) lines.push(`__attribute__((section(".s${i}"))) int v${i} = ${i};`);
    lines.push('int *refs[] = { &v0, &v65999 };');
    const obj = compile(dir, 'many', lines.join('\n'), ['-O0']);
    const bytes = readFileSync(obj);
    const r = new ElfReader(new BufferSource(bytes), obj);
    assert.ok(r.header.shnum > 0xff00);
    const parsed = ElfObject.parse(bytes, obj);
    const v65999 = parsed.symtab!.symbols.find((s) => s.name === 'v65999')!;
    assert.equal(v65999.section!.name, '.s65999');
    assert.ok(parsed.indexOf(v65999.section!) >= 0xff00);
    assertSameFile(obj, writeElf(parsed));
  });

  test('cross-compiled fixtures: aarch64, ppc64le, s390x (big-endian), s390 (ELF32 big-endian)', () => {
    const fixtures = join(repoRoot, 'test', 'fixtures', 'cross');
    const expected: Record<string, [number, boolean, boolean]> = {
      'fixture-aarch64.o': [EM_AARCH64, true, true],
      'fixture-powerpc64le.o': [EM_PPC64, true, true],
      'fixture-s390x.o': [EM_S390, false, true],
      'fixture-s390.o': [EM_S390, false, false],
    };
    for (const [name, [machine, le, is64]] of Object.entries(expected)) {
      const file = join(fixtures, name);
      const parsed = ElfObject.parse(readFileSync(file), file);
      assert.equal(parsed.header.machine, machine, name);
      assert.equal(parsed.header.littleEndian, le, name);
      assert.equal(parsed.header.elfClass === 2, is64, name);
      const annotations = parsed.relocationSections.find((s) => s.name.endsWith('.klp.module_relocs.vmlinux'))!;
      assert.equal(annotations.relocations[0].symbol!.name, 'homonym', name);
      assertSameFile(file, writeElf(parsed));
    }
  });
});

describe('edits, with every index fixed up by the writer', () => {
  test('add a local symbol, add/rename/remove sections, move relocations to a new section', () => {
    const file = compile(dir, 'edit', sample, ['-ffunction-sections']);
    const obj = ElfObject.parse(readFileSync(file), file);
    const symtab = obj.symtab!;
    const text = obj.sectionByName('.text.use')!;
    const rela = obj.relocationSections.find((s) => s.target === text)!;
    const ext = symtab.symbols.find((s) => s.name === 'ext_var')!;
    const moved = rela.relocations.filter((r) => r.symbol === ext);
    assert.ok(moved.length > 0);

    // A local symbol added at the end must be moved before the globals, renumbering them.
    symtab.add(new ElfSymbol({ name: 'new_local', bind: STB_LOCAL, type: STT_OBJECT, section: text, value: 4n }));
    ext.name = 'renamed_ext';
    // A global made local must move before every global; relocations follow it to its new index.
    const use = symtab.symbols.find((y) => y.name === 'use')!;
    use.bind = STB_LOCAL;
    const split = obj.addSection(new RelocationSection({ name: '.rela.split', type: SHT_RELA, flags: 0x40, addralign: 8, entsize: 24 }));
    split.link = symtab;
    split.target = text;
    split.relocations = moved;
    rela.relocations = rela.relocations.filter((r) => r.symbol !== ext);
    const comment = obj.sectionByName('.comment')!;
    comment.name = '.comment.renamed';
    obj.removeSections(new Set([obj.sectionByName('.note.GNU-stack')!]));
    obj.addSection(new Section({ name: '.added', type: SHT_PROGBITS, flags: SHF_ALLOC, data: new Uint8Array([1, 2, 3]) }));

    const out = join(dir, 'edited.o');
    writeFileSync(out, writeElf(obj));
    const syms = readelf('-sW', out);
    assert.match(syms, /LOCAL\s+DEFAULT\s+\d+ new_local/);
    assert.match(syms, /GLOBAL\s+DEFAULT\s+UND renamed_ext/);
    assert.match(syms, /FUNC\s+LOCAL\s+DEFAULT\s+\d+ use\n/);
    const relocs = readelf('-rW', out);
    assert.match(relocs, /Relocation section '.rela.split'[\s\S]*?renamed_ext/);
    assert.doesNotMatch(relocs.split("'.rela.split'")[0], /renamed_ext/);
    const sections = readelf('-SW', out);
    assert.match(sections, /\.comment\.renamed/);
    assert.match(sections, /\.added/);
    assert.doesNotMatch(sections, /\.note\.GNU-stack/);
    // sh_info of .symtab = first global; binutils checks that too.
    const reparsed = ElfObject.parse(readFileSync(out), out);
    const info = new ElfReader(new BufferSource(readFileSync(out))).symtab!.info;
    assert.equal(
      reparsed.symtab!.symbols.findIndex((s, i) => i > 0 && s.bind !== STB_LOCAL),
      info,
    );
    // The linker agrees that the result is a valid object.
    execFileSync('ld', ['-r', out, '-o', join(dir, 'linked.o')]);
  });

  test('removing a section that symbols are defined in is refused with a typed error', () => {
    const file = compile(dir, 'refuse', sample);
    const obj = ElfObject.parse(readFileSync(file), file);
    assert.throws(
      () => obj.removeSections(new Set([obj.sectionByName('.text')!])),
      (e: unknown) => {
        assert.ok(e instanceof ElfError);
        assert.equal(e.kind, 'modify');
        assert.match(e.message, /removed section \.text/);
        return true;
      },
    );
    const undef = obj.symtab!.symbols.find((s) => s.name === 'ext_var')!;
    assert.throws(() => obj.removeSymbols(new Set([undef])), /refers to removed symbol 'ext_var'/);
    const orphan = new ElfSymbol({ name: 'orphan', bind: STB_GLOBAL, type: STT_NOTYPE, shndx: SHN_UNDEF });
    obj.relocationSections[0].relocations[0].symbol = orphan;
    assert.throws(() => writeElf(obj), /refers to symbol 'orphan', which is in no symbol table/);
  });
});

describe('malformed input gets a typed error naming file and section', () => {
  const file = compile(dir, 'bad', sample);
  const good = readFileSync(file);
  const r = new ElfReader(new BufferSource(good), file);
  const shoff = r.header.shoff;
  const symtab = r.symtab!;
  const shdr = (i: number) => shoff + i * 64;
  const mutate = (edit: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    edit(b);
    return b;
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /empty file, not an ELF object/],
    ['truncated header', good.subarray(0, 40), /truncated: 40 bytes/],
    ['not ELF', Buffer.from('#!/bin/sh\necho hello, this is no object file at all\n'.repeat(2)), /not an ELF file \(bad magic number\)/],
    ['section header table outside the file', good.subarray(0, shoff + 100), /section header table .* extends past the end of the file/],
    [
      'section contents outside the file',
      mutate((b) => b.writeBigUInt64LE(BigInt(good.length), shdr(symtab.index) + 24)),
      /section \.symtab: contents .* extend past the end/,
    ],
    ['bad sh_link', mutate((b) => b.writeUInt32LE(9999, shdr(symtab.index) + 40)), /section \.symtab: sh_link 9999 is not a section index/],
    [
      'symbol name outside the string table',
      mutate((b) => b.writeUInt32LE(0xfffff, symtab.offset + 24)),
      /section \.symtab: symbol 1: name offset 1048575 is outside string table \.strtab/,
    ],
    [
      'wrong symbol entry size',
      mutate((b) => b.writeBigUInt64LE(16n, shdr(symtab.index) + 56)),
      /section \.symtab: symbol entry size sh_entsize is 16, expected 24/,
    ],
    [
      'section name outside .shstrtab',
      mutate((b) => b.writeUInt32LE(0xffffff, shdr(1))),
      /section \[1\]: name offset 16777215 is outside the section name table/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    test(what, () => {
      assert.throws(
        () => ElfObject.parse(bytes, 'input.o'),
        (e: unknown) => {
          assert.ok(e instanceof ElfError, `expected ElfError, got ${e}`);
          assert.equal(e.kind, 'format');
          assert.match(e.message, /^input\.o: /);
          assert.match(e.message, message);
          return true;
        },
      );
    });
  }

  test('relocation pointing past the symbol table', () => {
    const rela = r.sections.find((s) => s.type === SHT_RELA)!;
    const bytes = mutate((b) => b.writeUInt32LE(77777, rela.offset + 12));
    assert.throws(
      () => ElfObject.parse(bytes, 'input.o'),
      /section \.rela\.text: relocation 0 at offset 0x[0-9a-f]+ refers to symbol 77777, but \.symtab has \d+ symbols/,
    );
  });
});

describe('Debian kernel modules', () => {
  test('a sample of real modules round-trips through the ELF layer (readelf-identical)', () => {
    const kernel = debianKernel();
    assert.ok(kernel, 'Debian kernel image missing: run scripts/setup-debian.sh (the test command does)');
    // Debian ships plain .ko files up to 6.1, .ko.xz from 6.12: compare the ELF inside.
    const all = execFileSync('find', [join(kernel.modules, 'kernel'), '-name', '*.ko', '-o', '-name', '*.ko.xz'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.ok(all.length > 3000, `expected Debian's ~4000 modules, found ${all.length}`);
    const sample = all.filter((_, i) => i % 200 === 0);
    for (const file of sample) {
      let ko = file;
      if (file.endsWith('.xz')) {
        ko = join(dir, 'unpacked.ko');
        writeFileSync(ko, execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 }));
      }
      const bytes = roundTrip(ko);
      const out = join(dir, 'module.ko');
      writeFileSync(out, bytes);
      assert.equal(readelfNoOffsets(out).replace(out, 'X'), readelfNoOffsets(ko).replace(ko, 'X'), file);
      // Debian signs its modules; the appended signature is the only thing a copy leaves out.
      assert.ok(Buffer.compare(Buffer.from(bytes), readFileSync(ko).subarray(0, bytes.length)) === 0, file);
    }
  });
});

test('fixtures folder holds only what regenerate.sh makes', () => {
  const names = readdirSync(join(repoRoot, 'test', 'fixtures', 'cross')).sort();
  assert.deepEqual(names, [
    'fixture-aarch64.o',
    'fixture-powerpc64le.o',
    'fixture-s390.o',
    'fixture-s390x.o',
    'fixture.c',
    'regenerate.sh',
  ]);
});
