import { SHF_ALLOC, SHN_UNDEF, SHT_PROGBITS, STB_GLOBAL, STT_NOTYPE } from '../src/elf/constants.js';
import { ElfObject, ElfSymbol, type RelocationSection, Section } from '../src/elf/object.js';
import { writeElf } from '../src/elf/writer.js';
import { SHF_RELA_LIVEPATCH } from '../src/livepatch/klp-format.js';
import type { Rule } from '../src/livepatch/verify.js';

export interface BrokenVariant {
  name: string;
  /** The one verify rule this breaks. */
  rule: Rule;
  bytes: Uint8Array;
  /** What the kernel prints when it refuses the module; undefined where it cannot notice. */
  kernel?: RegExp;
}

/**
 * Copies of a valid converted livepatch with one thing broken each, made by editing it through
 * the ELF layer. The valid module must have `.klp.rela.vmlinux..text` with a relocation against
 * `.klp.sym.vmlinux.ucode_path,2` (the annotated sample).
 */
export function brokenVariants(valid: Uint8Array): BrokenVariant[] {
  const variants: BrokenVariant[] = [];
  const make = (
    name: string,
    rule: Rule,
    kernel: RegExp | undefined,
    edit: (o: ElfObject, klp: RelocationSection, sym: ElfSymbol) => void,
  ) => {
    const obj = ElfObject.parse(valid, name);
    const klp = obj.relocationSections.find((s) => s.name === '.klp.rela.vmlinux..text');
    const sym = obj.symtab?.symbols.find((y) => y.name === '.klp.sym.vmlinux.ucode_path,2');
    if (!klp || !sym) throw new Error('the valid module must hold .klp.rela.vmlinux..text and .klp.sym.vmlinux.ucode_path,2');
    edit(obj, klp, sym);
    variants.push({ name, rule, kernel, bytes: writeElf(obj) });
  };
  make('sympos-past-end', 'sympos', /symbol position 3 for symbol 'ucode_path' in object 'vmlinux' not found/, (_o, _k, y) => {
    y.name = '.klp.sym.vmlinux.ucode_path,3';
  });
  make('sympos-ambiguous', 'sympos', /unresolvable ambiguity for symbol 'ucode_path'/, (_o, _k, y) => {
    y.name = '.klp.sym.vmlinux.ucode_path,0';
  });
  make('symbol-missing', 'symbol-missing', /symbol 'no_such_symbol_xyz' not found in symbol table/, (_o, _k, y) => {
    y.name = '.klp.sym.vmlinux.no_such_symbol_xyz,0';
  });
  make('symbol-no-position', 'symbol-name', /symbol \.klp\.sym\.vmlinux\.ucode_path has an incorrectly formatted name/, (_o, _k, y) => {
    y.name = '.klp.sym.vmlinux.ucode_path';
  });
  make('symbol-not-livepatch', 'symbol-shndx', /Unknown symbol \.klp\.sym\.vmlinux\.ucode_path,2/, (_o, _k, y) => {
    y.shndx = SHN_UNDEF;
  });
  make('section-no-object', 'section-name', /section \.klp\.rela\.\.text has an incorrectly formatted name/, (_o, k) => {
    k.name = '.klp.rela..text';
  });
  make('section-not-livepatch', 'section-flags', undefined, (_o, k) => {
    k.flags &= ~SHF_RELA_LIVEPATCH;
  });
  make('section-target-not-allocated', 'section-target', undefined, (o, k) => {
    // Relocations for a section the loader does not load are skipped (apply_relocations()): silently.
    const notes = new Section({ name: '.klp_test_notes', type: SHT_PROGBITS, flags: 0, addralign: 1, data: new Uint8Array(64) });
    o.addSection(notes);
    k.target = notes;
    k.relocations = k.relocations.map((r) => ({ ...r, offset: 0n }));
  });
  make('vmlinux-symbol-in-module-section', 'vmlinux-from-module', undefined, (_o, k) => {
    k.name = '.klp.rela.overlay..text';
  });
  make('unexported-symbol', 'unresolved', /Unknown symbol nr_threads/, (o, _k) => {
    o.symtab!.add(new ElfSymbol({ name: 'nr_threads', bind: STB_GLOBAL, type: STT_NOTYPE, shndx: SHN_UNDEF }));
  });
  make('livepatch-symbol-in-ordinary-section', 'livepatch-symbol-outside', undefined, (o, k) => {
    const ordinary = o.relocationSections.find((s) => s.target === k.target && s !== k)!;
    ordinary.relocations = [...ordinary.relocations, k.relocations[0]];
    k.relocations = k.relocations.slice(1);
    if (k.relocations.length === 0) o.removeSections(new Set([k]));
  });
  make('relocation-type', 'relocation-type', /Unknown rela relocation: 9/, (_o, k) => {
    k.relocations = k.relocations.map((r) => ({ ...r, type: 9 }));
  });
  make('object-not-in-kernel', 'object', undefined, (_o, k, y) => {
    k.name = '.klp.rela.no_such_module..text';
    y.name = '.klp.sym.no_such_module.ucode_path,0';
  });
  make('module-target-in-loader-section', 'loader-section', undefined, (o, k, y) => {
    k.name = '.klp.rela.overlay.__mcount_loc';
    k.target = o.sectionByName('__mcount_loc')!;
    y.name = '.klp.sym.overlay.ovl_dir_llseek,0';
  });
  make('annotations-left', 'annotations-left', undefined, (o) => {
    o.addSection(new Section({ name: '.klp.module_relocs.vmlinux', type: SHT_PROGBITS, flags: SHF_ALLOC, addralign: 4 }));
  });
  make('not-marked-livepatch', 'modinfo', /is not marked as a livepatch module/, (o) => {
    const modinfo = o.sectionByName('.modinfo')!;
    const text = Buffer.from(modinfo.data).toString('latin1').replace('livepatch=Y', 'livepatcX=Y');
    modinfo.data = Buffer.from(text, 'latin1');
  });
  return variants;
}
