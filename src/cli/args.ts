import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util parseArgs with its errors turned into one-line usage errors. */
export function parse<O extends Options>(command: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(msg, command);
  }
}

/** Where a command writes: the process's streams, or a test's buffers (tests run main() in process). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether err goes to a terminal (progress lines). */
  readonly errIsTty: boolean;
}

export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  get errIsTty() {
    return process.stderr.isTTY === true;
  },
};

export interface Command {
  name: string;
  summary: string;
  help: string;
  run(args: string[], io: Io): Promise<number> | number;
}

/** `COMMAND --help`: the command's text on stdout, exit 0. */
export function help(cmd: Command, io: Io): number {
  io.out(`${cmd.help}\n`);
  return 0;
}
