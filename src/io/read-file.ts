import { type Stats, readFileSync, statSync } from 'node:fs';
import { describe } from './atomic-write.js';
import { UserError } from '../errors.js';

export class InputError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * The error for an input that is not a regular file, shaped like a system error so `describe`
 * words it: folders as EISDIR, FIFOs, sockets and devices by kind (they have no size to bound a
 * read by: `/dev/zero` never ends).
 */
export function notRegularFile(st: Stats): NodeJS.ErrnoException {
  if (st.isDirectory()) return Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  const kind = st.isFIFO()
    ? 'a FIFO'
    : st.isSocket()
      ? 'a socket'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : 'not a file';
  return Object.assign(new Error(`not a regular file (${kind})`), { code: 'ENOTREG' });
}

/** Read a whole input file, with a one-line error naming it when that is impossible. */
export function readInput(path: string, what = 'input'): Uint8Array {
  try {
    // Checked before opening: a FIFO would block the open, a device never ends.
    const st = statSync(path);
    if (!st.isFile()) throw notRegularFile(st);
    return readFileSync(path);
  } catch (e) {
    throw new InputError(`cannot read ${what} ${path}: ${describe(e)}`);
  }
}

/** A text input (maps, kallsyms dumps, Module.symvers): bytes as latin1, like ELF names. */
export function readTextInput(path: string, what: string): string {
  return Buffer.from(readInput(path, what)).toString('latin1');
}
