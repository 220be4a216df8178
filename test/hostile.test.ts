import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { crc32, gzipSync } from 'node:zlib';
import xxhash from 'xxhash-wasm';
import { SHN_XINDEX, SHT_PROGBITS, SHT_SYMTAB_SHNDX, STB_GLOBAL, STB_LOCAL, STT_OBJECT, sizes } from '../src/elf/constants.js';
import { ElfError } from '../src/elf/errors.js';
import { ElfObject, ElfSymbol, Section } from '../src/elf/object.js';
import { BufferSource, ElfReader } from '../src/elf/reader.js';
import { writeElf } from '../src/elf/writer.js';
import { writeAll, writeFileAtomic, writeFileAtomicWith } from '../src/io/atomic-write.js';
import { DecompressError, decompress } from '../src/kernel/decompress.js';

import { cliArgs, readelf, repoRoot, requireDebianKernel, runCliInProcess, tempDir } from './helpers.js';
import { loadMap } from '../src/kernel/map-load.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'hostile');
const seed = join(fixtures, 'seeds', 'klp_sample_annotated.ko');
const dir = tempDir();
const kernel = requireDebianKernel();

// A map of the names the annotated sample uses, from Debian's kallsyms dump (every line of each
// name kept, so positions are the kernel's).
const mapFile = join(dir, 'seed.map');
const names = new Set([
  'saved_command_line',
  'ucode_path',
  'seq_printf',
  '__ksymtab_seq_printf',
  'klp_enable_patch',
  '__ksymtab_klp_enable_patch',
  '__fentry__',
  '__x86_return_thunk',
]);
writeFileSync(
  join(dir, 'k.txt'),
  readFileSync(kernel.kallsyms, 'latin1')
    .split('\n')
    .filter((l) => names.has(l.split(' ')[2] ?? ''))
    .join('\n'),
);
assert.equal((await runCliInProcess(['symbols', '--kallsyms', join(dir, 'k.txt'), '-o', mapFile])).status, 0);

let n = 0;
/** A fresh output path; the test checks nothing is there after a refusal. */
function outPath(): string {
  return join(dir, `out-${n++}.ko`);
}

/** Refused with one line on stderr (exit 1), nothing written. */
async function refused(argv: string[], message: RegExp, output?: string): Promise<string> {
  const r = await runCliInProcess(argv);
  assert.equal(r.status, 1, `${argv.join(' ')}: exit ${r.status}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
  if (output) assert.ok(!existsSync(output), `${output} was written`);
  return r.stderr;
}

/** A copy of the seed with bytes changed by `edit(bytes, reader)`. */
function edited(name: string, edit: (bytes: Buffer, r: ElfReader) => void): string {
  const bytes = readFileSync(seed);
  edit(bytes, new ElfReader(new BufferSource(bytes)));
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

function shdrField(r: ElfReader, index: number, field: keyof (typeof sizes)[2]['Shdr']): number {
  return r.header.shoff + index * sizes[2].shdr + sizes[2].Shdr[field];
}

describe('the fuzzing reproducers (test/fixtures/hostile)', () => {
  const repro = (f: string) => join(fixtures, f);

  test('e_shnum 0 with a section count of 2^60 in section 0', async () => {
    const out = outPath();
    await refused(
      ['copy', repro('shnum-nan.ko'), out],
      /^klp-convert: .*shnum-nan\.ko: section count beyond 2\^53 \(e_shnum 0, from section 0's sh_size\) does not fit in the file \(7088 bytes\)\n$/,
      out,
    );
  });

  test('section 0 typed SHT_SYMTAB, read whole or by range (symbols --keep-going)', async () => {
    await refused(
      ['inspect', repro('section0-symtab.ko')],
      /section0-symtab\.ko: section \[0\]: section 0 must be the null section \(SHT_NULL\), not type 2\n$/,
    );
    const mods = join(dir, 'mods-6g');
    mkdirSync(mods);
    copyFileSync(repro('section0-symtab-6g.ko'), join(mods, 'bad.ko'));
    copyFileSync(seed, join(mods, 'good.ko'));
    const map = join(dir, '6g.map');
    const r = await runCliInProcess(['symbols', '--modules', mods, '-o', map, '--keep-going']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^klp-convert: warning: skipped .*bad\.ko: section \[0\]: section 0 must be the null section/);
    assert.ok(loadMap(map).object('klp_sample_annotated'), 'the good module is in the map');
  });

  test('a string table without its final NUL is refused, naming it', async () => {
    const out = outPath();
    await refused(
      ['convert', '--symbols', mapFile, repro('strtab-no-nul.ko'), out],
      /strtab-no-nul\.ko: section \.strtab: string table does not end with a NUL byte\n$/,
      out,
    );
    await refused(
      ['convert', '--symbols', mapFile, repro('shstrtab-no-nul.ko'), out],
      /shstrtab-no-nul\.ko: section \[\d+\]: string table does not end with a NUL byte\n$/,
      out,
    );
  });

  for (const [file, align] of [
    ['align-1g.ko', 2 ** 30],
    ['align-2g.ko', 2 ** 31],
    ['align-2t.ko', 2 ** 40],
  ] as const) {
    test(`sh_addralign ${align} is refused by copy and convert (${file})`, async () => {
      const out = outPath();
      const message = new RegExp(`section \\.comment: sh_addralign ${align} is beyond the 65536 bytes an object needs\\n$`);
      await refused(['copy', repro(file), out], message, out);
      await refused(['convert', '--symbols', mapFile, repro(file), out], message, out);
    });
  }

  for (const file of ['annot-nobits.ko', 'annot-nobits-huge.ko', 'annot-nobits-3g.ko', 'annot-nobits-100k.ko']) {
    test(`an SHT_NOBITS annotation section: convert refuses, inspect lists no annotation (${file})`, async () => {
      const out = outPath();
      await refused(
        ['convert', '--symbols', mapFile, repro(file), out],
        /annotation section \.klp\.module_relocs\.vmlinux: is SHT_NOBITS: its entries are not in the file/,
        out,
      );
      const r = await runCliInProcess(['inspect', repro(file), '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).annotations, []);
    });
  }

  test('30,000 annotation entries without relocations: each named once, and it finishes', async () => {
    const out = outPath();
    const stderr = await refused(['convert', '--symbols', mapFile, repro('annot-30k.ko'), out], /30001 problems/, out);
    const missing = stderr.split('\n').filter((l) => / entry \d+ has no relocation naming its symbol$/.test(l));
    assert.equal(missing.length, 30000);
    assert.equal(new Set(missing).size, 30000);
  });

  test('zstd: a corrupted byte is caught by the content checksum; a 2 GB window costs nothing', async () => {
    const mods = join(dir, 'mods-corrupt-zst');
    mkdirSync(mods);
    copyFileSync(repro('corrupt-name.ko.zst'), join(mods, 'corrupt-name.ko.zst'));
    await refused(
      ['symbols', '--modules', mods, '-o', join(dir, 'z.map')],
      /corrupt-name\.ko\.zst: cannot decompress \(zstd\): corrupt zstd data \(a block, the declared content size or the content checksum does not hold\)/,
      join(dir, 'z.map'),
    );
    // Valid, only its window is huge: the zstd tool itself needs --memory to decode it.
    const window = readFileSync(repro('zstd-window-2g.ko.zst'));
    const reference = execFileSync('zstd', ['-d', '-c', '--memory=2048MB'], { input: window, maxBuffer: 1 << 24 });
    assert.deepEqual(Buffer.from(await decompress(window)), reference);
  });

  test('zstd: a compressed block with garbage sequences is refused (it finishes)', async () => {
    // Fuzz case 167548 of seed 7: a piped frame (no content size) with bytes flipped inside its
    // compressed block; fzstd ran its sequences' garbage lengths for 15 s. The zstd tool refuses it too.
    const mods = join(dir, 'mods-zseq');
    mkdirSync(mods);
    copyFileSync(repro('zstd-corrupt-sequences.ko.zst'), join(mods, 'seq.ko.zst'));
    assert.throws(() => execFileSync('zstd', ['-d', '-c', '-q', join(mods, 'seq.ko.zst')], { stdio: 'pipe' }));
    await refused(
      ['symbols', '--modules', mods, '-o', join(dir, 'zseq.map')],
      /seq\.ko\.zst: cannot decompress \(zstd\): corrupt zstd data/,
      join(dir, 'zseq.map'),
    );
  });
});

test('100,000 annotation entries are refused in linear time (it finishes)', async () => {
  // The seed's annotation section moved to the end of the file and given 100,000 entries: only
  // entry 0 has its relocation.
  const count = 100_000;
  const path = edited('annot-100k.ko', () => {});
  const bytes = readFileSync(path);
  const r = new ElfReader(new BufferSource(bytes));
  const annot = r.sections.find((s) => s.name === '.klp.module_relocs.vmlinux')!;
  const grown = Buffer.concat([bytes, Buffer.alloc(count * 12)]);
  grown.writeBigUInt64LE(BigInt(bytes.length), shdrField(r, annot.index, 'offset'));
  grown.writeBigUInt64LE(BigInt(count * 12), shdrField(r, annot.index, 'size'));
  writeFileSync(path, grown);
  const out = outPath();
  const stderr = await refused(['convert', '--symbols', mapFile, path, out], /problems:/, out);
  const missing = stderr.split('\n').filter((l) => / entry \d+ has no relocation naming its symbol$/.test(l));
  assert.equal(missing.length, count - 1);
  assert.match(missing.at(-1)!, /entry 99999 /);
});

describe('SHT_SYMTAB_SHNDX and extended section indices', () => {
  test('.modinfo retyped SHT_SYMTAB_SHNDX is refused, not regenerated (livepatch= would be lost)', async () => {
    const path = edited('shndx-modinfo.ko', (b, r) =>
      b.writeUInt32LE(SHT_SYMTAB_SHNDX, shdrField(r, r.sectionByName('.modinfo')!.index, 'type')),
    );
    const out = outPath();
    await refused(['copy', path, out], /section \.modinfo: SHT_SYMTAB_SHNDX links to \[0\], which is not a symbol table\n$/, out);
    const linked = edited('shndx-modinfo-linked.ko', (b, r) => {
      const i = r.sectionByName('.modinfo')!.index;
      b.writeUInt32LE(SHT_SYMTAB_SHNDX, shdrField(r, i, 'type'));
      b.writeUInt32LE(r.symtab!.index, shdrField(r, i, 'link'));
      b.writeBigUInt64LE(4n, shdrField(r, i, 'entsize'));
    });
    await refused(
      ['copy', linked, out],
      /section \.modinfo: SHT_SYMTAB_SHNDX sh_size is 131, expected 4 x 31 \(the symbols of \.symtab\)\n$/,
      out,
    );
  });

  test('the writer makes the SHT_SYMTAB_SHNDX table itself past SHN_LORESERVE sections; readelf and our reader agree; an extended index of 0 is refused', () => {
    const obj = ElfObject.parse(readFileSync(seed), seed);
    const before = obj.symtab!.symbols.slice();
    let last!: Section;
    for (let i = 0; i < 0xff00; i++) last = obj.addSection(new Section({ name: `.x${i}`, type: SHT_PROGBITS, data: new Uint8Array(0) }));
    obj.symtab!.add(new ElfSymbol({ name: 'far_away', bind: STB_GLOBAL, type: STT_OBJECT, section: last }));
    const path = join(dir, 'xindex.ko');
    writeFileSync(path, writeElf(obj));
    assert.ok(!obj.sections.some((s) => s.type === SHT_SYMTAB_SHNDX), "the caller's section list is left as it was");
    assert.deepEqual(obj.symtab!.symbols.slice(0, before.length), before);

    const sections = readelf('-SW', path);
    assert.match(sections, /\.symtab_shndx\s+SYMTAB SECTION INDICES/);
    const lastIndex = Number(/\[\s*(\d+)\] \.x65279 /.exec(sections)![1]);
    assert.ok(lastIndex >= 0xff00);
    assert.match(readelf('-sW', path), new RegExp(`OBJECT\\s+GLOBAL\\s+DEFAULT\\s+${lastIndex} far_away\\n`));
    const back = ElfObject.parse(readFileSync(path), path);
    assert.equal(back.symtab!.symbols.find((y) => y.name === 'far_away')!.section!.name, '.x65279');

    // The same file with that symbol's extended index zeroed: it would become undefined.
    const bytes = readFileSync(path);
    const r = new ElfReader(new BufferSource(bytes));
    const table = r.sections.find((s) => s.type === SHT_SYMTAB_SHNDX)!;
    const v = r.symbols(r.symtab!);
    const i = [...Array(v.count).keys()].find((k) => v.name(k) === 'far_away')!;
    assert.equal(v.rawShndx(i), SHN_XINDEX);
    bytes.writeUInt32LE(0, table.offset + i * 4);
    assert.throws(
      () => ElfObject.parse(bytes, 'x.ko'),
      (e: unknown) =>
        e instanceof ElfError && /section \.symtab: symbol \d+ uses SHN_XINDEX but its extended section index is 0/.test(e.message),
    );
  });
});

describe('the writer', () => {
  test("keeps its caller's symbol order and writes locals first", () => {
    const obj = ElfObject.parse(readFileSync(seed), seed);
    const symbols = obj.symtab!.symbols;
    const global = symbols.findIndex((y) => y.bind === STB_GLOBAL);
    // A global moved in front of the locals: the writer must reorder its output, not this list.
    const order = [symbols[0], symbols[global], ...symbols.slice(1).filter((_, k) => k + 1 !== global)];
    obj.symtab!.symbols = order.slice();
    const back = ElfObject.parse(writeElf(obj), 'x.ko');
    assert.deepEqual(obj.symtab!.symbols, order);
    const binds = back.symtab!.symbols.map((y) => y.bind === STB_LOCAL);
    assert.equal(binds.lastIndexOf(true), binds.indexOf(false) - 1, 'locals first');
  });

  test('an unaligned old offset is kept: copying adds no padding', async () => {
    // .comment (at an odd offset) claims 4096-byte alignment: nothing changed, nothing moves.
    const path = edited('unaligned.ko', (b, r) => b.writeBigUInt64LE(4096n, shdrField(r, r.sectionByName('.comment')!.index, 'addralign')));
    const out = outPath();
    assert.equal((await runCliInProcess(['copy', path, out])).status, 0);
    assert.deepEqual(readFileSync(out), readFileSync(path));
  });
});

describe('inputs that are not regular files', () => {
  test('folders, devices and FIFOs are refused by name before reading', async () => {
    const out = outPath();
    await refused(['copy', '/dev/zero', out], /^klp-convert: cannot read input \/dev\/zero: not a regular file \(a device\)\n$/, out);
    await refused(['symbols', '--vmlinux', dir, '-o', join(dir, 'v.map')], /^klp-convert: cannot read vmlinux .*: is a directory\n$/);
    const fifo = join(dir, 'fifo.ko');
    execFileSync('mkfifo', [fifo]);
    await refused(['inspect', fifo], /cannot read input .*fifo\.ko: not a regular file \(a FIFO\)\n$/);
    const mods = join(dir, 'mods-odd');
    mkdirSync(mods);
    mkdirSync(join(dir, 'folder.ko'));
    symlinkSync(join(dir, 'folder.ko'), join(mods, 'x.ko'));
    symlinkSync(fifo, join(mods, 'y.ko'));
    copyFileSync(seed, join(mods, 'good.ko'));
    const map = join(dir, 'odd.map');
    const r = await runCliInProcess(['symbols', '--modules', mods, '-o', map, '--keep-going']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: skipped cannot read module .*x\.ko: is a directory\n/);
    assert.match(r.stderr, /warning: skipped cannot read module .*y\.ko: not a regular file \(a FIFO\)\n/);
  });
});

test('modules refused while their headers are read leave no file descriptor open (--keep-going)', async () => {
  const mods = join(dir, 'mods-fd');
  mkdirSync(mods);
  for (let i = 0; i < 50; i++) writeFileSync(join(mods, `bad${i}.ko`), 'not an ELF object');
  copyFileSync(seed, join(mods, 'good.ko'));
  const before = readdirSync('/proc/self/fd').length;
  const r = await runCliInProcess(['symbols', '--modules', mods, '-o', join(dir, 'fd.map'), '--keep-going']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.split('\n').filter((l) => l.includes('warning: skipped')).length, 50);
  assert.equal(readdirSync('/proc/self/fd').length, before);
});

describe('decompression: limits and integrity checks', () => {
  const plain = readFileSync(seed);

  /** A zstd frame by hand (RFC 8878): 4-byte content size, raw or RLE blocks, optional checksum. */
  async function zstdFrame(
    blocks: ({ raw: Uint8Array } | { rle: number; size: number })[],
    contentSize: number | undefined,
    checksumOf?: Uint8Array,
    windowLog = 21,
  ): Promise<Buffer> {
    // Frame header descriptor: 4-byte content size when given, checksum flag; then the window descriptor.
    const parts: Buffer[] = [
      Buffer.from([0x28, 0xb5, 0x2f, 0xfd, (contentSize === undefined ? 0 : 0x80) | (checksumOf ? 0x04 : 0), (windowLog - 10) << 3]),
    ];
    if (contentSize !== undefined) {
      const fcs = Buffer.alloc(4);
      fcs.writeUInt32LE(contentSize);
      parts.push(fcs);
    }
    blocks.forEach((b, i) => {
      const last = i === blocks.length - 1 ? 1 : 0;
      const [type, size] = 'raw' in b ? [0, b.raw.length] : [1, b.size];
      const h = (size << 3) | (type << 1) | last;
      parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), 'raw' in b ? Buffer.from(b.raw) : Buffer.from([b.rle]));
    });
    if (checksumOf) {
      const sum = Buffer.alloc(4);
      sum.writeUInt32LE(Number((await xxhash()).h64Raw(checksumOf) & 0xffffffffn));
      parts.push(sum);
    }
    return Buffer.concat(parts);
  }

  test('zstd: content checksum verified; a changed byte is refused, the intact frame decodes', async () => {
    const frame = await zstdFrame([{ raw: plain }], plain.length, plain);
    assert.deepEqual(Buffer.from(await decompress(frame)), plain);
    const name = frame.indexOf('livepatch_cmdline_proc_show');
    assert.ok(name > 0);
    const corrupt = Buffer.from(frame);
    corrupt[name] ^= 0x20;
    await assert.rejects(decompress(corrupt), (e: unknown) => e instanceof DecompressError && /corrupt zstd data/.test(e.message));
  });

  test('zstd: a declared size past the limit, or more than the blocks hold, is refused before decoding', async () => {
    const bomb = await zstdFrame(
      Array.from({ length: 2049 }, () => ({ rle: 0, size: 128 * 1024 })),
      2049 * 128 * 1024,
    );
    assert.ok(bomb.length < 10_000, `${bomb.length} bytes`);
    await assert.rejects(decompress(bomb), /decompresses to more than 268435456 bytes/);
    const undeclared = await zstdFrame(
      Array.from({ length: 2049 }, () => ({ rle: 0, size: 128 * 1024 })),
      undefined,
    );
    await assert.rejects(decompress(undeclared), /decompresses to more than 268435456 bytes/);
    // Undeclared size, 128 MiB window, 300 full blocks: decoded into a buffer of what the blocks
    // hold, with no window (fzstd, used before, shifted a 64 MiB window 300 times).
    const wide = await zstdFrame(
      Array.from({ length: 300 }, () => ({ rle: 0, size: 128 * 1024 })),
      undefined,
      undefined,
      27,
    );
    assert.deepEqual(Buffer.from(await decompress(wide)), Buffer.alloc(300 * 128 * 1024));
    const liar = await zstdFrame([{ rle: 0, size: 100 }], 1 << 20);
    await assert.rejects(decompress(liar), /declares 1048576 bytes but its blocks hold at most 100/);
    const mods = join(dir, 'mods-zbomb');
    mkdirSync(mods);
    writeFileSync(join(mods, 'bomb.ko.zst'), bomb);
    await refused(
      ['symbols', '--modules', mods, '-o', join(dir, 'zb.map')],
      /bomb\.ko\.zst: cannot decompress \(zstd\): decompresses to more than 268435456 bytes/,
    );
  });

  test('zstd as the zstd tool writes it, from a file (content size declared) or a pipe (not), decodes', async () => {
    const packed = execFileSync('zstd', ['-q', '-c', seed]);
    const piped = execFileSync('zstd', ['-q', '-c'], { input: plain });
    assert.notDeepEqual(packed, piped, 'the piped frame leaves out the content size');
    assert.deepEqual(Buffer.from(await decompress(packed)), plain);
    assert.deepEqual(Buffer.from(await decompress(piped)), plain);
    const frame = await zstdFrame(
      [{ raw: plain.subarray(0, 5000) }, { rle: 7, size: 3000 }, { raw: plain.subarray(5000) }],
      undefined,
      Buffer.concat([plain.subarray(0, 5000), Buffer.alloc(3000, 7), plain.subarray(5000)]),
    );
    assert.equal((await decompress(frame)).length, plain.length + 3000);
    // Frames of empty input (what `zstd` writes for nothing) decode to nothing next to others, as
    // `zstd -d` has them; a stream of nothing but those is no module.
    const empty = execFileSync('zstd', ['-q', '-c'], { input: Buffer.alloc(0) });
    assert.deepEqual(Buffer.from(await decompress(Buffer.concat([packed, empty, piped]))), Buffer.concat([plain, plain]));
    await assert.rejects(decompress(empty), (e: unknown) => e instanceof DecompressError && /holds nothing/.test(e.message));
  });

  test('gzip: CRC32 and size checked; output stops at the limit', async () => {
    const packed = gzipSync(plain);
    assert.deepEqual(Buffer.from(await decompress(packed)), plain);
    for (const at of [packed.length - 8, packed.length - 4]) {
      const bad = Buffer.from(packed);
      bad[at] ^= 1;
      await assert.rejects(
        decompress(bad),
        (e: unknown) => e instanceof DecompressError && /incorrect (data|length) check/.test(e.message),
      );
    }
    await assert.rejects(decompress(gzipSync(Buffer.alloc(4 << 20)), 1 << 20), /decompresses to more than 1048576 bytes/);
  });

  test('xz: CRC32 and CRC64 checked; output stops at the limit', async () => {
    for (const check of ['crc32', 'crc64']) {
      const packed = execFileSync('xz', [`--check=${check}`, '-c', seed]);
      assert.deepEqual(Buffer.from(await decompress(packed)), plain);
      // Stream footer (12 bytes) after the index, whose size the footer gives; the block's check before it.
      const index = (packed.readUInt32LE(packed.length - 8) + 1) * 4;
      const checkAt = packed.length - 12 - index - (check === 'crc32' ? 4 : 8);
      if (check === 'crc32') assert.equal(packed.readUInt32LE(checkAt), crc32(plain));
      const bad = Buffer.from(packed);
      bad[checkAt] ^= 1;
      await assert.rejects(decompress(bad), /corrupt data \(integrity check failed\)/);
    }
    const zeros = spawnSync('xz', ['-0', '-c'], { input: Buffer.alloc(4 << 20) }).stdout;
    await assert.rejects(decompress(zeros, 1 << 20), /decompresses to more than 1048576 bytes/);
  });
});

describe('output', () => {
  test('a 248-character output name (the temporary name must fit too)', () => {
    for (const length of [248, 255]) {
      const path = join(dir, 'n'.repeat(length));
      writeFileAtomic(path, 'x');
      assert.equal(readFileSync(path, 'latin1'), 'x');
    }
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  });

  test('a writer that fails part way (a full disk): one line, the earlier output kept, no temporary file left', () => {
    // The binary map is written a block at a time: a failure after some blocks must not show.
    const out = join(dir, 'streamed.map');
    writeFileSync(out, 'earlier');
    assert.throws(
      () =>
        writeFileAtomicWith(out, (fd) => {
          writeAll(fd, Buffer.alloc(1 << 18, 1));
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }),
      (e: Error) => {
        assert.equal(e.name, 'OutputError');
        assert.equal(e.message, `cannot write ${out}: no space left on device`);
        return true;
      },
    );
    assert.equal(readFileSync(out, 'latin1'), 'earlier');
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')));
  });

  test('stdout closed early (inspect --json | head -c 100): no stack trace, exit 141 like a command killed by SIGPIPE', () => {
    // Debian's biggest module: a plain .ko up to 6.1, .ko.xz from 6.12 (inspect reads ELF only).
    let big = join(kernel.modules, 'kernel', 'drivers', 'gpu', 'drm', 'amd', 'amdgpu', 'amdgpu.ko');
    if (!existsSync(big)) {
      writeFileSync(join(dir, 'amdgpu.ko'), execFileSync('xz', ['-dc', `${big}.xz`], { maxBuffer: 1 << 28 }));
      big = join(dir, 'amdgpu.ko');
    }
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"${process.execPath}" ${cliArgs.map((a) => `"${a}"`).join(' ')} inspect --json "${big}" | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, '141\n');
  });
});
