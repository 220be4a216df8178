import { readFileSync, statSync } from 'node:fs';
import { describe } from './atomic-write.js';
import { UserError } from '../errors.js';

export class InputError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Read a whole input file, with a one-line error naming it when that is impossible. */
export function readInput(path: string, what = 'input'): Uint8Array {
  try {
    if (statSync(path).isDirectory()) throw new InputError(`cannot read ${what} ${path}: is a directory`);
    return readFileSync(path);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read ${what} ${path}: ${describe(e)}`);
  }
}

/** A text input (maps, kallsyms dumps, Module.symvers): bytes as latin1, like ELF names. */
export function readTextInput(path: string, what: string): string {
  return Buffer.from(readInput(path, what)).toString('latin1');
}
