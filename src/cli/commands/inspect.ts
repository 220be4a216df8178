import { ElfObject } from '../../elf/object.js';
import { readInput } from '../../io/read-file.js';
import { inspectLivepatch } from '../../livepatch/inspect.js';
import { type Command, UsageError, parse, help } from '../args.js';
import { renderInspection } from '../render.js';

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'list the livepatch relocations, symbols and annotations of a module',
  help: `Usage: klp-convert inspect MODULE.ko [--json]

A livepatch-aware listing: modinfo (livepatch flag, name, vermagic); the livepatch
relocation sections grouped by target object, each relocation with its site
(function+offset and section+offset), type, target (object, symbol, position)
and addend; the undefined symbols still left to the module loader; annotation
sections that remain (an unconverted module).

Options:
  --json      the same as JSON (documented in the README)
  -h, --help  this text`,
  run(args, io) {
    const { values, positionals } = parse('inspect', args, { json: { type: 'boolean' } });
    if (values.help) return help(inspectCommand, io);
    if (positionals.length !== 1) throw new UsageError('inspect takes one module', 'inspect');
    const file = positionals[0];
    const result = inspectLivepatch(ElfObject.parse(readInput(file), file), file);
    io.out(values.json ? `${JSON.stringify(result, null, 2)}\n` : renderInspection(result));
    return 0;
  },
};
