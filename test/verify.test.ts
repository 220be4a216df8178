import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ElfObject } from '../src/elf/object.js';
import { writeElf } from '../src/elf/writer.js';
import { convertLivepatch } from '../src/livepatch/convert.js';
import { type Inspection, inspectLivepatch } from '../src/livepatch/inspect.js';
import { RULES, verifyLivepatch } from '../src/livepatch/verify.js';
import { brokenVariants } from './broken-variants.js';
import { requireDebianKernel, runCliInProcess, tempDir } from './helpers.js';
import { type Fixtures, buildFixtures } from './kbuild-fixtures.js';

const dir = tempDir();
let fx: Fixtures;
let valid: Uint8Array;
let mapFile: string;

before(async () => {
  fx = await buildFixtures();
  const path = fx.modules.get('klp_sample_annotated')!;
  const obj = ElfObject.parse(readFileSync(path), path);
  convertLivepatch(obj, { map: fx.map, exports: fx.exports });
  valid = writeElf(obj);
  mapFile = fx.kallsymsMapFile;
});

describe('verify', () => {
  test('valid converted modules verify clean', () => {
    for (const name of ['klp_sample_auto', 'klp_sample_annotated', 'klp_t_sections', 'klp_t_modtarget', 'klp_t_jump']) {
      const path = fx.modules.get(name)!;
      const obj = ElfObject.parse(readFileSync(path), path);
      convertLivepatch(obj, { map: fx.map, exports: fx.exports });
      const out = ElfObject.parse(writeElf(obj), name);
      assert.deepEqual(verifyLivepatch(out, { map: fx.map, exports: fx.exports }).findings, [], name);
    }
  });

  test('each rule, broken once in a copy of a valid output, is caught by its own finding', () => {
    const variants = brokenVariants(valid);
    assert.deepEqual([...new Set(variants.map((v) => v.rule))].sort(), [...RULES].sort(), 'every rule of verify has a broken variant');
    for (const v of variants) {
      const result = verifyLivepatch(ElfObject.parse(v.bytes, v.name), { map: fx.map, exports: fx.exports });
      const rules = [...new Set(result.findings.map((f) => f.rule))];
      assert.deepEqual(rules, [v.rule], `${v.name}: ${JSON.stringify(result.findings, null, 1)}`);
      assert.ok(
        result.findings.every((f) => f.site !== ''),
        `${v.name}: every finding names its site`,
      );
    }
  });

  test('an unconverted module: every unresolved symbol and the leftover annotations, all reported', () => {
    const path = fx.modules.get('klp_sample_annotated')!;
    const result = verifyLivepatch(ElfObject.parse(readFileSync(path), path), { map: fx.map, exports: fx.exports });
    assert.deepEqual(result.findings.map((f) => f.rule).sort(), ['annotations-left', 'unresolved']);
    assert.match(result.findings.find((f) => f.rule === 'unresolved')!.message, /^Unknown symbol ucode_path/);
  });

  test('command: exit 0 and OK when clean; exit 1 listing every problem; --json', async () => {
    const good = join(dir, 'good.ko');
    writeFileSync(good, valid);
    let r = await runCliInProcess(['verify', good, '-s', mapFile]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /OK: 1 livepatch symbol, 1 livepatch relocation resolve as intended/);
    const bad = join(dir, 'bad.ko');
    writeFileSync(bad, brokenVariants(valid).find((v) => v.name === 'sympos-past-end')!.bytes);
    r = await runCliInProcess(['verify', bad, '-s', mapFile]);
    assert.equal(r.status, 1);
    assert.match(
      r.stdout,
      /\[sympos\] livepatch_cmdline_proc_show\+0x[0-9a-f]+ \(\.text\+0x[0-9a-f]+\): symbol position 3 for symbol 'ucode_path' in object 'vmlinux' not found/,
    );
    r = await runCliInProcess(['verify', bad, '-s', mapFile, '--json']);
    const json = JSON.parse(r.stdout);
    assert.equal(json.ok, false);
    assert.equal(json.findings[0].rule, 'sympos');
  });
});

describe('inspect', () => {
  test('livepatch relocations by object with sites, types, targets; loader symbols; --json', async () => {
    const file = join(dir, 'inspect.ko');
    writeFileSync(file, valid);
    const i = inspectLivepatch(ElfObject.parse(valid, file), file);
    assert.equal(i.module, 'klp_sample_annotated');
    assert.equal(i.livepatch, true);
    assert.equal(i.vermagic.split(' ')[0], requireDebianKernel().kver, 'vermagic names the target release');
    assert.equal(i.objects.length, 1);
    const reloc = i.objects[0].sections[0].relocations[0];
    assert.deepEqual(reloc.target, { object: 'vmlinux', symbol: 'ucode_path', position: 2 });
    assert.match(reloc.site, /^livepatch_cmdline_proc_show\+0x/);
    assert.match(reloc.type, /^R_X86_64_/);
    assert.ok(i.loaderSymbols.some((s) => s.name === 'seq_printf' && s.relocations > 0));
    assert.deepEqual(i.annotations, []);
    const r = await runCliInProcess(['inspect', file, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(r.stdout) as Inspection;
    assert.deepEqual(json.objects[0].sections[0].relocations[0].target, reloc.target);
    const text = (await runCliInProcess(['inspect', file])).stdout;
    assert.match(
      text,
      /Livepatch relocations for vmlinux \(1\):\n {2}\.klp\.rela\.vmlinux\.\.text {2}-> \.text {2}flags 0x100042\n {4}livepatch_cmdline_proc_show\+0x[0-9a-f]+ \(\.text\+0x[0-9a-f]+\) {2}R_X86_64_32S +vmlinux ucode_path,2/,
    );
  });

  test('an unconverted module shows its annotations', () => {
    const path = fx.modules.get('klp_sample_annotated')!;
    const i = inspectLivepatch(ElfObject.parse(readFileSync(path), path), path);
    assert.deepEqual(i.annotations, [
      { section: '.klp.module_relocs.vmlinux[0]', object: 'vmlinux', symbol: 'ucode_path', position: 2, file: null },
    ]);
    assert.equal(i.objects.length, 0);
  });
});
