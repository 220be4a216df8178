import { ElfObject } from '../../elf/object.js';
import { readInput, readTextInput } from '../../io/read-file.js';
import { buildSymbolMap } from '../../kernel/build-map.js';
import { loadMap, releaseMismatch } from '../../kernel/map-load.js';
import { runningKernelSources } from '../../kernel/running-kernel.js';
import type { KernelSymbolMap } from '../../kernel/symbol-map.js';
import { parseSymvers } from '../../kernel/symvers.js';
import { livepatchInfo } from '../../livepatch/modinfo.js';
import { verifyLivepatch } from '../../livepatch/verify.js';
import { type Command, UsageError, parse, help } from '../args.js';
import { renderVerification } from '../render.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check a livepatch module against its target kernel before anyone loads it',
  help: `Usage: klp-convert verify MODULE.ko [--symbols MAP | --kallsyms FILE [--modules DIR]] [--symvers FILE]

Simulates what the kernel does when it loads and enables the livepatch, and
reports every problem with its site:
  - livepatch section and symbol names parse as the kernel parses them (lengths
    included); livepatch symbols are SHN_LIVEPATCH; livepatch relocation sections
    are SHF_ALLOC|SHF_RELA_LIVEPATCH and apply to allocated sections;
  - each object exists in the target kernel, each symbol exists in it, position 0
    only for a unique name, position n only when there are at least n;
  - every other undefined symbol is exported (else: "Unknown symbol");
  - no module-targeted livepatch relocation in a section the loader processes first;
  - relocation types the architecture's loader handles (x86_64).
Exit status 0 only when the module would load and bind as intended.

Target kernel (default: the running kernel):
  -s, --symbols MAP    a map from 'klp-convert symbols'
  --kallsyms FILE      a /proc/kallsyms dump, with --modules DIR for module files
  --symvers FILE       Module.symvers, to tell exported symbols
Options:
  --json               findings as JSON
  -h, --help           this text`,
  async run(args, io) {
    const { values, positionals } = parse('verify', args, {
      symbols: { type: 'string', short: 's' },
      kallsyms: { type: 'string' },
      modules: { type: 'string', multiple: true },
      symvers: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) return help(verifyCommand, io);
    if (positionals.length !== 1) throw new UsageError('verify takes one module', 'verify');
    if (values.symbols && values.kallsyms) throw new UsageError('give --symbols or --kallsyms, not both', 'verify');
    const file = positionals[0];
    const obj = ElfObject.parse(readInput(file), file);
    let map: KernelSymbolMap;
    if (values.symbols) map = loadMap(values.symbols);
    else if (values.kallsyms) map = (await buildSymbolMap({ kallsyms: values.kallsyms, modules: values.modules ?? [] })).map;
    else map = (await buildSymbolMap(runningKernelSources())).map;
    const exports = values.symvers ? parseSymvers(readTextInput(values.symvers, 'Module.symvers'), values.symvers) : undefined;
    const stale = values.symbols && releaseMismatch(map, values.symbols, livepatchInfo(obj).vermagic, file);
    if (stale) io.err(`klp-convert: warning: ${stale}\n`);
    const result = verifyLivepatch(obj, { map, exports });
    if (values.json) {
      io.out(`${JSON.stringify({ file, ok: result.findings.length === 0, ...result }, null, 2)}\n`);
    } else {
      io.out(renderVerification(file, result));
    }
    return result.findings.length === 0 ? 0 : 1;
  },
};
