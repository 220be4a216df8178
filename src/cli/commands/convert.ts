import { ElfObject } from '../../elf/object.js';
import { writeElf } from '../../elf/writer.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { readInput, readTextInput } from '../../io/read-file.js';
import { loadMap, releaseMismatch } from '../../kernel/map-load.js';
import { parseSymvers } from '../../kernel/symvers.js';
import { convertLivepatch } from '../../livepatch/convert.js';
import { livepatchInfo } from '../../livepatch/modinfo.js';
import { type Command, type Io, UsageError, parse, help } from '../args.js';
import { renderReport, reportJson } from '../render.js';

export const convertCommand: Command = {
  name: 'convert',
  summary: 'turn a livepatch module built by kbuild into one the kernel can load',
  help: `Usage: klp-convert convert --symbols MAP [--symvers Module.symvers] IN.ko OUT.ko
       klp-convert MAP IN.ko OUT.ko          (the upstream klp-convert invocation)

Every reference of IN.ko that the module loader cannot resolve (symbols vmlinux does
not export, and symbols exported by modules, which would make the patch load the
module it patches) becomes a livepatch relocation: relocations move to
.klp.rela.<object>.<section>, symbols become .klp.sym.<object>.<name>,<position>.

The object and position come from KLP_MODULE_RELOC/KLP_SYMPOS or KLP_FILE_RELOC/
KLP_SYMFILE annotations (include/klp-convert.h; 'klp-convert --include-dir') or the
minimal series' KLP_RELOC_SYMBOL names, else from the symbol map when the name is
defined once in the whole kernel. A name defined several times without an
annotation is an error listing every candidate; all such names are reported in
one run and OUT.ko is not written. The converted module is checked with verify's
rules before it is written: one the kernel would refuse is not written either.

Options:
  -s, --symbols MAP    symbol map of the target kernel ('klp-convert symbols';
                       the upstream klp-convert-symbol-data format is read too)
  --symvers FILE       Module.symvers of the target kernel, to tell exported symbols;
                       without it, the export marks of the map are used
  --json               print a report of every conversion as JSON
  -v, --verbose        list every conversion and relocation
  -h, --help           this text

Converting an already converted module changes nothing and says so.`,
  run(args, io) {
    const { values, positionals } = parse('convert', args, {
      symbols: { type: 'string', short: 's' },
      symvers: { type: 'string' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    });
    if (values.help) return help(convertCommand, io);
    if (!values.symbols) throw new UsageError('--symbols MAP is required', 'convert');
    if (positionals.length !== 2) throw new UsageError('convert takes two arguments: IN.ko OUT.ko', 'convert');
    return runConvert(
      values.symbols,
      positionals[0],
      positionals[1],
      { symvers: values.symvers, json: values.json, verbose: values.verbose },
      io,
    );
  },
};

export function runConvert(
  mapPath: string,
  input: string,
  output: string,
  opts: { symvers?: string; json?: boolean; verbose?: boolean },
  io: Io,
): number {
  const map = loadMap(mapPath);
  const exports = opts.symvers ? parseSymvers(readTextInput(opts.symvers, 'Module.symvers'), opts.symvers) : undefined;
  const obj = ElfObject.parse(readInput(input), input);
  const stale = releaseMismatch(map, mapPath, livepatchInfo(obj).vermagic, input);
  if (stale) io.err(`klp-convert: warning: ${stale}\n`);
  const report = convertLivepatch(obj, { map, exports });
  writeFileAtomic(output, writeElf(obj));
  for (const w of report.warnings) io.err(`klp-convert: warning: ${input}: ${w}\n`);
  if (opts.json) io.out(`${JSON.stringify(reportJson(report, input, output), null, 2)}\n`);
  else io.out(renderReport(report, input, output, opts.verbose ?? false));
  return 0;
}
