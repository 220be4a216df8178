import { type SymbolSources, UnreadableModuleError, buildSymbolMap } from '../../kernel/build-map.js';
import { KernelDataError } from '../../kernel/errors.js';
import { MAP_FORMATS, type MapFormat, writeMap } from '../../kernel/map-load.js';
import { runningKernelSources } from '../../kernel/running-kernel.js';
import { VMLINUX } from '../../kernel/symbol-map.js';
import { type Command, UsageError, parse, help } from '../args.js';

export const symbolsCommand: Command = {
  name: 'symbols',
  summary: 'build the symbol map of a kernel (vmlinux and modules, in kallsyms order)',
  help: `Usage: klp-convert symbols [SOURCES] [MODULE...] --output FILE [--format binary|klp-convert|upstream]

Collect every symbol of a kernel, per object (vmlinux and each module), with its
position among same-named symbols as the running kernel counts it (the sympos of
.klp.sym.<object>.<name>,<sympos>), whether it is exported, and its source file.

Sources (combine one vmlinux source with modules and Module.symvers):
  --vmlinux FILE       vmlinux with its symbol table (e.g. from linux-image-<ver>-dbg)
  --kallsyms [FILE]    a /proc/kallsyms dump (lines tagged [module] go to that module);
                       without FILE, /proc/kallsyms of the running kernel
  --system-map FILE    a System.map (vmlinux symbols only)
  --modules DIR        walk DIR for *.ko, *.ko.xz, *.ko.zst, *.ko.gz (repeatable)
  MODULE...            module files
  --symvers FILE       Module.symvers: marks exported symbols and their exporter
With no source at all: the running kernel, i.e. /proc/kallsyms (any user: the
map takes its order, not its addresses), else /boot/System.map-$(uname -r) if it
is a real one, plus the modules in /lib/modules/$(uname -r).

Options:
  -o, --output FILE    where to write the map (required)
  --format FORMAT      binary (default: positions, types, sizes, exports, source
                       files, indexed so a map is queried without parsing it),
                       klp-convert (the same as text) or upstream
                       (klp-convert-symbol-data.0.1, read by the kernel's
                       klp-convert patch series)
  --release NAME       kernel release recorded in the map
  --keep-going         skip unreadable modules with a warning each on stderr,
                       write the map of the rest and exit 0
  --json               print the summary as JSON
  -h, --help           this text`,
  async run(args, io) {
    const { values, positionals } = parse('symbols', withDefaultKallsyms(args), {
      vmlinux: { type: 'string' },
      kallsyms: { type: 'string' },
      'system-map': { type: 'string' },
      modules: { type: 'string', multiple: true },
      symvers: { type: 'string' },
      output: { type: 'string', short: 'o' },
      format: { type: 'string', default: 'binary' },
      release: { type: 'string' },
      'keep-going': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) return help(symbolsCommand, io);
    if (!values.output) throw new UsageError('--output FILE is required', 'symbols');
    const format = values.format as MapFormat;
    if (!MAP_FORMATS.includes(format)) throw new UsageError(`unknown --format '${values.format}' (${MAP_FORMATS.join(', ')})`, 'symbols');
    let sources: SymbolSources = {
      vmlinux: values.vmlinux,
      kallsyms: values.kallsyms,
      systemMap: values['system-map'],
      modules: [...(values.modules ?? []), ...positionals],
      symvers: values.symvers,
      keepGoing: values['keep-going'],
    };
    const noSource = !sources.vmlinux && !sources.kallsyms && !sources.systemMap && sources.modules.length === 0;
    if (noSource) sources = { ...runningKernelSources(), symvers: sources.symvers, keepGoing: sources.keepGoing };
    const tty = io.errIsTty;
    sources.progress = tty
      ? (done, total) => {
          if (done === total || done % 50 === 0) io.err(`\rreading modules: ${done}/${total}${done === total ? '\n' : ''}`);
        }
      : undefined;

    const { map, problems } = await buildSymbolMap({ ...sources, release: values.release ?? sources.release }).catch((e: unknown) => {
      // This command's way past such a module.
      if (e instanceof UnreadableModuleError) throw new KernelDataError(`${e.message} (use --keep-going to skip unreadable modules)`);
      throw e;
    });
    map.meta.set('sources', describeSources(sources));
    for (const p of problems) io.err(`klp-convert: warning: skipped ${p}\n`);
    writeMap(map, values.output, format);

    const vmlinux = map.object(VMLINUX);
    const summary = {
      output: values.output,
      format,
      objects: map.objects.size,
      symbols: map.symbolCount,
      vmlinuxSymbols: vmlinux?.length ?? 0,
      modules: map.objects.size - (vmlinux ? 1 : 0),
      skipped: problems.length,
    };
    if (values.json) io.out(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      io.out(
        `${summary.output}: ${summary.symbols} symbols of ${summary.vmlinuxSymbols ? 'vmlinux and ' : ''}${summary.modules} modules (${format} format)\n`,
      );
    }
    // --keep-going asked to skip what cannot be read: the map is written and the skips were warned.
    return 0;
  },
};

/** `--kallsyms` with no file means the running kernel's. */
function withDefaultKallsyms(args: string[]): string[] {
  return args.flatMap((a, i) =>
    a === '--kallsyms' && (i + 1 >= args.length || args[i + 1].startsWith('-')) ? [a, '/proc/kallsyms'] : [a],
  );
}

function describeSources(s: SymbolSources): string {
  return [
    s.vmlinux && `vmlinux ${s.vmlinux}`,
    s.kallsyms && `kallsyms ${s.kallsyms}`,
    s.systemMap && `System.map ${s.systemMap}`,
    s.modules.length > 0 && `modules ${s.modules.join(' ')}`,
    s.symvers && `symvers ${s.symvers}`,
  ]
    .filter(Boolean)
    .join(', ');
}
