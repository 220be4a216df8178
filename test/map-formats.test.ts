import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { describe, test } from 'node:test';
import { BinaryMap, formatBinaryMap } from '../src/kernel/map-binary.js';
import { TextSymbolMap, formatMap, parseMap } from '../src/kernel/map-format.js';
import { loadMap, releaseMismatch, writeMap } from '../src/kernel/map-load.js';
import { type KernelSymbolMap, MemorySymbolMap, VMLINUX } from '../src/kernel/symbol-map.js';
import { compile, repoRoot, runCliInProcess, tempDir } from './helpers.js';

const dir = tempDir();
/** Reproducers of the hostile-input review (issue 14), kept as they were found. */
const repros = join(repoRoot, 'test', 'fixtures', 'fuzz');

/** A seeded generator, so a failure names a map that can be made again. */
function prng(seed: number): () => number {
  return () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
}

/**
 * Names made of any byte a kallsyms or ELF name can hold (1..255: names are NUL-terminated), with
 * the ones that shape lines (tab, line feed, carriage return, backslash, and '*', '#', '@', '!' first)
 * much more often than chance, and duplicates so positions matter.
 */
function generatedMap(seed: number, perObject = 400): { map: MemorySymbolMap; names: string[] } {
  const rnd = prng(seed);
  const special = ['\t', '\n', '\r', '\\', '*', '#', '@', '!', ' ', ',', '.', '\x7f', '\xff', '\x01'];
  const name = () => {
    let s = '';
    const len = 1 + Math.floor(rnd() * 12);
    for (let i = 0; i < len; i++)
      s += rnd() < 0.3 ? special[Math.floor(rnd() * special.length)] : String.fromCharCode(1 + Math.floor(rnd() * 255));
    return s;
  };
  const pool = Array.from({ length: 60 }, name);
  for (let b = 1; b < 256; b++) pool.push(String.fromCharCode(b), `x${String.fromCharCode(b)}`);
  const map = new MemorySymbolMap();
  map.meta.set('release', `6.1.0-test\t${name()}`);
  const objects = [VMLINUX, 'mod_a', `mod\t${name()}`, 'zz'];
  for (const objName of objects) {
    const o = map.objectFor(objName);
    const files = ['a.c', `dir/${name()}.c`];
    for (let i = 0; i < perObject; i++) {
      const n = pool[Math.floor(rnd() * pool.length)];
      o.add(
        n,
        'tTdDbBrRW?'[Math.floor(rnd() * 10)],
        rnd() < 0.2 ? -1 : Math.floor(rnd() * 2 ** 40),
        rnd() < 0.85,
        rnd() < 0.3 ? files[Math.floor(rnd() * 2)] : '',
      );
      if (rnd() < 0.05) o.exports.set(n, rnd() < 0.5 ? 'EXPORT_SYMBOL' : 'EXPORT_SYMBOL_GPL');
    }
    // An export with no symbol (Module.symvers names it).
    o.exports.set(`only\t${name()}`, 'EXPORT_SYMBOL');
  }
  return { map, names: [...pool, ...[...map.objects.values()].flatMap((o) => [...o.exports.keys()])] };
}

/** Everything a query can see, for every name and object. */
function sameAnswers(read: KernelSymbolMap, want: MemorySymbolMap, names: string[], what: string): void {
  assert.deepEqual(read.meta, want.meta, `${what}: metadata`);
  for (const n of names) {
    assert.deepEqual(read.definitions(n), want.definitions(n), `${what}: definitions of ${JSON.stringify(n)}`);
    assert.deepEqual(read.exporter(n), want.exporter(n), `${what}: exporter of ${JSON.stringify(n)}`);
    for (const o of want.objects.values()) {
      const r = read.object(o.name)!;
      assert.ok(r, `${what}: object ${JSON.stringify(o.name)}`);
      assert.deepEqual(
        r.indicesOf(n).map((i) => r.entry(i)),
        o.indicesOf(n).map((i) => o.entry(i)),
        `${what}: ${JSON.stringify(o.name)} ${JSON.stringify(n)}`,
      );
      assert.equal(r.count(n), o.count(n));
      assert.equal(r.has(n), o.has(n));
    }
  }
}

describe('every map we write reads back to the same map', () => {
  for (const seed of [1, 2, 3]) {
    test(`generated names over every byte value (seed ${seed}): binary and our text format`, () => {
      const { map, names } = generatedMap(seed);
      sameAnswers(new BinaryMap(formatBinaryMap(map), 'bin'), map, names, 'binary');
      const text = formatMap(map, 'klp-convert');
      sameAnswers(parseMap(text, 'text'), map, names, 'text, checked whole');
      sameAnswers(TextSymbolMap.read(text, 'text'), map, names, 'text, read lazily');
    });
  }

  test('a map file of megabytes (written a block at a time) reads back the same', () => {
    const { map, names } = generatedMap(5, 12_000);
    const path = join(dir, 'large.map');
    writeMap(map, path);
    assert.ok(readFileSync(path).length > 1 << 20);
    sameAnswers(loadMap(path), map, names, 'binary file');
  });

  test('the upstream format: what it can carry reads back (names, positions); what it cannot is refused', () => {
    const { map, names } = generatedMap(4);
    assert.throws(
      () => formatMap(map, 'upstream'),
      /^KernelDataError: the upstream map format cannot carry the .*; write --format klp-convert or binary$/,
    );
    // Keep only what one name per line can say, as the upstream format does.
    const carried = new MemorySymbolMap();
    for (const o of map.orderedObjects) {
      if (o.name.includes('\n')) continue;
      const c = carried.objectFor(o.name);
      for (let i = 0; i < o.length; i++) {
        const name = o.symbolName(i);
        if (o.isListed(i) && !name.includes('\n') && !name.startsWith('*')) c.add(name, '?', -1, true);
      }
    }
    const read = parseMap(formatMap(carried, 'upstream'), 'up');
    for (const n of names) {
      const pick = (m: KernelSymbolMap) => m.definitions(n).map((d) => [d.object, d.name, d.position, d.count]);
      assert.deepEqual(pick(read), pick(carried), JSON.stringify(n));
    }
  });

  test('maps without special names are byte for byte what they were (no escape, same version)', () => {
    const map = new MemorySymbolMap();
    map.objectFor(VMLINUX).add('saved_command_line', 'B', 8, true);
    map.objectFor('mod').add('a.b', 't', -1, true, 'm.c');
    map.objectFor('mod').exports.set('gone', 'EXPORT_SYMBOL');
    assert.equal(
      formatMap(map, 'klp-convert').toString('latin1'),
      [
        'klp-convert-symbols 1',
        '*vmlinux',
        'saved_command_line\t1\tB\t8\t-\t-',
        '*mod',
        '@0\tm.c',
        'a.b\t1\tt\t-\t-\t0',
        '!gone\tEXPORT_SYMBOL',
        '',
      ].join('\n'),
    );
  });
});

describe('fuzz reproducers: names are data', () => {
  test('kallsyms-star.txt: a name starting with * or ! stays a vmlinux symbol in our formats; upstream refuses it', async () => {
    for (const format of ['binary', 'klp-convert']) {
      const out = join(dir, `star.${format}`);
      const r = await runCliInProcess(['symbols', '--kallsyms', join(repros, 'kallsyms-star.txt'), '-o', out, '--format', format]);
      assert.equal(r.status, 0, r.stderr);
      const map = loadMap(out);
      assert.deepEqual(
        map.definitions('saved_command_line').map((d) => [d.object, d.position, d.type]),
        [[VMLINUX, 1, 'T']],
      );
      assert.deepEqual(
        map.definitions('*odd').map((d) => [d.object, d.position, d.type]),
        [[VMLINUX, 1, 't']],
      );
      assert.deepEqual(
        map.definitions('!odd2').map((d) => [d.object, d.position]),
        [[VMLINUX, 1]],
      );
      assert.equal(map.object('odd'), undefined);
      assert.equal(map.object('odd\t1\tt\t-\t-\t-'), undefined);
    }
    const out = join(dir, 'star.upstream');
    const r = await runCliInProcess(['symbols', '--kallsyms', join(repros, 'kallsyms-star.txt'), '-o', out, '--format', 'upstream']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^klp-convert: the upstream map format cannot carry the symbol name in vmlinux "\*odd" .*\n$/);
    assert.ok(!existsSync(out));
  });

  test('kallsyms-empty-name.txt: refused at the source, naming the line', async () => {
    const out = join(dir, 'empty.map');
    const r = await runCliInProcess(['symbols', '--kallsyms', join(repros, 'kallsyms-empty-name.txt'), '-o', out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^klp-convert: \S*kallsyms-empty-name\.txt:21: empty symbol name: ffffffff81000000 t \n$/);
    assert.ok(!existsSync(out));
  });

  test('tab-symbol.ko: a module with a tab in a symbol name is read, with --keep-going or without', async () => {
    const mods = join(dir, 'tabmods');
    mkdirSync(mods, { recursive: true });
    copyFileSync(join(repros, 'tab-symbol.ko'), join(mods, 'tab-symbol.ko'));
    copyFileSync(compile(dir, 'other', 'int other_symbol;'), join(mods, 'other.ko'));
    for (const format of ['binary', 'klp-convert']) {
      const out = join(dir, `tab.${format}`);
      const r = await runCliInProcess(['symbols', '--modules', mods, '--keep-going', '-o', out, '--format', format]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      const map = loadMap(out);
      assert.equal(map.definitions('bad\tname').length, 1);
      assert.deepEqual(
        map.definitions('other_symbol').map((d) => d.object),
        ['other'],
      );
    }
  });
});

/** The binary map's header is 56 bytes; the object table (8 words per object: name, symbols, files, exports as start/count pairs) follows it. */
const BINARY_HEADER = 56;

/** A copy of a binary map with `edit` applied and its checksum (header word at 16, over bytes 20..) made right again. */
function resealed(map: Uint8Array, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(map);
  edit(b);
  b.writeUInt32LE(crc32(b.subarray(20)), 16);
  return b;
}

describe('damaged maps are refused with one line', () => {
  const map = new MemorySymbolMap();
  map.meta.set('release', '6.1.0-56-amd64');
  map.objectFor(VMLINUX).add('saved_command_line', 'B', 8, true);
  map.objectFor(VMLINUX).add('homonym', 'd', 4, true);
  map.objectFor(VMLINUX).add('homonym', 'd', 4, true);
  const binary = formatBinaryMap(map);
  const text = formatMap(map, 'klp-convert');
  const upstream = formatMap(map, 'upstream');
  const cases: [string, Uint8Array, RegExp][] = [
    ['binary, truncated', binary.subarray(0, binary.length - 100), /^m: corrupt binary symbol map: truncated: \d+ of its \d+ bytes$/],
    ['binary, header only', binary.subarray(0, 30), /^m: corrupt binary symbol map: truncated: 30 bytes, shorter than the header$/],
    [
      'binary, one byte changed',
      Buffer.from(binary).fill(0x41, 200, 201),
      /^m: corrupt binary symbol map: checksum mismatch: the file is corrupted$/,
    ],
    ['binary, bytes appended', Buffer.concat([binary, Buffer.from('xx')]), /^m: corrupt binary symbol map: 2 bytes after its end$/],
    // Damage behind a valid checksum (a bug or a hand-made file): the structure is checked too.
    [
      'binary, a hash table size that is no power of two',
      resealed(binary, (b) => b.writeUInt32LE(3, 40)),
      /^m: corrupt binary symbol map: its tables do not fit its length$/,
    ],
    [
      "binary, an object's symbols not where the previous object's end",
      resealed(binary, (b) => b.writeUInt32LE(1, BINARY_HEADER + 8)),
      /^m: corrupt binary symbol map: object 0's tables do not follow the previous object's$/,
    ],
    [
      'text, cut in a line',
      text.subarray(0, text.length - 3),
      /^m:6: corrupt symbol map: the last line has no line break: the file is truncated$/,
    ],
    [
      'upstream, cut in a line',
      upstream.subarray(0, upstream.length - 3),
      /^m:5: corrupt symbol map: the last line has no line break: the file is truncated$/,
    ],
    [
      'text, a line without its fields',
      Buffer.from('klp-convert-symbols 1\n*vmlinux\nfoo\n'),
      /^m:3: corrupt symbol map: expected 6 tab-separated fields$/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    test(what, () => {
      const path = join(dir, 'm');
      writeFileSync(path, bytes);
      assert.throws(
        () => {
          const m = loadMap(path);
          m.definitions('homonym');
        },
        (e: Error) => message.test(e.message.replace(path, 'm')),
      );
    });
  }

  test('the CLI: one line, exit 1, nothing written', async () => {
    const path = join(dir, 'cut.map');
    writeFileSync(path, binary.subarray(0, binary.length - 10));
    const out = join(dir, 'never.ko');
    const r = await runCliInProcess(['convert', '--symbols', path, join(repros, 'tab-symbol.ko'), out]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^klp-convert: \S+cut\.map: corrupt binary symbol map: truncated: \d+ of its \d+ bytes\n$/);
    assert.ok(!existsSync(out));
  });
});

test('a map for another kernel release than the module is built for: a warning', async () => {
  const map = new MemorySymbolMap();
  map.meta.set('release', '6.1.0-99-amd64');
  map.objectFor(VMLINUX).add('saved_command_line', 'B', 8, true);
  assert.equal(releaseMismatch(map, 'k.map', '6.1.0-99-amd64 SMP preempt mod_unload modversions', 'p.ko'), undefined);
  assert.equal(
    releaseMismatch(new MemorySymbolMap(), 'k.map', '6.1.0-56-amd64 SMP', 'p.ko'),
    undefined,
    'a map that records no release says nothing',
  );
  const path = join(dir, 'other-release.map');
  writeMap(map, path);
  // The fuzz reproducer is the annotated sample, built for Debian's 6.1.0-56-amd64.
  const r = await runCliInProcess(['verify', join(repros, 'tab-symbol.ko'), '--symbols', path]);
  assert.match(
    r.stderr,
    /^klp-convert: warning: \S+other-release\.map is the symbol map of kernel 6\.1\.0-99-amd64, but \S+tab-symbol\.ko was built for 6\.1\.0-56-amd64 \(vermagic\)/,
  );
  assert.equal(readFileSync(path).subarray(0, 8).toString('latin1'), 'klpcmap\0', 'writeMap writes the binary format by default');
});
