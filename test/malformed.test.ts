import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ElfError } from '../src/elf/errors.js';
import { ElfObject } from '../src/elf/object.js';
import { BufferSource, ElfReader } from '../src/elf/reader.js';
import { writeElf } from '../src/elf/writer.js';
import { readModuleSymbols } from '../src/kernel/elf-symbols.js';
import { KernelDataError } from '../src/kernel/errors.js';
import { parseMap } from '../src/kernel/map-format.js';
import { ConversionError, convertLivepatch } from '../src/livepatch/convert.js';
import { inspectLivepatch } from '../src/livepatch/inspect.js';
import { verifyLivepatch } from '../src/livepatch/verify.js';
import { repoRoot } from './helpers.js';

const map = parseMap(
  ['klp-convert-symbols 1', '*vmlinux', 'saved_value\t1\tD\t4\t-\t-', 'homonym\t1\td\t4\t-\t-', 'homonym\t2\td\t4\t-\t-', ''].join('\n'),
  'map',
);

/**
 * Bytes flipped in the ELF header, the section header table, symbol tables, relocation and group
 * sections of real objects, sometimes truncated: every path from reading to writing must either
 * work or raise a typed error with a message for users, never crash (seeded, so repeatable).
 */
test('mutated objects give typed errors, never a crash, through read, symbol map, verify, convert, write', () => {
  let seed = 20261125;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  let typed = 0;
  for (const name of ['fixture-s390x.o', 'fixture-s390.o', 'fixture-powerpc64le.o', 'fixture-aarch64.o']) {
    const good = readFileSync(join(repoRoot, 'test', 'fixtures', 'cross', name));
    const r = new ElfReader(new BufferSource(good));
    const regions: [number, number][] = [
      [0, r.is64 ? 64 : 52],
      [r.header.shoff, r.header.shnum * (r.is64 ? 64 : 40)],
    ];
    for (const s of r.sections) if (s.type === 2 || s.type === 4 || s.type === 17) regions.push([s.offset, Math.min(s.size, 512)]);
    for (let i = 0; i < 1500; i++) {
      const bytes = Buffer.from(good);
      const [start, len] = regions[rnd() % regions.length];
      for (let k = 1 + (rnd() % 3); k > 0; k--) bytes[start + (rnd() % Math.max(1, len))] = rnd() & 0xff;
      const input = rnd() % 10 === 0 ? bytes.subarray(0, rnd() % bytes.length) : bytes;
      try {
        readModuleSymbols(new ElfReader(new BufferSource(input), name), name);
        const obj = ElfObject.parse(input, name);
        inspectLivepatch(obj, name);
        verifyLivepatch(obj, { map });
        try {
          convertLivepatch(obj, { map });
        } catch (e) {
          if (!(e instanceof ConversionError)) throw e;
        }
        writeElf(obj);
      } catch (e) {
        assert.ok(e instanceof ElfError || e instanceof KernelDataError, `${name} mutation ${i}: ${(e as Error).stack}`);
        typed++;
      }
    }
  }
  assert.ok(typed > 1000, `only ${typed} mutations were rejected: the test no longer reaches the error paths`);
});
