import { UserError } from '../errors.js';
import { type Command, type Io, UsageError, processIo } from './args.js';

/**
 * Each command's module is imported when it runs: `convert` does not pay for what only `symbols`
 * or `build` load (decompressors, kbuild), about a third of its start-up.
 */
const loaders: Record<string, () => Promise<Command>> = {
  build: async () => (await import('./commands/build.js')).buildCommand,
  convert: async () => (await import('./commands/convert.js')).convertCommand,
  verify: async () => (await import('./commands/verify.js')).verifyCommand,
  inspect: async () => (await import('./commands/inspect.js')).inspectCommand,
  symbols: async () => (await import('./commands/symbols.js')).symbolsCommand,
  copy: async () => (await import('./commands/copy.js')).copyCommand,
  create: async () => (await import('./commands/create.js')).createCommand,
};

async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(loaders).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return `Usage: klp-convert <command> [options] [args]

Turn kernel modules into livepatch modules the kernel's livepatch core can load.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 'klp-convert <command> --help' for the options of one command.
'klp-convert --include-dir' prints the folder of klp-convert.h (for Makefiles).`;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      io.out(`${await usage()}\n`);
      return first === undefined ? 2 : 0;
    }
    if (first === '--include-dir') {
      io.out(`${(await import('./commands/build.js')).includeDir}\n`);
      return 0;
    }
    const cmd = Object.hasOwn(loaders, first) ? await loaders[first]() : undefined;
    // kbuild calls the kernel's klp-convert as `klp-convert MAP IN.ko OUT.ko`.
    if (!cmd && argv.length === 3 && !first.startsWith('-'))
      return (await import('./commands/convert.js')).runConvert(argv[0], argv[1], argv[2], {}, io);
    if (!cmd) throw new UsageError(`unknown command '${first}'`);
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      const hint = e.command ? `klp-convert ${e.command} --help` : 'klp-convert --help';
      io.err(`klp-convert: ${e.message}\nTry '${hint}'.\n`);
      return 2;
    }
    // Known failures carry messages written for users; anything else is a bug and says so.
    if (e instanceof UserError) {
      io.err(`klp-convert: ${e.message}\n`);
      return 1;
    }
    io.err(`klp-convert: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.KLP_CONVERT_DEBUG) io.err(`${(e as Error).stack}\n`);
    return 70;
  }
}
