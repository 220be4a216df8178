import { existsSync, mkdirSync } from 'node:fs';
import { release } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildError, runKbuild } from '../../build/kbuild.js';
import { ElfObject } from '../../elf/object.js';
import { writeElf } from '../../elf/writer.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { readInput, readTextInput } from '../../io/read-file.js';
import { kernelMapFor } from '../../kernel/map-cache.js';
import { loadMap as readMap } from '../../kernel/map-load.js';
import type { KernelSymbolMap } from '../../kernel/symbol-map.js';
import { parseSymvers } from '../../kernel/symvers.js';
import { ConversionError, convertLivepatch } from '../../livepatch/convert.js';
import { livepatchInfo } from '../../livepatch/modinfo.js';
import { unknownToLoader } from '../../livepatch/verify.js';
import { type Command, parse, help } from '../args.js';
import { plural } from '../plural.js';
import { reportJson } from '../render.js';

/** The folder holding klp-convert.h, in a checkout and in an installed package alike. */
export const includeDir = fileURLToPath(new URL('../../../include', import.meta.url));

export const buildCommand: Command = {
  name: 'build',
  summary: 'build livepatch sources with kbuild and convert every livepatch module built',
  help: `Usage: klp-convert build [DIR] [--kdir KDIR] [--symbols MAP] [--output DIR]

Runs kbuild on the module sources in DIR (default: the current folder), as
'make -C KDIR M=DIR modules', with klp-convert.h on the include path and modpost's
"undefined!" errors turned into warnings (KBUILD_MODPOST_WARN=1). Then converts
every livepatch module built (MODULE_INFO(livepatch, "Y")) and writes loadable
.ko files. modpost's "undefined!" warnings are hidden: each converted module is
checked as 'klp-convert verify' checks it, and a symbol that stays unresolved
is an error naming it.

Options:
  --kdir KDIR        kernel build tree (default /lib/modules/$(uname -r)/build)
  -s, --symbols MAP  symbol map of the target kernel (default: the running kernel's
                     when KDIR is for it, built once and cached per kernel release
                     in ~/.cache/klp-convert or $KLP_CACHE)
  --symvers FILE     Module.symvers (default: KDIR/Module.symvers)
  -o, --output DIR   where to write the converted modules (default: replace the
                     built .ko files in DIR)
  --json             print a report of every conversion as JSON
  -v, --verbose      show kbuild's output and every conversion
  -h, --help         this text

Modules that reference symbols the module loader cannot resolve but lack
MODULE_INFO(livepatch, "Y") are reported and left alone.`,
  async run(args, io) {
    const { values, positionals } = parse('build', args, {
      kdir: { type: 'string' },
      symbols: { type: 'string', short: 's' },
      symvers: { type: 'string' },
      output: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
    });
    if (values.help) return help(buildCommand, io);
    const dir = resolve(positionals[0] ?? '.');
    const kdir = resolve(values.kdir ?? `/lib/modules/${release()}/build`);
    const built = runKbuild(dir, kdir, includeDir);
    const shown = values.verbose ? built.output : withoutProgress(built.output);
    if (shown) io.err(`${shown}\n`);
    if (built.modules.length === 0) throw new BuildError(`kbuild built no module in ${dir}`);
    const symversPath = values.symvers ?? join(kdir, 'Module.symvers');
    const exports = existsSync(symversPath) ? parseSymvers(readTextInput(symversPath, 'Module.symvers'), symversPath) : undefined;
    let loaded: KernelSymbolMap | undefined;
    const symbols = values.symbols;
    const loadMap = async (): Promise<KernelSymbolMap> => {
      loaded ??= symbols ? readMap(symbols) : await kernelMapFor(kdir);
      return loaded;
    };

    if (values.output) mkdirSync(resolve(values.output), { recursive: true });
    const reports: unknown[] = [];
    let failed = 0;
    for (const ko of built.modules) {
      const obj = ElfObject.parse(readInput(ko), ko);
      const out = values.output ? join(resolve(values.output), basename(ko)) : ko;
      if (!livepatchInfo(obj).livepatch) {
        const target = { exports, map: exports ? undefined : await loadMap() };
        const unknown = obj.symtab?.symbols.filter((y) => unknownToLoader(y, target)).map((y) => y.name) ?? [];
        if (unknown.length > 0) {
          io.err(
            `klp-convert: warning: ${ko} references symbols the module loader cannot resolve (${unknown.join(', ')}) but has no MODULE_INFO(livepatch, "Y"); not converted\n`,
          );
        }
        if (values.output) copyModule(ko, out);
        continue;
      }
      try {
        // The conversion checks its output with verify's rules, the remaining undefined symbols
        // against these exports included: modpost's partial list decides nothing.
        const report = convertLivepatch(obj, { map: await loadMap(), exports });
        writeFileAtomic(out, writeElf(obj));
        for (const w of report.warnings) io.err(`klp-convert: warning: ${ko}: ${w}\n`);
        reports.push(reportJson(report, ko, out));
        if (!values.json) {
          const relocs = report.conversions.reduce((n, c) => n + c.references.length, 0);
          io.out(
            `${out}: ${report.changed ? `${plural(report.conversions.length, 'symbol')}, ${plural(relocs, 'relocation')} converted` : 'no conversion needed'}\n`,
          );
          if (values.verbose) for (const c of report.conversions) io.out(`  ${c.klpName}  [${c.how}]\n`);
        }
      } catch (e) {
        if (!(e instanceof ConversionError)) throw e;
        failed++;
        io.err(`klp-convert: ${e.message}\n`);
      }
    }
    if (values.json) io.out(`${JSON.stringify(reports, null, 2)}\n`);
    return failed > 0 ? 1 : 0;
  },
};

function copyModule(from: string, to: string): void {
  if (resolve(from) !== resolve(to)) writeFileAtomic(to, readInput(from));
}

/** kbuild's output less its progress lines (CC, LD, MODPOST, make's directory notes): what is left are diagnostics. */
function withoutProgress(output: string): string {
  return output
    .split('\n')
    .filter(
      (l) =>
        !/^\s{2}[A-Z][A-Z0-9_]*( \[M\])?\s+\S/.test(l) &&
        !/^make(\[\d+\])?: (Entering|Leaving) directory/.test(l) &&
        !/^Skipping BTF generation/.test(l) &&
        l.trim() !== '',
    )
    .join('\n');
}
