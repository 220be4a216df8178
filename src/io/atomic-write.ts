import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from '../errors.js';

export class OutputError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

/**
 * Write a whole file or nothing: the bytes go to a temporary file in the same folder, which is
 * renamed over the target only once complete. Readers never see a partial file, and the input may
 * be the output.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): void {
  writeFileAtomicWith(path, (fd) => writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data), mode);
}

/**
 * The same, for a writer that writes the file itself (`fill`, given the open file), so that a large
 * file need not be held whole in memory.
 */
export function writeFileAtomicWith(path: string, fill: (fd: number) => void, mode = 0o644): void {
  const tmp = join(dirname(path), temporaryName(basename(path)));
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', mode);
  } catch (e) {
    throw new OutputError(`cannot write ${path}: ${describe(e)}`);
  }
  try {
    fill(fd);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw new OutputError(`cannot write ${path}: ${describe(e)}`);
  }
}

/** Write all of `bytes` at the file's position, or at `position` when given (a write may be short). */
export function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position === undefined ? null : position + done);
}

/** Longest file name most file systems take (NAME_MAX). */
const NAME_MAX = 255;

/**
 * `.<name>.<pid>.tmp`, with the name shortened when the whole would pass NAME_MAX: any name the
 * output itself may have must not fail because of the temporary one.
 */
function temporaryName(name: string): string {
  const suffix = `.${process.pid}.tmp`;
  const room = NAME_MAX - 1 - suffix.length;
  const bytes = Buffer.from(name);
  const kept =
    bytes.length <= room
      ? name
      : bytes
          .subarray(0, room)
          .toString('latin1')
          // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is all of ASCII, on purpose
          .replace(/[^\x00-\x7f]/g, '_');
  return `.${kept}${suffix}`;
}

/** A system error as the one phrase a user needs ("permission denied", "no such file or directory"). */
export function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a path component is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EEXIST':
      return 'file exists';
    default:
      return err?.message ?? String(e);
  }
}
