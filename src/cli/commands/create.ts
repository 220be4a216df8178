import { release } from 'node:os';
import { resolve } from 'node:path';
import { createLivepatch } from '../../create/create.js';
import { kernelInputs } from '../../create/inputs.js';
import { kernelTarget } from '../../create/tree.js';
import { writeFileAtomic } from '../../io/atomic-write.js';
import { readTextInput } from '../../io/read-file.js';
import { type Command, UsageError, parse, help } from '../args.js';
import { renderCreateJson, renderCreateReport } from '../render.js';
import { includeDir } from './build.js';

export const createCommand: Command = {
  name: 'create',
  summary: 'build a verified livepatch module from source patches (Debian kernels)',
  help: `Usage: klp-convert create [--kernel REL] [-o OUT.ko] FIX.patch...

Builds a livepatch module from unified diffs against the target kernel's source
(-p1, as 'git diff' writes them). Rebuilds only the C files the patches touch,
original and patched, with the kernel's own compiler, configuration and flags
(plus -ffunction-sections -fdata-sections), compares the two objects function by
function, and packs the changed and new functions into livepatch-<name>.ko:
references to the running kernel become livepatch relocations at the exact
position, the module is built with kbuild against the kernel's headers, then
converted and verified. The kernel's source (linux-source-<ver> of the exact
package version) is downloaded and prepared once per release, in
~/.cache/klp-convert/trees/<release>.

Options:
  --kernel REL       target kernel release (default: the running one, $(uname -r))
  -o, --output FILE  where to write the module (default: ./NAME.ko)
  -n, --name NAME    module name: letters, digits, '_', '-', at most 55 characters
                     (default: livepatch-<first patch's file name>)
  --vmlinux FILE     the kernel's vmlinux with symbols (default: the -dbg vmlinux
                     fetched by scripts/debian-kernel.sh --dbg REL, or
                     /usr/lib/debug/boot/vmlinux-REL)
  -s, --symbols MAP  symbol map of the target kernel (default: built from that
                     vmlinux and its modules, cached as ~/.cache/klp-convert/REL.map)
  --replace          the patch replaces every livepatch loaded before (default)
  --no-replace       the patch stacks on the ones loaded before
  --dry-run          print only which functions would be replaced and why
  --json             print the report as JSON
  -h, --help         this text

A patch to a folder's own header (fs/proc/internal.h) rebuilds every unit of
this configuration whose dependency list names it (the folder is built once
with make for those lists). Refused, naming the symbol and the reason: changes
to initialised data or to the layout of existing data, to __init code, to
functions without an ftrace site (notrace), to assembly files and to global
headers (include/, arch/*/include/).`,
  async run(args, io) {
    const { values, positionals } = parse('create', args, {
      kernel: { type: 'string' },
      output: { type: 'string', short: 'o' },
      name: { type: 'string', short: 'n' },
      vmlinux: { type: 'string' },
      symbols: { type: 'string', short: 's' },
      replace: { type: 'boolean' },
      'no-replace': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) return help(createCommand, io);
    if (positionals.length === 0) throw new UsageError('no patch given', 'create');
    if (values.replace && values['no-replace']) throw new UsageError('--replace and --no-replace exclude each other', 'create');
    const target = kernelTarget(values.kernel ?? release());
    const patches = positionals.map((p) => ({ path: p, text: readTextInput(p, 'patch') }));
    const started = Date.now();
    const progress = (step: string) => {
      io.err(`klp-convert create: [${((Date.now() - started) / 1000).toFixed(1)}s] ${step}\n`);
    };
    const report = await createLivepatch({
      target,
      patches,
      name: values.name,
      replace: !values['no-replace'],
      dryRun: !!values['dry-run'],
      includeDir,
      progress,
      ...kernelInputs(target, { vmlinux: values.vmlinux, symbols: values.symbols }, progress),
    });
    const out = report.output ? resolve(values.output ?? `${report.module}.ko`) : undefined;
    if (out && report.output) writeFileAtomic(out, report.output);
    io.out(values.json ? renderCreateJson(report, out) : renderCreateReport(report, out));
    return 0;
  },
};
