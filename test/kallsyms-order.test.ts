import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildSymbolMap } from '../src/kernel/build-map.js';
import { kallsymsRulesFor } from '../src/kernel/kallsyms-rules.js';
import { VMLINUX } from '../src/kernel/symbol-map.js';
import { tempDir } from './helpers.js';

/*
 * A linked ELF with crafted ties, read as a vmlinux. What Linux 6.1 does with such a symbol table,
 * written down here from its sources (the expected order below follows from these, not from our code):
 *
 * scripts/mksysmap: `$NM -n vmlinux | grep -v ' [aNUw] ' | grep -v ' \$' | grep -v ' \.L' |
 *   grep -v ' __crc_' | grep -v ' __kstrtab_' | grep -v ' __kstrtabns_' | grep -v ' L0$'`
 *   (absolute locals, debug, undefined, weak undefined; names starting $, .L, __crc_, __kstrtab_...)
 * scripts/kallsyms.c is_ignored_symbol(): drops names equal to kallsyms_addresses, kallsyms_offsets,
 *   kallsyms_relative_base, kallsyms_num_syms, kallsyms_names, kallsyms_markers,
 *   kallsyms_token_table, kallsyms_token_index, kallsyms_seqs_of_names, _SDA_BASE_, _SDA2_BASE_;
 *   prefixes __efistub_, __kvm_nvhe_$, __kvm_nvhe_.L, __AArch64ADRPThunk_, __ARMV5PILongThunk_,
 *   __ARMV7PILongThunk_, __ThumbV7PILongThunk_, __LA25Thunk_, __microLA25Thunk_, __kcfi_typeid_;
 *   suffixes _from_arm, _from_thumb, _veneer; names containing .long_branch. or .plt_branch.;
 *   types U, u, N, n; absolute ('A') symbols except __kernel_syscall_via_break,
 *   __kernel_syscall_via_epc, __kernel_sigtramp, __gp.
 * scripts/kallsyms.c compare_symbols(): by address; then type w/W after the others (weak objects,
 *   'V', are not 'weak' there); then not may_be_linker_script_provide_symbol() first (names of 8 or
 *   more characters starting __ and either starting __start_, __stop_, __end_ or ending _start,
 *   _end); then fewer leading underscores first; then nm -n order. Every tie below is decided
 *   before that last step, and the symbol table lists the symbols against the expected order.
 */
const source = `
	.data
	.globl tie_low
tie_low:	.quad 0
	# address A: listed last to first in the symbol table
	.weak tie_weak
tie_weak:
	.globl __start_tie
__start_tie:
	.globl __tie_two
__tie_two:
	.globl _tie_one
_tie_one:
	.globl tie_plain
tie_plain:
	# ignored at the same address
	.globl kallsyms_names, kallsyms_seqs_of_names, _SDA_BASE_, __efistub_tie, __kcfi_typeid_tie, tie_veneer, tie_from_thumb
kallsyms_names:
kallsyms_seqs_of_names:
_SDA_BASE_:
__efistub_tie:
__kcfi_typeid_tie:
tie_veneer:
tie_from_thumb:
	.globl "tie.long_branch.x", __crc_tie, __kstrtab_tie, __kstrtabns_tie
"tie.long_branch.x":
__crc_tie:
__kstrtab_tie:
__kstrtabns_tie:
	.quad 0
	# address B
	.weak tie_b_weak
tie_b_weak:
	.globl __tie_end
__tie_end:
	.globl ___tie_three
___tie_three:
	.quad 0
	.globl tie_high
tie_high:	.quad 0
	# absolute: only __gp of these is listed (below every .data address)
	.globl tie_abs, __gp
	.set tie_abs, 0x1000
	.set __gp, 0x2000
	.set tie_local_abs, 0x3000
`;

test('vmlinux: kallsyms order of same-address ties, ignore lists and absolute symbols follow Linux 6.1', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'ties.s'), source);
  execFileSync('gcc', ['-c', join(dir, 'ties.s'), '-o', join(dir, 'ties.o')]);
  execFileSync('ld', ['-e', '0', '-o', join(dir, 'ties.elf'), join(dir, 'ties.o')]);
  const { map } = await buildSymbolMap({ vmlinux: join(dir, 'ties.elf'), modules: [] });
  const v = map.object(VMLINUX)!;
  const listed = v.names.filter((_, i) => v.listed[i] && (v.names[i].includes('tie') || v.names[i] === '__gp'));
  assert.deepEqual(listed, [
    '__gp', // absolute, kept, lowest address
    'tie_low',
    // A: non-weak before weak; of those, not linker-provided first; then fewer underscores
    'tie_plain',
    '_tie_one',
    '__tie_two',
    '__start_tie',
    'tie_weak',
    // B: ___tie_three (not linker-provided) before __tie_end (linker-provided), weak last
    '___tie_three',
    '__tie_end',
    'tie_b_weak',
    'tie_high',
  ]);
  for (const gone of [
    'kallsyms_names',
    'kallsyms_seqs_of_names',
    '_SDA_BASE_',
    '__efistub_tie',
    '__kcfi_typeid_tie',
    'tie_veneer',
    'tie_from_thumb',
    'tie.long_branch.x',
    '__crc_tie',
    '__kstrtab_tie',
    '__kstrtabns_tie',
    'tie_abs',
    'tie_local_abs',
  ]) {
    assert.ok(
      v.names.every((n, i) => n !== gone || !v.listed[i]),
      `${gone} is not in kallsyms`,
    );
  }
});

/*
 * The name filters by version, from the kernels' own scripts (expected values follow from these):
 * 6.1: the mksysmap grep and is_ignored_symbol() lists quoted above.
 * 6.12.95 scripts/mksysmap (sed): / [aNUw] /d, / \$/d, / \.L/d, / __efistub_/d, / __pi_\\$/d,
 *   / __pi_\.L/d, / __kvm_nvhe_\$/d, / __kvm_nvhe_\.L/d, / __[[:alnum:]]*Thunk_/d,
 *   / __kcfi_typeid_/d, / __kvm_nvhe___kcfi_typeid_/d, / __pi___kcfi_typeid_/d, / __crc_/d,
 *   / __kstrtab_/d, / __kstrtabns_/d, /_from_arm$/d, /_from_thumb$/d, /_veneer$/d, / L0$/d,
 *   / _SDA_BASE_$/d, / _SDA2_BASE_$/d, /\.long_branch\./d, /\.plt_branch\./d
 *   (the space before a name is the one after nm's type: ` X` filters match at the name's start).
 * 7.3.4 scripts/mksysmap: the same with / __pi_\$/d for / __pi_\\$/d, and / __mod_device_table__/d
 *   and / __UNIQUE_ID_modinfo_[0-9]*$/d added.
 */
test('kallsyms name filters of Linux 6.1, 6.4 to 6.17 and 6.18 on', () => {
  // name, type, listed by 6.1, by 6.12, by 7.3
  const cases: [string, string, boolean, boolean, boolean][] = [
    ['plain', 'T', true, true, true],
    ['plain', 'w', false, false, false],
    ['plain', 'a', false, false, false],
    ['plain', 'U', false, false, false],
    ['$x', 't', false, false, false],
    ['.Lfoo', 't', false, false, false],
    ['L0', 't', false, false, false],
    ['L01', 't', true, true, true],
    ['_SDA_BASE_', 'D', false, false, false],
    ['_SDA_BASE_x', 'D', true, true, true],
    ['kallsyms_names', 'R', false, true, true],
    ['kallsyms_names2', 'R', true, true, true],
    ['__crc_foo', 'R', false, false, false],
    ['__kstrtabns_foo', 'R', false, false, false],
    ['__efistub_foo', 'T', false, false, false],
    ['x__efistub_foo', 'T', true, true, true],
    ['__kcfi_typeid_foo', 'T', false, false, false],
    ['__pi___kcfi_typeid_foo', 'T', true, false, false],
    ['__pi_.Lfoo', 't', true, false, false],
    ['__pi_$x', 't', true, true, false],
    ['__ARMV5PILongThunk_foo', 'T', false, false, false],
    ['__FooThunk_bar', 'T', true, false, false],
    ['__Thunk_bar', 'T', true, false, false],
    ['__foo_Thunk_bar', 'T', true, true, true],
    ['x__FooThunk_bar', 'T', true, true, true],
    ['foo_veneer', 'T', false, false, false],
    ['foo_veneerx', 'T', true, true, true],
    ['foo_from_thumb', 'T', false, false, false],
    ['foo.long_branch.bar', 'T', false, false, false],
    ['foo.long_branch', 'T', true, true, true],
    ['.plt_branch.', 'T', false, false, false],
    ['__mod_device_table__pci__foo', 'R', true, true, false],
    ['__UNIQUE_ID_modinfo_1290', 'r', true, true, false],
    ['__UNIQUE_ID_modinfo_', 'r', true, true, false],
    ['__UNIQUE_ID_modinfo_12a', 'r', true, true, true],
    ['__gp', 'A', true, true, true],
    ['__gpx', 'A', false, false, false],
  ];
  const rules = [kallsymsRulesFor('6.1.0-56-amd64'), kallsymsRulesFor('6.12.95+deb12-amd64'), kallsymsRulesFor('7.3.4+deb13-amd64')];
  for (const [name, type, ...expected] of cases) {
    // The name inside a longer buffer, as in a string table.
    const bytes = Buffer.from(`\0${name}\0rest`, 'latin1');
    const got = rules.map((r) => r.listed(bytes, 1, 1 + name.length, type.charCodeAt(0)));
    assert.deepEqual(got, expected, `${name} ${type}`);
  }
});
