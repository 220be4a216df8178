import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STT_FUNC, STT_NOTYPE, STT_OBJECT } from '../src/elf/constants.js';
import type { ElfObject, ElfSymbol, Section } from '../src/elf/object.js';
import { describeEntry } from '../src/livepatch/loader-sections.js';
import { SiteNamer } from '../src/livepatch/sites.js';

/**
 * The definition SiteNamer answers by binary search: the first function or object symbol, in
 * symbol table order, whose [st_value, st_value + max(st_size, 1)) holds the offset.
 */
function firstCovering(symbols: ElfSymbol[], section: Section, offset: bigint): string | undefined {
  for (const y of symbols) {
    if (y.section !== section || (y.type !== STT_FUNC && y.type !== STT_OBJECT) || y.name === '') continue;
    if (y.value <= offset && offset < y.value + (y.size > 0n ? y.size : 1n)) return `${y.name}+0x${(offset - y.value).toString(16)}`;
  }
  return undefined;
}

/** A small deterministic generator, so a failure names its seed. */
function random(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

test('sites name the first symbol covering an offset, with overlapping, nested, empty and sizeless symbols', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rnd = random(seed);
    const sections = [{ name: '.text' }, { name: '.data' }] as Section[];
    const symbols = [{ name: '', section: null, type: STT_NOTYPE, value: 0n, size: 0n }] as unknown as ElfSymbol[];
    const count = 1 + rnd(40);
    for (let i = 0; i < count; i++) {
      symbols.push({
        name: rnd(10) === 0 ? '' : `s${i}`,
        section: sections[rnd(2)],
        type: [STT_FUNC, STT_OBJECT, STT_NOTYPE][rnd(3)],
        value: BigInt(rnd(64)),
        size: BigInt(rnd(4) === 0 ? 0 : rnd(24)),
      } as unknown as ElfSymbol);
    }
    const namer = new SiteNamer({ symtab: { symbols } } as unknown as ElfObject);
    for (const section of sections) {
      for (let offset = 0n; offset < 100n; offset++) {
        assert.equal(
          namer.symbolAt(section, offset),
          firstCovering(symbols, section, offset),
          `seed ${seed}, ${section.name}+0x${offset.toString(16)}`,
        );
      }
    }
    assert.equal(namer.symbolAt(null, 0n), undefined);
    const fn = firstCovering(symbols, sections[0], 5n);
    assert.equal(namer.describe(sections[0], 5n), fn ? `${fn} (.text+0x5)` : '.text+0x5');
  }
});

test('entries of loader sections are named by the kernel version their layout depends on', () => {
  // struct bug_entry: 12 bytes up to 6.12, 16 in 7.3 (x86_64 HAVE_ARCH_BUG_FORMAT); struct alt_instr:
  // 12 bytes in 6.1, 14 from 6.3 (u32 ft_flags).
  assert.equal(describeEntry('__bug_table', 0, 0x30n, '6.1'), 'entry 4 (offset 0x30)');
  assert.equal(describeEntry('__bug_table', 0, 0x30n, '7.3'), 'entry 3 (offset 0x30)');
  assert.equal(describeEntry('.altinstructions', 0, 0x54n, '6.1'), 'entry 7 (offset 0x54)');
  assert.equal(describeEntry('.altinstructions', 0, 0x54n, '6.12'), 'entry 6 (offset 0x54)');
  // A version whose layout is not known: no guess.
  assert.equal(describeEntry('__bug_table', 0, 0x30n, undefined), 'offset 0x30');
  // Sizes every version shares, and a section's own sh_entsize, need no version.
  assert.equal(describeEntry('__ex_table', 0, 0x18n, undefined), 'entry 2 (offset 0x18)');
  assert.equal(describeEntry('__bug_table', 16, 0x30n, '6.1'), 'entry 3 (offset 0x30)');
});
