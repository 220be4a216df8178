import { ElfObject } from '../../elf/object.js';
import { writeElf } from '../../elf/writer.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { readInput } from '../../io/read-file.js';
import { type Command, UsageError, help, parse } from '../args.js';

export const copyCommand: Command = {
  name: 'copy',
  summary: 'read an ELF object and write it back unchanged (checks the ELF layer round-trips it)',
  help: `Usage: klp-convert copy IN OUT

Parse IN with klp-convert's ELF layer and write it to OUT with no change, like
'objcopy IN OUT'. 'readelf -hSsrW' shows the same for both files (offsets aside;
usually they are identical byte for byte). Use it to check that a given object
survives klp-convert's reader and writer.

IN may be a relocatable object (.o) or kernel module (.ko), ELF32 or ELF64, either
byte order. OUT is written atomically; on any error nothing is left behind.`,
  run(args, io) {
    const { positionals, values } = parse('copy', args, {});
    if (values.help) return help(copyCommand, io);
    if (positionals.length !== 2) throw new UsageError('copy takes exactly two arguments: IN OUT', 'copy');
    const [input, output] = positionals;
    const obj = ElfObject.parse(readInput(input), input);
    writeFileAtomic(output, writeElf(obj));
    return 0;
  },
};
