/**
 * `create` for units of a module, on real objects: gcc compiles C files, `ld -r` links them into
 * a module-like object as kbuild does (an object's locals stay together, objects in link order),
 * `strip --strip-debug` removes the FILE symbols as Debian's module install does
 * (INSTALL_MOD_STRIP=1). Positions are the kernel's rule: the rank among same-named symbols in the
 * module's symbol table order (klp_find_object_symbol -> module_kallsyms_on_each_symbol).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { shippedMatch } from '../src/create/create.js';
import { ShippedModule } from '../src/create/locate.js';
import { STB_LOCAL, STT_FUNC, STT_OBJECT } from '../src/elf/constants.js';
import { ElfObject } from '../src/elf/object.js';
import { compile, readelf, tempDir } from './helpers.js';

const dir = tempDir('klpc-create-module-');
const FLAGS = ['-fno-pie', '-fno-asynchronous-unwind-tables'];

/** Two files with statics of the same names (counter, step), as kcm's kcmsock.c and kcmproc.c share kcm_net_ops. */
const A = `static int counter;
static int a_only[2];
static int __attribute__((noinline)) step(int x) { return x + counter++; }
int a_entry(int x) { return step(x) + a_only[x & 1]; }
`;
const B = `static int counter = 5;
static int b_table[4] = { 1, 2, 3, 4 };
int b_shared;
static int __attribute__((noinline)) step(int x) { return x * 3 + counter++; }
static int __attribute__((noinline)) b_helper(int x) { return b_table[x & 3] + step(x) + b_shared; }
int b_entry(int x) { return b_helper(x) - counter; }
`;
/** A file included by two units, as minix's itree_common.c is by itree_v1.c and itree_v2.c: the same locals twice. */
const COMMON = `static int counter;
static int __attribute__((noinline)) bump(int x) { return x + counter++; }
`;

let stripped: string;
let unstripped: string;
let twice: string;

/** Local functions and data of a compiled unit, as create takes them from its rebuilt object. */
function localsOf(obj: string): { name: string; size: number }[] {
  return (ElfObject.parse(readFileSync(obj)).symtab?.symbols ?? [])
    .filter((s) => s.bind === STB_LOCAL && (s.type === STT_FUNC || s.type === STT_OBJECT) && s.section)
    .map((s) => ({ name: s.name, size: Number(s.size) }));
}

/** Symbol-table indices of the definitions of `name` in `file`, in table order (readelf's view, not ours). */
function indicesIn(file: string, name: string): number[] {
  return readelf('-sW', file)
    .split('\n')
    .map((l) => /^\s*(\d+):\s+\S+\s+\S+\s+(FUNC|OBJECT)\s+\S+\s+\S+\s+\d+\s+(\S+)$/.exec(l))
    .filter((m) => m?.[3] === name)
    .map((m) => Number(m![1]));
}

const opened: ShippedModule[] = [];
async function open(path: string): Promise<ShippedModule> {
  const ko = await ShippedModule.open(path);
  opened.push(ko);
  return ko;
}
after(() => {
  for (const ko of opened) ko.close();
});

before(() => {
  const a = compile(dir, 'a', A, FLAGS);
  const b = compile(dir, 'b', B, FLAGS);
  unstripped = join(dir, 'mod-files.ko');
  execFileSync('ld', ['-r', a, b, '-o', unstripped]);
  stripped = join(dir, 'mod.ko');
  execFileSync('strip', ['--strip-debug', unstripped, '-o', stripped]);
  writeFileSync(join(dir, 'common.c'), COMMON);
  const c1 = compile(dir, 'c1', '#include "common.c"\nint c1_entry(int x) { return bump(x); }\n', FLAGS);
  const c2 = compile(dir, 'c2', '#include "common.c"\nint c2_entry(int x) { return bump(x) * 2; }\n', FLAGS);
  twice = join(dir, 'twice.ko');
  execFileSync('ld', ['-r', a, c1, c2, '-o', join(dir, 'twice-files.ko')]);
  execFileSync('strip', ['--strip-debug', join(dir, 'twice-files.ko'), '-o', twice]);
});

test('the stripped module has no FILE symbols, and each static name twice (the case this is about)', () => {
  assert.doesNotMatch(readelf('-sW', stripped), / FILE /);
  assert.equal(indicesIn(stripped, 'counter').length, 2);
  assert.equal(indicesIn(stripped, 'step').length, 2);
});

test("a unit's statics are its own, at their position in the module, with or without FILE symbols", async () => {
  for (const path of [stripped, unstripped]) {
    const ko = await open(path);
    // b.o is linked second: its counter and step are the second of their names.
    const [, bCounter] = indicesIn(path, 'counter');
    const [, bStep] = indicesIn(path, 'step');
    const b = ko.locate('dir/b.c', localsOf(join(dir, 'b.o')));
    assert.equal(ko.unitLocal(b, 'counter'), bCounter, path);
    assert.equal(ko.unitLocal(b, 'step'), bStep, path);
    assert.deepEqual(ko.position(bCounter), { position: 2, count: 2 });
    assert.deepEqual(ko.position(bStep), { position: 2, count: 2 });
    // A name unique in the module: position 0.
    assert.deepEqual(ko.position(ko.unitLocal(b, 'b_table')!), { position: 0, count: 1 });
    // The first unit's are the first, though b's run starts with the same two names in the same
    // order: their sizes tell.
    const a = ko.locate('dir/a.c', localsOf(join(dir, 'a.o')));
    assert.equal(ko.position(ko.unitLocal(a, 'counter')!).position, 1);
    assert.equal(ko.position(ko.unitLocal(a, 'step')!).position, 1);
    // A global defined in another file of the module.
    assert.deepEqual(ko.position(ko.globalIndex('b_shared')!), { position: 0, count: 1 });
  }
});

test('two units with the same locals: their statics are refused with the candidates', async () => {
  const ko = await open(twice);
  const [, c1Counter, c2Counter] = indicesIn(twice, 'counter');
  const c1 = ko.locate('fs/minix/c1.c', localsOf(join(dir, 'c1.o')));
  assert.deepEqual(c1.ambiguous.get('counter'), [c1Counter, c2Counter]);
  assert.throws(
    () => ko.unitLocal(c1, 'counter'),
    /^CreateError: fs\/minix\/c1\.c: 'counter': 2 stretches of .*twice\.ko's symbols match the unit equally well, each with its own 'counter' \(positions 2, 3\): cannot tell which one is the unit's$/,
  );
});

test('a unit none of whose locals the module has is refused', async () => {
  const ko = await open(stripped);
  assert.throws(
    () =>
      ko.locate('x/c1.c', [
        { name: 'bump', size: 1 },
        { name: 'other', size: 1 },
      ]),
    /x\/c1\.c: no stretch of .*mod\.ko's symbols has the unit's local symbols \(bump, other\.\.\.\)/,
  );
});

test('rebuilt original vs shipped module code: identical for the same compile, differs for another', async () => {
  const ko = await open(stripped);
  const b = ko.locate('b.c', localsOf(join(dir, 'b.o')));
  const shipped = (name: string) => () => ko.code(ko.unitLocal(b, name) ?? ko.globalIndex(name)!);
  // b.o's code references its statics through relocations: the .ko has its own for them (other
  // addends after the link), masked on both sides.
  assert.ok(ko.code(ko.globalIndex('b_entry')!)!.relocations.length > 0);
  for (const f of ['b_entry', 'b_helper', 'step']) assert.equal(shippedMatch(join(dir, 'b.o'), f, shipped(f)), 'identical', f);
  // The same source built with other flags, as a wrong rebuild would be.
  const other = compile(dir, 'b-O1', B, [...FLAGS, '-O1']);
  assert.equal(shippedMatch(other, 'b_helper', shipped('b_helper')), 'differs');
  // The same size, one byte of code apart.
  const edited = compile(dir, 'b-edited', B.replace('x * 3', 'x * 5'), FLAGS);
  assert.equal(shippedMatch(edited, 'step', shipped('step')), 'differs');
});
